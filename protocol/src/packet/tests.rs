#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use rmpv::Value;

use super::*;
use crate::{DecodeError, EncodeError};

mod conformance;
mod encoding;
mod malformed;
mod robustness;
mod round_trip;

pub(super) const MAX: usize = 10;

pub(super) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

pub(super) fn complete(text: &str) -> Packet {
    match decode(text, MAX) {
        Ok(Decoded::Complete(packet)) => packet,
        other => panic!("{text:?} did not decode to a complete packet: {other:?}"),
    }
}

pub(super) fn partial(text: &str) -> PartialPacket {
    match decode(text, MAX) {
        Ok(Decoded::Partial(partial)) => partial,
        other => panic!("{text:?} did not decode to a partial packet: {other:?}"),
    }
}

pub(super) fn decode_err(text: &str) -> DecodeError {
    match decode(text, MAX) {
        Err(e) => e,
        Ok(other) => panic!("{text:?} decoded to {other:?}"),
    }
}

pub(super) fn encode_str(packet: PacketRef<'_>) -> (String, Vec<Bytes>) {
    let mut out = String::new();
    let attachments = encode(&packet, &mut out).unwrap();
    (out, attachments)
}

pub(super) fn bin(data: &[u8]) -> Value {
    Value::Binary(data.to_vec())
}

pub(super) fn placeholder(num: usize) -> String {
    format!(r#"{{"_placeholder":true,"num":{num}}}"#)
}

/// Encodes `packet`, decodes the result (pushing its attachments) and returns it.
pub(super) fn through_wire(packet: &Packet) -> (String, Packet) {
    let data = match &packet.data {
        PacketData::Event { event, args } => DataRef::Event { event, args },
        PacketData::Ack(args) => DataRef::Ack(args),
        PacketData::Disconnect => DataRef::Disconnect,
        PacketData::ConnectError(value) => DataRef::ConnectError(value),
        PacketData::Connect(_) => panic!("server CONNECT packets carry a sid"),
    };
    let (text, attachments) = encode_str(PacketRef {
        ns: &packet.ns,
        id: packet.id,
        data,
    });
    let decoded = match decode(&text, MAX).unwrap() {
        Decoded::Complete(decoded) => {
            assert!(attachments.is_empty());
            decoded
        }
        Decoded::Partial(mut partial) => {
            assert_eq!(partial.remaining(), attachments.len());
            let mut result = None;
            for attachment in attachments {
                assert!(result.is_none());
                result = partial.push(attachment).unwrap();
            }
            result.unwrap()
        }
    };
    (text, decoded)
}

#[test]
fn packet_type_digits() {
    for c in '0'..='6' {
        assert_eq!(PacketType::from_char(c).unwrap().as_char(), c);
    }
    assert_eq!(PacketType::from_char('7'), None);
    assert!(PacketType::BinaryEvent.is_binary());
    assert!(PacketType::BinaryAck.is_binary());
    assert!(!PacketType::Event.is_binary());
}
