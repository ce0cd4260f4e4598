//! Room channels: on a bus that gives each room a channel of its own
//! ([`PubSub::rooms_have_channels`]), this node listens to the channel of each room it has
//! members in, and to no other. The local adapter notes the rooms created and deleted here; this
//! task tells the bus, in order, each room that exists now and was not listened to
//! ([`PubSub::room_opened`]) and each that no longer exists and was
//! ([`PubSub::room_closed`]).
//!
//! Once the bus has been told about every note taken, the task confirms them: a join that opened
//! a room waits for that before it is acknowledged (see
//! [`RoomChanges`](crate::manager::room_changes::RoomChanges)).
//!
//! With connection state recovery on, a room emptied by disconnections is listened to for
//! `max_disconnection_duration` more: its sockets may come back, and must find in this node's
//! log what was broadcast to the room meanwhile.

use std::collections::{HashMap, HashSet};
use std::sync::Weak;

use tokio::time::Instant;

use super::{Node, PubSub};

/// Keeps the bus's room subscriptions in line with this node's rooms, until the node is gone.
pub(super) async fn run<B: PubSub>(node: Weak<Node<B>>) {
    let Some(changes) = node.upgrade().map(|n| n.local.watch_rooms()) else {
        return;
    };
    let mut listened: HashSet<(String, String)> = HashSet::new();
    // rooms emptied while recovery is on, and when their channel may be closed
    let mut closing: HashMap<(String, String), Instant> = HashMap::new();
    loop {
        let (changed, seq) = changes.next().await;
        let Some(node) = node.upgrade() else { return };
        let linger = node.local.recovery().map(|r| r.config.max_disconnection);
        for key in changed {
            let (ns, room) = (&key.0, &key.1);
            let exists = node.local.has_room(ns, room) || changes.is_held(ns, room);
            if exists {
                closing.remove(&key);
                if !listened.contains(&key) {
                    node.bus.room_opened(ns, room).await;
                    listened.insert(key);
                }
                continue;
            }
            if !listened.contains(&key) {
                continue;
            }
            if let Some(linger) = linger {
                let due = *closing.entry(key.clone()).or_insert_with(|| {
                    // look again when the sockets can no longer come back
                    let changes = changes.clone();
                    let (ns, room) = key.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(linger).await;
                        changes.note(&ns, &room);
                    });
                    Instant::now() + linger
                });
                if Instant::now() < due {
                    continue;
                }
                closing.remove(&key);
            }
            listened.remove(&key);
            node.bus.room_closed(ns, room).await;
        }
        // the joins waiting for these rooms may go on
        changes.confirm(seq);
    }
}
