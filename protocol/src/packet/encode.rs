//! Encoding a packet to its text form, binary values becoming placeholders.

use std::borrow::Cow;
use std::cell::Cell;

use bytes::Bytes;
use rmpv::{Utf8String, Value};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::{DataRef, PacketRef, PacketType};
use crate::engine::push_json_str;
use crate::EncodeError;

/// Appends the text form to `out` and returns the attachments in order.
///
/// Binary values anywhere in the arguments (nested too) become placeholders and the type
/// becomes BINARY_EVENT/BINARY_ACK with the `N-` prefix. Values map to JSON as
/// `JSON.stringify` would: nil is `null`, non-finite floats are `null`, strings that are not
/// valid UTF-8 are converted lossily, and integer, boolean and nil map keys are stringified.
/// Other map keys and MessagePack extensions are errors, and so is CONNECT_ERROR data that is
/// neither a map nor a string (clients refuse it, and `4` followed by a number would read back
/// as an acknowledgement id).
///
/// `out` may already hold a prefix (such as the Engine.IO `4`); it is kept, and left
/// unchanged when an error is returned.
pub fn encode(packet: &PacketRef<'_>, out: &mut String) -> Result<Vec<Bytes>, EncodeError> {
    let ns = packet.ns;
    if !ns.starts_with('/') || ns.contains(',') {
        return Err(EncodeError::InvalidNamespace(ns.to_owned()));
    }
    let mut attachments = Vec::new();
    // The type depends on the attachments, so they are collected (and the data checked) before
    // anything is written; the JSON then goes straight after the header, with no copy.
    let ty = match packet.data {
        DataRef::Connect { .. } => {
            no_id(packet.id)?;
            PacketType::Connect
        }
        DataRef::Disconnect => {
            no_id(packet.id)?;
            PacketType::Disconnect
        }
        DataRef::Event { args, .. } => {
            for arg in args {
                collect_binaries(arg, &mut attachments)?;
            }
            if attachments.is_empty() {
                PacketType::Event
            } else {
                PacketType::BinaryEvent
            }
        }
        DataRef::Ack(args) => {
            if packet.id.is_none() {
                return Err(EncodeError::MissingAckId);
            }
            for arg in args {
                collect_binaries(arg, &mut attachments)?;
            }
            if attachments.is_empty() {
                PacketType::Ack
            } else {
                PacketType::BinaryAck
            }
        }
        DataRef::ConnectError(value) => {
            no_id(packet.id)?;
            if !matches!(value, Value::Map(_) | Value::String(_)) {
                return Err(EncodeError::InvalidConnectError);
            }
            collect_binaries(value, &mut attachments)?;
            if !attachments.is_empty() {
                return Err(EncodeError::UnexpectedBinary);
            }
            PacketType::ConnectError
        }
    };

    let start = out.len();
    out.push(ty.as_char());
    let mut digits = itoa::Buffer::new();
    if ty.is_binary() {
        out.push_str(digits.format(attachments.len()));
        out.push('-');
    }
    if ns != "/" {
        out.push_str(ns);
        out.push(',');
    }
    if let Some(id) = packet.id {
        out.push_str(digits.format(id));
    }
    let written = match packet.data {
        DataRef::Connect { sid, pid } => {
            out.push_str("{\"sid\":");
            push_json_str(out, sid);
            if let Some(pid) = pid {
                out.push_str(",\"pid\":");
                push_json_str(out, pid);
            }
            out.push('}');
            Ok(())
        }
        DataRef::Disconnect => Ok(()),
        DataRef::Event { event, args } => push_json(out, &EventArray { event, args }),
        DataRef::Ack(args) => push_json(out, &AckArray { args }),
        DataRef::ConnectError(value) => push_json(
            out,
            &Json {
                value,
                next: &Cell::new(0),
            },
        ),
    };
    if written.is_err() {
        out.truncate(start);
    }
    written.map(|()| attachments)
}

/// Appends `value` as JSON to `out`, writing into its buffer directly.
///
/// On error `out` may hold part of the JSON after its original text: the caller truncates.
fn push_json<T: Serialize>(out: &mut String, value: &T) -> Result<(), EncodeError> {
    let mut buf = std::mem::take(out).into_bytes();
    let written = serde_json::to_writer(&mut buf, value);
    // serde_json writes UTF-8 only; were it ever not to, the (valid) prefix survives the lossy
    // conversion byte for byte, and the error below has the caller cut the rest.
    let text = String::from_utf8(buf);
    let utf8 = text.is_ok();
    *out = text.unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    match written {
        Err(e) => Err(EncodeError::Serialize(e.to_string())),
        Ok(()) if !utf8 => Err(EncodeError::Serialize(
            "JSON output is not UTF-8".to_owned(),
        )),
        Ok(()) => Ok(()),
    }
}

fn no_id(id: Option<u64>) -> Result<(), EncodeError> {
    match id {
        Some(_) => Err(EncodeError::UnexpectedAckId),
        None => Ok(()),
    }
}

/// Collects the binary values of `value` in placeholder order and checks that the rest can
/// be written as JSON (so that serializing afterwards cannot fail).
fn collect_binaries(value: &Value, out: &mut Vec<Bytes>) -> Result<(), EncodeError> {
    match value {
        Value::Binary(data) => out.push(Bytes::copy_from_slice(data)),
        Value::Array(items) => {
            for item in items {
                collect_binaries(item, out)?;
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                map_key(key)?;
                collect_binaries(item, out)?;
            }
        }
        Value::Ext(..) => return Err(EncodeError::UnsupportedExt),
        Value::Nil
        | Value::Boolean(_)
        | Value::Integer(_)
        | Value::F32(_)
        | Value::F64(_)
        | Value::String(_) => {}
    }
    Ok(())
}

/// A MessagePack string as text: as it is when it is valid UTF-8 (known since it was read, so
/// not checked again), with replacement characters otherwise.
fn text(s: &Utf8String) -> Cow<'_, str> {
    s.as_str()
        .map_or_else(|| String::from_utf8_lossy(s.as_bytes()), Cow::Borrowed)
}

/// The JSON object key standing for `key`.
fn map_key(key: &Value) -> Result<Cow<'_, str>, EncodeError> {
    match key {
        Value::String(s) => Ok(text(s)),
        Value::Integer(i) => Ok(Cow::Owned(i.to_string())),
        Value::Boolean(true) => Ok(Cow::Borrowed("true")),
        Value::Boolean(false) => Ok(Cow::Borrowed("false")),
        Value::Nil => Ok(Cow::Borrowed("null")),
        Value::F32(_) | Value::F64(_) => Err(EncodeError::InvalidMapKey("float")),
        Value::Binary(_) => Err(EncodeError::InvalidMapKey("binary")),
        Value::Array(_) => Err(EncodeError::InvalidMapKey("array")),
        Value::Map(_) => Err(EncodeError::InvalidMapKey("map")),
        Value::Ext(..) => Err(EncodeError::InvalidMapKey("ext")),
    }
}

/// `[event, ...args]`.
struct EventArray<'a> {
    event: &'a str,
    args: &'a [Value],
}

impl Serialize for EventArray<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let next = Cell::new(0);
        let mut seq = serializer.serialize_seq(Some(self.args.len() + 1))?;
        seq.serialize_element(self.event)?;
        for value in self.args {
            seq.serialize_element(&Json { value, next: &next })?;
        }
        seq.end()
    }
}

/// `[...args]`.
struct AckArray<'a> {
    args: &'a [Value],
}

impl Serialize for AckArray<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let next = Cell::new(0);
        let mut seq = serializer.serialize_seq(Some(self.args.len()))?;
        for value in self.args {
            seq.serialize_element(&Json { value, next: &next })?;
        }
        seq.end()
    }
}

/// A value written as JSON, binary values becoming numbered placeholders.
struct Json<'a> {
    value: &'a Value,
    /// The number of the next placeholder.
    next: &'a Cell<usize>,
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Nil => serializer.serialize_unit(),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
                (Some(n), _) => serializer.serialize_u64(n),
                (None, Some(n)) => serializer.serialize_i64(n),
                (None, None) => Err(S::Error::custom("integer out of range")),
            },
            Value::F32(f) => serializer.serialize_f32(*f),
            Value::F64(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(&text(s)),
            Value::Binary(_) => {
                let num = self.next.get();
                self.next.set(num + 1);
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("_placeholder", &true)?;
                map.serialize_entry("num", &num)?;
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for value in items {
                    seq.serialize_element(&Json {
                        value,
                        next: self.next,
                    })?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    let key = map_key(key).map_err(S::Error::custom)?;
                    map.serialize_entry(
                        key.as_ref(),
                        &Json {
                            value,
                            next: self.next,
                        },
                    )?;
                }
                map.end()
            }
            Value::Ext(..) => Err(S::Error::custom(EncodeError::UnsupportedExt)),
        }
    }
}
