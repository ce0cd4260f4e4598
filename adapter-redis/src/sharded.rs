//! The pub/sub bus on Redis 7 sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`), with a channel per
//! room that a node listens to only while it has members in that room (the "dynamic" mode of
//! Node's `createShardedAdapter`).
//!
//! | channel | who listens | what goes on it |
//! |---|---|---|
//! | `{prefix}#` | every node | broadcasts to all, to several rooms, with acks; room changes, requests, heartbeats |
//! | `{prefix}#{uid}#` | node `uid` | the answers to its requests |
//! | `{prefix}#{nsp}#{room}#` | the nodes with members in `room` | broadcasts to that room alone, without acks |
//!
//! A room whose name looks like a socket id (20 characters) has no channel: a broadcast to a
//! socket goes on `{prefix}#`, as Node's adapter does. What arrives on a room's channel is
//! handed to the manager as if it came on `{prefix}#`. Prefix subscriptions (the emitters'
//! channels, which Node's emitter and `volley-emitter` publish with plain `PUBLISH`) stay on
//! classic pub/sub: sharded pub/sub has no patterns.
//!
//! On Redis Cluster each channel lives on the shard that owns its hash slot, so the rooms'
//! traffic spreads over the shards, and a shard sends a message only to the nodes subscribed to
//! its channel: a node receives the broadcasts of its own rooms, not every room's.
//!
//! On Redis Cluster, Volley's protocol uses this side without room channels too (the first two
//! channels of the table, rooms staying on the first): a shard channel's subscribers are all on
//! its shard, so `SPUBLISH` counts every node that got a message, which a `PUBLISH` copied
//! over the cluster's shards does not (see `RedisBusBuilder::build`).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use fred::prelude::PubsubInterface;
use volley_cluster::{BusError, Subscription};

use crate::{error, RedisBus, LOG_TARGET};

/// The length of a socket id: rooms of this length get no channel, as in Node's adapter.
const SOCKET_ID_LEN: usize = 20;

/// The sharded side of one pub/sub bus.
pub(crate) struct ShardedWire {
    /// Whether rooms have channels (`?bus=sharded`); without, only the manager's channels are
    /// shard channels (Volley's protocol on Redis Cluster).
    room_channels: bool,
    /// The manager's channel of every node, learnt when it subscribes; room channels hang off it.
    main: OnceLock<String>,
    /// The room channels listened to, shared with the task that forwards messages.
    pub(crate) rooms: Arc<RoomChannels>,
}

/// The room channels a node listens to, and the channel their messages are delivered on.
#[derive(Debug, Default)]
pub(crate) struct RoomChannels {
    pub(crate) main: OnceLock<String>,
    listened: RwLock<HashSet<String>>,
}

impl RoomChannels {
    /// The channel `channel`'s messages are delivered on, when it is a room channel listened to.
    pub(crate) fn deliver_on(&self, channel: &str) -> Option<&str> {
        let listened = self.listened.read().unwrap_or_else(PoisonError::into_inner);
        if listened.contains(channel) {
            self.main.get().map(String::as_str)
        } else {
            None
        }
    }
}

impl ShardedWire {
    /// A sharded side whose rooms have channels (`room_channels`), or none.
    pub(crate) fn new(room_channels: bool) -> ShardedWire {
        ShardedWire {
            room_channels,
            main: OnceLock::new(),
            rooms: Arc::default(),
        }
    }

    /// Whether rooms have channels of their own.
    pub(crate) fn has_room_channels(&self) -> bool {
        self.room_channels
    }

    /// The channel of room `room` of `nsp`, once the manager has subscribed.
    pub(crate) fn room_channel(&self, nsp: &str, room: &str) -> Option<String> {
        if !self.room_channels || room.len() == SOCKET_ID_LEN {
            return None;
        }
        let main = self.main.get()?;
        Some(format!("{main}{nsp}#{room}#"))
    }

    /// Whether `channel` goes over sharded pub/sub: once linked, the manager's channels and the
    /// rooms' (they all start with the channel of every node), not python-socketio's channel;
    /// before, every channel with room channels (a bus that only publishes, say), none without.
    pub(crate) fn is_shard_channel(&self, channel: &str) -> bool {
        match self.main.get() {
            Some(main) => channel.starts_with(main.as_str()),
            None => self.room_channels,
        }
    }

    /// Whether `channel` is a room channel (rather than the manager's or a node's).
    pub(crate) fn is_room_channel(&self, channel: &str) -> bool {
        self.main
            .get()
            .and_then(|main| channel.strip_prefix(main.as_str()))
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Names the channels directly, for a bus speaking Node's protocol: a room's channel is
    /// `{base}{nsp}#{room}#`, and what arrives on it is delivered on `deliver_on` (a channel of
    /// the `subscribe` call whose sink takes it).
    pub(crate) fn link_to(&self, base: String, deliver_on: String) {
        let _ = self.main.set(base);
        let _ = self.rooms.main.set(deliver_on);
    }

    /// Learns the manager's channel of every node from its subscriptions.
    pub(crate) fn link(&self, subscriptions: &[Subscription]) {
        if let Some((main, _)) = crate::manager_channels::manager_channels(subscriptions) {
            let _ = self.main.set(main.clone());
            let _ = self.rooms.main.set(main);
        }
    }
}

/// Subscribes `subscriber` again to its channels and patterns after each reconnection, as fred's
/// own `manage_subscriptions` does, but to the room channels first: once another node's message
/// on the channel of every node reaches this node again, this node listens to its rooms again
/// too (the manager counts on it: see `PubSub::publish_counted`).
pub(crate) fn manage_subscriptions(
    subscriber: &fred::clients::SubscriberClient,
    rooms: Arc<RoomChannels>,
) -> tokio::task::JoinHandle<()> {
    use fred::interfaces::EventInterface;
    let subscriber = subscriber.clone();
    tokio::spawn(async move {
        let mut reconnected = subscriber.reconnect_rx();
        loop {
            match reconnected.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
            if let Err(e) = resubscribe(&subscriber, &rooms).await {
                tracing::warn!(target: LOG_TARGET, error = %e, "cannot subscribe again after a reconnection");
            }
        }
    })
}

async fn resubscribe(
    subscriber: &fred::clients::SubscriberClient,
    rooms: &RoomChannels,
) -> Result<(), fred::error::Error> {
    let channels: Vec<String> = subscriber
        .tracked_channels()
        .into_iter()
        .map(|c| c.to_string())
        .collect();
    let patterns: Vec<String> = subscriber
        .tracked_patterns()
        .into_iter()
        .map(|c| c.to_string())
        .collect();
    if !channels.is_empty() {
        subscriber.subscribe(channels).await?;
    }
    if !patterns.is_empty() {
        subscriber.psubscribe(patterns).await?;
    }
    let (room_channels, others): (Vec<String>, Vec<String>) = {
        let listened = rooms
            .listened
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        subscriber
            .tracked_shard_channels()
            .into_iter()
            .map(|c| c.to_string())
            .partition(|c| listened.contains(c))
    };
    // one channel a command: on Redis Cluster a command takes the channels of one slot only
    for channel in room_channels.into_iter().chain(others) {
        subscriber.ssubscribe(channel).await?;
    }
    Ok(())
}

impl RedisBus {
    pub(crate) fn sharded(&self) -> Option<&ShardedWire> {
        self.inner.sharded.as_ref()
    }

    /// `SSUBSCRIBE`s the channel of room `room` of `nsp` (`open`), or `SUNSUBSCRIBE`s it.
    pub(crate) async fn listen_to_room(&self, nsp: &str, room: &str, open: bool) {
        let (Some(wire), Some(subscriber)) = (self.sharded(), &self.inner.subscriber) else {
            return;
        };
        let Some(channel) = wire.room_channel(nsp, room) else {
            return;
        };
        {
            let mut listened = wire
                .rooms
                .listened
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            // listed before SSUBSCRIBE, so that no message arriving right after it is dropped
            if open {
                listened.insert(channel.clone());
            } else {
                listened.remove(&channel);
            }
        }
        let done = if open {
            subscriber.ssubscribe(channel).await
        } else {
            subscriber.sunsubscribe(channel).await
        };
        if let Err(e) = done {
            let e = error::bus_error(e, &self.inner.address);
            tracing::warn!(target: LOG_TARGET, nsp, room, open, error = %e, "cannot change the subscription to a room's channel");
        }
    }

    /// `SSUBSCRIBE`s each of `channels`, one at a time (on Redis Cluster one command takes the
    /// channels of one hash slot only).
    pub(crate) async fn ssubscribe_each(&self, channels: &[String]) -> Result<(), BusError> {
        let Some(subscriber) = &self.inner.subscriber else {
            return Ok(());
        };
        for channel in channels {
            subscriber
                .ssubscribe(channel.clone())
                .await
                .map_err(|e| error::bus_error(e, &self.inner.address))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_get_channels_but_socket_ids_do_not() {
        let wire = ShardedWire::new(true);
        assert_eq!(wire.room_channel("/", "lobby"), None, "not linked yet");
        assert!(wire.is_shard_channel("socketio"), "not linked yet");
        wire.link(&[
            Subscription::Channel("volley#".into()),
            Subscription::Channel("volley#0123456789abcdef#".into()),
        ]);
        assert_eq!(
            wire.room_channel("/", "lobby").as_deref(),
            Some("volley#/#lobby#")
        );
        assert_eq!(wire.room_channel("/", "aaaaaaaaaaaaaaaaaaaa"), None);
        assert!(wire.is_room_channel("volley#/chat#lobby#"));
        assert!(!wire.is_room_channel("volley#"));
        assert!(!wire.is_room_channel("volley#0123456789abcdef#"));
        assert!(wire.is_shard_channel("volley#0123456789abcdef#"));
        assert!(wire.is_shard_channel("volley#/chat#lobby#"));
        assert!(
            !wire.is_shard_channel("socketio"),
            "python-socketio's channel"
        );
        assert_eq!(wire.rooms.deliver_on("volley#/#lobby#"), None);
        wire.rooms
            .listened
            .write()
            .expect("not poisoned")
            .insert("volley#/#lobby#".into());
        assert_eq!(wire.rooms.deliver_on("volley#/#lobby#"), Some("volley#"));
    }

    #[test]
    fn without_room_channels_every_room_stays_on_the_managers_channel() {
        let wire = ShardedWire::new(false);
        assert!(!wire.is_shard_channel("volley#"), "not linked yet");
        wire.link(&[
            Subscription::Channel("volley#".into()),
            Subscription::Channel("volley#0123456789abcdef#".into()),
        ]);
        assert!(!wire.has_room_channels());
        assert!(wire.is_shard_channel("volley#"));
        assert_eq!(wire.room_channel("/", "lobby"), None);
        assert!(!wire.is_room_channel("volley#"));
    }
}
