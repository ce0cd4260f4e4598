//! The pub/sub bus speaking Node's classic `@socket.io/redis-adapter` (8.x, `createAdapter`):
//! what the cluster manager publishes in Volley's format goes out on Node's channels, in Node's
//! shapes, and what Node nodes (and Node's emitters) publish there reaches the manager in
//! Volley's format (see [`volley_protocol::cluster::classic`] for the shapes).
//!
//! For each namespace it serves (`/` from the start, the others from their first socket or
//! message), a node listens to Node's channels of that namespace: `PSUBSCRIBE {key}#{nsp}#*`
//! (broadcasts), `SUBSCRIBE {key}-request#{nsp}#`, `{key}-response#{nsp}#` and
//! `{key}-response#{nsp}#{uid}#` (answers of Node nodes set to answer on a channel per node).
//! Nodes are counted as Node counts them: the subscribers of the request channel.

use bytes::Bytes;
use tokio::sync::mpsc;
use volley_cluster::{BusError, BusMessage, Subscription};
use volley_protocol::cluster::classic::{self, Route};
use volley_protocol::cluster::Message;

use crate::manager_channels::target_uid;
use crate::node_link::{self, NodeLink, Outgoing};
use crate::{RedisBus, LOG_TARGET};

/// The Node side of one pub/sub bus.
pub(crate) struct ClassicWire {
    /// Node's `key` option: the prefix of every channel.
    key: String,
    /// The manager's link, the namespaces listened to, the node counts.
    state: NodeLink,
}

impl ClassicWire {
    pub(crate) fn new(key: String) -> ClassicWire {
        ClassicWire {
            key,
            state: NodeLink::default(),
        }
    }
}

/// What a message on one of Node's channels (whose `key` is `key`) says, in Volley's format;
/// `None` (logged when unreadable) when it is not for node `uid`.
fn translate(key: &str, uid: &str, channel: &str, payload: &[u8]) -> Option<Bytes> {
    let read = if let Some(rest) = channel.strip_prefix(&format!("{key}-request#")) {
        let nsp = rest.strip_suffix('#')?;
        classic::from_request(payload, nsp, uid)
    } else if let Some(rest) = channel.strip_prefix(&format!("{key}-response#")) {
        let own = format!("#{uid}#");
        let nsp = match rest.strip_suffix(own.as_str()) {
            Some(nsp) => nsp,
            None => rest.strip_suffix('#')?,
        };
        classic::from_response(payload, nsp, uid)
    } else {
        classic::from_broadcast(payload, uid)
    };
    match read {
        Ok(Some(message)) => node_link::reencode(channel, &message),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, channel, error = %e, "unreadable message on a Node channel, skipped");
            None
        }
    }
}

impl RedisBus {
    fn classic(&self) -> Result<&ClassicWire, BusError> {
        self.inner
            .classic
            .as_ref()
            .ok_or_else(|| BusError::Other("not a Node-protocol bus".into()))
    }

    /// Subscribes for the manager: its own two channels are served by translation from Node's
    /// channels; any other subscription (another protocol's channels) is passed through.
    pub(crate) async fn subscribe_classic(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let wire = self.classic()?;
        let key = wire.key.clone();
        let translate =
            move |uid: &str, channel: &str, payload: &[u8]| translate(&key, uid, channel, payload);
        self.link_node_wire(&wire.state, subscriptions, sink, translate)
            .await?;
        if self.serve_classic("/").await {
            Ok(())
        } else {
            Err(BusError::Unavailable(
                "cannot subscribe to Node's channels of namespace /".into(),
            ))
        }
    }

    /// Listens to the channels of namespace `nsp`, once; `false` when that failed (the next call
    /// tries again).
    pub(crate) async fn serve_classic(&self, nsp: &str) -> bool {
        let Ok(wire) = self.classic() else {
            return false;
        };
        self.serve_node_namespace(&wire.state, nsp, |link| {
            let responses = Route::Response.channel(&wire.key, nsp);
            vec![
                Subscription::Prefix(Route::Broadcast { room: None }.channel(&wire.key, nsp)),
                Subscription::Channel(Route::Request.channel(&wire.key, nsp)),
                Subscription::Channel(format!("{responses}{}#", link.uid)),
                Subscription::Channel(responses),
            ]
        })
        .await
    }

    /// Publishes what the manager published on `channel` (one message or a batch) Node's way,
    /// one message at a time, in order.
    pub(crate) async fn publish_classic(
        &self,
        channel: &str,
        payload: &[u8],
    ) -> Result<(), BusError> {
        let wire = self.classic()?;
        // an answer, or a message for one node, names that node in its channel
        let to = match wire.state.link.get() {
            Some(link) if channel != link.main => target_uid(channel),
            _ => None,
        };
        let mut outgoing = Vec::new();
        for message in node_link::messages(payload)? {
            outgoing.push(self.translate_out(wire, to, message).await?);
        }
        self.publish_outgoing(&outgoing).await
    }

    /// One of the manager's messages as Node sends it.
    async fn translate_out(
        &self,
        wire: &ClassicWire,
        to: Option<&str>,
        bytes: &[u8],
    ) -> Result<Outgoing, BusError> {
        let msg = Message::decode(bytes).map_err(|e| BusError::Other(e.to_string()))?;
        // listen for the answers before asking
        self.serve_classic(&msg.nsp).await;
        let (route, payload) =
            classic::to_classic(&msg, to).map_err(|e| BusError::Other(e.to_string()))?;
        // a broadcast must reach every node of its namespace (when they were counted lately)
        let expected = match route {
            Route::Broadcast { .. } => wire.state.fresh_count(&msg.nsp),
            _ => None,
        };
        Ok(Outgoing {
            channel: route.channel(&wire.key, &msg.nsp),
            payload,
            expected,
        })
    }

    /// Node's count of the other servers of `nsp`: the subscribers of its request channel, this
    /// node excluded.
    pub(crate) async fn classic_peers(&self, nsp: &str) -> Option<usize> {
        let wire = self.classic().ok()?;
        if !self.serve_classic(nsp).await {
            return None;
        }
        let channel = Route::Request.channel(&wire.key, nsp);
        let timeout = self.inner.operation_timeout;
        let count =
            crate::count_subscribers(&self.inner.publisher, timeout, channel, false).await?;
        Some(wire.state.record_count(nsp, count))
    }
}
