//! Cluster messages in the shapes of Node's classic Redis adapter (`createAdapter` of
//! `@socket.io/redis-adapter` 8): the same [`Message`]s, translated both ways, so that Volley
//! nodes and Node nodes on that adapter share one cluster on Redis pub/sub.
//!
//! ```
//! use volley_protocol::cluster::classic::{self, Route};
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
//! // A broadcast to one room goes on that room's channel, as a Node node sends it.
//! let (route, bytes) = classic::to_classic(&msg, None).unwrap();
//! assert_eq!(route.channel("socket.io", "/"), "socket.io#/#lobby#");
//!
//! // Another node reads it back; the node that sent it skips it.
//! let back = classic::from_broadcast(&bytes, "0011223344556677").unwrap();
//! assert_eq!(back, Some(msg));
//! assert_eq!(classic::from_broadcast(&bytes, "a1b2c3d4e5f60718").unwrap(), None);
//! ```
//!
//! # Channels
//!
//! With the key `K` (Node's `key` option, `socket.io` by default) and a namespace `N`:
//!
//! | [`Route`] | channel | carries |
//! |---|---|---|
//! | `Broadcast` | `K#N#`, or `K#N#room#` for a broadcast to exactly one room | broadcasts without acks |
//! | `Request` | `K-request#N#` | room changes, disconnections, fetches, server-side emits, broadcasts with acks, and Volley's own messages |
//! | `Response` | `K-response#N#` | every answer, whoever asked; Node nodes with `publishOnSpecificResponseChannel` answer on `K-response#N#uid#` instead |
//!
//! A node `PSUBSCRIBE`s `K#N#*` and `SUBSCRIBE`s the request and response channels of each
//! namespace it serves; Node nodes count the servers of a namespace as the subscribers of its
//! request channel (`PUBSUB NUMSUB`).
//!
//! # Shapes
//!
//! Broadcasts are the MessagePack array `[uid, packet, opts]` of [`crate::classic`] (Volley nodes
//! add the broadcast's `offset` to `opts`). Requests and answers are maps, in JSON or in
//! MessagePack (Node reads both, telling them apart by a leading `{`; Volley nodes write
//! MessagePack, which carries binary):
//!
//! | message | `type` | other fields |
//! |---|---|---|
//! | join, leave | 2, 3 | `uid, opts: {rooms, except}, rooms` |
//! | disconnect | 4 | `uid, opts, close` |
//! | fetch sockets | 5 | `uid, requestId, opts` |
//! | its answer | none | `requestId, sockets: [{id, handshake, rooms, data}]` |
//! | server-side emit | 6 | `uid, data: [event, ...args], requestId?` |
//! | its answer | 6 | `requestId, data`: the first argument of the answer |
//! | broadcast with acks | 7 | `uid, requestId, packet: {type: 2, data, nsp}, opts: {rooms, except, flags: {timeout}}` |
//! | its recipients | 8 | `requestId, clientCount` |
//! | one ack | 9 | `requestId, packet`: the first argument of the client's ack |
//! | Volley's own | 100 | `uid, message` (Volley's encoding, as binary), `to` when for one node |
//!
//! Node's answers do not say who sends them: they are read with an empty `uid`, and acks with an
//! empty socket id (the cluster manager counts such answers without telling their senders apart).
//! Volley's answers add `uid`, and `args` (every argument), `sids` and `sid` (which sockets),
//! which Node ignores. Heartbeats, goodbyes and session transfers have no shape in Node's
//! protocol: they travel as type 100, which Node nodes ignore. Node's requests of types 0 (socket
//! ids) and 1 (all rooms) are not read: they are left to Node nodes to answer.
//!
//! # Request ids
//!
//! Answers travel on one channel for all, so a request id must say whose it is: Volley's requests
//! carry `"{uid}:{n}"`, and a node keeps the answers whose id starts with its own uid. Node's ids
//! are six random characters; a request from Node is answered under its own id, which
//! [`from_request`] keeps in the `u64` of Volley's messages (ids of at most seven bytes; a
//! request with a longer foreign id is not read).

use bytes::Bytes;

use super::node::{
    event_array, map, opts_value, socket_from, socket_value, strings, text, Fields,
    DEFAULT_ACK_TIMEOUT_MS,
};
use super::{AckRequest, Body, BroadcastOpts, Message};
use crate::classic::{self as wire, normalize, request_type, Request};
use crate::msgpack::{read_value, write_value};
use crate::{DecodeError, EncodeError, Value};

/// The `type` of Volley's own messages on the request channel (no Node request type uses it).
pub const VOLLEY_MESSAGE: u64 = 100;

/// Which of a namespace's channels a message goes on (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The broadcast channel, or the channel of `room` for a broadcast to that room alone.
    Broadcast {
        /// The one target room, if there is exactly one.
        room: Option<String>,
    },
    /// The request channel.
    Request,
    /// The response channel.
    Response,
}

impl Route {
    /// The channel's name for key `key` and namespace `nsp`.
    ///
    /// ```
    /// use volley_protocol::cluster::classic::Route;
    /// assert_eq!(Route::Request.channel("socket.io", "/chat"), "socket.io-request#/chat#");
    /// assert_eq!(Route::Response.channel("socket.io", "/"), "socket.io-response#/#");
    /// ```
    pub fn channel(&self, key: &str, nsp: &str) -> String {
        match self {
            Route::Broadcast { room } => wire::broadcast_channel(key, nsp, room.as_deref()),
            Route::Request => wire::request_channel(key, nsp),
            Route::Response => response_channel(key, nsp),
        }
    }
}

/// The response channel of a namespace: `{key}-response#{nsp}#`.
pub fn response_channel(key: &str, nsp: &str) -> String {
    format!("{key}-response#{nsp}#")
}

/// Writes a message as a Node node on the classic adapter would send it; `to` is the node an
/// answer goes to (answers name the request they answer by the requester's id).
///
/// Errors: an answer without `to`, and what the encoders refuse (see [`crate::classic`]).
pub fn to_classic(msg: &Message, to: Option<&str>) -> Result<(Route, Bytes), EncodeError> {
    let uid = Value::from(msg.uid.as_str());
    let answer_to = || {
        to.ok_or_else(|| EncodeError::Serialize("an answer must name the node it goes to".into()))
    };
    let request = |entries: Vec<(&str, Value)>| -> Result<(Route, Bytes), EncodeError> {
        Ok((Route::Request, write_value(&map(entries))?))
    };
    let response = |entries: Vec<(&str, Value)>| -> Result<(Route, Bytes), EncodeError> {
        Ok((Route::Response, write_value(&map(entries))?))
    };
    match &msg.body {
        Body::Broadcast {
            opts,
            event,
            args,
            offset,
            ack: None,
        } => {
            let classic = wire::Opts {
                rooms: opts.rooms.clone(),
                except: opts.except.clone(),
                volatile: opts.volatile,
                compress: None,
            };
            let broadcast = wire::BroadcastRef {
                uid: &msg.uid,
                nsp: &msg.nsp,
                event,
                args,
                opts: &classic,
            };
            let room = match opts.rooms.as_slice() {
                [room] => Some(room.clone()),
                _ => None,
            };
            let bytes = wire::write_broadcast(&broadcast, offset.as_deref())?;
            Ok((Route::Broadcast { room }, bytes))
        }
        Body::Broadcast {
            opts,
            event,
            args,
            ack: Some(ack),
            ..
        } => {
            let packet = map(vec![
                ("type", Value::from(2)),
                ("data", event_array(event, args)),
                ("nsp", Value::from(msg.nsp.as_str())),
            ]);
            request(vec![
                ("uid", uid),
                ("requestId", Value::from(own_id(&msg.uid, ack.id))),
                ("type", Value::from(request_type::BROADCAST)),
                ("packet", packet),
                ("opts", opts_value(opts, Some(ack.timeout_ms))),
            ])
        }
        Body::SocketsJoin { opts, rooms } | Body::SocketsLeave { opts, rooms } => {
            let kind = if matches!(msg.body, Body::SocketsJoin { .. }) {
                request_type::REMOTE_JOIN
            } else {
                request_type::REMOTE_LEAVE
            };
            request(vec![
                ("uid", uid),
                ("type", Value::from(kind)),
                ("opts", target(opts)),
                ("rooms", strings(rooms)),
            ])
        }
        Body::DisconnectSockets { opts, close } => request(vec![
            ("uid", uid),
            ("type", Value::from(request_type::REMOTE_DISCONNECT)),
            ("opts", target(opts)),
            ("close", Value::Boolean(*close)),
        ]),
        Body::FetchSockets { opts, request_id } => request(vec![
            ("uid", uid),
            ("requestId", Value::from(own_id(&msg.uid, *request_id))),
            ("type", Value::from(request_type::REMOTE_FETCH)),
            ("opts", target(opts)),
        ]),
        Body::ServerSideEmit {
            event,
            args,
            request_id,
        } => {
            let mut entries = vec![
                ("uid", uid),
                ("type", Value::from(request_type::SERVER_SIDE_EMIT)),
                ("data", event_array(event, args)),
            ];
            if let Some(id) = request_id {
                entries.push(("requestId", Value::from(own_id(&msg.uid, *id))));
            }
            request(entries)
        }
        Body::FetchSocketsResponse {
            request_id,
            sockets,
        } => response(vec![
            (
                "requestId",
                Value::from(answer_id(answer_to()?, *request_id)),
            ),
            ("uid", uid),
            (
                "sockets",
                Value::Array(sockets.iter().map(socket_value).collect()),
            ),
        ]),
        Body::ServerSideEmitResponse { request_id, args } => response(vec![
            ("type", Value::from(request_type::SERVER_SIDE_EMIT)),
            (
                "requestId",
                Value::from(answer_id(answer_to()?, *request_id)),
            ),
            ("data", args.first().cloned().unwrap_or(Value::Nil)),
            ("uid", uid),
            ("args", Value::Array(args.clone())),
        ]),
        Body::BroadcastClientCount { request_id, sids } => response(vec![
            ("type", Value::from(request_type::BROADCAST_CLIENT_COUNT)),
            (
                "requestId",
                Value::from(answer_id(answer_to()?, *request_id)),
            ),
            ("clientCount", Value::from(sids.len() as u64)),
            ("uid", uid),
            ("sids", strings(sids)),
        ]),
        Body::BroadcastAck {
            request_id,
            sid,
            args,
        } => response(vec![
            ("type", Value::from(request_type::BROADCAST_ACK)),
            (
                "requestId",
                Value::from(answer_id(answer_to()?, *request_id)),
            ),
            ("packet", args.first().cloned().unwrap_or(Value::Nil)),
            ("uid", uid),
            ("sid", Value::from(sid.as_str())),
            ("args", Value::Array(args.clone())),
        ]),
        Body::InitialHeartbeat(_)
        | Body::Heartbeat(_)
        | Body::AdapterClose
        | Body::RestoreSession { .. }
        | Body::RestoreSessionResponse { .. } => {
            let mut entries = vec![
                ("uid", uid),
                ("type", Value::from(VOLLEY_MESSAGE)),
                ("message", Value::Binary(msg.encode()?.to_vec())),
            ];
            if let Some(to) = to {
                entries.push(("to", Value::from(to)));
            }
            request(entries)
        }
    }
}

/// Reads a broadcast from a broadcast channel; `None` when node `me` sent it.
///
/// Errors: what [`crate::classic::decode_broadcast`] refuses.
pub fn from_broadcast(bytes: &[u8], me: &str) -> Result<Option<Message>, DecodeError> {
    let (b, offset) = wire::read_broadcast(bytes)?;
    if b.uid == me {
        return Ok(None);
    }
    Ok(Some(Message {
        uid: b.uid,
        nsp: b.nsp,
        body: Body::Broadcast {
            opts: BroadcastOpts {
                rooms: b.opts.rooms,
                except: b.opts.except,
                volatile: b.opts.volatile,
                local: false,
            },
            event: b.event,
            args: b.args,
            offset,
            ack: None,
        },
    }))
}

/// Reads a request from the request channel of namespace `nsp`, for node `me`: `None` when `me`
/// sent it, when it is for another node, or when it is of a type only Node nodes answer.
/// Requests without a `uid` (emitters') come from [`EMITTER_UID`](super::EMITTER_UID).
///
/// Errors (never panics): malformed JSON or MessagePack, not a map, fields of the wrong type,
/// a request id that cannot be answered.
pub fn from_request(bytes: &[u8], nsp: &str, me: &str) -> Result<Option<Message>, DecodeError> {
    let mut d = Fields::new(Some(parse(bytes)?)).map_err(|_| invalid("a request must be a map"))?;
    let uid = match d.take("uid") {
        None | Some(Value::Nil) => super::EMITTER_UID.to_owned(),
        Some(uid) => text(uid).ok_or_else(|| invalid("uid must be a string"))?,
    };
    if uid == me {
        return Ok(None);
    }
    let kind = d
        .take("type")
        .and_then(|t| number(&t))
        .ok_or_else(|| invalid("the type of a request must be a non-negative integer"))?;
    let body = match kind {
        request_type::REMOTE_JOIN
        | request_type::REMOTE_LEAVE
        | request_type::REMOTE_DISCONNECT => {
            // the emitters' forms, legacy ones included, are read once, by the emitters' decoder
            match wire::decode_request(bytes)? {
                Request::Join { opts, rooms } => Body::SocketsJoin {
                    opts: opts_from(opts),
                    rooms,
                },
                Request::Leave { opts, rooms } => Body::SocketsLeave {
                    opts: opts_from(opts),
                    rooms,
                },
                Request::Disconnect { opts, close } => Body::DisconnectSockets {
                    opts: opts_from(opts),
                    close,
                },
                _ => return Ok(None),
            }
        }
        request_type::REMOTE_FETCH => Body::FetchSockets {
            opts: d.opts()?.0,
            request_id: foreign_id(&uid, d.take("requestId"))?,
        },
        request_type::SERVER_SIDE_EMIT => {
            let (event, args) = Fields::event(d.take("data"))?;
            let request_id = match d.take("requestId") {
                None | Some(Value::Nil) => None,
                id => Some(foreign_id(&uid, id)?),
            };
            Body::ServerSideEmit {
                event,
                args,
                request_id,
            }
        }
        request_type::BROADCAST => {
            let (opts, timeout) = d.opts()?;
            let mut packet = Fields::new(d.take("packet"))?;
            match packet.take("type").and_then(|t| number(&t)) {
                Some(2 | 5) => {}
                _ => return Err(invalid("a broadcast's packet must be an EVENT")),
            }
            let (event, args) = Fields::event(packet.take("data"))?;
            let ack = AckRequest {
                id: foreign_id(&uid, d.take("requestId"))?,
                timeout_ms: timeout.unwrap_or(DEFAULT_ACK_TIMEOUT_MS),
            };
            Body::Broadcast {
                opts,
                event,
                args,
                offset: None,
                ack: Some(ack),
            }
        }
        VOLLEY_MESSAGE => {
            if let Some(to) = d.take("to").and_then(text) {
                if to != me {
                    return Ok(None);
                }
            }
            let Some(Value::Binary(inner)) = d.take("message") else {
                return Err(invalid("a Volley message must carry its bytes"));
            };
            let inner = Message::decode(&inner)?;
            if inner.uid != uid || inner.nsp != nsp {
                return Err(invalid("a Volley message's sender or namespace differs"));
            }
            return Ok(Some(inner));
        }
        _ => return Ok(None),
    };
    Ok(Some(Message {
        uid,
        nsp: nsp.to_owned(),
        body,
    }))
}

/// Reads an answer from the response channel of namespace `nsp`: `None` unless it answers a
/// request of node `me` (and is of a kind Volley asks for).
///
/// Errors (never panics): malformed JSON or MessagePack, not a map, fields of the wrong type.
pub fn from_response(bytes: &[u8], nsp: &str, me: &str) -> Result<Option<Message>, DecodeError> {
    let mut d =
        Fields::new(Some(parse(bytes)?)).map_err(|_| invalid("a response must be a map"))?;
    let Some(request_id) = d
        .take("requestId")
        .and_then(text)
        .and_then(|id| mine(&id, me))
    else {
        return Ok(None);
    };
    let uid = d.take("uid").and_then(text).unwrap_or_default();
    let body = match d.take("type").and_then(|t| number(&t)) {
        Some(request_type::BROADCAST_CLIENT_COUNT) => {
            let count = d.take("clientCount").and_then(|c| number(&c));
            let sids = d.recipients(count)?;
            Body::BroadcastClientCount { request_id, sids }
        }
        Some(request_type::BROADCAST_ACK) => Body::BroadcastAck {
            request_id,
            sid: d.take("sid").and_then(text).unwrap_or_default(),
            args: answer(&mut d, "packet"),
        },
        Some(request_type::SERVER_SIDE_EMIT) => Body::ServerSideEmitResponse {
            request_id,
            args: answer(&mut d, "data"),
        },
        None => match d.take("sockets") {
            Some(Value::Array(items)) => Body::FetchSocketsResponse {
                request_id,
                sockets: items
                    .into_iter()
                    .map(|s| socket_from(s, nsp))
                    .collect::<Result<_, _>>()?,
            },
            _ => return Ok(None),
        },
        Some(_) => return Ok(None),
    };
    Ok(Some(Message {
        uid,
        nsp: nsp.to_owned(),
        body,
    }))
}

/// Bit 63 of a request id read from a foreign requester: the id is the requester's text,
/// packed (length in bits 56..=58, bytes below).
const FOREIGN: u64 = 1 << 63;

/// The id of request `n` of node `uid`, as it travels.
fn own_id(uid: &str, n: u64) -> String {
    format!("{uid}:{n}")
}

/// The `n` of one of `me`'s request ids.
fn mine(id: &str, me: &str) -> Option<u64> {
    id.strip_prefix(me)?
        .strip_prefix(':')?
        .parse::<u64>()
        .ok()
        .filter(|n| n & FOREIGN == 0)
}

/// The id under which a request from `uid` is answered: its `n` when it is Volley's, its text
/// packed otherwise.
fn foreign_id(uid: &str, id: Option<Value>) -> Result<u64, DecodeError> {
    let id = id
        .and_then(text)
        .ok_or_else(|| invalid("a request needs a requestId"))?;
    if let Some(n) = mine(&id, uid) {
        return Ok(n);
    }
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 7 {
        return Err(invalid("a foreign requestId must have 1 to 7 bytes"));
    }
    let packed = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok(FOREIGN | ((bytes.len() as u64) << 56) | packed)
}

/// The id an answer to request `n` of node `to` carries.
fn answer_id(to: &str, n: u64) -> String {
    if n & FOREIGN == 0 {
        return own_id(to, n);
    }
    let len = usize::try_from((n >> 56) & 0x7).unwrap_or(0);
    let bytes = (n & 0x00ff_ffff_ffff_ffff).to_be_bytes();
    String::from_utf8_lossy(&bytes[8 - len..]).into_owned()
}

/// A request or answer: JSON when it starts with `{`, MessagePack otherwise.
fn parse(bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice::<Value>(bytes).map_err(|e| DecodeError::InvalidJson(e.to_string()))
    } else {
        read_value(bytes)
    }
}

/// A non-negative integer, as JSON or MessagePack write it.
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::F64(f) if f.trunc() == *f && (0.0..9.0e15).contains(f) =>
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(*f as u64)
        }
        other => other.as_u64(),
    }
}

/// An answer's arguments: every one from a Volley node (`args`), else the one value in `field`.
fn answer(d: &mut Fields, field: &str) -> Vec<Value> {
    match d.take("args") {
        Some(Value::Array(args)) => args.into_iter().map(normalize).collect(),
        _ => vec![normalize(d.take(field).unwrap_or(Value::Nil))],
    }
}

fn target(opts: &BroadcastOpts) -> Value {
    map(vec![
        ("rooms", strings(&opts.rooms)),
        ("except", strings(&opts.except)),
    ])
}

fn opts_from(opts: wire::Opts) -> BroadcastOpts {
    BroadcastOpts {
        rooms: opts.rooms,
        except: opts.except,
        ..BroadcastOpts::default()
    }
}

fn invalid(why: &str) -> DecodeError {
    DecodeError::InvalidPayload(format!("Node classic adapter message: {why}"))
}

#[cfg(test)]
mod tests;
