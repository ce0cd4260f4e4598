//! How many async handlers one connection, and the whole node, may run at once.
//!
//! Every async handler a client's packets start (event, connect, disconnect) runs in a task of its
//! own. Without a bound a client that writes faster than its handlers finish makes the node keep
//! one task per packet, and the node's memory grows with the client's send rate. Here each
//! connection may run [`Limits::handlers_per_connection`] handlers at once, and the node
//! [`Limits::node_handlers`] across all connections. A handler that finds no free slot waits in
//! the connection's backlog, started in arrival order as slots free up, and once
//! [`Limits::backlog`] handlers wait the connection's transport stops reading
//! ([`Budget::congested`]): TCP's own flow control then holds the client back. A connection paused longer than the stall timeout is dropped
//! (see `Dispatcher::pause`).
//!
//! The backlog is allocated only while a connection is congested: an idle connection pays one
//! counter and one empty lock.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit};

use super::client::Client;
use super::limits::Limits;
use crate::engine::EngineSocket;

/// A handler's work, not yet started.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

type Session = Arc<EngineSocket<Client>>;

/// One connection's share of the handler budget.
#[derive(Default)]
pub(crate) struct Budget {
    /// Handlers of this connection running now.
    running: AtomicUsize,
    /// Handlers waiting for a slot, while there are any.
    backlog: Mutex<Option<Box<Backlog>>>,
}

struct Backlog {
    jobs: VecDeque<Job>,
    /// Woken when one of this connection's handlers finishes (the drainer waits on it).
    slot_freed: Arc<Notify>,
    /// Woken when the backlog is gone (the paused reader waits on it).
    drained: Arc<Notify>,
}

/// Gives a connection's slot back when its handler ends, however it ends.
struct Running {
    session: Session,
    _node: OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        let budget = &self.session.data.budget;
        budget.running.fetch_sub(1, Ordering::AcqRel);
        if let Some(backlog) = budget.backlog().as_ref() {
            backlog.slot_freed.notify_one();
        }
    }
}

impl Budget {
    fn backlog(&self) -> MutexGuard<'_, Option<Box<Backlog>>> {
        // Nothing panics while holding the lock; a poisoned backlog is still a valid one.
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a connection slot if one is free.
    fn try_take(&self, max: usize) -> bool {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Drops the handlers still waiting (their client is being disconnected for stalling) and
    /// wakes the drainer and the reader, so neither waits for slots that may never free.
    pub(crate) fn abandon(&self) {
        if let Some(backlog) = self.backlog().take() {
            tracing::debug!(target: "volley::socketio", dropped = backlog.jobs.len(), "handlers of a stalled connection dropped");
            backlog.slot_freed.notify_one();
            backlog.drained.notify_one();
        }
    }

    /// When `backlog` or more of the connection's handlers wait for a slot: what wakes each time
    /// one of them starts. Packets that start no handler (acks from the client, above all, which
    /// running handlers may be waiting for) still get through while fewer wait.
    pub(crate) fn congested(&self, backlog: usize) -> Option<Arc<Notify>> {
        self.backlog()
            .as_ref()
            .filter(|b| b.jobs.len() >= backlog)
            .map(|b| b.drained.clone())
    }
}

/// Runs `job` as one of `session`'s handlers: now if the connection and the node have a free
/// slot, else once they do, after the jobs already waiting.
pub(crate) fn spawn(session: &Session, limits: &Limits, job: Job) {
    let budget = &session.data.budget;
    let mut backlog = budget.backlog();
    if backlog.is_none() {
        if budget.try_take(limits.handlers_per_connection) {
            if let Ok(permit) = limits.node_handlers.clone().try_acquire_owned() {
                drop(backlog);
                start(session.clone(), permit, job);
                return;
            }
            budget.running.fetch_sub(1, Ordering::AcqRel);
        }
        tracing::debug!(target: "volley::socketio", sid = %session.sid(), "handler budget spent, pausing reads");
        *backlog = Some(Box::new(Backlog {
            jobs: VecDeque::new(),
            slot_freed: Arc::new(Notify::new()),
            drained: Arc::new(Notify::new()),
        }));
        tokio::spawn(drain(session.clone(), limits.clone()));
    }
    if let Some(backlog) = backlog.as_mut() {
        backlog.jobs.push_back(job);
    }
}

fn start(session: Session, node: OwnedSemaphorePermit, job: Job) {
    let running = Running {
        session,
        _node: node,
    };
    tokio::spawn(async move {
        job.await;
        drop(running);
    });
}

/// Starts a congested connection's waiting jobs in order as slots free up, then removes the
/// backlog and wakes the paused reader.
async fn drain(session: Session, limits: Limits) {
    let budget = &session.data.budget;
    loop {
        let Some(slot_freed) = budget.backlog().as_ref().map(|b| b.slot_freed.clone()) else {
            return;
        };
        // `notify_one` keeps a wake-up for a drainer that is not waiting yet: none is lost
        // between the look and the wait.
        loop {
            if budget.backlog().is_none() {
                // abandoned: the connection was dropped for stalling
                return;
            }
            if budget.try_take(limits.handlers_per_connection) {
                break;
            }
            slot_freed.notified().await;
        }
        let permit = match limits.node_handlers.clone().acquire_owned().await {
            Ok(permit) => permit,
            // the node's semaphore is never closed
            Err(_) => return,
        };
        let mut backlog = budget.backlog();
        let Some(waiting) = backlog.as_mut() else {
            budget.running.fetch_sub(1, Ordering::AcqRel);
            return;
        };
        let job = waiting.jobs.pop_front();
        waiting.drained.notify_one();
        let last = waiting.jobs.is_empty();
        if last {
            backlog.take();
        }
        drop(backlog);
        match job {
            Some(job) => start(session.clone(), permit, job),
            None => {
                budget.running.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if last {
            // a later congestion starts a drainer of its own
            return;
        }
    }
}
