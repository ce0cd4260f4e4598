//! Engine.IO v4 packets in their text form, and the long-polling payload; [`v3`] holds the
//! payload framing of Engine.IO v3.
//!
//! A text packet is one type digit followed by its data (`4hello` is a MESSAGE carrying
//! `hello`). A long-polling body holds several packets separated by [`SEPARATOR`]; binary
//! packets travel in it as `b` followed by their base64 encoding.

use std::fmt::Write as _;

use base64::Engine as _;
use bytes::Bytes;

use crate::DecodeError;

pub mod v3;

/// The record separator between packets of a long-polling payload.
pub const SEPARATOR: char = '\u{1e}';

/// The type of an Engine.IO packet; the discriminant is its wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Sent by the server to open a session (carries the handshake).
    Open = 0,
    /// Closes the session.
    Close = 1,
    /// Heartbeat request (or `probe` during an upgrade).
    Ping = 2,
    /// Heartbeat answer.
    Pong = 3,
    /// Application data.
    Message = 4,
    /// Completes the upgrade to WebSocket.
    Upgrade = 5,
    /// Does nothing; used to release a pending long-polling request.
    Noop = 6,
}

impl PacketType {
    /// The digit written on the wire for this type.
    pub fn as_char(self) -> char {
        match self {
            PacketType::Open => '0',
            PacketType::Close => '1',
            PacketType::Ping => '2',
            PacketType::Pong => '3',
            PacketType::Message => '4',
            PacketType::Upgrade => '5',
            PacketType::Noop => '6',
        }
    }

    /// The type written as `c` on the wire, if any.
    pub fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '0' => PacketType::Open,
            '1' => PacketType::Close,
            '2' => PacketType::Ping,
            '3' => PacketType::Pong,
            '4' => PacketType::Message,
            '5' => PacketType::Upgrade,
            '6' => PacketType::Noop,
            _ => return None,
        })
    }
}

/// A text packet from a client, borrowing its input.
///
/// Ping and Pong carry their payload (`""` or `"probe"`); data following the type of an
/// Open, Close, Upgrade or Noop packet is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0`.
    Open,
    /// `1`.
    Close,
    /// `2` followed by an optional payload.
    Ping(&'a str),
    /// `3` followed by an optional payload.
    Pong(&'a str),
    /// `4` followed by the message text.
    Message(&'a str),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

impl Packet<'_> {
    /// The type of this packet.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Appends the text form of this packet to `out` (no separator is written).
    pub fn write_to(&self, out: &mut String) {
        out.push(self.packet_type().as_char());
        match self {
            Packet::Ping(data) | Packet::Pong(data) | Packet::Message(data) => out.push_str(data),
            Packet::Open | Packet::Close | Packet::Upgrade | Packet::Noop => {}
        }
    }
}

/// Decodes one text packet: `"4hello"` gives `Message("hello")`.
///
/// An empty frame or an unknown type digit (`""`, `"abc"`, `"9"`) is an error.
pub fn decode_text(frame: &str) -> Result<Packet<'_>, DecodeError> {
    let mut chars = frame.chars();
    let first = chars.next().ok_or(DecodeError::Empty)?;
    let ty = PacketType::from_char(first).ok_or(DecodeError::UnknownPacketType(first))?;
    let data = chars.as_str();
    Ok(match ty {
        PacketType::Open => Packet::Open,
        PacketType::Close => Packet::Close,
        PacketType::Ping => Packet::Ping(data),
        PacketType::Pong => Packet::Pong(data),
        PacketType::Message => Packet::Message(data),
        PacketType::Upgrade => Packet::Upgrade,
        PacketType::Noop => Packet::Noop,
    })
}

/// One record of a long-polling payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A text packet.
    Text(Packet<'a>),
    /// A binary message (decoded from its base64 record).
    Binary(Bytes),
}

/// Splits a long-polling body on the record separator 0x1e; a record starting with 'b' is
/// base64 (standard alphabet, padded) binary.
///
/// Each record is decoded lazily; an empty body yields a single [`DecodeError::Empty`].
pub fn decode_payload(body: &str) -> impl Iterator<Item = Result<Item<'_>, DecodeError>> + '_ {
    body.split(SEPARATOR).map(decode_record)
}

fn decode_record(record: &str) -> Result<Item<'_>, DecodeError> {
    match record.strip_prefix('b') {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|data| Item::Binary(Bytes::from(data)))
            .map_err(|_| DecodeError::InvalidBase64),
        None => decode_text(record).map(Item::Text),
    }
}

/// Appends one binary record ('b' + base64) to a polling payload being built.
///
/// The separator between records is not written: push [`SEPARATOR`] first when `out`
/// already holds a record.
pub fn write_binary_record(out: &mut String, data: &[u8]) {
    out.push('b');
    base64::engine::general_purpose::STANDARD.encode_string(data, out);
}

/// The handshake sent in the OPEN packet that starts a session.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    /// The session id.
    pub sid: &'a str,
    /// The transports the client may upgrade to (`["websocket"]` on polling, `[]` on WebSocket).
    pub upgrades: &'a [&'a str],
    /// Interval between two pings, in milliseconds.
    pub ping_interval_ms: u64,
    /// How long the server waits for a pong, in milliseconds.
    pub ping_timeout_ms: u64,
    /// The largest payload the server accepts, in bytes.
    pub max_payload: u64,
}

impl Handshake<'_> {
    /// The handshake (OPEN) packet text:
    /// `0{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}` with
    /// exactly these keys in this order.
    pub fn to_packet(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("0{\"sid\":");
        push_json_str(&mut out, self.sid);
        out.push_str(",\"upgrades\":[");
        for (i, upgrade) in self.upgrades.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(&mut out, upgrade);
        }
        // writing to a String cannot fail
        let _ = write!(
            out,
            "],\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            self.ping_interval_ms, self.ping_timeout_ms, self.max_payload
        );
        out
    }
}

/// Appends `s` as a quoted, escaped JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    // Only `"`, `\` and control characters are escaped in JSON: a string without them (every
    // session id) is copied as it is.
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // Serializing a `str` to JSON cannot fail; the fallback is never taken.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests;
