//! The messages of python-socketio's pub/sub managers (`RedisManager`, `AsyncRedisManager`,
//! `KombuManager`, `AsyncAioPikaManager`, `KafkaManager`, python-socketio 5): one JSON object per
//! bus message, on one channel (a Redis channel, an AMQP fanout exchange, a Kafka topic) named
//! `socketio` by default.
//!
//! ```
//! use volley_protocol::cluster::python::{self, Method};
//! use volley_protocol::Value;
//!
//! // what `RedisManager(write_only=True).emit("news", "hi", room="lobby")` publishes
//! let bytes = br#"{"method": "emit", "event": "news", "data": ["hi"], "binary": false,
//!     "namespace": "/", "room": "lobby", "skip_sid": null, "callback": null,
//!     "host_id": "5f0c"}"#;
//! let msg = python::decode(bytes).unwrap();
//! assert_eq!(msg.host_id.as_deref(), Some("5f0c"));
//! let Method::Emit(emit) = msg.method else { unreachable!() };
//! assert_eq!((emit.event.as_str(), emit.rooms.as_slice()), ("news", &["lobby".to_owned()][..]));
//! assert_eq!(emit.args, vec![Value::from("hi")]);
//! ```
//!
//! # Shapes
//!
//! Every message has `method` and the sender's `host_id`; by method:
//!
//! | `method` | fields |
//! | --- | --- |
//! | `emit` | `event`, `data` (the arguments, a list), `binary`, `namespace`, `room` (null, a room or a list of rooms), `skip_sid` (null, a socket id or a list), `callback` (null or `[room, namespace, id]`) |
//! | `enter_room`, `leave_room` | `sid`, `room`, `namespace` |
//! | `close_room` | `room`, `namespace` |
//! | `disconnect` | `sid`, `namespace` |
//! | `callback` | `sid`, `namespace`, `id`, `args`: the ack of one socket, for the node whose `host_id` it carries |
//!
//! With `binary` true, `data` is `[arguments, attachment…]`: the arguments with each binary
//! value replaced by `{"_placeholder": true, "num": n}`, then each attachment in standard
//! base64. `KombuManager` lets kombu serialise the JSON text once more, so its bodies are a JSON
//! string holding the object: [`decode`] reads both. What Volley nodes publish carries a field
//! of its own, `volley: true`, which python-socketio ignores and by which Volley nodes know the
//! messages they already have through their own protocol.
//!
//! python-socketio 5 publishes JSON only (older releases pickled): nothing else is read, so no
//! bus message can make a node run code.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value as Json};

use crate::{DecodeError, EncodeError, Value};

/// The channel (and AMQP exchange, and Kafka topic) python-socketio's managers use by default.
pub const DEFAULT_CHANNEL: &str = "socketio";

/// The largest message [`decode`] reads.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting of arrays and objects [`decode`] reads (what it writes back, the arguments
/// in one more list, always reads again).
pub const MAX_DEPTH: usize = 64;

/// The most binary attachments an emit may carry.
pub const MAX_ATTACHMENTS: usize = 1024;

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct PyMessage {
    /// The sender's `host_id` (its manager's random id), when it has one.
    pub host_id: Option<String>,
    /// Whether a Volley node published it (the `volley` field).
    pub from_volley: bool,
    /// What it asks.
    pub method: Method,
}

/// What a message asks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Method {
    /// Deliver an event.
    Emit(Emit),
    /// Socket `sid` joins `room`.
    EnterRoom {
        /// The socket.
        sid: String,
        /// The room.
        room: String,
        /// Its namespace.
        namespace: String,
    },
    /// Socket `sid` leaves `room`.
    LeaveRoom {
        /// The socket.
        sid: String,
        /// The room.
        room: String,
        /// Its namespace.
        namespace: String,
    },
    /// Every socket leaves `room`.
    CloseRoom {
        /// The room.
        room: String,
        /// Its namespace.
        namespace: String,
    },
    /// Socket `sid` is disconnected.
    Disconnect {
        /// The socket.
        sid: String,
        /// Its namespace.
        namespace: String,
    },
    /// Socket `sid` acked emit `id` of the node whose `host_id` the message carries.
    Callback {
        /// The socket that acked.
        sid: String,
        /// Its namespace.
        namespace: String,
        /// The emit's callback id.
        id: u64,
        /// The ack's arguments.
        args: Vec<Value>,
    },
    /// A method this module does not know (newer python-socketio), to be skipped.
    Other(String),
}

/// An emit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Emit {
    /// The event name.
    pub event: String,
    /// Its arguments, binary ones as [`Value::Binary`].
    pub args: Vec<Value>,
    /// The namespace (`/` when the message has none).
    pub namespace: String,
    /// Target rooms; empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Sockets left out.
    pub skip_sids: Vec<String>,
    /// The ack the sender waits for: `(room, namespace, id)`; the ack of each recipient goes
    /// back as a [`Method::Callback`] with the sender's `host_id`.
    pub callback: Option<(String, String, u64)>,
}

fn invalid(why: impl std::fmt::Display) -> DecodeError {
    DecodeError::InvalidPayload(format!("python-socketio message: {why}"))
}

/// Reads one message from the bus.
pub fn decode(bytes: &[u8]) -> Result<PyMessage, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(format!("{} bytes, more than allowed", bytes.len())));
    }
    // serde_json refuses nesting deeper than 128 levels by itself
    let mut json: Json =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    if let Json::String(inner) = &json {
        // KombuManager: kombu's JSON serialiser wrapped the JSON text in a string
        json = serde_json::from_str(inner).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    }
    if too_deep(&json, MAX_DEPTH) {
        return Err(invalid(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let Json::Object(mut map) = json else {
        return Err(invalid("not a JSON object"));
    };
    let method = take_text(&mut map, "method")?.ok_or_else(|| invalid("no method"))?;
    let host_id = take_text(&mut map, "host_id")?;
    let from_volley = map.get("volley") == Some(&Json::Bool(true));
    let namespace = take_text(&mut map, "namespace")?.unwrap_or_else(|| "/".to_owned());
    let method = match method.as_str() {
        "emit" => Method::Emit(emit(&mut map, namespace)?),
        "enter_room" | "leave_room" => {
            let sid = need_text(&mut map, "sid")?;
            let room = room_text(map.remove("room"))?;
            if method == "enter_room" {
                Method::EnterRoom {
                    sid,
                    room,
                    namespace,
                }
            } else {
                Method::LeaveRoom {
                    sid,
                    room,
                    namespace,
                }
            }
        }
        "close_room" => Method::CloseRoom {
            room: room_text(map.remove("room"))?,
            namespace,
        },
        "disconnect" => Method::Disconnect {
            sid: need_text(&mut map, "sid")?,
            namespace,
        },
        "callback" => Method::Callback {
            sid: need_text(&mut map, "sid")?,
            namespace,
            id: map
                .get("id")
                .and_then(Json::as_u64)
                .ok_or_else(|| invalid("callback without a numeric id"))?,
            args: match map.remove("args") {
                Some(Json::Array(items)) => items.into_iter().map(value).collect(),
                Some(Json::Null) | None => Vec::new(),
                Some(other) => vec![value(other)],
            },
        },
        _ => Method::Other(method),
    };
    Ok(PyMessage {
        host_id,
        from_volley,
        method,
    })
}

fn emit(map: &mut Map<String, Json>, namespace: String) -> Result<Emit, DecodeError> {
    let event = need_text(map, "event")?;
    let binary = map.get("binary") == Some(&Json::Bool(true));
    let data = map.remove("data").unwrap_or(Json::Null);
    let args = if binary {
        let Json::Array(mut parts) = data else {
            return Err(invalid("binary data is not a list"));
        };
        if parts.is_empty() || parts.len() > MAX_ATTACHMENTS + 1 {
            return Err(invalid(
                "binary data without its arguments, or too many attachments",
            ));
        }
        let attachments = parts
            .drain(1..)
            .map(|a| match a {
                Json::String(text) => base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| DecodeError::InvalidBase64),
                _ => Err(invalid("an attachment is not base64 text")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut args = value(parts.swap_remove(0));
        fill(&mut args, &attachments)?;
        args
    } else {
        value(data)
    };
    let args = match args {
        Value::Array(items) => items,
        Value::Nil => Vec::new(),
        one => vec![one],
    };
    let callback = match map.remove("callback") {
        Some(Json::Array(parts)) => match parts.as_slice() {
            [room, Json::String(ns), id] => Some((
                room_text(Some(room.clone()))?,
                ns.clone(),
                id.as_u64()
                    .ok_or_else(|| invalid("callback id is not a number"))?,
            )),
            _ => return Err(invalid("callback is not [room, namespace, id]")),
        },
        _ => None,
    };
    Ok(Emit {
        event,
        args,
        namespace,
        rooms: texts(map.remove("room"))?,
        skip_sids: texts(map.remove("skip_sid"))?,
        callback,
    })
}

/// Whether `json` nests arrays and objects more than `levels` deep.
fn too_deep(json: &Json, levels: usize) -> bool {
    let inner = match json {
        Json::Array(items) => items.iter().collect::<Vec<_>>(),
        Json::Object(map) => map.values().collect(),
        _ => return false,
    };
    levels == 0 || inner.into_iter().any(|v| too_deep(v, levels - 1))
}

/// A JSON value as a [`Value`] (never fails: JSON is a subset).
fn value(json: Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(i)) => Value::from(i),
            _ => Value::F64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::from(s),
        Json::Array(items) => Value::Array(items.into_iter().map(value).collect()),
        Json::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (Value::from(k), value(v)))
                .collect(),
        ),
    }
}

/// Replaces each `{"_placeholder": true, "num": n}` with attachment `n`.
fn fill(value: &mut Value, attachments: &[Vec<u8>]) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| fill(v, attachments)),
        Value::Map(entries) => {
            let placeholder = entries
                .iter()
                .any(|(k, v)| k.as_str() == Some("_placeholder") && *v == Value::Boolean(true));
            if !placeholder {
                return entries
                    .iter_mut()
                    .try_for_each(|(_, v)| fill(v, attachments));
            }
            let num = entries
                .iter()
                .find(|(k, _)| k.as_str() == Some("num"))
                .and_then(|(_, v)| v.as_u64())
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(DecodeError::InvalidPlaceholder)?;
            let bytes = attachments
                .get(num)
                .ok_or(DecodeError::InvalidPlaceholder)?;
            *value = Value::Binary(bytes.clone());
            Ok(())
        }
        _ => Ok(()),
    }
}

fn take_text(map: &mut Map<String, Json>, key: &str) -> Result<Option<String>, DecodeError> {
    match map.remove(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{key} is not text"))),
    }
}

fn need_text(map: &mut Map<String, Json>, key: &str) -> Result<String, DecodeError> {
    take_text(map, key)?.ok_or_else(|| invalid(format!("no {key}")))
}

/// A room: text, or a number (python rooms may be any hashable; numbers are the others'
/// only common kind).
fn room_text(json: Option<Json>) -> Result<String, DecodeError> {
    match json {
        Some(Json::String(s)) => Ok(s),
        Some(Json::Number(n)) => Ok(n.to_string()),
        _ => Err(invalid("a room is not text")),
    }
}

/// Null, one room, or a list of rooms.
fn texts(json: Option<Json>) -> Result<Vec<String>, DecodeError> {
    match json {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items.into_iter().map(|i| room_text(Some(i))).collect(),
        one => Ok(vec![room_text(one)?]),
    }
}

/// An emit as a Volley node publishes it for python-socketio nodes.
#[derive(Debug, Clone, Copy)]
pub struct EmitRef<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The event name.
    pub event: &'a str,
    /// Its arguments.
    pub args: &'a [Value],
    /// Target rooms (empty: everyone in the namespace).
    pub rooms: &'a [String],
    /// Sockets left out (python-socketio leaves out socket ids only).
    pub skip_sids: &'a [String],
}

/// Encodes an emit from `host_id`, with no callback.
pub fn encode_emit(host_id: &str, emit: &EmitRef<'_>) -> Result<Bytes, EncodeError> {
    let mut attachments = Vec::new();
    let args = Value::Array(emit.args.to_vec());
    let args = deconstruct(&args, &mut attachments)?;
    let binary = !attachments.is_empty();
    let data = if binary {
        let mut parts = vec![args];
        parts.extend(
            attachments
                .iter()
                .map(|a| Json::String(base64::engine::general_purpose::STANDARD.encode(a))),
        );
        Json::Array(parts)
    } else {
        args
    };
    let mut map = header("emit", host_id, emit.namespace);
    map.insert("event".into(), Json::String(emit.event.to_owned()));
    map.insert("data".into(), data);
    map.insert("binary".into(), Json::Bool(binary));
    map.insert("room".into(), rooms_json(emit.rooms));
    map.insert("skip_sid".into(), rooms_json(emit.skip_sids));
    map.insert("callback".into(), Json::Null);
    finish(map)
}

/// Encodes a room change of one socket (`enter` true: `enter_room`, else `leave_room`).
pub fn encode_room_change(
    host_id: &str,
    enter: bool,
    namespace: &str,
    sid: &str,
    room: &str,
) -> Result<Bytes, EncodeError> {
    let method = if enter { "enter_room" } else { "leave_room" };
    let mut map = header(method, host_id, namespace);
    map.insert("sid".into(), Json::String(sid.to_owned()));
    map.insert("room".into(), Json::String(room.to_owned()));
    finish(map)
}

/// Encodes the closing of a room (every socket leaves it).
pub fn encode_close_room(host_id: &str, namespace: &str, room: &str) -> Result<Bytes, EncodeError> {
    let mut map = header("close_room", host_id, namespace);
    map.insert("room".into(), Json::String(room.to_owned()));
    finish(map)
}

/// Encodes the disconnection of one socket.
pub fn encode_disconnect(host_id: &str, namespace: &str, sid: &str) -> Result<Bytes, EncodeError> {
    let mut map = header("disconnect", host_id, namespace);
    map.insert("sid".into(), Json::String(sid.to_owned()));
    finish(map)
}

/// Encodes the ack of socket `sid` to emit `id` of the node `host_id` (the node that waits for
/// it, not this one).
pub fn encode_callback(
    host_id: &str,
    namespace: &str,
    sid: &str,
    id: u64,
    args: &[Value],
) -> Result<Bytes, EncodeError> {
    let mut map = header("callback", host_id, namespace);
    map.insert("sid".into(), Json::String(sid.to_owned()));
    map.insert("id".into(), Json::from(id));
    let args = args
        .iter()
        .map(|a| deconstruct(a, &mut Vec::new()))
        .collect::<Result<Vec<_>, _>>()?;
    map.insert("args".into(), Json::Array(args));
    finish(map)
}

fn header(method: &str, host_id: &str, namespace: &str) -> Map<String, Json> {
    let mut map = Map::new();
    map.insert("method".into(), Json::String(method.to_owned()));
    map.insert("namespace".into(), Json::String(namespace.to_owned()));
    map.insert("host_id".into(), Json::String(host_id.to_owned()));
    map.insert("volley".into(), Json::Bool(true));
    map
}

fn finish(map: Map<String, Json>) -> Result<Bytes, EncodeError> {
    serde_json::to_vec(&Json::Object(map))
        .map(Bytes::from)
        .map_err(|e| EncodeError::Serialize(e.to_string()))
}

fn rooms_json(rooms: &[String]) -> Json {
    match rooms {
        [] => Json::Null,
        [one] => Json::String(one.clone()),
        many => Json::Array(many.iter().cloned().map(Json::String).collect()),
    }
}

/// `value` as JSON, each binary value replaced by a placeholder and pushed to `attachments`.
fn deconstruct(value: &Value, attachments: &mut Vec<Vec<u8>>) -> Result<Json, EncodeError> {
    Ok(match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::from(u),
            (None, Some(i)) => Json::from(i),
            _ => Json::Null,
        },
        Value::F32(f) => Json::from(f64::from(*f)),
        Value::F64(f) => Json::from(*f),
        Value::String(s) => Json::String(
            s.as_str()
                .ok_or_else(|| EncodeError::Serialize("text that is not UTF-8".into()))?
                .to_owned(),
        ),
        Value::Binary(bytes) => {
            let mut placeholder = Map::new();
            placeholder.insert("_placeholder".into(), Json::Bool(true));
            placeholder.insert("num".into(), Json::from(attachments.len()));
            attachments.push(bytes.clone());
            Json::Object(placeholder)
        }
        Value::Array(items) => Json::Array(
            items
                .iter()
                .map(|v| deconstruct(v, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => s.as_str().unwrap_or_default().to_owned(),
                    Value::Integer(i) => i.to_string(),
                    Value::Boolean(b) => b.to_string(),
                    Value::Nil => "null".to_owned(),
                    _ => return Err(EncodeError::InvalidMapKey("non-scalar")),
                };
                map.insert(key, deconstruct(v, attachments)?);
            }
            Json::Object(map)
        }
        Value::Ext(..) => return Err(EncodeError::UnsupportedExt),
    })
}

#[cfg(test)]
mod tests;
