//! Socket.IO packets in the MessagePack wire format of the npm `socket.io-msgpack-parser`
//! (what socket.io-client speaks with `parser: require("socket.io-msgpack-parser")`).
//!
//! Each packet is one MessagePack map, sent as one Engine.IO binary message: there are no
//! attachments and no placeholders, binary values are MessagePack `bin` where they stand.
//!
//! | key    | value                                                            |
//! |--------|------------------------------------------------------------------|
//! | `type` | integer 0 to 4: CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR   |
//! | `nsp`  | string, always present (`/` too)                                 |
//! | `data` | any value, absent on DISCONNECT (and on CONNECT without auth)     |
//! | `id`   | non-negative integer, only on EVENT and ACK                      |
//!
//! BINARY_EVENT (5) and BINARY_ACK (6) are never used: the npm decoder rejects them, and so
//! does [`decode`]. Other keys are ignored (socket.io-client sends `options`), and keys may
//! come in any order (later duplicates win, as in JavaScript).
//!
//! The npm package encodes with notepack.io 2.2, which writes some JavaScript values in ways
//! that [`decode`] maps back:
//!
//! - `undefined` is fixext 1 of type 0 (`d4 00 00`), also as an object property: a
//!   socket.io-client without `auth` sends CONNECT with `data: undefined`. At the top level it
//!   counts as an absent field, in an array it is nil, and a map entry holding it is dropped
//!   (as `JSON.stringify` does).
//! - In Node, an `ArrayBuffer` or a typed array that is not a `Buffer` is ext 8/16/32 of
//!   type 0; it decodes to [`Value::Binary`] like `bin` does.
//! - A `Date` is fixext 8 of type 0 holding the milliseconds since the epoch as a big-endian
//!   `i64`; like every other extension it stays a [`Value::Ext`].
//! - Strings that are not valid UTF-8 are converted lossily, as Node does.
//!
//! [`encode`] writes the keys in the order `type`, `data`, `id`, `nsp` (the order in which
//! socket.io's own server builds EVENT, CONNECT and DISCONNECT packets), integers in their
//! smallest form, [`Value::F64`] as float 64 and [`Value::F32`] as float 32, binary values as
//! `bin`, extensions as they are, and strings that are not valid UTF-8 lossily converted.

use bytes::Bytes;
use rmpv::Value;

use crate::packet::{DataRef, Packet, PacketData, PacketRef, PacketType};
use crate::{DecodeError, EncodeError};

/// How deep arrays and maps may nest in the `data` of a decoded packet, `data` itself
/// counting as the first level (the recursion limit of the JSON decoder).
pub const MAX_DEPTH: usize = 128;

/// Encodes a packet as one msgpack message.
///
/// The namespace must start with `/`; ACK needs an id, and only EVENT and ACK may carry one.
/// Binary values are allowed anywhere, CONNECT_ERROR data included.
pub fn encode(packet: &PacketRef<'_>) -> Result<Bytes, EncodeError> {
    let ns = packet.ns;
    if !ns.starts_with('/') {
        return Err(EncodeError::InvalidNamespace(ns.to_owned()));
    }
    let (ty, has_data) = match packet.data {
        DataRef::Connect { .. } => (PacketType::Connect, true),
        DataRef::Disconnect => (PacketType::Disconnect, false),
        DataRef::Event { .. } => (PacketType::Event, true),
        DataRef::Ack(_) => (PacketType::Ack, true),
        DataRef::ConnectError(_) => (PacketType::ConnectError, true),
    };
    match (ty, packet.id) {
        (PacketType::Ack, None) => return Err(EncodeError::MissingAckId),
        (PacketType::Event | PacketType::Ack, _) | (_, None) => {}
        (_, Some(_)) => return Err(EncodeError::UnexpectedAckId),
    }

    let mut w = Writer(Vec::with_capacity(64));
    w.map_len(2 + usize::from(has_data) + usize::from(packet.id.is_some()))?;
    w.str("type")?;
    w.uint(type_number(ty));
    match packet.data {
        DataRef::Connect { sid, pid } => {
            w.str("data")?;
            w.map_len(if pid.is_some() { 2 } else { 1 })?;
            w.str("sid")?;
            w.str(sid)?;
            if let Some(pid) = pid {
                w.str("pid")?;
                w.str(pid)?;
            }
        }
        DataRef::Disconnect => {}
        DataRef::Event { event, args } => {
            w.str("data")?;
            w.array_len(args.len().saturating_add(1))?;
            w.str(event)?;
            args.iter().try_for_each(|arg| w.value(arg))?;
        }
        DataRef::Ack(args) => {
            w.str("data")?;
            w.array_len(args.len())?;
            args.iter().try_for_each(|arg| w.value(arg))?;
        }
        DataRef::ConnectError(value) => {
            w.str("data")?;
            w.value(value)?;
        }
    }
    if let Some(id) = packet.id {
        w.str("id")?;
        w.uint(id);
    }
    w.str("nsp")?;
    w.str(ns)?;
    Ok(Bytes::from(w.0))
}

/// Decodes one msgpack message from a client into a packet.
///
/// The same rules as the JSON decoder apply: EVENT data is a non-empty array whose first item
/// is a string, ACK data an array and ACK needs an id, CONNECT data a map if present,
/// DISCONNECT carries no data, CONNECT_ERROR does, only EVENT and ACK carry an id. In
/// addition `type` and `nsp` are required (the npm decoder requires them too) and the
/// namespace must start with `/`.
///
/// Never panics: malformed MessagePack (truncated, trailing bytes, reserved marker, lengths
/// beyond the end of the message, arrays and maps nested deeper than [`MAX_DEPTH`]) is a
/// [`DecodeError::InvalidMsgpack`]. Announced lengths are never trusted for allocations:
/// memory stays proportional to the length of `data` (each input byte can become at most one
/// 40-byte [`Value`], plus vector growth).
pub fn decode(data: &[u8]) -> Result<Packet, DecodeError> {
    let mut reader = Reader { rest: data };
    let fields = reader.envelope()?;
    if !reader.rest.is_empty() {
        return Err(malformed(format!(
            "{} trailing bytes after the packet",
            reader.rest.len()
        )));
    }

    let ty = match fields.ty {
        None => return Err(invalid("missing packet type")),
        Some(Value::Integer(n)) => match n.as_u64() {
            Some(0) => PacketType::Connect,
            Some(1) => PacketType::Disconnect,
            Some(2) => PacketType::Event,
            Some(3) => PacketType::Ack,
            Some(4) => PacketType::ConnectError,
            Some(5 | 6) => {
                return Err(invalid(
                    "BINARY_EVENT and BINARY_ACK are not used by the msgpack parser",
                ))
            }
            _ => return Err(invalid("invalid packet type")),
        },
        Some(_) => return Err(invalid("invalid packet type")),
    };
    let ns = match fields.nsp {
        None => return Err(invalid("missing namespace")),
        Some(Value::String(s)) => s.into_str().ok_or_else(|| invalid("invalid namespace"))?,
        Some(_) => return Err(invalid("the namespace must be a string")),
    };
    if !ns.starts_with('/') {
        return Err(invalid("the namespace must start with '/'"));
    }
    let id = match fields.id {
        None => None,
        Some(Value::Integer(n)) => Some(n.as_u64().ok_or(DecodeError::InvalidAckId)?),
        Some(_) => return Err(DecodeError::InvalidAckId),
    };

    let data = match ty {
        PacketType::Connect => {
            no_id(id)?;
            match fields.data {
                None => PacketData::Connect(None),
                Some(auth @ Value::Map(_)) => PacketData::Connect(Some(auth)),
                Some(_) => return Err(invalid("CONNECT data must be a map")),
            }
        }
        PacketType::Disconnect => {
            no_id(id)?;
            if fields.data.is_some() {
                return Err(invalid("DISCONNECT carries no data"));
            }
            PacketData::Disconnect
        }
        PacketType::ConnectError => {
            no_id(id)?;
            PacketData::ConnectError(
                fields
                    .data
                    .ok_or_else(|| invalid("CONNECT_ERROR without data"))?,
            )
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let mut items = match fields.data {
                Some(Value::Array(items)) => items.into_iter(),
                _ => return Err(invalid("EVENT data must be an array")),
            };
            let event = match items.next() {
                Some(Value::String(name)) => name
                    .into_str()
                    .ok_or_else(|| invalid("event name must be a string"))?,
                Some(_) => return Err(invalid("event name must be a string")),
                None => return Err(invalid("EVENT data must not be empty")),
            };
            PacketData::Event {
                event,
                args: items.collect(),
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            if id.is_none() {
                return Err(DecodeError::MissingAckId);
            }
            match fields.data {
                Some(Value::Array(args)) => PacketData::Ack(args),
                _ => return Err(invalid("ACK data must be an array")),
            }
        }
    };
    Ok(Packet { ns, id, data })
}

fn type_number(ty: PacketType) -> u64 {
    match ty {
        PacketType::Connect => 0,
        PacketType::Disconnect => 1,
        PacketType::Event => 2,
        PacketType::Ack => 3,
        PacketType::ConnectError => 4,
        PacketType::BinaryEvent => 5,
        PacketType::BinaryAck => 6,
    }
}

fn invalid(message: &str) -> DecodeError {
    DecodeError::InvalidPayload(message.to_owned())
}

fn malformed(message: impl Into<String>) -> DecodeError {
    DecodeError::InvalidMsgpack(message.into())
}

fn no_id(id: Option<u64>) -> Result<(), DecodeError> {
    match id {
        Some(_) => Err(DecodeError::InvalidAckId),
        None => Ok(()),
    }
}

fn too_large() -> EncodeError {
    EncodeError::Serialize("value too large for MessagePack".to_owned())
}

/// Appends MessagePack to a buffer.
/// Encodes one value as MessagePack, as the npm encoder would (shortest forms; floats as
/// float64 unless they are `F32`).
pub fn write_value(value: &Value) -> Result<Bytes, EncodeError> {
    let mut w = Writer(Vec::with_capacity(64));
    w.value(value)?;
    Ok(Bytes::from(w.0))
}

/// Appends MessagePack to a buffer (its scalar writers are shared with [`crate::classic`]).
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    /// A marker followed by a length, in the smallest of the three forms whose markers are
    /// given (8, 16, 32 bits; `None` where the form does not exist), or `fix | len` below
    /// `fix_limit`.
    fn header(
        &mut self,
        len: usize,
        fix: Option<(u8, usize)>,
        markers: [Option<u8>; 3],
    ) -> Result<(), EncodeError> {
        let len32 = u32::try_from(len).map_err(|_| too_large())?;
        if let Some((fix, limit)) = fix {
            if len < limit {
                // len < limit <= 32, so it fits in the low bits.
                self.0.push(fix | len32.to_be_bytes()[3]);
                return Ok(());
            }
        }
        match markers {
            [Some(m8), _, _] if len <= 0xff => {
                self.0.extend_from_slice(&[m8, len32.to_be_bytes()[3]]);
            }
            [_, Some(m16), _] if len <= 0xffff => {
                self.0.push(m16);
                self.0.extend_from_slice(&len32.to_be_bytes()[2..]);
            }
            [_, _, Some(m32)] => {
                self.0.push(m32);
                self.0.extend_from_slice(&len32.to_be_bytes());
            }
            _ => return Err(too_large()),
        }
        Ok(())
    }

    pub(crate) fn map_len(&mut self, len: usize) -> Result<(), EncodeError> {
        self.header(len, Some((0x80, 16)), [None, Some(0xde), Some(0xdf)])
    }

    pub(crate) fn array_len(&mut self, len: usize) -> Result<(), EncodeError> {
        self.header(len, Some((0x90, 16)), [None, Some(0xdc), Some(0xdd)])
    }

    pub(crate) fn str(&mut self, s: &str) -> Result<(), EncodeError> {
        self.header(
            s.len(),
            Some((0xa0, 32)),
            [Some(0xd9), Some(0xda), Some(0xdb)],
        )?;
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn bin(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        self.header(data.len(), None, [Some(0xc4), Some(0xc5), Some(0xc6)])?;
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn ext(&mut self, ty: i8, data: &[u8]) -> Result<(), EncodeError> {
        let fixed = match data.len() {
            1 => Some(0xd4),
            2 => Some(0xd5),
            4 => Some(0xd6),
            8 => Some(0xd7),
            16 => Some(0xd8),
            _ => None,
        };
        match fixed {
            Some(marker) => self.0.push(marker),
            None => self.header(data.len(), None, [Some(0xc7), Some(0xc8), Some(0xc9)])?,
        }
        self.0.extend_from_slice(&ty.to_be_bytes());
        self.0.extend_from_slice(data);
        Ok(())
    }

    pub(crate) fn uint(&mut self, n: u64) {
        if n < 0x80 {
            self.0.push(n.to_be_bytes()[7]);
        } else if let Ok(n) = u8::try_from(n) {
            self.0.extend_from_slice(&[0xcc, n]);
        } else if let Ok(n) = u16::try_from(n) {
            self.0.push(0xcd);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.0.push(0xce);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else {
            self.0.push(0xcf);
            self.0.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A negative integer (non-negative ones go through [`Writer::uint`]).
    pub(crate) fn negative(&mut self, n: i64) {
        if n >= -32 {
            // Negative fixint: the low byte of the two's complement, 0xe0..=0xff.
            self.0.push(n.to_be_bytes()[7]);
        } else if let Ok(n) = i8::try_from(n) {
            self.0.push(0xd0);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = i16::try_from(n) {
            self.0.push(0xd1);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = i32::try_from(n) {
            self.0.push(0xd2);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else {
            self.0.push(0xd3);
            self.0.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// At least as many bytes as [`Writer::value`] writes for `value` (a string with invalid
    /// UTF-8 may grow by its replacement characters: then the buffer grows once more): sizing
    /// the buffer with it spares the copies of growing it value by value.
    pub(crate) fn size_hint(value: &Value) -> usize {
        // the longest header of each kind: marker and a 32-bit length
        const HEADER: usize = 5;
        match value {
            Value::Nil | Value::Boolean(_) => 1,
            Value::Integer(_) | Value::F64(_) => 9,
            Value::F32(_) => 5,
            Value::String(s) => HEADER + s.as_bytes().len(),
            Value::Binary(data) => HEADER + data.len(),
            Value::Ext(_, data) => HEADER + 1 + data.len(),
            Value::Array(items) => HEADER + items.iter().map(Writer::size_hint).sum::<usize>(),
            Value::Map(entries) => {
                HEADER
                    + entries
                        .iter()
                        .map(|(k, v)| Writer::size_hint(k) + Writer::size_hint(v))
                        .sum::<usize>()
            }
        }
    }

    pub(crate) fn value(&mut self, value: &Value) -> Result<(), EncodeError> {
        match value {
            Value::Nil => self.0.push(0xc0),
            Value::Boolean(false) => self.0.push(0xc2),
            Value::Boolean(true) => self.0.push(0xc3),
            Value::Integer(n) => match (n.as_u64(), n.as_i64()) {
                (Some(n), _) => self.uint(n),
                (None, Some(n)) => self.negative(n),
                (None, None) => return Err(EncodeError::Serialize("integer out of range".into())),
            },
            Value::F32(f) => {
                self.0.push(0xca);
                self.0.extend_from_slice(&f.to_be_bytes());
            }
            Value::F64(f) => {
                self.0.push(0xcb);
                self.0.extend_from_slice(&f.to_be_bytes());
            }
            Value::String(s) => match s.as_str() {
                Some(s) => self.str(s)?,
                None => self.str(&String::from_utf8_lossy(s.as_bytes()))?,
            },
            Value::Binary(data) => self.bin(data)?,
            Value::Array(items) => {
                self.array_len(items.len())?;
                items.iter().try_for_each(|item| self.value(item))?;
            }
            Value::Map(entries) => {
                self.map_len(entries.len())?;
                for (key, value) in entries {
                    self.value(key)?;
                    self.value(value)?;
                }
            }
            Value::Ext(ty, data) => self.ext(*ty, data)?,
        }
        Ok(())
    }
}

/// Reads one MessagePack value that fills `data` exactly, with the readings of notepack.io
/// described in the module documentation (`undefined` is nil in an array, a map entry holding
/// it is dropped, and so is the value itself at the top level: it reads as nil; ext 8/16/32 of
/// type 0 is binary) and the same limits as [`decode`]: arrays and maps nested at most
/// [`MAX_DEPTH`] levels (the value itself counting as the first), lengths never trusted for
/// allocations, no trailing bytes. Used by [`crate::classic`] and [`crate::cluster`].
pub fn read_value(data: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader { rest: data };
    let value = match reader.item(0)? {
        Item::Value(value) => value,
        Item::Undefined => Value::Nil,
    };
    if !reader.rest.is_empty() {
        return Err(malformed(format!(
            "{} trailing bytes after the value",
            reader.rest.len()
        )));
    }
    Ok(value)
}

/// A decoded item: a value, or JavaScript's `undefined` (fixext 1 of type 0).
enum Item {
    Value(Value),
    Undefined,
}

impl Item {
    fn into_option(self) -> Option<Value> {
        match self {
            Item::Value(value) => Some(value),
            Item::Undefined => None,
        }
    }
}

/// The fields of the packet map that matter (`undefined` ones count as absent).
#[derive(Default)]
struct Fields {
    ty: Option<Value>,
    nsp: Option<Value>,
    data: Option<Value>,
    id: Option<Value>,
}

/// Reads MessagePack from a slice, never past its end.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

/// The piece by piece reading a decoder of a known layout needs ([`crate::cluster`]'s
/// broadcasts): each returns `None` where the next bytes are not what was asked for, or do not
/// fit in what is left.
impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { rest: data }
    }

    pub(crate) fn is_at_end(&self) -> bool {
        self.rest.is_empty()
    }

    /// Consumes the next bytes if they are exactly `bytes`.
    pub(crate) fn literal(&mut self, bytes: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(bytes)?;
        Some(())
    }

    /// A string, in any of the four string forms, that is valid UTF-8.
    pub(crate) fn next_str(&mut self) -> Option<&'a str> {
        let marker = self.byte().ok()?;
        let len = match marker {
            0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => self.len::<1>().ok()?,
            0xda => self.len::<2>().ok()?,
            0xdb => self.len::<4>().ok()?,
            _ => return None,
        };
        std::str::from_utf8(self.take(len).ok()?).ok()
    }

    /// The length of an array, in any of the three array forms.
    pub(crate) fn next_array_len(&mut self) -> Option<usize> {
        let marker = self.byte().ok()?;
        let len = match marker {
            0x90..=0x9f => usize::from(marker & 0x0f),
            0xdc => self.len::<2>().ok()?,
            0xdd => self.len::<4>().ok()?,
            _ => return None,
        };
        // each item takes at least one byte
        (len <= self.rest.len()).then_some(len)
    }

    /// An unsigned integer, in any of the five unsigned forms.
    pub(crate) fn next_uint(&mut self) -> Option<u64> {
        let marker = self.byte().ok()?;
        Some(match marker {
            0x00..=0x7f => u64::from(marker),
            0xcc => u64::from(u8::from_be_bytes(self.take_array().ok()?)),
            0xcd => u64::from(u16::from_be_bytes(self.take_array().ok()?)),
            0xce => u64::from(u32::from_be_bytes(self.take_array().ok()?)),
            0xcf => u64::from_be_bytes(self.take_array().ok()?),
            _ => return None,
        })
    }

    /// A value as an array item `depth` levels down reads it (JavaScript's `undefined` is nil).
    pub(crate) fn next_item(&mut self, depth: usize) -> Option<Value> {
        match self.item(depth).ok()? {
            Item::Value(value) => Some(value),
            Item::Undefined => Some(Value::Nil),
        }
    }
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(malformed("unexpected end of message"));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// A big-endian length of `N` bytes (1, 2 or 4).
    fn len<const N: usize>(&mut self) -> Result<usize, DecodeError> {
        let bytes = self.take_array::<N>()?;
        let n = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
        usize::try_from(n).map_err(|_| malformed("length out of range"))
    }

    /// The packet map.
    fn envelope(&mut self) -> Result<Fields, DecodeError> {
        let marker = self.byte()?;
        let len = match marker {
            0x80..=0x8f => usize::from(marker & 0x0f),
            0xde => self.len::<2>()?,
            0xdf => self.len::<4>()?,
            _ => return Err(invalid("a packet must be a map")),
        };
        if len > self.rest.len() / 2 {
            return Err(malformed("map longer than the message"));
        }
        let mut fields = Fields::default();
        for _ in 0..len {
            let key = self.item(0)?;
            let value = self.item(0)?.into_option();
            let slot = match &key {
                Item::Value(Value::String(key)) => match key.as_str() {
                    Some("type") => &mut fields.ty,
                    Some("nsp") => &mut fields.nsp,
                    Some("data") => &mut fields.data,
                    Some("id") => &mut fields.id,
                    _ => continue,
                },
                _ => continue,
            };
            *slot = value;
        }
        Ok(fields)
    }

    /// One item inside `depth` levels of arrays and maps (not counting the packet map).
    fn item(&mut self, depth: usize) -> Result<Item, DecodeError> {
        let marker = self.byte()?;
        let value = match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(marker & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(marker & 0x1f))?,
            0xc0 => Value::Nil,
            0xc1 => return Err(malformed("reserved marker 0xc1")),
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 => {
                let len = self.len::<1>()?;
                Value::Binary(self.take(len)?.to_vec())
            }
            0xc5 => {
                let len = self.len::<2>()?;
                Value::Binary(self.take(len)?.to_vec())
            }
            0xc6 => {
                let len = self.len::<4>()?;
                Value::Binary(self.take(len)?.to_vec())
            }
            0xc7 => {
                let len = self.len::<1>()?;
                self.ext(len)?
            }
            0xc8 => {
                let len = self.len::<2>()?;
                self.ext(len)?
            }
            0xc9 => {
                let len = self.len::<4>()?;
                self.ext(len)?
            }
            0xca => Value::F32(f32::from_be_bytes(self.take_array()?)),
            0xcb => Value::F64(f64::from_be_bytes(self.take_array()?)),
            0xcc => Value::from(u8::from_be_bytes(self.take_array()?)),
            0xcd => Value::from(u16::from_be_bytes(self.take_array()?)),
            0xce => Value::from(u32::from_be_bytes(self.take_array()?)),
            0xcf => Value::from(u64::from_be_bytes(self.take_array()?)),
            0xd0 => Value::from(i8::from_be_bytes(self.take_array()?)),
            0xd1 => Value::from(i16::from_be_bytes(self.take_array()?)),
            0xd2 => Value::from(i32::from_be_bytes(self.take_array()?)),
            0xd3 => Value::from(i64::from_be_bytes(self.take_array()?)),
            0xd4 => {
                let [ty, byte] = self.take_array()?;
                if ty == 0 {
                    // notepack.io's `undefined`.
                    return Ok(Item::Undefined);
                }
                Value::Ext(i8::from_be_bytes([ty]), vec![byte])
            }
            0xd5 => self.fixext(2)?,
            0xd6 => self.fixext(4)?,
            0xd7 => self.fixext(8)?,
            0xd8 => self.fixext(16)?,
            0xd9 => {
                let len = self.len::<1>()?;
                self.str(len)?
            }
            0xda => {
                let len = self.len::<2>()?;
                self.str(len)?
            }
            0xdb => {
                let len = self.len::<4>()?;
                self.str(len)?
            }
            0xdc => {
                let len = self.len::<2>()?;
                self.array(len, depth)?
            }
            0xdd => {
                let len = self.len::<4>()?;
                self.array(len, depth)?
            }
            0xde => {
                let len = self.len::<2>()?;
                self.map(len, depth)?
            }
            0xdf => {
                let len = self.len::<4>()?;
                self.map(len, depth)?
            }
            0xe0..=0xff => Value::from(i8::from_be_bytes([marker])),
        };
        Ok(Item::Value(value))
    }

    fn str(&mut self, len: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(len)?;
        Ok(Value::from(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// The type and data of an ext 8/16/32: type 0 is an ArrayBuffer for notepack.io.
    fn ext(&mut self, len: usize) -> Result<Value, DecodeError> {
        let ty = i8::from_be_bytes(self.take_array()?);
        let data = self.take(len)?.to_vec();
        Ok(if ty == 0 {
            Value::Binary(data)
        } else {
            Value::Ext(ty, data)
        })
    }

    fn fixext(&mut self, len: usize) -> Result<Value, DecodeError> {
        let ty = i8::from_be_bytes(self.take_array()?);
        Ok(Value::Ext(ty, self.take(len)?.to_vec()))
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(malformed(format!(
                "arrays and maps nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(depth + 1)
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let depth = self.enter(depth)?;
        // Each item takes at least one byte: refuse early what cannot be there, and do not
        // trust the announced length for the allocation.
        if len > self.rest.len() {
            return Err(malformed("array longer than the message"));
        }
        let mut items = Vec::with_capacity(len.min(16));
        for _ in 0..len {
            items.push(match self.item(depth)? {
                Item::Value(value) => value,
                Item::Undefined => Value::Nil,
            });
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let depth = self.enter(depth)?;
        if len > self.rest.len() / 2 {
            return Err(malformed("map longer than the message"));
        }
        let mut entries = Vec::with_capacity(len.min(16));
        for _ in 0..len {
            let key = match self.item(depth)? {
                Item::Value(key) => key,
                // A JavaScript object key is a string.
                Item::Undefined => Value::from("undefined"),
            };
            if let Item::Value(value) = self.item(depth)? {
                entries.push((key, value));
            }
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests;
