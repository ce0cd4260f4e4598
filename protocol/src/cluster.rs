//! The messages Volley nodes exchange on a cluster's bus: broadcasts, room changes, requests and
//! their responses, heartbeats. Shaped like Node's `ClusterAdapter` messages (`uid`, `nsp`,
//! `type`, `data`, the same type numbers) and encoded as MessagePack, so binary arguments travel
//! as they are.
//!
//! ```
//! use volley_protocol::cluster::{Body, BroadcastOpts, Message};
//! use volley_protocol::Value;
//!
//! let msg = Message {
//!     uid: "a1b2c3d4e5f60718".into(),
//!     nsp: "/".into(),
//!     body: Body::Broadcast {
//!         opts: BroadcastOpts { rooms: vec!["lobby".into()], ..Default::default() },
//!         event: "news".into(),
//!         args: vec![Value::from("hi"), Value::Binary(vec![1, 2])],
//!         offset: None,
//!         ack: None,
//!     },
//! };
//! let bytes = msg.encode().unwrap();
//! assert_eq!(Message::decode(&bytes).unwrap(), msg);
//! ```

pub mod batch;
mod broadcast;
pub mod classic;
pub mod node;
pub mod python;

pub use broadcast::BroadcastRef;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::args::{from_value, to_value};
use crate::msgpack::{read_value, write_value};
use crate::{DecodeError, EncodeError, Value};

/// The uid emitters publish under; it never counts as a node.
pub const EMITTER_UID: &str = "emitter";

/// The `type` of a broadcast message, which [`BroadcastRef`] writes and reads without a
/// [`Message`].
const BROADCAST_TYPE: u8 = 3;

/// Which sockets a message is for: rooms (socket ids count as rooms; none means all), rooms to
/// leave out, and whether delivery may be dropped for slow clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BroadcastOpts {
    /// Target rooms; empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms whose sockets are left out.
    pub except: Vec<String>,
    /// Drop the packet for a client whose queue is full instead of disconnecting it.
    pub volatile: bool,
    /// Only this node's sockets: never published (and never sent on the wire).
    #[serde(skip)]
    pub local: bool,
}

/// What a node says of itself in its heartbeats.
///
/// ```
/// use volley_protocol::cluster::{Body, Message, NodeInfo};
///
/// let msg = Message {
///     uid: "a1b2c3d4e5f60718".into(),
///     nsp: "/".into(),
///     body: Body::Heartbeat(NodeInfo { address: Some("10.0.0.5:3000".into()) }),
/// };
/// assert_eq!(Message::decode(&msg.encode().unwrap()).unwrap(), msg);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeInfo {
    /// Where the other nodes reach this node's HTTP endpoint (`host:port`) to hand it the
    /// requests of the sessions it holds; `None` when it takes none (sticky sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl NodeInfo {
    /// The longest address kept from a message: a host name and a port.
    pub const MAX_ADDRESS_LEN: usize = 260;

    /// The `data` of a heartbeat: none when there is nothing to say, as before nodes said it.
    fn to_data(&self) -> Result<Option<Value>, EncodeError> {
        if self.address.is_none() {
            return Ok(None);
        }
        Ok(Some(to_value(self)?))
    }

    /// Reads it from a heartbeat's `data`; what cannot be read (an older or newer node's
    /// shape, an address too long to be one) says nothing rather than failing the heartbeat.
    fn from_data(data: Option<Value>) -> NodeInfo {
        let mut info: NodeInfo = data.and_then(|d| from_value(d).ok()).unwrap_or_default();
        if info
            .address
            .as_ref()
            .is_some_and(|a| a.is_empty() || a.len() > Self::MAX_ADDRESS_LEN)
        {
            info.address = None;
        }
        info
    }
}

/// A socket as described to another node: id, namespace, rooms and handshake data.
///
/// Its `Debug` shows `auth` as data (`{"token": "abc"}`), not as the codec's value tree:
///
/// ```
/// use volley_protocol::cluster::RemoteSocket;
/// use volley_protocol::Value;
///
/// let socket = RemoteSocket {
///     auth: Value::Map(vec![("token".into(), "abc".into())]),
///     ..RemoteSocket::default()
/// };
/// assert!(format!("{socket:?}").contains(r#"auth: {"token": "abc"}"#));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: String,
    /// The namespace.
    pub nsp: String,
    /// Its rooms, its own id first.
    pub rooms: Vec<String>,
    /// The client's `auth` payload.
    pub auth: Value,
    /// The URL of the opening request (path and query).
    pub url: String,
    /// The client's address, when known.
    pub address: Option<String>,
}

impl std::fmt::Debug for RemoteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSocket")
            .field("id", &self.id)
            .field("nsp", &self.nsp)
            .field("rooms", &self.rooms)
            .field("auth", &format_args!("{}", self.auth))
            .field("url", &self.url)
            .field("address", &self.address)
            .finish()
    }
}

impl Default for RemoteSocket {
    fn default() -> Self {
        RemoteSocket {
            id: String::new(),
            nsp: "/".to_owned(),
            rooms: Vec::new(),
            auth: Value::Nil,
            url: String::new(),
            address: None,
        }
    }
}

/// An ack request riding on a broadcast: the id responses refer to, and how long the requester
/// waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckRequest {
    /// Request id, unique on the requesting node.
    pub id: u64,
    /// The requester's timeout, in milliseconds.
    pub timeout_ms: u64,
}

/// One message on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The publishing node's uid ([`EMITTER_UID`] for emitters).
    pub uid: String,
    /// The namespace it concerns.
    pub nsp: String,
    /// What it says.
    pub body: Body,
}

/// What a message says, by type (numbers as in Node's `ClusterAdapter`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body {
    /// 1: a node started; every node answers with a heartbeat.
    InitialHeartbeat(NodeInfo),
    /// 2: a node is alive.
    Heartbeat(NodeInfo),
    /// 3: deliver an event; with `ack`, report the recipients and their acks to the requester.
    Broadcast {
        /// Targets.
        opts: BroadcastOpts,
        /// Event name.
        event: String,
        /// Event arguments.
        args: Vec<Value>,
        /// The offset clients receive as the event's last argument, when the cluster recovers
        /// connection state (see [`BroadcastRef::offset`]).
        offset: Option<String>,
        /// Set when the requester collects acks.
        ack: Option<AckRequest>,
    },
    /// 4: put the targeted sockets in rooms.
    SocketsJoin {
        /// Targets.
        opts: BroadcastOpts,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 5: take the targeted sockets out of rooms.
    SocketsLeave {
        /// Targets.
        opts: BroadcastOpts,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 6: disconnect the targeted sockets.
    DisconnectSockets {
        /// Targets.
        opts: BroadcastOpts,
        /// Also close their connections.
        close: bool,
    },
    /// 7: describe the targeted sockets to the requester.
    FetchSockets {
        /// Targets.
        opts: BroadcastOpts,
        /// Request id.
        request_id: u64,
    },
    /// 8: the answer to [`Body::FetchSockets`].
    FetchSocketsResponse {
        /// Request id.
        request_id: u64,
        /// The responder's matching sockets.
        sockets: Vec<RemoteSocket>,
    },
    /// 9: an event for the servers themselves; with a request id, each node answers once.
    ServerSideEmit {
        /// Event name.
        event: String,
        /// Arguments.
        args: Vec<Value>,
        /// Set when the sender waits for answers.
        request_id: Option<u64>,
    },
    /// 10: a node's answer to [`Body::ServerSideEmit`].
    ServerSideEmitResponse {
        /// Request id.
        request_id: u64,
        /// The answer's arguments.
        args: Vec<Value>,
    },
    /// 11: which of the responder's sockets a broadcast with acks reached.
    BroadcastClientCount {
        /// Request id.
        request_id: u64,
        /// Ids of the sockets that will ack.
        sids: Vec<String>,
    },
    /// 12: one socket's ack to a broadcast.
    BroadcastAck {
        /// Request id.
        request_id: u64,
        /// The socket that acked.
        sid: String,
        /// Its ack arguments.
        args: Vec<Value>,
    },
    /// 13: a node is leaving the cluster.
    AdapterClose,
    /// 100 (Volley's own, not a type of Node's protocol): which node holds the disconnected
    /// socket with this private id? Connection state recovery asks when a client reconnects to
    /// a node that does not hold it; the holder answers with the socket, every other node with
    /// nothing.
    RestoreSession {
        /// Request id.
        request_id: u64,
        /// The socket's private id, as the client presented it.
        pid: String,
        /// The offset of the last broadcast the client received, if it received one.
        offset: Option<String>,
    },
    /// 101: the answer to [`Body::RestoreSession`].
    RestoreSessionResponse {
        /// Request id.
        request_id: u64,
        /// The socket, from the node that held it.
        session: Option<RecoveredSession>,
    },
}

/// A disconnected socket handed to the node its client reconnected to (connection state
/// recovery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveredSession {
    /// Its socket id.
    pub sid: String,
    /// Its rooms, its own id not included.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Its session data, when it can travel (`Nil` otherwise).
    #[serde(default = "nil")]
    pub data: Value,
    /// What it missed, as encoded for it, oldest first: a text packet as a string, a binary
    /// message as binary, a text packet with its attachments as an array of both.
    #[serde(default)]
    pub missed: Vec<Value>,
    /// For each node that made offsets, the last of its broadcasts the holder had logged: what
    /// came later from it is not in `missed`.
    #[serde(default)]
    pub marks: std::collections::BTreeMap<String, u64>,
    /// When the session comes from a store that numbers broadcasts as Redis stream ids (Node's
    /// streams adapter), the id `missed` goes up to: what the new node logged after it is sent
    /// too, and `marks` is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

fn nil() -> Value {
    Value::Nil
}

#[derive(Serialize, Deserialize)]
struct BroadcastData {
    #[serde(default)]
    opts: BroadcastOpts,
    event: String,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ack: Option<AckRequest>,
}

#[derive(Serialize, Deserialize)]
struct RoomsData {
    #[serde(default)]
    opts: BroadcastOpts,
    rooms: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct DisconnectData {
    #[serde(default)]
    opts: BroadcastOpts,
    #[serde(default)]
    close: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchData {
    #[serde(default)]
    opts: BroadcastOpts,
    request_id: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchResponseData {
    request_id: u64,
    #[serde(default)]
    sockets: Vec<RemoteSocket>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerSideData {
    event: String,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArgsResponseData {
    request_id: u64,
    #[serde(default)]
    args: Vec<Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountData {
    request_id: u64,
    #[serde(default)]
    sids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestoreData {
    request_id: u64,
    pid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestoreResponseData {
    request_id: u64,
    #[serde(default)]
    session: Option<RecoveredSession>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AckData {
    request_id: u64,
    sid: String,
    #[serde(default)]
    args: Vec<Value>,
}

fn invalid(why: &str) -> DecodeError {
    DecodeError::InvalidPayload(format!("cluster message: {why}"))
}

fn data<T: DeserializeOwned>(data: Option<Value>) -> Result<T, DecodeError> {
    from_value(data.ok_or_else(|| invalid("missing data"))?)
}

impl Message {
    /// The type number of this message.
    pub fn type_number(&self) -> u8 {
        match self.body {
            Body::InitialHeartbeat(_) => 1,
            Body::Heartbeat(_) => 2,
            Body::Broadcast { .. } => BROADCAST_TYPE,
            Body::SocketsJoin { .. } => 4,
            Body::SocketsLeave { .. } => 5,
            Body::DisconnectSockets { .. } => 6,
            Body::FetchSockets { .. } => 7,
            Body::FetchSocketsResponse { .. } => 8,
            Body::ServerSideEmit { .. } => 9,
            Body::ServerSideEmitResponse { .. } => 10,
            Body::BroadcastClientCount { .. } => 11,
            Body::BroadcastAck { .. } => 12,
            Body::AdapterClose => 13,
            Body::RestoreSession { .. } => 100,
            Body::RestoreSessionResponse { .. } => 101,
        }
    }

    /// Encodes the message as one MessagePack map `{uid, nsp, type, data?}`.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let data = match &self.body {
            Body::InitialHeartbeat(info) | Body::Heartbeat(info) => info.to_data()?,
            Body::AdapterClose => None,
            // the hot path, written without a value tree
            Body::Broadcast {
                opts,
                event,
                args,
                offset,
                ack,
            } => {
                let broadcast = BroadcastRef {
                    uid: &self.uid,
                    nsp: &self.nsp,
                    opts,
                    event,
                    args,
                    offset: offset.as_deref(),
                    ack: *ack,
                };
                return broadcast.encode();
            }
            Body::SocketsJoin { opts, rooms } | Body::SocketsLeave { opts, rooms } => {
                Some(to_value(&RoomsData {
                    opts: opts.clone(),
                    rooms: rooms.clone(),
                })?)
            }
            Body::DisconnectSockets { opts, close } => Some(to_value(&DisconnectData {
                opts: opts.clone(),
                close: *close,
            })?),
            Body::FetchSockets { opts, request_id } => Some(to_value(&FetchData {
                opts: opts.clone(),
                request_id: *request_id,
            })?),
            Body::FetchSocketsResponse {
                request_id,
                sockets,
            } => Some(to_value(&FetchResponseData {
                request_id: *request_id,
                sockets: sockets.clone(),
            })?),
            Body::ServerSideEmit {
                event,
                args,
                request_id,
            } => Some(to_value(&ServerSideData {
                event: event.clone(),
                args: args.clone(),
                request_id: *request_id,
            })?),
            Body::ServerSideEmitResponse { request_id, args } => {
                Some(to_value(&ArgsResponseData {
                    request_id: *request_id,
                    args: args.clone(),
                })?)
            }
            Body::BroadcastClientCount { request_id, sids } => Some(to_value(&CountData {
                request_id: *request_id,
                sids: sids.clone(),
            })?),
            Body::BroadcastAck {
                request_id,
                sid,
                args,
            } => Some(to_value(&AckData {
                request_id: *request_id,
                sid: sid.clone(),
                args: args.clone(),
            })?),
            Body::RestoreSession {
                request_id,
                pid,
                offset,
            } => Some(to_value(&RestoreData {
                request_id: *request_id,
                pid: pid.clone(),
                offset: offset.clone(),
            })?),
            Body::RestoreSessionResponse {
                request_id,
                session,
            } => Some(to_value(&RestoreResponseData {
                request_id: *request_id,
                session: session.clone(),
            })?),
        };
        let mut map = vec![
            (Value::from("uid"), Value::from(self.uid.as_str())),
            (Value::from("nsp"), Value::from(self.nsp.as_str())),
            (Value::from("type"), Value::from(self.type_number())),
        ];
        if let Some(data) = data {
            map.push((Value::from("data"), data));
        }
        write_value(&Value::Map(map))
    }

    /// The sender's uid, read from the front of an encoded message without decoding the rest
    /// (what [`encode`](Message::encode) writes first); `None` when the bytes do not start that
    /// way, and then only [`decode`](Message::decode) can tell. A node skips its own messages
    /// echoed by the bus with it.
    ///
    /// ```
    /// use volley_protocol::cluster::{Body, Message, NodeInfo};
    ///
    /// let msg = Message { uid: "a1b2".into(), nsp: "/".into(), body: Body::Heartbeat(NodeInfo::default()) };
    /// assert_eq!(Message::peek_uid(&msg.encode().unwrap()), Some("a1b2"));
    /// assert_eq!(Message::peek_uid(b"\x93\x01\x02\x03"), None);
    /// ```
    pub fn peek_uid(bytes: &[u8]) -> Option<&str> {
        let rest = match *bytes.first()? {
            0x80..=0x8f => bytes.get(1..)?,
            0xde => bytes.get(3..)?,
            _ => return None,
        };
        let rest = rest.strip_prefix(b"\xa3uid")?;
        let (len, rest) = match *rest.first()? {
            b @ 0xa0..=0xbf => (usize::from(b & 0x1f), rest.get(1..)?),
            0xd9 => (usize::from(*rest.get(1)?), rest.get(2..)?),
            _ => return None,
        };
        std::str::from_utf8(rest.get(..len)?).ok()
    }

    /// Decodes a message from the bus. Anything that is not a well-formed message of a known
    /// type is an error; nothing panics, and nesting is bounded. A broadcast laid out as
    /// [`encode`](Message::encode) writes it is read without building a value tree first.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        match broadcast::decode(bytes) {
            Some(message) => Ok(message),
            None => Message::decode_generic(bytes),
        }
    }

    /// [`decode`](Message::decode) without its fast path for broadcasts: for the fuzz target
    /// that checks both read the same. Not part of the API.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn decode_without_fast_path(bytes: &[u8]) -> Result<Message, DecodeError> {
        Message::decode_generic(bytes)
    }

    /// Any layout of any type, through a value tree.
    fn decode_generic(bytes: &[u8]) -> Result<Message, DecodeError> {
        let Value::Map(entries) = read_value(bytes)? else {
            return Err(invalid("not a map"));
        };
        let (mut uid, mut nsp, mut ty, mut payload) = (None, None, None, None);
        for (key, value) in entries {
            match key.as_str() {
                Some("uid") => uid = value.as_str().map(str::to_owned),
                Some("nsp") => nsp = value.as_str().map(str::to_owned),
                Some("type") => ty = value.as_u64(),
                Some("data") => payload = Some(value),
                _ => {}
            }
        }
        let uid = uid.ok_or_else(|| invalid("missing uid"))?;
        let nsp = nsp.unwrap_or_else(|| "/".to_owned());
        let body = match ty.ok_or_else(|| invalid("missing type"))? {
            1 => Body::InitialHeartbeat(NodeInfo::from_data(payload)),
            2 => Body::Heartbeat(NodeInfo::from_data(payload)),
            3 => {
                let d: BroadcastData = data(payload)?;
                Body::Broadcast {
                    opts: d.opts,
                    event: d.event,
                    args: d.args,
                    offset: d.offset,
                    ack: d.ack,
                }
            }
            4 => {
                let d: RoomsData = data(payload)?;
                Body::SocketsJoin {
                    opts: d.opts,
                    rooms: d.rooms,
                }
            }
            5 => {
                let d: RoomsData = data(payload)?;
                Body::SocketsLeave {
                    opts: d.opts,
                    rooms: d.rooms,
                }
            }
            6 => {
                let d: DisconnectData = data(payload)?;
                Body::DisconnectSockets {
                    opts: d.opts,
                    close: d.close,
                }
            }
            7 => {
                let d: FetchData = data(payload)?;
                Body::FetchSockets {
                    opts: d.opts,
                    request_id: d.request_id,
                }
            }
            8 => {
                let d: FetchResponseData = data(payload)?;
                Body::FetchSocketsResponse {
                    request_id: d.request_id,
                    sockets: d.sockets,
                }
            }
            9 => {
                let d: ServerSideData = data(payload)?;
                Body::ServerSideEmit {
                    event: d.event,
                    args: d.args,
                    request_id: d.request_id,
                }
            }
            10 => {
                let d: ArgsResponseData = data(payload)?;
                Body::ServerSideEmitResponse {
                    request_id: d.request_id,
                    args: d.args,
                }
            }
            11 => {
                let d: CountData = data(payload)?;
                Body::BroadcastClientCount {
                    request_id: d.request_id,
                    sids: d.sids,
                }
            }
            12 => {
                let d: AckData = data(payload)?;
                Body::BroadcastAck {
                    request_id: d.request_id,
                    sid: d.sid,
                    args: d.args,
                }
            }
            13 => Body::AdapterClose,
            100 => {
                let d: RestoreData = data(payload)?;
                Body::RestoreSession {
                    request_id: d.request_id,
                    pid: d.pid,
                    offset: d.offset,
                }
            }
            101 => {
                let d: RestoreResponseData = data(payload)?;
                Body::RestoreSessionResponse {
                    request_id: d.request_id,
                    session: d.session,
                }
            }
            other => return Err(invalid(&format!("unknown type {other}"))),
        };
        Ok(Message { uid, nsp, body })
    }
}

#[cfg(test)]
mod tests;
