//! The rooms of this node that gained their first member or lost their last one, for a cluster
//! manager whose bus listens per room (see [`PubSub::rooms_have_channels`]): joins and leaves
//! are synchronous and must not wait for the bus, so they only note the room here, and the
//! manager's task reads the notes and brings the bus's subscriptions in line with the rooms
//! that exist when it looks.
//!
//! [`PubSub::rooms_have_channels`]: volley_cluster::PubSub::rooms_have_channels

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// Rooms whose existence on this node changed since the manager last looked.
#[derive(Default)]
pub(crate) struct RoomChanges {
    /// `(namespace, room)` pairs, each once however often it changed: bounded by the rooms
    /// touched between two looks.
    pending: Mutex<HashSet<(String, String)>>,
    wake: Notify,
}

impl RoomChanges {
    /// Notes that room `room` of `ns` was created or deleted here.
    pub(crate) fn note(&self, ns: &str, room: &str) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((ns.to_owned(), room.to_owned()));
        self.wake.notify_one();
    }

    /// Waits for a note, then takes every pending one.
    pub(crate) async fn next(&self) -> Vec<(String, String)> {
        loop {
            let taken: Vec<_> = self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
                .collect();
            if !taken.is_empty() {
                return taken;
            }
            self.wake.notified().await;
        }
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
        let mut taken = changes.next().await;
        taken.sort();
        assert_eq!(
            taken,
            vec![("/".into(), "a".into()), ("/x".into(), "a".into())]
        );
        changes.note("/", "b");
        assert_eq!(changes.next().await, vec![("/".into(), "b".into())]);
    }
}
