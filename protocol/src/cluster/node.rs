//! Cluster messages in the shapes of Node's `ClusterAdapter` (npm `socket.io-adapter`), as
//! Node's `@socket.io/redis-streams-adapter` carries them: the same [`Message`]s, translated both
//! ways, so that Volley nodes and Node nodes can share one cluster.
//!
//! ```
//! use volley_protocol::cluster::node::{self, Entry};
//! use volley_protocol::cluster::{Body, BroadcastOpts, Message};
//! use volley_protocol::Value;
//!
//! let msg = Message {
//!     uid: "a1b2c3d4e5f60718".into(),
//!     nsp: "/".into(),
//!     body: Body::Broadcast {
//!         opts: BroadcastOpts { rooms: vec!["lobby".into()], ..Default::default() },
//!         event: "news".into(),
//!         args: vec![Value::from("hi")],
//!         offset: None,
//!         ack: None,
//!     },
//! };
//! // A stream entry, as Node's streams adapter writes it.
//! let entry = node::to_entry(&msg).unwrap();
//! assert_eq!(entry.kind, "3");
//! assert_eq!(
//!     entry.data.as_deref(),
//!     Some(r#"{"opts":{"rooms":["lobby"],"except":[],"flags":{}},"packet":{"type":2,"data":["news","hi"],"nsp":"/"}}"#)
//! );
//! // Read back, the stream entry id becomes the broadcast's offset.
//! let back = node::from_entry(&entry, Some("1700000000000-0")).unwrap();
//! let Body::Broadcast { offset, .. } = &back.body else { unreachable!() };
//! assert_eq!(offset.as_deref(), Some("1700000000000-0"));
//! ```
//!
//! # Shapes
//!
//! A message is `{uid, nsp, type, data?}`, `type` being the number of [`Message::type_number`].
//! Stream entries hold the same four fields, `type` as decimal text and `data` as JSON text, or
//! as base64 MessagePack when it holds binary (readers tell them apart by a leading `{`);
//! messages on pub/sub channels are one MessagePack map. The `data` of each type:
//!
//! | type | `data` |
//! |---|---|
//! | 3 broadcast | `{opts: {rooms, except, flags}, packet: {type: 2, data: [event, ...args], nsp}, requestId?}`; with acks, `flags.timeout` is the requester's wait in ms |
//! | 4, 5 join, leave | `{opts, rooms}` |
//! | 6 disconnect | `{opts, close}` |
//! | 7 fetch sockets | `{opts, requestId}` |
//! | 8 its answer | `{requestId, sockets: [{id, handshake: {auth, url, address, ...}, rooms, data}]}` |
//! | 9 server-side emit | `{packet: [event, ...args], requestId?}` |
//! | 10 its answer | `{requestId, packet}`: one value, the first argument of the answer |
//! | 11 ack recipients | `{requestId, clientCount}` |
//! | 12 one ack | `{requestId, packet}`: the first argument of the client's ack |
//!
//! Request ids are 16 lowercase hex digits (Node's are 8 random bytes in hex), read as the
//! `u64` of Volley's messages. Node does not say which socket an ack comes from: a
//! [`Body::BroadcastClientCount`] read from Node lists as many empty socket ids as it counts,
//! and a [`Body::BroadcastAck`] has an empty `sid`; Node sends only the first argument of an
//! answer. Volley nodes add the ids (`sids` beside `clientCount`, `sid` beside `packet`) and
//! every argument (`args` beside `packet`), which Node's nodes ignore. Volley's own session-transfer messages
//! (types 100 and 101) have no Node shape: encoding them is an error.

use base64::Engine as _;

use super::{AckRequest, Body, BroadcastOpts, Message, NodeInfo, RemoteSocket};
use crate::classic::{decode_opts, normalize, rooms};
use crate::msgpack::{read_value, write_value};
use crate::{DecodeError, EncodeError, Value};

/// How long a node answering a broadcast with acks from Node waits for its clients when the
/// requester did not say (Node's own default for acks).
pub const DEFAULT_ACK_TIMEOUT_MS: u64 = 5_000;

/// One stream entry, field by field, as Node's streams adapter writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The sender's uid.
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// The type number, as decimal text.
    pub kind: String,
    /// The data: JSON text, or base64 MessagePack when it holds binary.
    pub data: Option<String>,
}

impl Entry {
    /// The entry as `(field, value)` pairs, in Node's order, for `XADD`.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![
            ("uid", self.uid.as_str()),
            ("nsp", self.nsp.as_str()),
            ("type", self.kind.as_str()),
        ];
        if let Some(data) = &self.data {
            fields.push(("data", data));
        }
        fields
    }
}

/// Whether Node sends this message on pub/sub rather than in the stream: broadcasts with acks,
/// server-side emits, socket fetches and every answer (what is only useful to nodes listening
/// right now). Heartbeats too: Node's streams adapter has none and ignores them, so they stay out
/// of the stream.
pub fn is_ephemeral(body: &Body) -> bool {
    match body {
        Body::Broadcast { ack, .. } => ack.is_some(),
        Body::SocketsJoin { .. } | Body::SocketsLeave { .. } | Body::DisconnectSockets { .. } => {
            false
        }
        _ => true,
    }
}

/// Writes a message as a stream entry.
pub fn to_entry(msg: &Message) -> Result<Entry, EncodeError> {
    let data = match data_of(msg)? {
        None => None,
        Some(data) if has_binary(&data) => {
            let bytes = write_value(&data)?;
            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(data) => Some(json(&data)?),
    };
    Ok(Entry {
        uid: msg.uid.clone(),
        nsp: msg.nsp.clone(),
        kind: msg.type_number().to_string(),
        data,
    })
}

/// Writes a message as one MessagePack map, for a pub/sub channel.
pub fn to_msgpack(msg: &Message) -> Result<bytes::Bytes, EncodeError> {
    let mut map = vec![
        (Value::from("uid"), Value::from(msg.uid.as_str())),
        (Value::from("nsp"), Value::from(msg.nsp.as_str())),
        (Value::from("type"), Value::from(msg.type_number())),
    ];
    if let Some(data) = data_of(msg)? {
        map.push((Value::from("data"), data));
    }
    write_value(&Value::Map(map))
}

/// Reads a stream entry; `offset`, the entry's id, becomes a broadcast's offset.
pub fn from_entry(entry: &Entry, offset: Option<&str>) -> Result<Message, DecodeError> {
    let kind: u64 = entry
        .kind
        .parse()
        .map_err(|_| invalid("the type is not a number"))?;
    let data = match entry.data.as_deref() {
        None | Some("") => None,
        Some(text) if text.starts_with('{') => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| invalid(&format!("data is not JSON: {e}")))?,
        ),
        Some(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| invalid("data is neither JSON nor base64"))?;
            Some(read_value(&bytes)?)
        }
    };
    let mut msg = message(entry.uid.clone(), entry.nsp.clone(), kind, data)?;
    if let (
        Body::Broadcast {
            offset: slot,
            ack: None,
            ..
        },
        Some(offset),
    ) = (&mut msg.body, offset)
    {
        *slot = Some(offset.to_owned());
    }
    Ok(msg)
}

/// Reads a message from a pub/sub channel (one MessagePack map).
pub fn from_msgpack(bytes: &[u8]) -> Result<Message, DecodeError> {
    let (uid, nsp, kind, data) = parts(read_value(bytes)?)?;
    message(uid, nsp, kind, data)
}

/// The `uid`, `nsp` (`/` when missing), `type` and `data` of a message map.
fn parts(value: Value) -> Result<(String, String, u64, Option<Value>), DecodeError> {
    let Value::Map(entries) = value else {
        return Err(invalid("not a map"));
    };
    let (mut uid, mut nsp, mut kind, mut data) = (None, None, None, None);
    for (key, value) in entries {
        match key.as_str() {
            Some("uid") => uid = text(value),
            Some("nsp") => nsp = text(value),
            Some("type") => kind = value.as_u64(),
            Some("data") => data = Some(value),
            _ => {}
        }
    }
    Ok((
        uid.ok_or_else(|| invalid("missing uid"))?,
        nsp.unwrap_or_else(|| "/".to_owned()),
        kind.ok_or_else(|| invalid("missing type"))?,
        data,
    ))
}

/// The field of `data` that carries one of Volley's own messages through Node's sharded adapter
/// (see [`to_sharded`]).
pub const VOLLEY_FIELD: &str = "volley";

/// The field of a broadcast's `data` that carries its offset between Volley nodes on Node's
/// sharded adapter (see [`to_sharded`]).
pub const OFFSET_FIELD: &str = "offset";

/// Whether Node's `ClusterAdapter` acts on messages of this kind (the others it ignores).
fn node_handles(body: &Body) -> bool {
    matches!(
        body,
        Body::Broadcast { .. }
            | Body::SocketsJoin { .. }
            | Body::SocketsLeave { .. }
            | Body::DisconnectSockets { .. }
            | Body::FetchSockets { .. }
            | Body::FetchSocketsResponse { .. }
            | Body::ServerSideEmit { .. }
            | Body::ServerSideEmitResponse { .. }
            | Body::BroadcastClientCount { .. }
            | Body::BroadcastAck { .. }
    )
}

/// Writes a message as Node's sharded Redis adapter (`createShardedAdapter` of
/// `@socket.io/redis-adapter`) publishes it: the map `{uid, nsp, type, data?}` as JSON text, or
/// as MessagePack when its data holds binary (readers tell them apart by a leading `{`).
///
/// A broadcast's offset (connection state recovery between Volley nodes) goes in `data.offset`.
/// Messages Node's `ClusterAdapter` has no use for (heartbeats, Volley's session transfer) keep
/// their type number and carry Volley's own encoding in `data.volley`: Node's nodes skip a type
/// they do not handle, Volley's nodes read the message whole.
///
/// ```
/// use volley_protocol::cluster::node;
/// use volley_protocol::cluster::{Body, Message};
/// use volley_protocol::Value;
///
/// let msg = Message {
///     uid: "a1b2c3d4e5f60718".into(),
///     nsp: "/".into(),
///     body: Body::ServerSideEmit { event: "note".into(), args: vec![Value::from("hi")], request_id: None },
/// };
/// let bytes = node::to_sharded(&msg).unwrap();
/// assert_eq!(
///     &bytes[..],
///     br#"{"uid":"a1b2c3d4e5f60718","nsp":"/","type":9,"data":{"packet":["note","hi"]}}"#
/// );
/// assert_eq!(node::from_sharded(&bytes).unwrap(), msg);
/// ```
pub fn to_sharded(msg: &Message) -> Result<bytes::Bytes, EncodeError> {
    let mut data = if node_handles(&msg.body) {
        data_of(msg)?
    } else {
        let own = msg.encode()?;
        Some(map(vec![(VOLLEY_FIELD, Value::Binary(own.to_vec()))]))
    };
    // a broadcast's offset, which Volley's nodes share for connection state recovery (Node's
    // nodes ignore the field)
    if let (
        Body::Broadcast {
            offset: Some(offset),
            ..
        },
        Some(Value::Map(fields)),
    ) = (&msg.body, &mut data)
    {
        fields.push((Value::from(OFFSET_FIELD), Value::from(offset.as_str())));
    }
    let binary = data.as_ref().is_some_and(has_binary);
    let mut entries = vec![
        ("uid", Value::from(msg.uid.as_str())),
        ("nsp", Value::from(msg.nsp.as_str())),
        ("type", Value::from(msg.type_number())),
    ];
    if let Some(data) = data {
        entries.push(("data", data));
    }
    let value = map(entries);
    if binary {
        write_value(&value)
    } else {
        json(&value).map(bytes::Bytes::from)
    }
}

/// Reads a message published by Node's sharded Redis adapter (or by [`to_sharded`]): JSON text
/// when it starts with `{`, MessagePack otherwise.
pub fn from_sharded(bytes: &[u8]) -> Result<Message, DecodeError> {
    let value = if bytes.first() == Some(&b'{') {
        serde_json::from_slice::<Value>(bytes).map_err(|e| invalid(&format!("not JSON: {e}")))?
    } else {
        read_value(bytes)?
    };
    let (uid, nsp, kind, data) = parts(value)?;
    if !(3..=12).contains(&kind) {
        if let Some(Value::Map(fields)) = &data {
            let own = fields.iter().find_map(|(k, v)| match v {
                Value::Binary(b) if k.as_str() == Some(VOLLEY_FIELD) => Some(b),
                _ => None,
            });
            if let Some(own) = own {
                return Message::decode(own);
            }
        }
    }
    let offset = match &data {
        Some(Value::Map(fields)) if kind == u64::from(super::BROADCAST_TYPE) => {
            fields.iter().find_map(|(k, v)| match v {
                Value::String(s) if k.as_str() == Some(OFFSET_FIELD) => {
                    s.as_str().map(str::to_owned)
                }
                _ => None,
            })
        }
        _ => None,
    };
    let mut msg = message(uid, nsp, kind, data)?;
    if let Body::Broadcast { offset: slot, .. } = &mut msg.body {
        *slot = offset;
    }
    Ok(msg)
}

/// A request id as Node writes it.
pub fn request_id(id: u64) -> String {
    format!("{id:016x}")
}

fn parse_request_id(value: Option<Value>) -> Result<u64, DecodeError> {
    let text = value
        .and_then(text)
        .ok_or_else(|| invalid("missing requestId"))?;
    if text.len() != 16 {
        return Err(invalid("a requestId must be 16 hex digits"));
    }
    u64::from_str_radix(&text, 16).map_err(|_| invalid("a requestId must be 16 hex digits"))
}

pub(super) fn invalid(why: &str) -> DecodeError {
    DecodeError::InvalidPayload(format!("Node cluster message: {why}"))
}

pub(super) fn text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => s.into_str(),
        _ => None,
    }
}

fn json(data: &Value) -> Result<String, EncodeError> {
    serde_json::to_string(data).map_err(|e| EncodeError::Serialize(e.to_string()))
}

fn has_binary(value: &Value) -> bool {
    match value {
        Value::Binary(_) => true,
        Value::Array(items) => items.iter().any(has_binary),
        Value::Map(entries) => entries.iter().any(|(_, v)| has_binary(v)),
        _ => false,
    }
}

pub(super) fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

pub(super) fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

pub(super) fn opts_value(opts: &BroadcastOpts, timeout_ms: Option<u64>) -> Value {
    let mut flags = Vec::new();
    if opts.volatile {
        flags.push(("volatile", Value::Boolean(true)));
    }
    if let Some(ms) = timeout_ms {
        flags.push(("timeout", Value::from(ms)));
    }
    map(vec![
        ("rooms", strings(&opts.rooms)),
        ("except", strings(&opts.except)),
        ("flags", map(flags)),
    ])
}

pub(super) fn event_array(event: &str, args: &[Value]) -> Value {
    let mut items = Vec::with_capacity(args.len() + 1);
    items.push(Value::from(event));
    items.extend(args.iter().cloned());
    Value::Array(items)
}

pub(super) fn socket_value(socket: &RemoteSocket) -> Value {
    let address = socket.address.as_deref().map_or(Value::Nil, Value::from);
    let handshake = map(vec![
        ("headers", map(Vec::new())),
        ("address", address),
        ("url", Value::from(socket.url.as_str())),
        ("query", map(Vec::new())),
        ("auth", socket.auth.clone()),
    ]);
    map(vec![
        ("id", Value::from(socket.id.as_str())),
        ("handshake", handshake),
        ("rooms", strings(&socket.rooms)),
        ("data", map(Vec::new())),
    ])
}

/// The `data` of a message in Node's shape.
fn data_of(msg: &Message) -> Result<Option<Value>, EncodeError> {
    let data = match &msg.body {
        Body::InitialHeartbeat(_) | Body::Heartbeat(_) | Body::AdapterClose => return Ok(None),
        Body::Broadcast {
            opts,
            event,
            args,
            ack,
            ..
        } => {
            let packet = map(vec![
                ("type", Value::from(2)),
                ("data", event_array(event, args)),
                ("nsp", Value::from(msg.nsp.as_str())),
            ]);
            let mut entries = vec![
                ("opts", opts_value(opts, ack.map(|a| a.timeout_ms))),
                ("packet", packet),
            ];
            if let Some(ack) = ack {
                entries.push(("requestId", Value::from(request_id(ack.id))));
            }
            map(entries)
        }
        Body::SocketsJoin { opts, rooms } | Body::SocketsLeave { opts, rooms } => map(vec![
            ("opts", opts_value(opts, None)),
            ("rooms", strings(rooms)),
        ]),
        Body::DisconnectSockets { opts, close } => map(vec![
            ("opts", opts_value(opts, None)),
            ("close", Value::Boolean(*close)),
        ]),
        Body::FetchSockets {
            opts,
            request_id: id,
        } => map(vec![
            ("opts", opts_value(opts, None)),
            ("requestId", Value::from(request_id(*id))),
        ]),
        Body::FetchSocketsResponse {
            request_id: id,
            sockets,
        } => map(vec![
            ("requestId", Value::from(request_id(*id))),
            (
                "sockets",
                Value::Array(sockets.iter().map(socket_value).collect()),
            ),
        ]),
        Body::ServerSideEmit {
            event,
            args,
            request_id: id,
        } => {
            let mut entries = vec![("packet", event_array(event, args))];
            if let Some(id) = id {
                entries.push(("requestId", Value::from(request_id(*id))));
            }
            map(entries)
        }
        Body::ServerSideEmitResponse {
            request_id: id,
            args,
        } => map(vec![
            ("requestId", Value::from(request_id(*id))),
            ("packet", args.first().cloned().unwrap_or(Value::Nil)),
            ("args", Value::Array(args.clone())),
        ]),
        Body::BroadcastAck {
            request_id: id,
            sid,
            args,
        } => map(vec![
            ("requestId", Value::from(request_id(*id))),
            ("packet", args.first().cloned().unwrap_or(Value::Nil)),
            ("sid", Value::from(sid.as_str())),
            ("args", Value::Array(args.clone())),
        ]),
        Body::BroadcastClientCount {
            request_id: id,
            sids,
        } => map(vec![
            ("requestId", Value::from(request_id(*id))),
            ("clientCount", Value::from(sids.len() as u64)),
            ("sids", strings(sids)),
        ]),
        Body::RestoreSession { .. } | Body::RestoreSessionResponse { .. } => {
            return Err(EncodeError::Serialize(
                "session transfer has no shape in Node's cluster protocol".into(),
            ))
        }
    };
    Ok(Some(data))
}

/// The fields of a `data` map, by name.
pub(super) struct Fields(Vec<(Value, Value)>);

impl Fields {
    pub(super) fn new(data: Option<Value>) -> Result<Self, DecodeError> {
        match data {
            Some(Value::Map(entries)) => Ok(Fields(entries)),
            _ => Err(invalid("data must be a map")),
        }
    }

    pub(super) fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k.as_str() == Some(name))?;
        Some(self.0.swap_remove(at).1)
    }

    pub(super) fn opts(&mut self) -> Result<(BroadcastOpts, Option<u64>), DecodeError> {
        let Some(value) = self.take("opts") else {
            return Ok((BroadcastOpts::default(), None));
        };
        let timeout = match &value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some("flags"))
                .and_then(|(_, flags)| match flags {
                    Value::Map(flags) => flags
                        .iter()
                        .find(|(k, _)| k.as_str() == Some("timeout"))
                        .and_then(|(_, v)| v.as_u64()),
                    _ => None,
                }),
            _ => None,
        };
        let opts = decode_opts(value)?;
        Ok((
            BroadcastOpts {
                rooms: opts.rooms,
                except: opts.except,
                volatile: opts.volatile,
                local: false,
            },
            timeout,
        ))
    }

    /// The sockets an answer to a broadcast with acks counts (`count`, its `clientCount`):
    /// named when a Volley node sent it (`sids`), as many empty ids otherwise (Node's nodes do
    /// not name them). Bounded: a count is not a reason to allocate without limit.
    pub(super) fn recipients(&mut self, count: Option<u64>) -> Result<Vec<String>, DecodeError> {
        let count = count.ok_or_else(|| invalid("clientCount must be a number"))?;
        let count = usize::try_from(count.min(MAX_CLIENT_COUNT)).unwrap_or(0);
        Ok(match self.take("sids").map(|v| rooms(v, "sids")) {
            Some(Ok(sids)) if sids.len() == count => sids,
            _ => vec![String::new(); count],
        })
    }

    pub(super) fn rooms(&mut self) -> Result<Vec<String>, DecodeError> {
        rooms(self.take("rooms").unwrap_or(Value::Nil), "rooms")
    }

    fn request_id(&mut self) -> Result<u64, DecodeError> {
        parse_request_id(self.take("requestId"))
    }

    /// `[event, ...args]`, from a broadcast's packet or a server-side emit.
    pub(super) fn event(value: Option<Value>) -> Result<(String, Vec<Value>), DecodeError> {
        let Some(Value::Array(items)) = value else {
            return Err(invalid("an event must be an array [event, ...args]"));
        };
        let mut items = items.into_iter();
        let event = items
            .next()
            .and_then(text)
            .ok_or_else(|| invalid("an event must start with its name"))?;
        Ok((event, items.map(normalize).collect()))
    }

    /// An answer as Volley's argument list: every argument from a Volley node, the one value
    /// Node sends otherwise.
    fn answer(&mut self) -> Vec<Value> {
        match self.take("args") {
            Some(Value::Array(args)) => args.into_iter().map(normalize).collect(),
            _ => vec![normalize(self.take("packet").unwrap_or(Value::Nil))],
        }
    }
}

pub(super) fn socket_from(value: Value, nsp: &str) -> Result<RemoteSocket, DecodeError> {
    let mut fields = Fields::new(Some(value))?;
    let id = fields
        .take("id")
        .and_then(text)
        .ok_or_else(|| invalid("a socket needs an id"))?;
    let rooms = fields.rooms()?;
    let mut socket = RemoteSocket {
        id,
        nsp: nsp.to_owned(),
        rooms,
        ..RemoteSocket::default()
    };
    if let Some(handshake) = fields.take("handshake") {
        let mut handshake = Fields::new(Some(handshake))?;
        socket.auth = normalize(handshake.take("auth").unwrap_or(Value::Nil));
        socket.url = handshake.take("url").and_then(text).unwrap_or_default();
        socket.address = handshake.take("address").and_then(text);
    }
    Ok(socket)
}

fn message(
    uid: String,
    nsp: String,
    kind: u64,
    data: Option<Value>,
) -> Result<Message, DecodeError> {
    let body = match kind {
        1 => Body::InitialHeartbeat(NodeInfo::default()),
        2 => Body::Heartbeat(NodeInfo::default()),
        13 => Body::AdapterClose,
        3 => {
            let mut d = Fields::new(data)?;
            let (opts, timeout) = d.opts()?;
            let mut packet = Fields::new(d.take("packet"))?;
            match packet.take("type").and_then(|t| t.as_u64()) {
                Some(2 | 5) => {}
                _ => return Err(invalid("a broadcast's packet must be an EVENT")),
            }
            let (event, args) = Fields::event(packet.take("data"))?;
            let ack = match d.take("requestId") {
                None | Some(Value::Nil) => None,
                Some(id) => Some(AckRequest {
                    id: parse_request_id(Some(id))?,
                    timeout_ms: timeout.unwrap_or(DEFAULT_ACK_TIMEOUT_MS),
                }),
            };
            Body::Broadcast {
                opts,
                event,
                args,
                offset: None,
                ack,
            }
        }
        4 | 5 => {
            let mut d = Fields::new(data)?;
            let (opts, _) = d.opts()?;
            let rooms = d.rooms()?;
            if kind == 4 {
                Body::SocketsJoin { opts, rooms }
            } else {
                Body::SocketsLeave { opts, rooms }
            }
        }
        6 => {
            let mut d = Fields::new(data)?;
            let (opts, _) = d.opts()?;
            let close = matches!(d.take("close"), Some(Value::Boolean(true)));
            Body::DisconnectSockets { opts, close }
        }
        7 => {
            let mut d = Fields::new(data)?;
            let (opts, _) = d.opts()?;
            Body::FetchSockets {
                opts,
                request_id: d.request_id()?,
            }
        }
        8 => {
            let mut d = Fields::new(data)?;
            let request_id = d.request_id()?;
            let sockets = match d.take("sockets") {
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(|s| socket_from(s, &nsp))
                    .collect::<Result<_, _>>()?,
                _ => Vec::new(),
            };
            Body::FetchSocketsResponse {
                request_id,
                sockets,
            }
        }
        9 => {
            let mut d = Fields::new(data)?;
            let (event, args) = Fields::event(d.take("packet"))?;
            let request_id = match d.take("requestId") {
                None | Some(Value::Nil) => None,
                Some(id) => Some(parse_request_id(Some(id))?),
            };
            Body::ServerSideEmit {
                event,
                args,
                request_id,
            }
        }
        10 => {
            let mut d = Fields::new(data)?;
            Body::ServerSideEmitResponse {
                request_id: d.request_id()?,
                args: d.answer(),
            }
        }
        11 => {
            let mut d = Fields::new(data)?;
            let request_id = d.request_id()?;
            let count = d.take("clientCount").and_then(|c| c.as_u64());
            let sids = d.recipients(count)?;
            Body::BroadcastClientCount { request_id, sids }
        }
        12 => {
            let mut d = Fields::new(data)?;
            Body::BroadcastAck {
                request_id: d.request_id()?,
                sid: d.take("sid").and_then(text).unwrap_or_default(),
                args: d.answer(),
            }
        }
        other => return Err(invalid(&format!("unknown type {other}"))),
    };
    Ok(Message { uid, nsp, body })
}

/// The most recipients one node may report for a broadcast with acks: a larger count from the
/// bus is cut to it (each stands for an awaited ack).
pub const MAX_CLIENT_COUNT: u64 = 100_000;

#[cfg(test)]
mod tests;
