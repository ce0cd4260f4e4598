//! The heartbeat: pings every session, closes one that does not answer. One task per endpoint
//! keeps every session's next deadline in one queue, rather than a timer per connection: an idle
//! connection then costs one queue entry (48 bytes) instead of a timer and a waiting future
//! (about 300 bytes) inside its task. The same queue holds the one check the layer above asks
//! for after a session opens ([`EngineHandler::open_check_after`]; Socket.IO's connect timeout),
//! which would otherwise be one more task per connection.
//!
//! Each session moves between two states: waiting to be pinged (`pingInterval` after the
//! handshake, then after its last pong), and waiting for the pong of a ping (closed with
//! [`CloseReason::PingTimeout`] when none came within `pingTimeout`). A pong is recorded in the
//! session as the time it arrived, which the queue reads when the deadline comes.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{CloseReason, Engine, EngineHandler, Frame, Sid};

/// What is due at an [`Entry`]'s time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// The next ping.
    Ping,
    /// The pong of the ping sent at this time (milliseconds since the epoch).
    Pong(u64),
    /// An Engine.IO v3 client's ping, later than the one recorded at this time (0: the
    /// handshake). v3 clients ping and the server answers; one that stays silent for
    /// `pingInterval + pingTimeout` is closed.
    ClientPing(u64),
    /// The layer above's check ([`EngineHandler::on_open_check`]).
    OpenCheck,
}

/// One deadline of one session. Times are milliseconds since the schedule's epoch.
#[derive(Debug, Clone, Copy)]
struct Entry {
    at: u64,
    due: Due,
    sid: Sid,
}

// Ordered by deadline only, earliest first (the heap keeps the greatest on top).
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

/// Every session's next heartbeat deadline, and the task that keeps them.
///
/// An entry stays until its deadline even when its session closes sooner (it is dropped then),
/// unless the entries of closed sessions come to outnumber those of open ones: then the task
/// sweeps them out ([`Schedule::compact`]) at its next deadline, so that a steady churn of
/// short-lived connections does not keep an entry for each one closed in the last minute.
#[derive(Debug)]
pub(crate) struct Schedule {
    epoch: Instant,
    queue: Mutex<BinaryHeap<Entry>>,
    /// Wakes the task when a deadline earlier than all others is added, or the endpoint goes.
    wake: Notify,
    started: AtomicBool,
}

impl Schedule {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Schedule {
            epoch: Instant::now(),
            queue: Mutex::new(BinaryHeap::new()),
            wake: Notify::new(),
            started: AtomicBool::new(false),
        })
    }

    /// Milliseconds since the epoch, rounded down.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The time to record for a pong arriving now: never 0 (no pong yet), and later than a
    /// ping sent in the same millisecond.
    pub(crate) fn pong_ms(&self) -> u64 {
        self.now_ms() + 1
    }

    fn push(&self, entry: Entry) {
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        let earliest = queue.peek().is_none_or(|top| entry.at < top.at);
        queue.push(entry);
        drop(queue);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Takes the entries due at `now`; the earliest deadline left, if any.
    fn take_due(&self, now: u64, due: &mut Vec<Entry>) -> Option<u64> {
        let mut queue = self.queue.lock().ok()?;
        while queue.peek().is_some_and(|top| top.at <= now) {
            due.extend(queue.pop());
        }
        queue.peek().map(|top| top.at)
    }

    /// Drops the entries of sessions that are no longer open once they may outnumber those of
    /// the `open` ones ([`MAX_DUE_PER_SESSION`] each), with [`COMPACT_SLACK`] to spare. A sweep is
    /// one pass over the queue, and the next one waits until at least as many entries have gone
    /// stale again: a constant cost per closed session. The queue is swept outside its lock
    /// (entries pushed meanwhile are merged back), and its memory is returned.
    fn compact(&self, open: usize, is_open: impl Fn(Sid) -> bool) {
        let limit = compact_limit(open);
        let swept = {
            let Ok(mut queue) = self.queue.lock() else {
                return;
            };
            if queue.len() <= limit {
                return;
            }
            std::mem::take(&mut *queue)
        };
        let mut kept = swept.into_vec();
        kept.retain(|entry| is_open(entry.sid));
        kept.shrink_to_fit();
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        let scheduled_meanwhile = std::mem::replace(&mut *queue, BinaryHeap::from(kept));
        queue.extend(scheduled_meanwhile);
    }

    /// Tells the task to look again (its endpoint may be gone).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The most entries one open session has in the queue at once: its ping or pong deadline, and
/// the open check until it has run.
const MAX_DUE_PER_SESSION: usize = 2;

/// Entries of closed sessions tolerated beyond [`MAX_DUE_PER_SESSION`] per open session before a
/// sweep: with few sessions open, sweeping after every close would cost more than it saves.
const COMPACT_SLACK: usize = 1024;

/// The queue length above which [`Schedule::compact`] sweeps, with `open` sessions open.
fn compact_limit(open: usize) -> usize {
    open.saturating_mul(2 * MAX_DUE_PER_SESSION)
        .saturating_add(COMPACT_SLACK)
}

/// The timer's resolution: it wakes up to this much after the instant asked. The task asks to
/// be woken this much before the earliest deadline and handles every entry due by then, so
/// that a deadline is kept to within this much early rather than up to twice this much late.
const TIMER_RESOLUTION_MS: u64 = 1;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

/// Schedules the first ping of a new session, `pingInterval` from now (the clock is read rounded
/// down: the ping is due up to one millisecond early, never late, so that a client that does
/// not answer is gone by pingInterval + pingTimeout after its handshake, as the reference
/// server has it), and the handler's open check if it wants one; starts the endpoint's
/// heartbeat task if it is not running yet.
pub(crate) fn start<H: EngineHandler>(engine: &Arc<Engine<H>>, sid: Sid, eio3: bool) {
    let schedule = &engine.heartbeats;
    if !schedule.started.swap(true, AtomicOrdering::AcqRel) {
        tokio::spawn(run(Arc::downgrade(engine), schedule.clone()));
    }
    let now = schedule.now_ms();
    let config = &engine.config;
    schedule.push(if eio3 {
        Entry {
            at: now + millis(config.ping_interval) + millis(config.ping_timeout),
            due: Due::ClientPing(0),
            sid,
        }
    } else {
        Entry {
            at: now + millis(config.ping_interval),
            due: Due::Ping,
            sid,
        }
    });
    if let Some(after) = engine.handler.open_check_after() {
        schedule.push(Entry {
            at: now + millis(after),
            due: Due::OpenCheck,
            sid,
        });
    }
}

/// The endpoint's heartbeat task: handles the deadlines as they come, until the endpoint is
/// dropped. It keeps only a weak reference to the endpoint while it waits.
async fn run<H: EngineHandler>(engine: Weak<Engine<H>>, schedule: Arc<Schedule>) {
    let mut due = Vec::new();
    loop {
        // Armed before the queue is read: an earlier deadline added meanwhile still wakes it.
        let woken = schedule.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let next = {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let now = schedule.now_ms();
            let next = schedule.take_due(now + TIMER_RESOLUTION_MS, &mut due);
            for entry in due.drain(..) {
                beat(&engine, &schedule, entry, now);
            }
            schedule.compact(engine.session_count(), |sid| engine.session(sid).is_some());
            next
        };
        match next {
            Some(at) => {
                let at = at.saturating_sub(TIMER_RESOLUTION_MS);
                let deadline = schedule.epoch + Duration::from_millis(at);
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = woken => {}
                }
            }
            None => woken.await,
        }
    }
}

/// One deadline of one session: the ping is due, its pong should have come, or the handler's
/// open check.
fn beat<H: EngineHandler>(engine: &Engine<H>, schedule: &Schedule, entry: Entry, now: u64) {
    // a closed session's entry is dropped here
    let Some(socket) = engine.session(entry.sid) else {
        return;
    };
    let config = &engine.config;
    match entry.due {
        Due::Ping => {
            if socket.send(Frame::Ping).is_ok() {
                // pingTimeout after the ping was due rather than sent, so that a late wake-up
                // does not push the close further; still half of it at least after the send
                let timeout = millis(config.ping_timeout);
                schedule.push(Entry {
                    at: (entry.at + timeout).max(now + timeout / 2),
                    due: Due::Pong(now),
                    sid: entry.sid,
                });
            }
        }
        Due::Pong(pinged) => {
            let pong = socket.last_pong();
            if pong > pinged {
                // the next ping `pingInterval` after the pong (now, if that has passed)
                schedule.push(Entry {
                    at: (pong + millis(config.ping_interval)).max(now),
                    due: Due::Ping,
                    sid: entry.sid,
                });
            } else {
                socket.close(CloseReason::PingTimeout);
            }
        }
        Due::ClientPing(last) => {
            // a v3 client's pings are recorded as pongs are
            let ping = socket.last_pong();
            if ping > last {
                schedule.push(Entry {
                    at: (ping + millis(config.ping_interval) + millis(config.ping_timeout))
                        .max(now),
                    due: Due::ClientPing(ping),
                    sid: entry.sid,
                });
            } else {
                socket.close(CloseReason::PingTimeout);
            }
        }
        Due::OpenCheck => engine.handler.on_open_check(&socket),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_earliest_first() {
        let schedule = Schedule::new();
        for at in [30, 10, 20, 10, 40] {
            schedule.push(Entry {
                at,
                due: Due::Ping,
                sid: Sid::new(),
            });
        }
        let mut due = Vec::new();
        assert_eq!(schedule.take_due(5, &mut due), Some(10));
        assert!(due.is_empty());
        assert_eq!(schedule.take_due(20, &mut due), Some(30));
        let at: Vec<u64> = due.iter().map(|e| e.at).collect();
        assert_eq!(at, [10, 10, 20]);
        due.clear();
        assert_eq!(schedule.take_due(100, &mut due), None);
        assert_eq!(due.len(), 2);
    }

    #[test]
    fn closed_sessions_are_swept_once_they_outnumber_open_ones() {
        let schedule = Schedule::new();
        let open: Vec<Sid> = (0..10).map(|_| Sid::new()).collect();
        let entry = |sid, at| Entry {
            at,
            due: Due::Ping,
            sid,
        };
        for (i, sid) in open.iter().enumerate() {
            schedule.push(entry(*sid, 1000 + i as u64));
        }
        let is_open = |sid: Sid| open.contains(&sid);
        let len = || schedule.queue.lock().unwrap().len();
        // entries of closed sessions up to the limit stay until their deadlines
        while len() < compact_limit(open.len()) {
            schedule.push(entry(Sid::new(), 1));
        }
        schedule.compact(open.len(), is_open);
        assert_eq!(len(), compact_limit(open.len()));
        // past it, every one of them goes, and the open sessions' entries keep their order
        schedule.push(entry(Sid::new(), 1));
        schedule.compact(open.len(), is_open);
        assert_eq!(len(), 10);
        let mut due = Vec::new();
        assert_eq!(schedule.take_due(1004, &mut due), Some(1005));
        let sids: Vec<Sid> = due.iter().map(|e| e.sid).collect();
        assert_eq!(sids, open[..5]);
    }

    #[test]
    fn a_pong_is_later_than_a_ping_of_the_same_millisecond() {
        let schedule = Schedule::new();
        let ping = schedule.now_ms();
        assert!(schedule.pong_ms() > ping);
    }
}
