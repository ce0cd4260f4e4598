//! Decoding the text form of a packet, and completing binary packets with their attachments.

use bytes::Bytes;
use rmpv::Value;

use super::{Packet, PacketData, PacketType};
use crate::DecodeError;

/// Result of decoding a text packet.
#[derive(Debug)]
pub enum Decoded {
    /// The packet is complete.
    Complete(Packet),
    /// A binary packet whose attachments must be [pushed](PartialPacket::push) next.
    Partial(PartialPacket),
}

/// A binary packet waiting for its attachments.
#[derive(Debug)]
pub struct PartialPacket {
    ns: String,
    id: Option<u64>,
    /// `Event` or `Ack`, placeholders still in place.
    data: PacketData,
    expected: usize,
    attachments: Vec<Bytes>,
}

impl PartialPacket {
    /// Adds the next attachment; returns the complete packet once all have arrived
    /// (placeholders replaced by `Value::Binary`, in `num` order).
    ///
    /// Pushing after the packet was completed is an [`DecodeError::UnexpectedAttachment`].
    pub fn push(&mut self, attachment: Bytes) -> Result<Option<Packet>, DecodeError> {
        if self.attachments.len() >= self.expected {
            return Err(DecodeError::UnexpectedAttachment);
        }
        self.attachments.push(attachment);
        if self.attachments.len() < self.expected {
            return Ok(None);
        }
        let mut data = std::mem::replace(&mut self.data, PacketData::Disconnect);
        match &mut data {
            PacketData::Event { args, .. } | PacketData::Ack(args) => {
                for arg in args.iter_mut() {
                    fill_placeholders(arg, &self.attachments)?;
                }
            }
            _ => {}
        }
        Ok(Some(Packet {
            ns: std::mem::take(&mut self.ns),
            id: self.id,
            data,
        }))
    }

    /// How many attachments are still expected.
    pub fn remaining(&self) -> usize {
        self.expected.saturating_sub(self.attachments.len())
    }
}

/// Decodes the Socket.IO text form of a packet (without the Engine.IO `4` prefix).
///
/// `max_attachments` bounds the attachment count announced by a binary packet (error when
/// exceeded). Placeholders are checked here already: each must name a distinct attachment
/// below the announced count.
pub fn decode(text: &str, max_attachments: usize) -> Result<Decoded, DecodeError> {
    let first = text.chars().next().ok_or(DecodeError::Empty)?;
    let ty = PacketType::from_char(first).ok_or(DecodeError::UnknownPacketType(first))?;
    // The type is an ASCII digit, one byte long.
    let mut rest = &text[first.len_utf8()..];

    let mut expected = 0;
    if ty.is_binary() {
        let (digits, after) = split_digits(rest);
        let after = after
            .strip_prefix('-')
            .ok_or(DecodeError::InvalidAttachmentCount)?;
        let count = digits
            .parse::<usize>()
            .map_err(|_| DecodeError::InvalidAttachmentCount)?;
        if count > max_attachments {
            return Err(DecodeError::TooManyAttachments {
                count,
                max: max_attachments,
            });
        }
        expected = count;
        rest = after;
    }

    let mut ns = "/";
    if rest.starts_with('/') {
        match rest.find(',') {
            Some(comma) => {
                ns = &rest[..comma];
                rest = &rest[comma + 1..];
            }
            None => {
                ns = rest;
                rest = "";
            }
        }
    }

    let (digits, after) = split_digits(rest);
    let id = if digits.is_empty() {
        None
    } else {
        Some(
            digits
                .parse::<u64>()
                .map_err(|_| DecodeError::InvalidAckId)?,
        )
    };
    rest = after;

    let json = if rest.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(rest)
                .map_err(|e| DecodeError::InvalidJson(e.to_string()))?,
        )
    };

    let data = match ty {
        PacketType::Connect => {
            no_id(id)?;
            match json {
                None => PacketData::Connect(None),
                Some(auth @ Value::Map(_)) => PacketData::Connect(Some(auth)),
                Some(_) => return Err(invalid("CONNECT data must be an object")),
            }
        }
        PacketType::Disconnect => {
            no_id(id)?;
            if json.is_some() {
                return Err(invalid("DISCONNECT carries no data"));
            }
            PacketData::Disconnect
        }
        PacketType::ConnectError => {
            no_id(id)?;
            PacketData::ConnectError(json.ok_or_else(|| invalid("CONNECT_ERROR without data"))?)
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let mut items = match json {
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
            match json {
                Some(Value::Array(args)) => PacketData::Ack(args),
                _ => return Err(invalid("ACK data must be an array")),
            }
        }
    };

    let packet = Packet {
        ns: ns.to_owned(),
        id,
        data,
    };
    if !ty.is_binary() {
        return Ok(Decoded::Complete(packet));
    }

    let mut used = vec![false; expected];
    if let PacketData::Event { args, .. } | PacketData::Ack(args) = &packet.data {
        for arg in args {
            check_placeholders(arg, &mut used)?;
        }
    }
    if expected == 0 {
        return Ok(Decoded::Complete(packet));
    }
    Ok(Decoded::Partial(PartialPacket {
        ns: packet.ns,
        id: packet.id,
        data: packet.data,
        expected,
        // The count is bounded by the caller's maximum; still, grow on demand.
        attachments: Vec::with_capacity(expected.min(16)),
    }))
}

fn invalid(message: &str) -> DecodeError {
    DecodeError::InvalidPayload(message.to_owned())
}

fn no_id(id: Option<u64>) -> Result<(), DecodeError> {
    match id {
        Some(_) => Err(DecodeError::InvalidAckId),
        None => Ok(()),
    }
}

/// Splits `s` after its leading ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    s.split_at(end)
}

/// If `entries` is a placeholder (`_placeholder` is `true`), its attachment index.
///
/// `Some(None)` is a placeholder whose `num` is missing or not a non-negative integer.
fn placeholder_num(entries: &[(Value, Value)]) -> Option<Option<usize>> {
    let is_placeholder = entries
        .iter()
        .any(|(k, v)| k.as_str() == Some("_placeholder") && *v == Value::Boolean(true));
    if !is_placeholder {
        return None;
    }
    let num = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("num"))
        .and_then(|(_, v)| v.as_u64())
        .and_then(|n| usize::try_from(n).ok());
    Some(num)
}

/// Checks that every placeholder in `value` names a distinct attachment below `used.len()`.
fn check_placeholders(value: &Value, used: &mut [bool]) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| check_placeholders(v, used)),
        Value::Map(entries) => match placeholder_num(entries) {
            Some(num) => {
                let slot = num
                    .and_then(|n| used.get_mut(n))
                    .ok_or(DecodeError::InvalidPlaceholder)?;
                if *slot {
                    return Err(DecodeError::InvalidPlaceholder);
                }
                *slot = true;
                Ok(())
            }
            None => entries
                .iter()
                .try_for_each(|(_, v)| check_placeholders(v, used)),
        },
        _ => Ok(()),
    }
}

/// Replaces every placeholder in `value` with its attachment.
fn fill_placeholders(value: &mut Value, attachments: &[Bytes]) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| fill_placeholders(v, attachments)),
        Value::Map(entries) => match placeholder_num(entries) {
            Some(num) => {
                let data = num
                    .and_then(|n| attachments.get(n))
                    .ok_or(DecodeError::InvalidPlaceholder)?;
                *value = Value::Binary(data.to_vec());
                Ok(())
            }
            None => entries
                .iter_mut()
                .try_for_each(|(_, v)| fill_placeholders(v, attachments)),
        },
        _ => Ok(()),
    }
}
