//! The "classic" Redis wire format of Node's `@socket.io/redis-adapter` (`createAdapter`) and
//! `@socket.io/redis-emitter`, so that an emitter written for Node can publish into a Volley
//! cluster and `volley-emitter` can publish into a Node cluster. Pure data: channel names,
//! encoders and decoders; the publishing is someone else's job.
//!
//! ```
//! use volley_protocol::classic::{self, BroadcastRef, Opts, EMITTER_UID, DEFAULT_KEY};
//! use volley_protocol::Value;
//!
//! // What `emitter.to("room1").emit("hello", "world")` publishes in Node.
//! let opts = Opts { rooms: vec!["room1".into()], ..Opts::default() };
//! let args = [Value::from("world")];
//! let message = BroadcastRef { uid: EMITTER_UID, nsp: "/", event: "hello", args: &args, opts: &opts };
//! assert_eq!(message.channel(DEFAULT_KEY), "socket.io#/#room1#");
//! let bytes = classic::encode_broadcast(&message).unwrap();
//! assert_eq!(&bytes[..10], b"\x93\xa7emitter\x83");
//!
//! let back = classic::decode_broadcast(&bytes).unwrap();
//! assert_eq!((back.event.as_str(), back.args), ("hello", args.to_vec()));
//! ```
//!
//! # Channels
//!
//! With the key (channel prefix, default [`DEFAULT_KEY`]) and a namespace:
//!
//! | channel | name | content |
//! |---|---|---|
//! | broadcast | `{key}#{nsp}#` ([`broadcast_channel`] with no room) | broadcasts to all, or to several rooms |
//! | broadcast to one room | `{key}#{nsp}#{room}#` | broadcasts to exactly one room (receivers skip rooms they do not have without decoding) |
//! | request | `{key}-request#{nsp}#` ([`request_channel`]) | [`Request`]s; Node nodes also count each other with `PUBSUB NUMSUB` on it |
//!
//! Node nodes `PSUBSCRIBE {key}#{nsp}#*` and `SUBSCRIBE` the request channel.
//!
//! # Broadcasts
//!
//! A broadcast is a MessagePack array of three items, as `notepack.io` 3 writes it:
//!
//! ```text
//! [ uid,                                            "emitter" for emitters, a node id otherwise
//!   { type: 2, data: [event, ...args], nsp },       the socket.io packet, keys in this order
//!   { rooms: [...], flags: {...}, except: [...] } ] rooms to target (none: all), flags, rooms to skip
//! ```
//!
//! [`encode_broadcast`] writes exactly the bytes `@socket.io/redis-emitter` 5 writes for the
//! same emit (checked against the npm package by the fixtures in
//! `tests/clients/node-cluster/fixtures.jsonl`): flags `{}`, `{volatile: true}`,
//! `{compress: b}` or both in that order (the Node emitter orders them by call order: this is
//! the order of `.volatile.compress(b)`); integers in their shortest form; every other number
//! (`F32` and `F64` that are not integers, NaN, infinities) as float 64, and integral floats as
//! integers, since JavaScript cannot tell `1.0` from `1`; binary as `bin`.
//!
//! [`decode_broadcast`] is as tolerant as Node's receiver: `except`, `rooms` and `flags` may be
//! missing (older emitters and the ports to other languages omit `except`), `flags` may be nil
//! or hold unknown keys, a missing `nsp` is `/`, `type` may be 2 (EVENT) or 5 (BINARY_EVENT),
//! extra items after the third are ignored, and rooms may be integers (Node has numeric rooms;
//! they become their decimal text). It rejects, with an error and never a panic, what Node
//! would throw on or cannot deliver: not an array of at least three items, a uid that is not a
//! string, a packet or options that are not maps, an event that is not a non-empty array
//! starting with a string, malformed MessagePack, nesting deeper than
//! [`msgpack::MAX_DEPTH`](crate::msgpack::MAX_DEPTH) levels (the array counting as the first).
//! The arguments go through [`normalize`].
//!
//! # Foreign values
//!
//! Node's encoders write some JavaScript values as MessagePack extensions; [`normalize`]
//! replaces every extension by the value a Node server would hand its clients, so decoded
//! arguments never hold a [`Value::Ext`] (which the JSON packet encoder refuses):
//!
//! | bytes (type, length) | written by | becomes |
//! |---|---|---|
//! | ext type -1, 4, 8 or 12 bytes (timestamp) | notepack 3 for a `Date` | the text of `Date.toJSON()`: `"2000-06-13T00:00:00.000Z"` (UTC, milliseconds, years outside 0..=9999 as `+275760`/`-000001`); nil for a date JavaScript cannot represent (as `toJSON` gives `null`) |
//! | fixext 1 of type 0 (`d4 00 00`) | notepack 2 for `undefined` | nil in an array and at the top, and a map entry holding it is dropped (as `JSON.stringify` does) |
//! | fixext 8 of type 0 | notepack 2 for a `Date` (big-endian `i64` milliseconds) | the same text as a timestamp |
//! | ext 8/16/32 of type 0, or type 0 of another length | notepack 2 for an `ArrayBuffer` or typed array | [`Value::Binary`] |
//! | any other extension | no notepack version | `[type, <binary data>]`, as the notepack 3 decoder gives it |
//!
//! NaN and infinite floats stay floats (the JSON encoder sends them as `null`, like
//! `JSON.stringify`). Strings that are not UTF-8 are converted lossily, as Node does.
//!
//! # Requests
//!
//! Room changes, disconnections and server-side emits travel as [`Request`]s on the request
//! channel, in JSON (see [`encode_request`] and [`decode_request`]). Node nodes also publish the
//! other request types of the classic adapter there (socket lists, room lists, fetches,
//! broadcasts with acks and their responses): they decode as [`Request::Unsupported`], to be
//! ignored.

use bytes::Bytes;
use rmpv::Value;

use crate::msgpack::{read_value, Writer, MAX_DEPTH};
use crate::{DecodeError, EncodeError};

mod normalize;
mod request;

pub use normalize::normalize;
pub use request::{decode_request, encode_request, request_type, Request};

/// The channel prefix Node's adapter and emitter use unless told otherwise.
pub const DEFAULT_KEY: &str = "socket.io";

/// The uid emitters publish broadcasts and server-side emits under (never a node's uid).
pub const EMITTER_UID: &str = "emitter";

/// The channel of broadcasts in a namespace: `{key}#{nsp}#`, or `{key}#{nsp}#{room}#` for a
/// broadcast to exactly one room.
///
/// ```
/// use volley_protocol::classic::broadcast_channel;
/// assert_eq!(broadcast_channel("socket.io", "/", None), "socket.io#/#");
/// assert_eq!(broadcast_channel("socket.io", "/", Some("room1")), "socket.io#/#room1#");
/// ```
pub fn broadcast_channel(key: &str, nsp: &str, room: Option<&str>) -> String {
    let mut channel = format!("{key}#{nsp}#");
    if let Some(room) = room {
        channel.push_str(room);
        channel.push('#');
    }
    channel
}

/// The channel of requests in a namespace: `{key}-request#{nsp}#`.
///
/// ```
/// use volley_protocol::classic::request_channel;
/// assert_eq!(request_channel("socket.io", "/chat"), "socket.io-request#/chat#");
/// ```
pub fn request_channel(key: &str, nsp: &str) -> String {
    format!("{key}-request#{nsp}#")
}

/// Which sockets of a namespace a broadcast or request is for, and how to deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opts {
    /// Target rooms (socket ids are rooms too); empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms whose sockets are left out.
    pub except: Vec<String>,
    /// The `volatile` flag: the packet may be dropped for a client that is not ready.
    pub volatile: bool,
    /// The `compress` flag, when set.
    pub compress: Option<bool>,
}

/// A broadcast as it travels on the broadcast channel (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The publisher: [`EMITTER_UID`] or the id of a node.
    pub uid: String,
    /// The namespace, starting with `/`.
    pub nsp: String,
    /// The event name.
    pub event: String,
    /// The event arguments.
    pub args: Vec<Value>,
    /// Targets and flags.
    pub opts: Opts,
}

impl Broadcast {
    /// A borrowed view, for [`encode_broadcast`].
    pub fn as_ref(&self) -> BroadcastRef<'_> {
        BroadcastRef {
            uid: &self.uid,
            nsp: &self.nsp,
            event: &self.event,
            args: &self.args,
            opts: &self.opts,
        }
    }
}

/// A borrowed [`Broadcast`], to encode without copying the arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BroadcastRef<'a> {
    /// The publisher: [`EMITTER_UID`] or the id of a node.
    pub uid: &'a str,
    /// The namespace, starting with `/`.
    pub nsp: &'a str,
    /// The event name.
    pub event: &'a str,
    /// The event arguments.
    pub args: &'a [Value],
    /// Targets and flags.
    pub opts: &'a Opts,
}

impl BroadcastRef<'_> {
    /// The channel to publish on, as Node's emitter and adapter choose it: the room channel
    /// when there is exactly one target room, else the namespace's broadcast channel.
    pub fn channel(&self, key: &str) -> String {
        match self.opts.rooms.as_slice() {
            [room] => broadcast_channel(key, self.nsp, Some(room)),
            _ => broadcast_channel(key, self.nsp, None),
        }
    }
}

/// Encodes a broadcast exactly as `@socket.io/redis-emitter` 5 (notepack.io 3) does.
///
/// Errors: a namespace that does not start with `/`, lengths beyond MessagePack's 32 bits, and
/// arguments nested so deeply that [`decode_broadcast`] would refuse them.
pub fn encode_broadcast(message: &BroadcastRef<'_>) -> Result<Bytes, EncodeError> {
    write_broadcast(message, None)
}

/// [`encode_broadcast`], with a fourth option `offset` when one is given: the offset of the
/// broadcast for connection state recovery, which Volley nodes read and Node nodes ignore.
pub(crate) fn write_broadcast(
    message: &BroadcastRef<'_>,
    offset: Option<&str>,
) -> Result<Bytes, EncodeError> {
    if !message.nsp.starts_with('/') {
        return Err(EncodeError::InvalidNamespace(message.nsp.to_owned()));
    }
    let mut w = Writer(Vec::with_capacity(64));
    w.array_len(3)?;
    w.str(message.uid)?;

    w.map_len(3)?;
    w.str("type")?;
    w.uint(2);
    w.str("data")?;
    w.array_len(message.args.len().saturating_add(1))?;
    w.str(message.event)?;
    // The outer array, the packet map and the data array are the first three levels.
    for arg in message.args {
        write_value(&mut w, arg, 3)?;
    }
    w.str("nsp")?;
    w.str(message.nsp)?;

    let opts = message.opts;
    w.map_len(3 + usize::from(offset.is_some()))?;
    w.str("rooms")?;
    write_strings(&mut w, &opts.rooms)?;
    w.str("flags")?;
    w.map_len(usize::from(opts.volatile) + usize::from(opts.compress.is_some()))?;
    if opts.volatile {
        w.str("volatile")?;
        w.value(&Value::Boolean(true))?;
    }
    if let Some(compress) = opts.compress {
        w.str("compress")?;
        w.value(&Value::Boolean(compress))?;
    }
    w.str("except")?;
    write_strings(&mut w, &opts.except)?;
    if let Some(offset) = offset {
        w.str("offset")?;
        w.str(offset)?;
    }
    Ok(Bytes::from(w.0))
}

fn write_strings(w: &mut Writer, items: &[String]) -> Result<(), EncodeError> {
    w.array_len(items.len())?;
    items.iter().try_for_each(|item| w.str(item))
}

/// Writes a value the way notepack.io 3 writes the JavaScript value it stands for; `depth`
/// counts the arrays and maps around it.
fn write_value(w: &mut Writer, value: &Value, depth: usize) -> Result<(), EncodeError> {
    match value {
        Value::F32(f) => write_number(w, f64::from(*f)),
        Value::F64(f) => write_number(w, *f),
        Value::Array(items) => {
            let depth = enter(depth)?;
            w.array_len(items.len())?;
            items
                .iter()
                .try_for_each(|item| write_value(w, item, depth))
        }
        Value::Map(entries) => {
            let depth = enter(depth)?;
            w.map_len(entries.len())?;
            entries.iter().try_for_each(|(key, value)| {
                write_value(w, key, depth)?;
                write_value(w, value, depth)
            })
        }
        // Nil, booleans, integers, strings, binary and extensions: the same bytes.
        other => w.value(other),
    }
}

fn enter(depth: usize) -> Result<usize, EncodeError> {
    if depth >= MAX_DEPTH {
        return Err(EncodeError::Serialize(format!(
            "arguments nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// A JavaScript number: integral values as integers (`-0` as `0`), others as float 64.
fn write_number(w: &mut Writer, f: f64) -> Result<(), EncodeError> {
    // 2^64 and -2^63 are exact in f64; notepack writes integral numbers up to these bounds
    // as integers (beyond, its output wraps around: we keep the float instead).
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;
    if f.is_finite() && f.trunc() == f {
        if (0.0..TWO_POW_64).contains(&f) {
            // Exact: f is an integer in range (and -0.0 >= 0.0).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            w.uint(f as u64);
            return Ok(());
        }
        if (MINUS_TWO_POW_63..0.0).contains(&f) {
            #[allow(clippy::cast_possible_truncation)]
            w.negative(f as i64);
            return Ok(());
        }
    }
    w.value(&Value::F64(f))
}

/// Decodes a broadcast published by a Node node, a Node emitter (any version) or
/// `volley-emitter`; see the [module docs](self) for what is accepted.
pub fn decode_broadcast(data: &[u8]) -> Result<Broadcast, DecodeError> {
    read_broadcast(data).map(|(broadcast, _)| broadcast)
}

/// [`decode_broadcast`], with the `offset` option Volley nodes add (see [`write_broadcast`]).
pub(crate) fn read_broadcast(data: &[u8]) -> Result<(Broadcast, Option<String>), DecodeError> {
    let Value::Array(items) = read_value(data)? else {
        return Err(invalid("a broadcast must be an array [uid, packet, opts]"));
    };
    let mut items = items.into_iter();
    let (Some(uid), Some(packet), Some(opts)) = (items.next(), items.next(), items.next()) else {
        return Err(invalid("a broadcast must be an array [uid, packet, opts]"));
    };
    let uid = string(uid).ok_or_else(|| invalid("the uid of a broadcast must be a string"))?;

    let Value::Map(packet) = packet else {
        return Err(invalid("the packet of a broadcast must be a map"));
    };
    let mut ty = None;
    let mut data = None;
    let mut nsp = None;
    for (key, value) in packet {
        match key.as_str() {
            Some("type") => ty = Some(value),
            Some("data") => data = Some(value),
            Some("nsp") => nsp = Some(value),
            _ => {}
        }
    }
    match ty.as_ref().and_then(Value::as_u64) {
        Some(2 | 5) => {}
        _ => {
            return Err(invalid(
                "the packet of a broadcast must be an EVENT (type 2)",
            ))
        }
    }
    let nsp = match nsp {
        None => "/".to_owned(),
        Some(nsp) => string(nsp).ok_or_else(|| invalid("the namespace must be a string"))?,
    };
    let Some(Value::Array(data)) = data else {
        return Err(invalid("EVENT data must be an array"));
    };
    let mut data = data.into_iter();
    let event = match data.next() {
        Some(event) => string(event).ok_or_else(|| invalid("event name must be a string"))?,
        None => return Err(invalid("EVENT data must not be empty")),
    };
    let args = data.map(normalize).collect();
    let offset = match &opts {
        Value::Map(entries) => entries
            .iter()
            .find(|(key, _)| key.as_str() == Some("offset"))
            .and_then(|(_, value)| value.as_str())
            .map(str::to_owned),
        _ => None,
    };

    let broadcast = Broadcast {
        uid,
        nsp,
        event,
        args,
        opts: decode_opts(opts)?,
    };
    Ok((broadcast, offset))
}

/// `{rooms, except, flags}` of a broadcast (the flags are ignored in requests).
pub(crate) fn decode_opts(opts: Value) -> Result<Opts, DecodeError> {
    let Value::Map(entries) = opts else {
        return Err(invalid("broadcast options must be a map"));
    };
    let mut out = Opts::default();
    for (key, value) in entries {
        match key.as_str() {
            Some("rooms") => out.rooms = rooms(value, "rooms")?,
            Some("except") => out.except = rooms(value, "except")?,
            Some("flags") => match value {
                Value::Map(flags) => {
                    out.volatile = false;
                    out.compress = None;
                    for (flag, value) in flags {
                        match (flag.as_str(), value) {
                            (Some("volatile"), Value::Boolean(b)) => out.volatile = b,
                            (Some("compress"), Value::Boolean(b)) => out.compress = Some(b),
                            _ => {}
                        }
                    }
                }
                Value::Nil => {}
                _ => return Err(invalid("broadcast flags must be a map")),
            },
            _ => {}
        }
    }
    Ok(out)
}

/// A list of rooms: nil is none, integers are their decimal text (Node's numeric rooms).
pub(crate) fn rooms(value: Value, what: &str) -> Result<Vec<String>, DecodeError> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| {
                room(item).ok_or_else(|| invalid(&format!("{what}: a room must be a string")))
            })
            .collect(),
        _ => Err(invalid(&format!("{what} must be an array of rooms"))),
    }
}

fn room(value: Value) -> Option<String> {
    match value {
        Value::Integer(n) => Some(n.to_string()),
        other => string(other),
    }
}

fn string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.into_str().unwrap_or_default()),
        _ => None,
    }
}

fn invalid(message: &str) -> DecodeError {
    DecodeError::InvalidPayload(message.to_owned())
}

#[cfg(test)]
mod tests;
