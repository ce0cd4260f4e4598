//! Requests on the request channel: JSON as Node's emitter writes them.

use std::io::Write as _;

use bytes::Bytes;
use rmpv::Value;

use super::{decode_opts, invalid, normalize, room, rooms, string, Opts};
use crate::msgpack::read_value;
use crate::{DecodeError, EncodeError};

/// The `type` numbers of the classic adapter's requests and responses (`RequestType` in
/// `@socket.io/redis-adapter`). These are **not** the numbers of the `ClusterAdapter`
/// messages.
pub mod request_type {
    /// Legacy socket list (answered by Node nodes, no longer sent by them).
    pub const SOCKETS: u64 = 0;
    /// List of all rooms.
    pub const ALL_ROOMS: u64 = 1;
    /// Make sockets join rooms.
    pub const REMOTE_JOIN: u64 = 2;
    /// Make sockets leave rooms.
    pub const REMOTE_LEAVE: u64 = 3;
    /// Disconnect sockets.
    pub const REMOTE_DISCONNECT: u64 = 4;
    /// Fetch sockets.
    pub const REMOTE_FETCH: u64 = 5;
    /// Emit to the servers' own listeners.
    pub const SERVER_SIDE_EMIT: u64 = 6;
    /// Broadcast with acknowledgements (MessagePack).
    pub const BROADCAST: u64 = 7;
    /// Response: how many clients a broadcast with acks reached.
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    /// Response: one client's acknowledgement (MessagePack).
    pub const BROADCAST_ACK: u64 = 9;
}

/// A request on the request channel, as an emitter (or a Node node) publishes it.
///
/// Only what an emitter can send has a variant of its own; every other request type of the
/// classic adapter decodes as [`Request::Unsupported`].
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// REMOTE_JOIN: the sockets matching `opts` (rooms and except only) join `rooms`.
    Join {
        /// Which sockets.
        opts: Opts,
        /// The rooms to join.
        rooms: Vec<String>,
    },
    /// REMOTE_LEAVE: the sockets matching `opts` leave `rooms`.
    Leave {
        /// Which sockets.
        opts: Opts,
        /// The rooms to leave.
        rooms: Vec<String>,
    },
    /// REMOTE_DISCONNECT: the sockets matching `opts` are disconnected; with `close`, their
    /// whole connection (every namespace) is closed.
    Disconnect {
        /// Which sockets.
        opts: Opts,
        /// Close the underlying connection too.
        close: bool,
    },
    /// SERVER_SIDE_EMIT: `event` for the servers' own listeners (not for clients).
    ServerSideEmit {
        /// The publisher: [`EMITTER_UID`](super::EMITTER_UID) for emitters, a node's uid for
        /// Node nodes (which must ignore their own), absent for some old emitters.
        uid: Option<String>,
        /// The event name.
        event: String,
        /// The arguments.
        args: Vec<Value>,
    },
    /// Another request type (see [`request_type`]), meant for nodes: to be ignored by whoever
    /// cannot answer it.
    Unsupported {
        /// Its `type` number.
        kind: u64,
    },
}

/// Encodes a request as the JSON text `@socket.io/redis-emitter` 5 publishes, byte for byte:
///
/// | request | JSON |
/// |---|---|
/// | `Join` | `{"type":2,"opts":{"rooms":[..],"except":[..]},"rooms":[..]}` |
/// | `Leave` | `{"type":3,"opts":{"rooms":[..],"except":[..]},"rooms":[..]}` |
/// | `Disconnect` | `{"type":4,"opts":{"rooms":[..],"except":[..]},"close":false}` |
/// | `ServerSideEmit` | `{"uid":"emitter","type":6,"data":["event",..args]}` (no `uid` when `None`) |
///
/// The flags of `opts` are not sent. Arguments are written as `JSON.stringify` writes the
/// JavaScript values they stand for: numbers in JavaScript's notation (`1`, `1.5`, `1e+21`,
/// NaN and infinities as `null`), binary as a Node `Buffer` serializes itself,
/// `{"type":"Buffer","data":[1,2,3]}` (receivers get that object, not binary: JSON has no
/// binary), extensions as [`normalize`] reads them. Map keys must be strings, integers,
/// booleans or nil.
///
/// ```
/// use volley_protocol::classic::{encode_request, Opts, Request};
///
/// let join = Request::Join {
///     opts: Opts { rooms: vec!["a".into()], ..Opts::default() },
///     rooms: vec!["b".into()],
/// };
/// assert_eq!(
///     &encode_request(&join).unwrap()[..],
///     br#"{"type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["b"]}"#
/// );
/// ```
///
/// Errors: [`Request::Unsupported`] (nothing to encode), invalid map keys, nesting deeper
/// than [`decode_request`] accepts.
pub fn encode_request(request: &Request) -> Result<Bytes, EncodeError> {
    let mut out = Json(Vec::with_capacity(64));
    match request {
        Request::Join { opts, rooms } | Request::Leave { opts, rooms } => {
            let ty = if matches!(request, Request::Join { .. }) {
                request_type::REMOTE_JOIN
            } else {
                request_type::REMOTE_LEAVE
            };
            out.raw(&format!("{{\"type\":{ty},\"opts\":"));
            out.opts(opts)?;
            out.raw(",\"rooms\":");
            out.strings(rooms)?;
            out.raw("}");
        }
        Request::Disconnect { opts, close } => {
            out.raw("{\"type\":4,\"opts\":");
            out.opts(opts)?;
            out.raw(if *close {
                ",\"close\":true}"
            } else {
                ",\"close\":false}"
            });
        }
        Request::ServerSideEmit { uid, event, args } => {
            out.raw("{");
            if let Some(uid) = uid {
                out.raw("\"uid\":");
                out.str(uid)?;
                out.raw(",");
            }
            out.raw("\"type\":6,\"data\":[");
            out.str(event)?;
            for arg in args {
                out.raw(",");
                // The request object and the data array are the first two levels.
                out.value(arg, 2)?;
            }
            out.raw("]}");
        }
        Request::Unsupported { kind } => {
            return Err(EncodeError::Serialize(format!(
                "request type {kind} cannot be encoded"
            )))
        }
    }
    Ok(Bytes::from(out.0))
}

/// How deep arrays and objects may nest in a JSON request, the request itself counting as
/// the first level: what `serde_json` reads (its recursion limit is 128, and reaching it is an
/// error).
const MAX_JSON_DEPTH: usize = 127;

/// Writes JSON text the way `JSON.stringify` does.
struct Json(Vec<u8>);

impl Json {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn str(&mut self, text: &str) -> Result<(), EncodeError> {
        // serde_json escapes like JSON.stringify: \" \\ \b \f \n \r \t, other controls as
        // \u00xx, nothing else.
        serde_json::to_writer(&mut self.0, text).map_err(|e| EncodeError::Serialize(e.to_string()))
    }

    fn strings(&mut self, items: &[String]) -> Result<(), EncodeError> {
        self.raw("[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.str(item)?;
        }
        self.raw("]");
        Ok(())
    }

    fn opts(&mut self, opts: &Opts) -> Result<(), EncodeError> {
        self.raw("{\"rooms\":");
        self.strings(&opts.rooms)?;
        self.raw(",\"except\":");
        self.strings(&opts.except)?;
        self.raw("}");
        Ok(())
    }

    fn number(&mut self, f: f64) {
        if f.is_finite() {
            let text = js_number(f);
            self.raw(&text);
        } else {
            self.raw("null");
        }
    }

    /// `value` inside `depth` levels of arrays and objects.
    fn value(&mut self, value: &Value, depth: usize) -> Result<(), EncodeError> {
        match value {
            Value::Nil => self.raw("null"),
            Value::Boolean(b) => self.raw(if *b { "true" } else { "false" }),
            Value::Integer(n) => {
                let _ = write!(self.0, "{n}");
            }
            Value::F32(f) => self.number(f64::from(*f)),
            Value::F64(f) => self.number(*f),
            Value::String(s) => match s.as_str() {
                Some(s) => self.str(s)?,
                None => self.str(&String::from_utf8_lossy(s.as_bytes()))?,
            },
            Value::Binary(data) => {
                // Buffer.prototype.toJSON: two levels.
                enter(enter(depth)?)?;
                self.raw("{\"type\":\"Buffer\",\"data\":[");
                for (i, byte) in data.iter().enumerate() {
                    if i > 0 {
                        self.raw(",");
                    }
                    let _ = write!(self.0, "{byte}");
                }
                self.raw("]}");
            }
            Value::Array(items) => {
                let depth = enter(depth)?;
                self.raw("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(",");
                    }
                    // JSON.stringify writes undefined as null in arrays: normalize does too.
                    self.value(item, depth)?;
                }
                self.raw("]");
            }
            Value::Map(entries) => {
                let depth = enter(depth)?;
                self.raw("{");
                let mut first = true;
                for (key, value) in entries {
                    if matches!(value, Value::Ext(0, data) if data.len() == 1) {
                        // undefined: JSON.stringify leaves the property out.
                        continue;
                    }
                    if !first {
                        self.raw(",");
                    }
                    first = false;
                    self.key(key)?;
                    self.raw(":");
                    self.value(value, depth)?;
                }
                self.raw("}");
            }
            Value::Ext(ty, data) => {
                let plain = normalize(Value::Ext(*ty, data.clone()));
                self.value(&plain, depth)?;
            }
        }
        Ok(())
    }

    /// An object key: JavaScript keys are strings.
    fn key(&mut self, key: &Value) -> Result<(), EncodeError> {
        match key {
            Value::String(_) => self.value(key, 0),
            Value::Integer(n) => self.str(&n.to_string()),
            Value::Boolean(b) => self.str(if *b { "true" } else { "false" }),
            Value::Nil => self.str("null"),
            Value::F32(_) | Value::F64(_) => Err(EncodeError::InvalidMapKey("float")),
            Value::Binary(_) => Err(EncodeError::InvalidMapKey("binary")),
            Value::Array(_) => Err(EncodeError::InvalidMapKey("array")),
            Value::Map(_) => Err(EncodeError::InvalidMapKey("map")),
            Value::Ext(..) => Err(EncodeError::InvalidMapKey("ext")),
        }
    }
}

fn enter(depth: usize) -> Result<usize, EncodeError> {
    if depth >= MAX_JSON_DEPTH {
        return Err(EncodeError::Serialize(format!(
            "arguments nested deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// A finite number as JavaScript's `Number.prototype.toString()` writes it: the shortest
/// digits that read back as the same number, in plain notation from 1e-6 up to below 1e21
/// and in exponent notation (`1.5e+21`, `1e-7`) outside; `-0` is `0`.
pub(super) fn js_number(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e-7", "5e0".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let k = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    // The value is 0.digits × 10^n.
    let n = exponent + 1;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(n - k).unwrap_or(0),
        ));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(usize::try_from(n).unwrap_or(0));
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', usize::try_from(-n).unwrap_or(0)));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

/// Decodes a request from the request channel: JSON when the first byte is `{` (what
/// emitters and Node nodes send for everything but broadcasts with acks), MessagePack
/// otherwise (read like broadcasts are).
///
/// Tolerant like Node's receiver: `opts` without `rooms` or `except` (none), unknown keys,
/// rooms as a single string, and the legacy forms of join, leave and disconnect that name one
/// socket (`{"type":2,"sid":..,"room":..}`, `{"type":4,"sid":..,"close":..}`), read as the
/// same request for the room that socket's id is (their requesters also wait for an answer,
/// which never comes). A server-side emit that asks for acknowledgements (it has a
/// `requestId`) decodes like one that does not. Any other `type` number is
/// [`Request::Unsupported`].
///
/// Errors (never panics): malformed JSON or MessagePack, not a map, `type` not a number, or a
/// field of the wrong type (rooms not strings, `close` not a boolean, `data` not an array
/// starting with the event name, ...). JSON nesting is limited to 127 levels, MessagePack's
/// to [`MAX_DEPTH`](crate::msgpack::MAX_DEPTH).
pub fn decode_request(data: &[u8]) -> Result<Request, DecodeError> {
    let json = data.first() == Some(&b'{');
    let value = if json {
        serde_json::from_slice::<Value>(data)
            .map_err(|e| DecodeError::InvalidJson(e.to_string()))?
    } else {
        read_value(data)?
    };
    let Value::Map(entries) = value else {
        return Err(invalid("a request must be a map"));
    };
    let mut fields = Fields::default();
    for (key, value) in entries {
        let slot = match key.as_str() {
            Some("type") => &mut fields.ty,
            Some("opts") => &mut fields.opts,
            Some("rooms") => &mut fields.rooms,
            Some("close") => &mut fields.close,
            Some("data") => &mut fields.data,
            Some("uid") => &mut fields.uid,
            Some("sid") => &mut fields.sid,
            Some("room") => &mut fields.room,
            _ => continue,
        };
        // Later duplicates win, as with JSON.parse.
        *slot = Some(value);
    }
    let kind = match fields.ty {
        Some(Value::Integer(n)) => n.as_u64(),
        Some(Value::F64(f)) if f.trunc() == f && (0.0..9.0e15).contains(&f) =>
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(f as u64)
        }
        _ => None,
    }
    .ok_or_else(|| invalid("the type of a request must be a non-negative integer"))?;

    match kind {
        request_type::REMOTE_JOIN | request_type::REMOTE_LEAVE => {
            let (opts, rooms) = match target(fields.opts)? {
                Some(opts) => {
                    let rooms = match fields.rooms {
                        Some(Value::Array(items)) => rooms(Value::Array(items), "rooms")?,
                        Some(single) => vec![room(single)
                            .ok_or_else(|| invalid("rooms must be a room or an array of rooms"))?],
                        None => return Err(invalid("a join or leave request without rooms")),
                    };
                    (opts, rooms)
                }
                None => {
                    let opts = legacy_target(fields.sid)?;
                    let room = fields
                        .room
                        .and_then(room)
                        .ok_or_else(|| invalid("a legacy join or leave request without room"))?;
                    (opts, vec![room])
                }
            };
            Ok(if kind == request_type::REMOTE_JOIN {
                Request::Join { opts, rooms }
            } else {
                Request::Leave { opts, rooms }
            })
        }
        request_type::REMOTE_DISCONNECT => {
            let opts = match target(fields.opts)? {
                Some(opts) => opts,
                None => legacy_target(fields.sid)?,
            };
            let close = match fields.close {
                None | Some(Value::Nil) => false,
                Some(Value::Boolean(close)) => close,
                Some(_) => return Err(invalid("close must be a boolean")),
            };
            Ok(Request::Disconnect { opts, close })
        }
        request_type::SERVER_SIDE_EMIT => {
            let uid = match fields.uid {
                None | Some(Value::Nil) => None,
                Some(uid) => Some(string(uid).ok_or_else(|| invalid("uid must be a string"))?),
            };
            let Some(Value::Array(data)) = fields.data else {
                return Err(invalid("the data of a server-side emit must be an array"));
            };
            let mut data = data.into_iter();
            let event = match data.next() {
                Some(event) => {
                    string(event).ok_or_else(|| invalid("event name must be a string"))?
                }
                None => return Err(invalid("a server-side emit without an event name")),
            };
            let args = if json {
                data.collect()
            } else {
                data.map(normalize).collect()
            };
            Ok(Request::ServerSideEmit { uid, event, args })
        }
        kind => Ok(Request::Unsupported { kind }),
    }
}

/// The fields a request may have (later duplicates win).
#[derive(Default)]
struct Fields {
    ty: Option<Value>,
    opts: Option<Value>,
    rooms: Option<Value>,
    close: Option<Value>,
    data: Option<Value>,
    uid: Option<Value>,
    sid: Option<Value>,
    room: Option<Value>,
}

/// `opts` of a request: `None` when absent (or nil or `false`: Node then reads the legacy
/// form); its flags, if any, are ignored.
fn target(opts: Option<Value>) -> Result<Option<Opts>, DecodeError> {
    match opts {
        None | Some(Value::Nil | Value::Boolean(false)) => Ok(None),
        Some(opts @ Value::Map(_)) => {
            let opts = decode_opts(opts)?;
            Ok(Some(Opts {
                rooms: opts.rooms,
                except: opts.except,
                ..Opts::default()
            }))
        }
        Some(_) => Err(invalid("the opts of a request must be a map")),
    }
}

/// The legacy form's target: the room that is the socket's id.
fn legacy_target(sid: Option<Value>) -> Result<Opts, DecodeError> {
    let sid = sid
        .and_then(string)
        .ok_or_else(|| invalid("a request needs opts (or, in its legacy form, a sid)"))?;
    Ok(Opts {
        rooms: vec![sid],
        ..Opts::default()
    })
}
