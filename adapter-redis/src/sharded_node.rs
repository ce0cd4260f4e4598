//! Sharded pub/sub speaking Node's sharded Redis adapter (`createShardedAdapter` of
//! `@socket.io/redis-adapter` 8, `subscriptionMode: "dynamic"`, its default): what the cluster
//! manager publishes in Volley's format goes out on Node's channels, in Node's shapes, and what
//! Node's nodes publish reaches the manager in Volley's format (see
//! [`volley_protocol::cluster::node::to_sharded`] for the encoding).
//!
//! Node's channels, all sharded (`SPUBLISH` / `SSUBSCRIBE`), with `{key}` Node's `channelPrefix`:
//!
//! | channel | who listens | what goes on it |
//! |---|---|---|
//! | `{key}#{nsp}#` | every node serving `nsp` | broadcasts but those below, room changes, disconnections, requests (fetch, server-side emit, broadcasts with acks), Volley's heartbeats |
//! | `{key}#{nsp}#{uid}#` | node `uid` | the answers to its requests (and Volley's session transfer) |
//! | `{key}#{nsp}#{room}#` | the nodes with members in `room` | broadcasts to that room alone, without acks, unless the room's name has the length of a socket id (20) |
//!
//! A node listens to the first two for `/` from the start and for another namespace from its
//! first socket or message there; to a room's channel while it has members in the room (the
//! room channels themselves are [`crate::sharded`]'s). Nodes are counted as Node counts them:
//! the subscribers of `{key}#{nsp}#` (`PUBSUB SHARDNUMSUB`).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use volley_cluster::{BusError, BusMessage, Subscription};
use volley_protocol::cluster::{batch, node, Body, Message};

use crate::manager_channels::{manager_channels, target_uid};
use crate::{RedisBus, LOG_TARGET};

/// How many received messages wait for translation at most (fred's buffer is in front).
const TRANSLATE_BUFFER: usize = 1024;

/// A node count older than this is not used to check deliveries.
const FRESH_COUNT: Duration = Duration::from_secs(2);

/// The Node side of a sharded pub/sub bus.
pub(crate) struct ShardedNodeWire {
    /// Node's `channelPrefix`.
    key: String,
    /// Set by the manager's `subscribe`.
    link: OnceLock<Link>,
    /// Namespaces whose channels this node listens to.
    namespaces: Mutex<HashSet<String>>,
    /// The last count of each namespace's nodes (this one included), and when it was taken.
    counts: Mutex<HashMap<String, (usize, Instant)>>,
}

/// How this node is reached, learnt from the manager's subscriptions.
struct Link {
    /// This node's uid.
    uid: String,
    /// The manager's channel for every node: translated messages are delivered on it.
    main: String,
    /// Messages from Node's channels, on their way to translation.
    translate: mpsc::Sender<BusMessage>,
}

/// A message ready to go out on Node's channels.
struct Outgoing {
    channel: String,
    payload: Bytes,
    /// How many subscribers it must reach, when that is checked.
    expected: Option<usize>,
}

impl ShardedNodeWire {
    pub(crate) fn new(key: String) -> ShardedNodeWire {
        ShardedNodeWire {
            key,
            link: OnceLock::new(),
            namespaces: Mutex::new(HashSet::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// The channel every node serving `nsp` listens to.
    fn namespace_channel(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.key)
    }

    /// The channel of node `uid`'s answers about `nsp`.
    fn answer_channel(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{nsp}#{uid}#", self.key)
    }

    /// A recent count of the nodes serving `nsp`, this one included.
    fn fresh_count(&self, nsp: &str) -> Option<usize> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, at) = counts.get(nsp)?;
        (at.elapsed() < FRESH_COUNT).then_some(*count)
    }

    /// The node a channel of the manager's names: `Some` for a node's own channel
    /// (`{prefix}#{uid}#`), `None` for the channel of every node and for a room's channel.
    fn addressee<'c>(&self, channel: &'c str) -> Option<&'c str> {
        let main = &self.link.get()?.main;
        let rest = channel.strip_prefix(main.as_str())?;
        if rest.is_empty() || rest.starts_with('/') {
            return None;
        }
        target_uid(channel)
    }
}

/// What a message on one of Node's channels says, in Volley's format; `None` (logged) when it
/// cannot be read.
fn translate(channel: &str, payload: &[u8]) -> Option<Bytes> {
    let message = match node::from_sharded(payload) {
        Ok(message) => message,
        Err(e) => {
            tracing::debug!(target: LOG_TARGET, channel, error = %e, "unreadable message on a Node channel, skipped");
            return None;
        }
    };
    match message.encode() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::debug!(target: LOG_TARGET, channel, error = %e, "cannot re-encode a Node message, skipped");
            None
        }
    }
}

impl RedisBus {
    fn sharded_node(&self) -> Result<&ShardedNodeWire, BusError> {
        self.inner
            .sharded_node
            .as_ref()
            .ok_or_else(|| BusError::Other("not a Node-protocol sharded bus".into()))
    }

    /// Subscribes for the manager: its own two channels are served by translation from Node's
    /// channels; any other subscription is passed through. Called again after a failure (Redis
    /// not reachable yet), it takes up where that call stopped.
    pub(crate) async fn subscribe_sharded_node(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let wire = self.sharded_node()?;
        let (main, uid) = manager_channels(subscriptions).ok_or_else(|| {
            BusError::Other(
                "the manager's channels name no node: cannot speak Node's protocol".into(),
            )
        })?;
        let own = format!("{main}{uid}#");
        match wire.link.get() {
            // a call after one that failed (Redis was not reachable): the link stays
            Some(link) if link.main == main && link.uid == uid => {}
            Some(_) => {
                return Err(BusError::Other(
                    "a Node-protocol bus serves one manager".into(),
                ))
            }
            None => self.link_sharded_node(wire, main.clone(), uid, sink.clone())?,
        }
        if !self.serve_sharded_node("/").await {
            return Err(BusError::Unavailable(
                "cannot subscribe to Node's channels of namespace /".into(),
            ));
        }
        let others: Vec<Subscription> = subscriptions
            .iter()
            .filter(|s| !matches!(s, Subscription::Channel(c) if *c == main || *c == own))
            .cloned()
            .collect();
        if !others.is_empty() {
            self.subscribe_raw(&others, sink).await?;
        }
        Ok(())
    }

    /// Starts translating what arrives on Node's channels for the manager, delivered on `main`.
    fn link_sharded_node(
        &self,
        wire: &ShardedNodeWire,
        main: String,
        uid: String,
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let (translate_tx, mut incoming) = mpsc::channel::<BusMessage>(TRANSLATE_BUFFER);
        let link = Link {
            uid,
            main: main.clone(),
            translate: translate_tx,
        };
        if wire.link.set(link).is_err() {
            return Err(BusError::Other(
                "a Node-protocol bus serves one manager".into(),
            ));
        }
        // a room's channel is Node's, and what arrives there goes through translation too (the
        // call that subscribes `/`'s channels delivers it)
        if let Some(rooms) = self.sharded() {
            rooms.link_to(format!("{}#", wire.key), wire.namespace_channel("/"));
        }
        tokio::spawn(async move {
            while let Some(message) = incoming.recv().await {
                let Some(payload) = translate(&message.channel, &message.payload) else {
                    continue;
                };
                let out = BusMessage {
                    channel: main.clone(),
                    payload,
                };
                if sink.send(out).await.is_err() {
                    break;
                }
            }
        });
        Ok(())
    }

    /// Listens to the channels of namespace `nsp`, once; `false` when that failed (the next call
    /// tries again).
    pub(crate) async fn serve_sharded_node(&self, nsp: &str) -> bool {
        let Ok(wire) = self.sharded_node() else {
            return false;
        };
        let Some(link) = wire.link.get() else {
            return false;
        };
        let fresh = wire
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned());
        if !fresh {
            return true;
        }
        let channels = [
            Subscription::Channel(wire.namespace_channel(nsp)),
            Subscription::Channel(wire.answer_channel(nsp, &link.uid)),
        ];
        match self.subscribe_raw(&channels, link.translate.clone()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, nsp, error = %e, "cannot subscribe to Node's channels of a namespace");
                wire.namespaces
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(nsp);
                false
            }
        }
    }

    /// Publishes what the manager published on `channel` (one message or a batch) Node's way,
    /// one message at a time, in order.
    pub(crate) async fn publish_sharded_node(
        &self,
        channel: &str,
        payload: &[u8],
    ) -> Result<(), BusError> {
        let wire = self.sharded_node()?;
        let to = wire.addressee(channel);
        let mut outgoing = Vec::new();
        if batch::is_batch(payload) {
            let messages =
                batch::messages(payload).map_err(|e| BusError::Other(format!("a batch: {e}")))?;
            for message in messages {
                outgoing.push(self.sharded_node_out(wire, to, message).await?);
            }
        } else {
            outgoing.push(self.sharded_node_out(wire, to, payload).await?);
        }
        // Node has no batches: one SPUBLISH per message, all sent at once on the one publishing
        // connection rather than one round trip each
        let publishes = outgoing
            .iter()
            .map(|out| self.publish_to(&out.channel, out.payload.clone()));
        let results = futures_util::future::join_all(publishes).await;
        for (out, reached) in outgoing.iter().zip(results) {
            let reached = reached?;
            if let Some(expected) = out.expected.filter(|_| self.inner.count_receivers) {
                if reached < expected {
                    return Err(BusError::Undelivered { reached, expected });
                }
            }
        }
        Ok(())
    }

    /// One of the manager's messages as Node's sharded adapter sends it, on the channel Node
    /// picks for it: a node's answer channel when it is for one node, a room's channel for a
    /// broadcast to that room alone without acks, else the namespace's channel.
    async fn sharded_node_out(
        &self,
        wire: &ShardedNodeWire,
        to: Option<&str>,
        bytes: &[u8],
    ) -> Result<Outgoing, BusError> {
        let msg = Message::decode(bytes).map_err(|e| BusError::Other(e.to_string()))?;
        let payload = node::to_sharded(&msg).map_err(|e| BusError::Other(e.to_string()))?;
        if let Some(to) = to {
            return Ok(Outgoing {
                channel: wire.answer_channel(&msg.nsp, to),
                payload,
                expected: None,
            });
        }
        let room = match &msg.body {
            Body::Broadcast {
                opts, ack: None, ..
            } => match opts.rooms.as_slice() {
                [room] => self.sharded().and_then(|w| w.room_channel(&msg.nsp, room)),
                _ => None,
            },
            _ => None,
        };
        if let Some(channel) = room {
            // reaches the nodes with members there, however many that is
            return Ok(Outgoing {
                channel,
                payload,
                expected: None,
            });
        }
        // listen for the answers before asking
        self.serve_sharded_node(&msg.nsp).await;
        Ok(Outgoing {
            channel: wire.namespace_channel(&msg.nsp),
            payload,
            expected: wire.fresh_count(&msg.nsp),
        })
    }

    /// Node's count of the other servers of `nsp`: the subscribers of its namespace channel,
    /// this node excluded.
    pub(crate) async fn sharded_node_peers(&self, nsp: &str) -> Option<usize> {
        let wire = self.sharded_node().ok()?;
        if !self.serve_sharded_node(nsp).await {
            return None;
        }
        let channel = wire.namespace_channel(nsp);
        let timeout = self.inner.operation_timeout;
        let count = crate::count_shard_subscribers(&self.inner.publisher, timeout, channel).await?;
        let count = count.max(1);
        wire.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned(), (count, Instant::now()));
        Some(count - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_nodes() {
        let wire = ShardedNodeWire::new("app".into());
        assert_eq!(wire.namespace_channel("/chat"), "app#/chat#");
        assert_eq!(wire.answer_channel("/", "0123abcd"), "app#/#0123abcd#");
        let (tx, _rx) = mpsc::channel(1);
        let _ = wire.link.set(Link {
            uid: "self".into(),
            main: "volley#".into(),
            translate: tx,
        });
        assert_eq!(wire.addressee("volley#0123abcd#"), Some("0123abcd"));
        assert_eq!(wire.addressee("volley#"), None);
        assert_eq!(wire.addressee("app#/#lobby#"), None);
        assert_eq!(wire.addressee("volley#/#lobby#"), None);
    }

    #[test]
    fn unreadable_messages_are_skipped() {
        assert_eq!(translate("app#/#", b"{not json"), None);
        assert_eq!(translate("app#/#", b"\xc1"), None);
        let ok = br#"{"uid":"a","nsp":"/","type":9,"data":{"packet":["note"]}}"#;
        let bytes = translate("app#/#", ok).expect("readable");
        let msg = Message::decode(&bytes).expect("Volley's format");
        assert_eq!(msg.uid, "a");
    }
}
