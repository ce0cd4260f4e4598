//! A session's outgoing queue: many producers (handlers, broadcasts, the heartbeat) and one
//! consumer (the transport that writes to the client: see `Outbox` for who that is).
//!
//! A channel from a library would do the same work, but they allocate their storage up front
//! (tokio's bounded channel takes about 1.8 KB per channel before the first frame), and an idle
//! connection is mostly this queue. This one keeps a lone frame in place (the usual case: one
//! event for the client, written at once), allocates only when frames pile up behind it, and
//! gives that storage back once a burst has drained: memory follows what is queued, not the
//! bound.
//!
//! It is bounded twice: in frames, and in bytes as they will be written (so that an app sending
//! large frames to a slow client cannot queue `capacity` of them).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use super::Frame;

/// Storage kept by an empty queue; more is given back when a burst has drained.
const KEPT: usize = 16;

/// A bounded queue of frames.
#[derive(Debug)]
pub(crate) struct FrameQueue {
    frames: Mutex<Frames>,
    /// The consumer's waker.
    waker: AtomicWaker,
    capacity: usize,
    max_bytes: usize,
}

/// The queue holds `capacity` frames already, or the frame would take it past `max_bytes`: the
/// frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// The queued frames: the oldest in place, the others behind it.
#[derive(Debug, Default)]
struct Frames {
    /// The oldest frame, when any is queued.
    first: Option<Frame>,
    /// The frames after `first`, oldest first.
    rest: VecDeque<Frame>,
    /// Wire size of every queued frame.
    bytes: usize,
}

impl Frames {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn push(&mut self, frame: Frame) {
        self.bytes += frame.wire_len();
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(frame);
        } else {
            self.rest.push_back(frame);
        }
    }

    fn pop(&mut self) -> Option<Frame> {
        let frame = self.first.take().or_else(|| self.rest.pop_front());
        if let Some(frame) = &frame {
            self.bytes = self.bytes.saturating_sub(frame.wire_len());
        }
        if self.rest.is_empty() && self.rest.capacity() > KEPT {
            self.rest.shrink_to(KEPT);
        }
        frame
    }
}

impl FrameQueue {
    /// An empty queue that holds at most `capacity` frames (at least one) and `max_bytes` bytes
    /// (one frame of any size fits in an empty queue).
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        FrameQueue {
            frames: Mutex::new(Frames::default()),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// Most frames queued at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Most bytes queued at once.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    fn frames(&self) -> MutexGuard<'_, Frames> {
        // Nothing panics while holding the lock; a poisoned queue is still a valid queue.
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a frame and wakes the consumer; refuses it when the queue is full.
    pub(crate) fn push(&self, frame: Frame) -> Result<(), Full> {
        {
            let mut frames = self.frames();
            let len = frames.len();
            if len >= self.capacity
                || (len > 0 && frames.bytes.saturating_add(frame.wire_len()) > self.max_bytes)
            {
                return Err(Full);
            }
            frames.push(frame);
        }
        self.waker.wake();
        Ok(())
    }

    /// Takes the oldest frame, if any.
    pub(crate) fn try_pop(&self) -> Option<Frame> {
        self.frames().pop()
    }

    /// Takes the oldest frame, or registers the task to be woken by the next push.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Frame> {
        if let Some(frame) = self.try_pop() {
            return Poll::Ready(frame);
        }
        self.waker.register(cx.waker());
        // A push between the first look and the registration woke the previous waker (or none).
        match self.try_pop() {
            Some(frame) => Poll::Ready(frame),
            None => Poll::Pending,
        }
    }

    /// Waits for the oldest frame.
    pub(crate) async fn pop(&self) -> Frame {
        std::future::poll_fn(|cx| self.poll_pop(cx)).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn text(s: &str) -> Frame {
        Frame::Text(s.to_owned().into())
    }

    fn as_text(f: Frame) -> String {
        match f {
            Frame::Text(t) => t.as_str().to_owned(),
            other => panic!("not a text frame: {other:?}"),
        }
    }

    #[test]
    fn keeps_order_and_refuses_past_capacity() {
        let q = FrameQueue::new(2, usize::MAX);
        q.push(text("a")).unwrap();
        q.push(text("b")).unwrap();
        assert_eq!(q.push(text("c")), Err(Full));
        assert_eq!(as_text(q.try_pop().unwrap()), "a");
        q.push(text("d")).unwrap();
        assert_eq!(as_text(q.try_pop().unwrap()), "b");
        assert_eq!(as_text(q.try_pop().unwrap()), "d");
        assert!(q.try_pop().is_none());
    }

    #[test]
    fn refuses_past_the_byte_bound_but_takes_one_large_frame_when_empty() {
        let q = FrameQueue::new(1024, 10);
        q.push(text("0123456789abcdef")).unwrap();
        assert_eq!(q.push(text("x")), Err(Full));
        assert_eq!(as_text(q.try_pop().unwrap()), "0123456789abcdef");
        q.push(text("01234")).unwrap();
        q.push(text("56789")).unwrap();
        assert_eq!(q.push(text("a")), Err(Full));
        q.try_pop().unwrap();
        q.push(text("a")).unwrap();
    }

    #[test]
    fn a_lone_frame_allocates_nothing_and_a_drained_burst_gives_storage_back() {
        let q = FrameQueue::new(1024, usize::MAX);
        for _ in 0..3 {
            q.push(text("alone")).unwrap();
            assert_eq!(q.frames().rest.capacity(), 0);
            assert_eq!(as_text(q.try_pop().unwrap()), "alone");
        }
        for i in 0..500 {
            q.push(text(&i.to_string())).unwrap();
        }
        assert!(q.frames().rest.capacity() >= 499);
        for i in 0..500 {
            assert_eq!(as_text(q.try_pop().unwrap()), i.to_string());
            // a frame pushed mid-drain goes behind the others
            if i == 250 {
                q.push(text("late")).unwrap();
            }
        }
        assert_eq!(as_text(q.try_pop().unwrap()), "late");
        assert!(q.try_pop().is_none());
        assert!(q.frames().rest.capacity() <= KEPT);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_consumer_is_woken_by_pushes_from_other_threads() {
        let q = Arc::new(FrameQueue::new(64, usize::MAX));
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let q = q.clone();
                tokio::spawn(async move {
                    for i in 0..1000 {
                        // a full queue: let the consumer catch up
                        while q.push(text(&format!("{p}:{i}"))).is_err() {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let mut next = [0usize; 4];
        for _ in 0..4000 {
            let f = tokio::time::timeout(Duration::from_secs(5), q.pop())
                .await
                .unwrap();
            let s = as_text(f);
            let (p, i) = s.split_once(':').unwrap();
            let p: usize = p.parse().unwrap();
            // each producer's frames arrive in the order it pushed them
            assert_eq!(i.parse::<usize>().unwrap(), next[p]);
            next[p] += 1;
        }
        for p in producers {
            p.await.unwrap();
        }
        assert!(q.try_pop().is_none());
    }
}
