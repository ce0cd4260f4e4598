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

use bytes::Bytes;
use tokio::sync::mpsc;
use volley_cluster::{BusError, BusMessage, Subscription};
use volley_protocol::cluster::{node, Body, Message};

use crate::manager_channels::target_uid;
use crate::node_link::{self, NodeLink, Outgoing};
use crate::{RedisBus, LOG_TARGET};

/// The Node side of a sharded pub/sub bus.
pub(crate) struct ShardedNodeWire {
    /// Node's `channelPrefix`.
    key: String,
    /// The manager's link, the namespaces listened to, the node counts.
    state: NodeLink,
}

impl ShardedNodeWire {
    pub(crate) fn new(key: String) -> ShardedNodeWire {
        ShardedNodeWire {
            key,
            state: NodeLink::default(),
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

    /// The node a channel of the manager's names: `Some` for a node's own channel
    /// (`{prefix}#{uid}#`), `None` for the channel of every node and for a room's channel.
    fn addressee<'c>(&self, channel: &'c str) -> Option<&'c str> {
        let main = &self.state.link.get()?.main;
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
    match node::from_sharded(payload) {
        Ok(message) => node_link::reencode(channel, &message),
        Err(e) => {
            tracing::debug!(target: LOG_TARGET, channel, error = %e, "unreadable message on a Node channel, skipped");
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
        let translate = |_uid: &str, channel: &str, payload: &[u8]| translate(channel, payload);
        let linked = self
            .link_node_wire(&wire.state, subscriptions, sink, translate)
            .await?;
        // a room's channel is Node's, and what arrives there goes through translation too (the
        // call that subscribes `/`'s channels delivers it)
        if linked {
            if let Some(rooms) = self.sharded() {
                rooms.link_to(format!("{}#", wire.key), wire.namespace_channel("/"));
            }
        }
        if self.serve_sharded_node("/").await {
            Ok(())
        } else {
            Err(BusError::Unavailable(
                "cannot subscribe to Node's channels of namespace /".into(),
            ))
        }
    }

    /// Listens to the channels of namespace `nsp`, once; `false` when that failed (the next call
    /// tries again).
    pub(crate) async fn serve_sharded_node(&self, nsp: &str) -> bool {
        let Ok(wire) = self.sharded_node() else {
            return false;
        };
        self.serve_node_namespace(&wire.state, nsp, |link| {
            vec![
                Subscription::Channel(wire.namespace_channel(nsp)),
                Subscription::Channel(wire.answer_channel(nsp, &link.uid)),
            ]
        })
        .await
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
        for message in node_link::messages(payload)? {
            outgoing.push(self.sharded_node_out(wire, to, message).await?);
        }
        self.publish_outgoing(&outgoing).await
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
            expected: wire.state.fresh_count(&msg.nsp),
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
        let count = crate::count_subscribers(&self.inner.publisher, timeout, channel, true).await?;
        Some(wire.state.record_count(nsp, count))
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
        let _ = wire.state.link.set(node_link::Link {
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
