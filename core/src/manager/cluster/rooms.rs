//! Room channels: on a bus that gives each room a channel of its own
//! ([`PubSub::rooms_have_channels`]), this node listens to the channel of each room it has
//! members in, and to no other. The local adapter notes the rooms created and deleted here; this
//! task tells the bus, in order, each room that exists now and was not listened to
//! ([`PubSub::room_opened`]) and each that no longer exists and was
//! ([`PubSub::room_closed`]).

use std::collections::HashSet;
use std::sync::Weak;

use super::{Node, PubSub};

/// Keeps the bus's room subscriptions in line with this node's rooms, until the node is gone.
pub(super) async fn run<B: PubSub>(node: Weak<Node<B>>) {
    let Some(changes) = node.upgrade().map(|n| n.local.watch_rooms()) else {
        return;
    };
    let mut listened: HashSet<(String, String)> = HashSet::new();
    loop {
        let changed = changes.next().await;
        let Some(node) = node.upgrade() else { return };
        for key in changed {
            let (ns, room) = (&key.0, &key.1);
            let exists = node.local.has_room(ns, room);
            if exists && !listened.contains(&key) {
                node.bus.room_opened(ns, room).await;
                listened.insert(key);
            } else if !exists && listened.remove(&key) {
                node.bus.room_closed(ns, room).await;
            }
        }
    }
}
