//! The streams bus speaking Node's `@socket.io/redis-streams-adapter` (0.3): what the cluster
//! manager publishes in Volley's format is written the way a Node node writes it, and what Node
//! nodes write is handed to the manager in Volley's format (see
//! [`volley_protocol::cluster::node`] for the shapes).
//!
//! Where each message goes, as Node sends it:
//!
//! | message | where |
//! |---|---|
//! | broadcasts without acks, joins, leaves, disconnects | one stream entry `{uid, nsp, type, data}` |
//! | broadcasts with acks, fetches, server-side emits, heartbeats | `PUBLISH {key}#{nsp}#` (MessagePack) |
//! | answers to one node | `PUBLISH {key}#{nsp}#{uid}#` (MessagePack) |
//!
//! A node subscribes to `{key}#{nsp}#` and `{key}#{nsp}#{uid}#` for each namespace it serves
//! (`/` from the start, the others from its first socket or emit there): Node's nodes count the
//! servers of a namespace with `PUBSUB NUMSUB {key}#{nsp}#`, and so does this bus
//! ([`PubSub::peers`](volley_cluster::PubSub::peers)).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use base64::Engine as _;
use bytes::Bytes;
use fred::prelude::{ClientLike, Expiration, KeysInterface, StreamsInterface};
use fred::types::Value as FredValue;
use tokio::sync::mpsc;
use volley_cluster::PubSub as _;
use volley_cluster::{
    BusError, BusMessage, MissedBroadcast, RestoredSession, StoredSession, Subscription,
};
use volley_protocol::cluster::{batch, node, Body, Message};
use volley_protocol::Value;

use super::entry::Entry;
use super::Inner;
use crate::manager_channels::{manager_channels, target_uid};
use crate::{error, LOG_TARGET};

/// Default of the channel prefix: `socket.io`, as Node's streams adapter.
pub const DEFAULT_CHANNEL_PREFIX: &str = "socket.io";

/// The Node side of one bus.
pub(crate) struct NodeWire {
    /// The prefix of the pub/sub channels (Node's `channelPrefix`).
    pub(crate) key: String,
    /// Set by `subscribe`.
    link: OnceLock<Link>,
    /// Namespaces whose channels this node subscribed to.
    namespaces: Mutex<HashSet<String>>,
}

/// How this node is reached, learnt from the manager's subscriptions.
struct Link {
    /// This node's uid (the requests it sends carry it; Node answers on a channel naming it).
    uid: String,
    /// Pub/sub messages from Node's channels, on their way to translation.
    translate: mpsc::Sender<BusMessage>,
}

impl NodeWire {
    pub(crate) fn new(key: String) -> NodeWire {
        NodeWire {
            key,
            link: OnceLock::new(),
            namespaces: Mutex::new(HashSet::new()),
        }
    }

    fn public_channel(&self, nsp: &str) -> String {
        format!("{}#{}#", self.key, nsp)
    }

    fn private_channel(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{}#{}#", self.key, nsp, uid)
    }
}

fn is_answer(body: &Body) -> bool {
    matches!(
        body,
        Body::FetchSocketsResponse { .. }
            | Body::ServerSideEmitResponse { .. }
            | Body::BroadcastClientCount { .. }
            | Body::BroadcastAck { .. }
    )
}

impl Inner {
    fn wire(&self) -> Result<&NodeWire, BusError> {
        self.node
            .as_ref()
            .ok_or_else(|| BusError::Other("not a Node-protocol bus".into()))
    }

    /// Publishes what the manager published on `channel` (a message or a batch) Node's way, one
    /// message at a time, in order.
    pub(crate) async fn publish_node(&self, channel: &str, payload: &[u8]) -> Result<(), BusError> {
        if batch::is_batch(payload) {
            let messages =
                batch::messages(payload).map_err(|e| BusError::Other(format!("a batch: {e}")))?;
            for message in messages {
                self.publish_one(channel, message).await?;
            }
            Ok(())
        } else {
            self.publish_one(channel, payload).await
        }
    }

    async fn publish_one(&self, channel: &str, bytes: &[u8]) -> Result<(), BusError> {
        let wire = self.wire()?;
        let msg = Message::decode(bytes).map_err(|e| BusError::Other(e.to_string()))?;
        if is_answer(&msg.body) {
            let to = target_uid(channel)
                .ok_or_else(|| BusError::Other(format!("no node named in {channel}")))?;
            let payload = node::to_msgpack(&msg).map_err(|e| BusError::Other(e.to_string()))?;
            return self
                .pubsub
                .publish(&wire.private_channel(&msg.nsp, to), payload)
                .await;
        }
        if node::is_ephemeral(&msg.body) {
            self.serve_namespace(&msg.nsp).await;
            let payload = node::to_msgpack(&msg).map_err(|e| BusError::Other(e.to_string()))?;
            return self
                .pubsub
                .publish(&wire.public_channel(&msg.nsp), payload)
                .await;
        }
        let entry = node::to_entry(&msg).map_err(|e| BusError::Other(e.to_string()))?;
        let fields = entry
            .fields()
            .into_iter()
            .map(|(name, value)| (name, FredValue::from(value)))
            .collect();
        self.xadd(fields).await.map(|_| ())
    }

    /// Starts translating Node's pub/sub messages for the manager; returns where the stream's
    /// entries are delivered (the manager's channel for every node).
    pub(crate) fn link_node(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<String, BusError> {
        let wire = self.wire()?;
        let (deliver_on, uid) = manager_channels(subscriptions).ok_or_else(|| {
            BusError::Other(
                "the manager's channels name no node: cannot speak Node's protocol".into(),
            )
        })?;
        let (translate, incoming) = crate::node_link::translation_channel();
        if wire.link.set(Link { uid, translate }).is_err() {
            return Err(BusError::Other(
                "a Node-protocol bus serves one manager".into(),
            ));
        }
        let translate = |_channel: &str, payload: &[u8]| translate_pubsub(payload);
        crate::node_link::spawn_translation(incoming, deliver_on.clone(), sink, translate);
        Ok(deliver_on)
    }

    /// Subscribes to the channels of namespace `nsp`, once.
    pub(crate) async fn serve_namespace(&self, nsp: &str) {
        let Ok(wire) = self.wire() else { return };
        let Some(link) = wire.link.get() else { return };
        let fresh = wire
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned());
        if !fresh {
            return;
        }
        let channels = [
            Subscription::Channel(wire.public_channel(nsp)),
            Subscription::Channel(wire.private_channel(nsp, &link.uid)),
        ];
        if let Err(e) = self
            .pubsub
            .subscribe(&channels, link.translate.clone())
            .await
        {
            tracing::warn!(target: LOG_TARGET, nsp, error = %e, "cannot subscribe to Node's channels of a namespace");
            wire.namespaces
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(nsp);
        }
    }

    /// Node's count of the other servers of `nsp`: the subscribers of its public channel, this
    /// node excluded.
    pub(crate) async fn node_peers(&self, nsp: &str) -> Option<usize> {
        let wire = self.wire().ok()?;
        self.serve_namespace(nsp).await;
        let channel = wire.public_channel(nsp);
        let timeout = self.settings.fred.operation_timeout;
        let count = crate::count_subscribers(&self.writer, timeout, channel, false).await?;
        Some(count.saturating_sub(1))
    }
}

impl Inner {
    /// Stores a disconnected socket as Node does: `SET {prefix}{pid}` to the base64 of a
    /// MessagePack map `{sid, pid, rooms, data}`, expiring after `ttl`.
    pub(crate) async fn persist_node_session(
        &self,
        session: StoredSession,
        ttl: std::time::Duration,
    ) -> Result<(), BusError> {
        let data = match session.data {
            // Node's sockets always have a `data` object
            Value::Nil => Value::Map(Vec::new()),
            other => other,
        };
        let map = Value::Map(vec![
            (Value::from("sid"), Value::from(session.sid)),
            (Value::from("pid"), Value::from(session.pid.as_str())),
            (
                Value::from("rooms"),
                Value::Array(session.rooms.into_iter().map(Value::from).collect()),
            ),
            (Value::from("data"), data),
        ]);
        let bytes = volley_protocol::msgpack::write_value(&map)
            .map_err(|e| BusError::Other(e.to_string()))?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        let key = format!("{SESSION_KEY_PREFIX}{}", session.pid);
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let _: FredValue = self
            .writer
            .with_options(&self.settings.fred.publish_options)
            .set(key, encoded, Some(Expiration::PX(ms)), None, false)
            .await
            .map_err(|e| error::bus_error(e, &self.settings.fred.address))?;
        Ok(())
    }

    /// Takes back a socket Node's way: `GETDEL` its key, check that `offset` is still in the
    /// stream, then read the stream after it for the broadcasts of namespace `nsp` that reached
    /// its rooms.
    pub(crate) async fn restore_node_session(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
        max_missed: usize,
    ) -> Result<Option<RestoredSession>, BusError> {
        if super::entry::parse_id(offset).is_none() {
            return Ok(None);
        }
        let settings = &self.settings;
        let client = self.writer.with_options(&fred::prelude::Options {
            timeout: Some(settings.fred.operation_timeout),
            ..Default::default()
        });
        let fail = |e| error::bus_error(e, &settings.fred.address);
        let raw: Option<String> = client
            .getdel(format!("{SESSION_KEY_PREFIX}{pid}"))
            .await
            .map_err(fail)?;
        let Some(session) = raw.as_deref().and_then(decode_session) else {
            return Ok(None);
        };
        let at: FredValue = client
            .xrange(settings.stream.as_str(), offset, offset, None)
            .await
            .map_err(fail)?;
        if super::entry::last_id(&at).is_none() {
            return Ok(None);
        }
        let mut missed = Vec::new();
        let mut last = offset.to_owned();
        loop {
            let page: FredValue = client
                .xrange(
                    settings.stream.as_str(),
                    format!("({last}"),
                    "+",
                    Some(RESTORE_PAGE),
                )
                .await
                .map_err(fail)?;
            let entries = super::entry::parse_range(&page).unwrap_or_default();
            let Some(end) = entries.last().map(|e| e.id.clone()) else {
                break;
            };
            for entry in &entries {
                if let Some(m) = missed_broadcast(entry, nsp, &session.rooms) {
                    if missed.len() == max_missed {
                        return Ok(None);
                    }
                    missed.push(m);
                }
            }
            last = end;
            if entries.len() < RESTORE_PAGE as usize {
                break;
            }
        }
        Ok(Some(RestoredSession {
            session,
            missed,
            last,
        }))
    }
}

/// Node's default `sessionKeyPrefix`.
pub const SESSION_KEY_PREFIX: &str = "sio:session:";

/// Entries read per `XRANGE` while restoring a session.
const RESTORE_PAGE: u64 = 500;

fn decode_session(encoded: &str) -> Option<StoredSession> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let Value::Map(entries) = volley_protocol::msgpack::read_value(&bytes).ok()? else {
        return None;
    };
    let mut session = StoredSession {
        sid: String::new(),
        pid: String::new(),
        rooms: Vec::new(),
        data: Value::Nil,
    };
    for (key, value) in entries {
        match (key.as_str(), value) {
            (Some("sid"), Value::String(s)) => session.sid = s.into_str()?,
            (Some("pid"), Value::String(s)) => session.pid = s.into_str()?,
            (Some("rooms"), Value::Array(rooms)) => {
                session.rooms = rooms
                    .into_iter()
                    .filter_map(|r| match r {
                        Value::String(s) => s.into_str(),
                        Value::Integer(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            }
            (Some("data"), data) => session.data = volley_protocol::classic::normalize(data),
            _ => {}
        }
    }
    (!session.sid.is_empty()).then_some(session)
}

/// A stream entry as a broadcast a socket in `rooms` missed, if it is one.
fn missed_broadcast(entry: &Entry, nsp: &str, rooms: &[String]) -> Option<MissedBroadcast> {
    if entry.node.nsp.as_deref() != Some(nsp) || entry.node.kind.as_deref() != Some("3") {
        return None;
    }
    let Body::Broadcast {
        opts,
        event,
        args,
        offset,
        ack: None,
    } = node_message(entry)?.body
    else {
        return None;
    };
    let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
    let excluded = rooms.iter().any(|r| opts.except.contains(r));
    if !included || excluded || opts.volatile {
        return None;
    }
    Some(MissedBroadcast {
        event,
        args,
        offset: offset?,
    })
}

/// A Node message from pub/sub, as Volley's bytes; `None` (logged) when it is not one.
fn translate_pubsub(payload: &[u8]) -> Option<Bytes> {
    let message = match node::from_msgpack(payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(target: LOG_TARGET, error = %e, "unreadable message on a Node channel, skipped");
            return None;
        }
    };
    reencode(&message)
}

/// A Node stream entry, as Volley's bytes; its id is the offset of a broadcast.
pub(crate) fn translate_entry(entry: &Entry) -> Option<Bytes> {
    reencode(&node_message(entry)?)
}

/// A Node stream entry as a message; its id is the offset of a broadcast. `None` (logged when
/// it is Node's but unreadable) for anything else.
fn node_message(entry: &Entry) -> Option<Message> {
    let (Some(uid), Some(nsp), Some(kind)) = (&entry.node.uid, &entry.node.nsp, &entry.node.kind)
    else {
        // Node skips entries without a namespace too
        return None;
    };
    let data = entry
        .data
        .as_ref()
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let raw = node::Entry {
        uid: uid.clone(),
        nsp: nsp.clone(),
        kind: kind.clone(),
        data,
    };
    match node::from_entry(&raw, Some(&entry.id)) {
        Ok(message) => Some(message),
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, id = %entry.id, error = %e, "unreadable Node stream entry, skipped");
            None
        }
    }
}

fn reencode(message: &Message) -> Option<Bytes> {
    match message.encode() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, error = %e, "cannot re-encode a Node message, skipped");
            None
        }
    }
}
