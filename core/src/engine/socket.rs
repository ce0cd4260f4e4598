//! One Engine.IO session: its id, outgoing queue, transport state and close signal.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::{Mutex, Notify};

use super::queue::{FrameQueue, Full};
use super::{CloseReason, Frame, RequestInfo, Sid, Transport};

const POLLING: u8 = 0;
const UPGRADING: u8 = 1;
const WEBSOCKET: u8 = 2;

/// The right to take frames from the outgoing queue, held by whichever transport writes to the
/// client: a polling request, or the WebSocket that upgraded a polling session. A session opened
/// over WebSocket has one taker for its whole life, its connection task, which does not lock.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// A frame taken from the queue that did not fit in the last polling response.
    pub(crate) held: Option<Frame>,
}

/// What only a session that started on polling needs: the locks its requests take, and the
/// signal that answers a waiting poll once an upgrade's probe succeeds. A session opened over
/// WebSocket has none of it (boxed, so that it costs one pointer there).
#[derive(Debug, Default)]
pub(crate) struct Polling {
    /// Taken by the GET that waits for frames, or by the WebSocket that upgraded the session.
    pub(crate) outbox: Mutex<Outbox>,
    /// Taken by the POST that carries client packets: one at a time.
    pub(crate) post_lock: Mutex<()>,
    /// Releases a waiting GET with a noop once the upgrade's probe succeeded.
    pub(crate) upgrade_noop: Notify,
    /// An Engine.IO v3 client that asked for base64 binary (`b64=1`): its responses are text
    /// payloads even when they carry binary messages.
    pub(crate) b64: bool,
}

/// What the opening request said of the protocol: Engine.IO v3, and for a v3 polling client
/// whether it wants binary as base64.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Version {
    pub(crate) eio3: bool,
    pub(crate) b64: bool,
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The outgoing queue was full: the frame was dropped (volatile) or the session closed.
    #[error("the outgoing queue is full")]
    QueueFull,
}

/// One Engine.IO session, shared by its transports, its heartbeat and the layer above.
/// `D` is per-session data owned by the [`super::EngineHandler`].
#[derive(Debug)]
pub struct EngineSocket<D> {
    sid: Sid,
    /// Outgoing frames; taken by one transport at a time (see [`Outbox`]).
    pub(crate) queue: FrameQueue,
    /// Set for a session opened over polling (also once upgraded).
    polling: Option<Box<Polling>>,
    transport: AtomicU8,
    /// An Engine.IO v3 client (`EIO=3`, see [`super::v3`]).
    eio3: bool,
    /// Set once, when the session closes; read without a lock.
    is_closed: AtomicBool,
    /// Wakes the tasks waiting in [`EngineSocket::closed`] (a notifier lives in the session
    /// itself; a cancellation token would be one more allocation per connection).
    closed: Notify,
    /// Woken on close: the WebSocket drive loop waits on it, which costs no lock per pass (a
    /// waiting `Notify` future takes one each time it is polled).
    close_waker: AtomicWaker,
    reason: OnceLock<CloseReason>,
    /// When the last pong arrived, on the heartbeat's clock; 0 before the first.
    last_pong: AtomicU64,
    request: RequestInfo,
    /// Data owned by the layer above (the Socket.IO client state).
    pub data: D,
}

impl<D> EngineSocket<D> {
    pub(crate) fn new(
        sid: Sid,
        (transport, version): (Transport, Version),
        (capacity, max_bytes): (usize, usize),
        request: RequestInfo,
        data: D,
    ) -> Self {
        EngineSocket {
            sid,
            queue: FrameQueue::new(capacity, max_bytes),
            polling: (transport == Transport::Polling).then(|| {
                Box::new(Polling {
                    b64: version.b64,
                    ..Polling::default()
                })
            }),
            eio3: version.eio3,
            transport: AtomicU8::new(match transport {
                Transport::Polling => POLLING,
                Transport::Websocket => WEBSOCKET,
            }),
            is_closed: AtomicBool::new(false),
            closed: Notify::new(),
            close_waker: AtomicWaker::new(),
            reason: OnceLock::new(),
            last_pong: AtomicU64::new(0),
            request,
            data,
        }
    }

    /// The session id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The Engine.IO protocol revision the client speaks: 4, or 3 for `socket.io-client` 2.x
    /// (accepted with [`crate::ServerBuilder::allow_eio3`]).
    pub fn protocol(&self) -> u8 {
        if self.eio3 {
            3
        } else {
            4
        }
    }

    /// Whether the client speaks Engine.IO v3.
    pub(crate) fn eio3(&self) -> bool {
        self.eio3
    }

    /// The opening request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The transport in use now (an upgrade in progress still counts as polling).
    pub fn transport(&self) -> Transport {
        match self.transport.load(Ordering::Acquire) {
            WEBSOCKET => Transport::Websocket,
            _ => Transport::Polling,
        }
    }

    /// The polling state, for a session opened over polling.
    pub(crate) fn polling(&self) -> Option<&Polling> {
        self.polling.as_deref()
    }

    /// Records a pong that arrived at `at` (see the heartbeat's clock).
    pub(crate) fn record_pong(&self, at: u64) {
        self.last_pong.store(at, Ordering::Release);
    }

    /// When the last pong arrived; 0 before the first.
    pub(crate) fn last_pong(&self) -> u64 {
        self.last_pong.load(Ordering::Acquire)
    }

    pub(crate) fn is_upgrading(&self) -> bool {
        self.transport.load(Ordering::Acquire) == UPGRADING
    }

    pub(crate) fn begin_upgrade(&self) -> bool {
        self.transport
            .compare_exchange(POLLING, UPGRADING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn abort_upgrade(&self) {
        let _ = self.transport.compare_exchange(
            UPGRADING,
            POLLING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    pub(crate) fn finish_upgrade(&self) {
        self.transport.store(WEBSOCKET, Ordering::Release);
    }

    /// Queues a frame. When the queue is full the session is closed as a slow client: nothing
    /// accepted is dropped silently.
    pub fn send(&self, frame: Frame) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        match self.queue.push(frame) {
            Ok(()) => Ok(()),
            Err(Full) => {
                tracing::warn!(target: "volley::engine", sid = %self.sid, "outgoing queue full, closing slow client");
                self.close(CloseReason::SlowClient);
                Err(SendError::QueueFull)
            }
        }
    }

    /// Queues a frame that may be lost: when the queue is full it is dropped and the session stays.
    pub fn send_volatile(&self, frame: Frame) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        self.queue.push(frame).map_err(|Full| SendError::QueueFull)
    }

    /// Queues a text message (`4` + text).
    pub fn send_text(&self, text: &str) -> Result<(), SendError> {
        self.send(Frame::message(text))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: Bytes) -> Result<(), SendError> {
        self.send(Frame::Binary(data))
    }

    /// Closes the session now; frames still queued are not sent. The first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        if self.reason.set(reason).is_ok() {
            tracing::debug!(target: "volley::engine", sid = %self.sid, %reason, "closing session");
        }
        self.is_closed.store(true, Ordering::Release);
        self.close_waker.wake();
        self.closed.notify_waiters();
    }

    /// Closes the session after the frames already queued are written (a close packet is queued).
    pub fn close_gracefully(&self) {
        if self.queue.push(Frame::Close).is_err() {
            self.close(CloseReason::ServerClose);
        }
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }

    /// Resolves when the session closes.
    pub async fn closed(&self) {
        let notified = self.closed.notified();
        tokio::pin!(notified);
        // Registered before the flag is read: a close between the two still wakes it.
        notified.as_mut().enable();
        if !self.is_closed() {
            notified.await;
        }
    }

    /// [`closed`](EngineSocket::closed) for one waiter at a time (the WebSocket drive loop),
    /// without a lock: the last task to poll it is the one woken.
    pub(crate) fn poll_closed(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.close_waker.register(cx.waker());
        if self.is_closed() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}
