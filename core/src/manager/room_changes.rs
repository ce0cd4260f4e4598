//! The rooms of this node that gained their first member or lost their last one, for a cluster
//! manager whose bus listens per room (see [`PubSub::rooms_have_channels`]): joins and leaves
//! are synchronous and must not wait for the bus, so they only note the room here, and the
//! manager's task reads the notes and brings the bus's subscriptions in line with the rooms
//! that exist when it looks.
//!
//! Each note is numbered. When the task has brought the bus in line with every note it took,
//! it confirms the highest number among them ([`RoomChanges::confirm`]); whoever must not go on
//! before the bus listens to a room (a join's acknowledgement, the answer to another node's
//! join) waits for the number of the note that opened it ([`RoomChanges::settled`]), at most
//! [`SETTLE_TIMEOUT`]. The waiters are the tasks that wait, nothing is kept per waiter.
//!
//! [`PubSub::rooms_have_channels`]: volley_cluster::PubSub::rooms_have_channels

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// How long a join waits at most for the bus to listen to its room: past it the join goes on
/// (with a warning), so that a broker that does not answer cannot hold joins forever.
pub(crate) const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

type Key = (String, String);

/// Rooms whose existence on this node changed since the manager last looked.
pub(crate) struct RoomChanges {
    state: Mutex<State>,
    wake: Notify,
    /// The highest note number the manager's task has brought the bus in line with.
    confirmed: watch::Sender<u64>,
}

impl Default for RoomChanges {
    fn default() -> Self {
        RoomChanges {
            state: Mutex::default(),
            wake: Notify::new(),
            confirmed: watch::channel(0).0,
        }
    }
}

#[derive(Default)]
struct State {
    /// The number of the last note.
    seq: u64,
    /// Rooms noted and not taken yet, each once however often it changed (with its last note's
    /// number): bounded by the rooms touched between two looks.
    pending: HashMap<Key, u64>,
    /// The rooms of the notes the task took last and has not confirmed yet, and the number
    /// that confirms them.
    taken: HashSet<Key>,
    taken_seq: u64,
    /// Rooms listened to without members here, for now (a socket being recovered from another
    /// node), with how many hold each.
    held: HashMap<Key, usize>,
}

impl RoomChanges {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that room `room` of `ns` was created or deleted here; returns the note's number.
    pub(crate) fn note(&self, ns: &str, room: &str) -> u64 {
        let seq = {
            let mut state = self.state();
            state.seq += 1;
            let seq = state.seq;
            state.pending.insert((ns.to_owned(), room.to_owned()), seq);
            seq
        };
        self.wake.notify_one();
        seq
    }

    /// The number to wait for before room `room` of `ns`, which exists here, is listened to:
    /// that of its last note when the task has not confirmed it yet, else 0.
    pub(crate) fn awaiting(&self, ns: &str, room: &str) -> u64 {
        let state = self.state();
        let key = (ns.to_owned(), room.to_owned());
        if let Some(seq) = state.pending.get(&key) {
            return *seq;
        }
        if state.taken.contains(&key) {
            return state.taken_seq;
        }
        0
    }

    /// The number of the last note: once it is confirmed, the bus is in line with every room
    /// that exists here now.
    pub(crate) fn last(&self) -> u64 {
        self.state().seq
    }

    /// Has the bus listen to `rooms` of `ns` though they may have no member here, until
    /// [`release`](RoomChanges::release); returns the number to wait for.
    pub(crate) fn hold(&self, ns: &str, rooms: &[String]) -> u64 {
        {
            let mut state = self.state();
            for room in rooms {
                *state.held.entry((ns.to_owned(), room.clone())).or_insert(0) += 1;
            }
        }
        rooms
            .iter()
            .map(|room| self.note(ns, room))
            .max()
            .unwrap_or(0)
    }

    /// [`hold`](RoomChanges::hold)s `rooms` of `ns` until the returned guard is dropped (a
    /// task cancelled meanwhile releases them too); with the number to wait for.
    pub(crate) fn hold_while(self: &Arc<Self>, ns: &str, rooms: Vec<String>) -> (Held, u64) {
        let seq = self.hold(ns, &rooms);
        let held = Held {
            changes: self.clone(),
            ns: ns.to_owned(),
            rooms,
        };
        (held, seq)
    }

    /// Ends a [`hold`](RoomChanges::hold) of the same rooms.
    pub(crate) fn release(&self, ns: &str, rooms: &[String]) {
        {
            let mut state = self.state();
            for room in rooms {
                let key = (ns.to_owned(), room.clone());
                if let Some(count) = state.held.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        state.held.remove(&key);
                    }
                }
            }
        }
        for room in rooms {
            self.note(ns, room);
        }
    }

    /// Whether room `room` of `ns` is held (see [`hold`](RoomChanges::hold)).
    pub(crate) fn is_held(&self, ns: &str, room: &str) -> bool {
        self.state()
            .held
            .contains_key(&(ns.to_owned(), room.to_owned()))
    }

    /// Waits for a note, then takes every pending one, with the number that confirms them.
    pub(crate) async fn next(&self) -> (Vec<Key>, u64) {
        loop {
            {
                let mut state = self.state();
                if !state.pending.is_empty() {
                    let taken: HashSet<Key> = state.pending.drain().map(|(k, _)| k).collect();
                    let seq = state.seq;
                    state.taken_seq = seq;
                    state.taken = taken.clone();
                    return (taken.into_iter().collect(), seq);
                }
            }
            self.wake.notified().await;
        }
    }

    /// The bus is in line with every note up to `seq`.
    pub(crate) fn confirm(&self, seq: u64) {
        {
            let mut state = self.state();
            if state.taken_seq <= seq {
                state.taken.clear();
            }
        }
        self.confirmed.send_if_modified(|c| {
            let newer = seq > *c;
            if newer {
                *c = seq;
            }
            newer
        });
    }

    /// Whether every note up to `seq` is confirmed.
    pub(crate) fn is_settled(&self, seq: u64) -> bool {
        *self.confirmed.borrow() >= seq
    }

    /// Waits until every note up to `seq` is confirmed, at most `timeout`; `false` when it was
    /// not in time.
    pub(crate) async fn settled(&self, seq: u64, timeout: Duration) -> bool {
        if self.is_settled(seq) {
            return true;
        }
        let mut rx = self.confirmed.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Rooms held (see [`RoomChanges::hold_while`]) until dropped.
pub(crate) struct Held {
    changes: Arc<RoomChanges>,
    ns: String,
    rooms: Vec<String>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.changes.release(&self.ns, &self.rooms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_come_out_once_each() {
        let changes = RoomChanges::default();
        changes.note("/", "a");
        changes.note("/", "a");
        changes.note("/x", "a");
        let (mut taken, seq) = changes.next().await;
        taken.sort();
        assert_eq!(
            taken,
            vec![("/".into(), "a".into()), ("/x".into(), "a".into())]
        );
        assert_eq!(seq, 3);
        changes.note("/", "b");
        assert_eq!(changes.next().await, (vec![("/".into(), "b".into())], 4));
    }

    #[tokio::test]
    async fn a_note_is_settled_once_the_task_confirms_what_it_took() {
        let changes = RoomChanges::default();
        let seq = changes.note("/", "a");
        assert_eq!(changes.awaiting("/", "a"), seq, "pending");
        assert!(!changes.is_settled(seq));
        let (_, taken) = changes.next().await;
        assert_eq!(changes.awaiting("/", "a"), taken, "taken, not confirmed");
        assert!(!changes.settled(seq, Duration::from_millis(20)).await);
        changes.confirm(taken);
        assert!(changes.settled(seq, Duration::from_millis(20)).await);
        assert_eq!(changes.awaiting("/", "a"), 0, "confirmed");
    }

    #[tokio::test]
    async fn held_rooms_are_noted_when_held_and_released() {
        let changes = RoomChanges::default();
        let rooms = vec!["a".to_owned()];
        let seq = changes.hold("/", &rooms);
        changes.hold("/", &rooms);
        assert!(changes.is_held("/", "a"));
        changes.release("/", &rooms);
        assert!(changes.is_held("/", "a"), "held twice");
        changes.release("/", &rooms);
        assert!(!changes.is_held("/", "a"));
        let (taken, last) = changes.next().await;
        assert_eq!(taken, vec![("/".into(), "a".into())]);
        assert!(last > seq);
    }
}
