//! Requests this node sent to the others and is waiting on: which nodes (and sockets) have yet
//! to answer, what has arrived, and a signal when it is complete. Entries are removed by the
//! requester, complete or timed out, so the table never outgrows the requests in flight; and only
//! awaited answers are kept, so a misbehaving peer cannot grow one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;
use volley_protocol::Value;

use crate::engine::Sid;
use crate::{AckError, AckResponse, SocketInfo};

/// What has arrived for one request.
#[derive(Debug)]
pub(crate) enum Collected {
    Sockets(Vec<SocketInfo>),
    Answers(Vec<Vec<Value>>),
    Acks(Vec<AckResponse>),
    Session(Option<volley_protocol::cluster::RecoveredSession>),
}

/// Which nodes a request waits for: the ones this node hears heartbeats from, by uid, or a
/// number of them that the bus counted (see [`super::PubSub::peers`]), answering under any uid.
#[derive(Debug)]
pub(crate) enum Expected {
    Nodes(HashSet<String>),
    Count(usize),
}

impl Expected {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Expected::Nodes(n) => n.is_empty(),
            Expected::Count(n) => *n == 0,
        }
    }
}

struct Pending {
    /// Nodes that have not answered yet (for acks: not sent their recipient list yet).
    nodes: HashSet<String>,
    /// Answers still awaited from nodes not named in advance, and who answered already (each
    /// node counts once).
    anonymous: usize,
    answered: HashSet<String>,
    /// For acks: the remote sockets whose ack is still awaited, with their node.
    sids: HashMap<String, String>,
    /// For acks from nodes that do not name their sockets (Node's): how many each still owes.
    unnamed: HashMap<String, usize>,
    collected: Collected,
    done: Arc<Notify>,
}

impl Pending {
    fn complete(&self) -> bool {
        self.nodes.is_empty()
            && self.anonymous == 0
            && self.sids.is_empty()
            && self.unnamed.is_empty()
    }

    /// Takes `from`'s answer into account; `false` when it was not awaited. An empty `from` is
    /// a node that does not say who it is (Node's classic Redis adapter): each of its answers
    /// counts as one more node.
    fn answered_by(&mut self, from: &str) -> bool {
        if self.nodes.remove(from) {
            return true;
        }
        if from.is_empty() && self.anonymous > 0 {
            self.anonymous -= 1;
            return true;
        }
        if self.anonymous > 0 && self.answered.insert(from.to_owned()) {
            self.anonymous -= 1;
            return true;
        }
        false
    }
}

/// The table of requests in flight.
#[derive(Default)]
pub(crate) struct Requests {
    next: AtomicU64,
    table: Mutex<HashMap<u64, Pending>>,
}

/// The outcome of a wait: what arrived, and how many nodes (or sockets) are still missing.
pub(crate) struct Outcome {
    pub(crate) collected: Collected,
    pub(crate) missing_nodes: usize,
    pub(crate) missing_sids: Vec<String>,
    /// Acks awaited from sockets whose node did not name them.
    pub(crate) missing_unnamed: usize,
}

impl Requests {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        match self.table.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Opens a request awaiting an answer from each of the `expected` nodes.
    pub(crate) fn open(&self, expected: Expected, collected: Collected) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (nodes, anonymous) = match expected {
            Expected::Nodes(nodes) => (nodes, 0),
            Expected::Count(n) => (HashSet::new(), n),
        };
        self.table().insert(
            id,
            Pending {
                nodes,
                anonymous,
                answered: HashSet::new(),
                sids: HashMap::new(),
                unnamed: HashMap::new(),
                collected,
                done: Arc::new(Notify::new()),
            },
        );
        id
    }

    /// Waits until the request is complete or `deadline` passes, then removes it.
    pub(crate) async fn wait(&self, id: u64, deadline: Instant) -> Outcome {
        loop {
            let done = {
                let table = self.table();
                match table.get(&id) {
                    Some(p) if !p.complete() => Some(p.done.clone()),
                    _ => None,
                }
            };
            let Some(done) = done else { break };
            let notified = done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Answers may have completed it between the check and `enable`.
            if self.table().get(&id).is_none_or(Pending::complete) {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        match self.table().remove(&id) {
            Some(p) => Outcome {
                missing_nodes: p.nodes.len() + p.anonymous,
                missing_unnamed: p.unnamed.values().sum(),
                missing_sids: p.sids.into_keys().collect(),
                collected: p.collected,
            },
            None => Outcome {
                collected: Collected::Answers(Vec::new()),
                missing_nodes: 0,
                missing_unnamed: 0,
                missing_sids: Vec::new(),
            },
        }
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Pending)) {
        let mut table = self.table();
        if let Some(p) = table.get_mut(&id) {
            f(p);
            if p.complete() {
                p.done.notify_waiters();
            }
        }
    }

    /// A node's sockets for a fetch request.
    pub(crate) fn sockets(&self, id: u64, from: &str, sockets: Vec<SocketInfo>) {
        self.update(id, |p| {
            if p.answered_by(from) {
                if let Collected::Sockets(all) = &mut p.collected {
                    all.extend(sockets);
                }
            }
        });
    }

    /// A node's answer to a server-side call.
    pub(crate) fn answer(&self, id: u64, from: &str, args: Vec<Value>) {
        self.update(id, |p| {
            if p.answered_by(from) {
                if let Collected::Answers(all) = &mut p.collected {
                    all.push(args);
                }
            }
        });
    }

    /// A node's answer to a session restore: the first that holds it completes the request.
    pub(crate) fn session(
        &self,
        id: u64,
        from: &str,
        session: Option<volley_protocol::cluster::RecoveredSession>,
    ) {
        self.update(id, |p| {
            if p.answered_by(from) {
                if let (Collected::Session(slot @ None), Some(found)) = (&mut p.collected, session)
                {
                    *slot = Some(found);
                    p.nodes.clear();
                    p.anonymous = 0;
                }
            }
        });
    }

    /// A node's list of sockets that will ack a broadcast (empty ids: sockets it does not name).
    pub(crate) fn recipients(&self, id: u64, from: &str, sids: Vec<String>) {
        self.update(id, |p| {
            if p.answered_by(from) {
                let mut unnamed = 0;
                for sid in sids {
                    if sid.is_empty() {
                        unnamed += 1;
                    } else {
                        p.sids.insert(sid, from.to_owned());
                    }
                }
                if unnamed > 0 {
                    // nodes that do not say who they are share one entry
                    *p.unnamed.entry(from.to_owned()).or_default() += unnamed;
                }
            }
        });
    }

    /// One remote socket's ack (an empty `sid`: one of the sockets `from` did not name).
    pub(crate) fn ack(&self, id: u64, from: &str, sid: String, args: Vec<Value>) {
        self.update(id, |p| {
            if sid.is_empty() {
                let Some(owed) = p.unnamed.get_mut(from) else {
                    return;
                };
                *owed -= 1;
                if *owed == 0 {
                    p.unnamed.remove(from);
                }
                if let Collected::Acks(all) = &mut p.collected {
                    all.push(AckResponse {
                        sid: Sid::UNNAMED,
                        result: Ok(args),
                    });
                }
                return;
            }
            if p.sids.remove(&sid).is_some() {
                if let (Collected::Acks(all), Some(sid)) = (&mut p.collected, Sid::parse(&sid)) {
                    all.push(AckResponse {
                        sid,
                        result: Ok(args),
                    });
                }
            }
        });
    }

    /// A node is gone: no request waits for it any more (its sockets' acks too are lost).
    pub(crate) fn node_gone(&self, uid: &str) {
        let mut table = self.table();
        for p in table.values_mut() {
            let mut changed = p.nodes.remove(uid);
            if let Some(owed) = p.unnamed.remove(uid) {
                changed = true;
                if let Collected::Acks(all) = &mut p.collected {
                    all.extend((0..owed).map(|_| AckResponse {
                        sid: Sid::UNNAMED,
                        result: Err(AckError::Disconnected),
                    }));
                }
            }
            let lost: Vec<String> = p
                .sids
                .iter()
                .filter(|(_, node)| node.as_str() == uid)
                .map(|(sid, _)| sid.clone())
                .collect();
            for sid in lost {
                changed = true;
                p.sids.remove(&sid);
                if let (Collected::Acks(all), Some(sid)) = (&mut p.collected, Sid::parse(&sid)) {
                    all.push(AckResponse {
                        sid,
                        result: Err(AckError::Disconnected),
                    });
                }
            }
            if changed && p.complete() {
                p.done.notify_waiters();
            }
        }
    }
}

/// Turns the sockets that never acked into timeout responses (`unnamed` of them unnamed).
pub(crate) fn timed_out(sids: Vec<String>, unnamed: usize) -> impl Iterator<Item = AckResponse> {
    sids.into_iter()
        .filter_map(|s| Sid::parse(&s))
        .chain(std::iter::repeat_n(Sid::UNNAMED, unnamed))
        .map(|sid| AckResponse {
            sid,
            result: Err(AckError::Timeout),
        })
}
