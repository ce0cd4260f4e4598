//! The long-polling payloads of Engine.IO v3, spoken by `socket.io-client` 2.x.
//!
//! v3 packets are the v4 ones; only their framing in a polling body differs:
//!
//! - a text payload is `<length>:<packet>` records one after another, the length counted in
//!   UTF-16 code units (as JavaScript counts a string's length); a binary packet travels in it as
//!   `b4` followed by its base64 (what a client that asked `b64=1` sends and receives);
//! - a binary payload (`application/octet-stream`, from clients with XHR2) is records of one
//!   kind byte (0 text, 1 binary), the length as decimal digits one per byte, `0xff`, then the
//!   packet: UTF-8 text, or for binary the type byte (4) and the data; lengths count bytes.
//!
//! ```
//! use volley_protocol::engine::{v3, Item, Packet};
//!
//! let items: Vec<_> = v3::decode_payload("2:423:4é☃6:b4AQID").collect();
//! assert_eq!(items[0], Ok(Item::Text(Packet::Message("2"))));
//! assert_eq!(items[1], Ok(Item::Text(Packet::Message("é☃"))));
//! assert_eq!(items[2], Ok(Item::Binary(vec![1u8, 2, 3].into())));
//!
//! let mut out = String::new();
//! v3::write_text_record(&mut out, "4é☃");
//! v3::write_base64_record(&mut out, &[1, 2, 3]);
//! assert_eq!(out, "3:4é☃6:b4AQID");
//! ```

use base64::Engine as _;
use bytes::Bytes;

use super::{decode_text, Item};
use crate::DecodeError;

/// Digits a length prefix may have: enough for any payload a server accepts (lengths are bounded
/// by the body, itself bounded by the server's `maxPayload`).
const MAX_DIGITS: usize = 10;

/// Decodes a text payload record by record; a malformed record ends it with an error.
///
/// A record of length 0 is skipped, as the reference parser does; an empty body is an error
/// ([`DecodeError::Empty`]).
pub fn decode_payload(body: &str) -> impl Iterator<Item = Result<Item<'_>, DecodeError>> + '_ {
    let mut rest = Some(body).filter(|b| !b.is_empty());
    let mut first = true;
    std::iter::from_fn(move || {
        if std::mem::take(&mut first) && rest.is_none() {
            return Some(Err(DecodeError::Empty));
        }
        loop {
            let body = rest.take()?;
            if body.is_empty() {
                return None;
            }
            match split_text_record(body) {
                Ok(("", tail)) => rest = Some(tail),
                Ok((record, tail)) => {
                    rest = Some(tail);
                    return Some(decode_text_record(record));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    })
}

/// `<length>:` then `length` UTF-16 code units: the record and what follows it.
fn split_text_record(body: &str) -> Result<(&str, &str), DecodeError> {
    let colon = body
        .bytes()
        .take(MAX_DIGITS + 1)
        .position(|b| b == b':')
        .ok_or(DecodeError::InvalidLength)?;
    let digits = &body[..colon];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::InvalidLength);
    }
    let units: usize = digits.parse().map_err(|_| DecodeError::InvalidLength)?;
    let data = &body[colon + 1..];
    let mut counted = 0;
    let mut end = data.len();
    for (at, c) in data.char_indices() {
        if counted >= units {
            end = at;
            break;
        }
        counted += c.len_utf16();
    }
    // a length that ends inside a surrogate pair, or past the body, is malformed
    if counted != units {
        return Err(DecodeError::InvalidLength);
    }
    Ok(data.split_at(end))
}

fn decode_text_record(record: &str) -> Result<Item<'_>, DecodeError> {
    match record.strip_prefix('b') {
        // only a message carries data worth sending as binary
        Some(encoded) => match encoded.strip_prefix('4') {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map(|data| Item::Binary(Bytes::from(data)))
                .map_err(|_| DecodeError::InvalidBase64),
            None => Err(DecodeError::InvalidBase64),
        },
        None => decode_text(record).map(Item::Text),
    }
}

/// Decodes a binary payload (`application/octet-stream`) record by record; a malformed record
/// ends it with an error. Text records are borrowed from `body`, binary ones copied out of it.
pub fn decode_binary_payload(
    body: &[u8],
) -> impl Iterator<Item = Result<Item<'_>, DecodeError>> + '_ {
    let mut rest = body;
    let mut first = true;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return std::mem::take(&mut first).then_some(Err(DecodeError::Empty));
        }
        first = false;
        match split_binary_record(rest) {
            Ok((kind, record, tail)) => {
                rest = tail;
                Some(decode_binary_record(kind, record))
            }
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
        }
    })
}

/// The kind byte, the record and what follows it.
fn split_binary_record(body: &[u8]) -> Result<(u8, &[u8], &[u8]), DecodeError> {
    let (&kind, tail) = body.split_first().ok_or(DecodeError::Empty)?;
    if kind > 1 {
        return Err(DecodeError::InvalidLength);
    }
    let end = tail
        .iter()
        .take(MAX_DIGITS + 1)
        .position(|&b| b == 0xff)
        .filter(|&n| n > 0)
        .ok_or(DecodeError::InvalidLength)?;
    let mut len: usize = 0;
    for &digit in &tail[..end] {
        if digit > 9 {
            return Err(DecodeError::InvalidLength);
        }
        len = len * 10 + usize::from(digit);
    }
    let data = &tail[end + 1..];
    if len > data.len() {
        return Err(DecodeError::InvalidLength);
    }
    let (record, rest) = data.split_at(len);
    Ok((kind, record, rest))
}

fn decode_binary_record(kind: u8, record: &[u8]) -> Result<Item<'_>, DecodeError> {
    if kind == 0 {
        let text = std::str::from_utf8(record)
            .map_err(|_| DecodeError::InvalidPayload("text record is not UTF-8".to_owned()))?;
        return decode_text(text).map(Item::Text);
    }
    match record.split_first() {
        Some((4, data)) => Ok(Item::Binary(Bytes::copy_from_slice(data))),
        Some((&ty, _)) => Err(DecodeError::UnknownPacketType(char::from(b'0' + ty.min(9)))),
        None => Err(DecodeError::Empty),
    }
}

/// Appends one text packet (type digit included) as a record of a text payload.
pub fn write_text_record(out: &mut String, packet: &str) {
    let units: usize = if packet.is_ascii() {
        packet.len()
    } else {
        packet.chars().map(char::len_utf16).sum()
    };
    out.push_str(itoa::Buffer::new().format(units));
    out.push(':');
    out.push_str(packet);
}

/// Appends one binary message as a record of a text payload: `<length>:b4<base64>`.
pub fn write_base64_record(out: &mut String, data: &[u8]) {
    let encoded = data.len().div_ceil(3) * 4;
    out.push_str(itoa::Buffer::new().format(encoded + 2));
    out.push_str(":b4");
    base64::engine::general_purpose::STANDARD.encode_string(data, out);
}

/// Appends one text packet as a record of a binary payload.
pub fn write_binary_text_record(out: &mut Vec<u8>, packet: &str) {
    write_binary_prefix(out, 0, packet.len());
    out.extend_from_slice(packet.as_bytes());
}

/// Appends one binary message as a record of a binary payload.
pub fn write_binary_data_record(out: &mut Vec<u8>, data: &[u8]) {
    write_binary_prefix(out, 1, data.len() + 1);
    out.push(4);
    out.extend_from_slice(data);
}

fn write_binary_prefix(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    out.extend(
        itoa::Buffer::new()
            .format(len)
            .bytes()
            .map(|digit| digit - b'0'),
    );
    out.push(0xff);
}

#[cfg(test)]
mod tests;
