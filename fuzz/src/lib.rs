//! Helpers shared by the fuzz targets: values built from the fuzzer's bytes, and the
//! "no worse than a fixed point" checks of the round trips.

use arbitrary::{Arbitrary, Result, Unstructured};
use serde::ser::{
    SerializeMap, SerializeSeq, SerializeStruct, SerializeTuple, SerializeTupleVariant,
};
use serde::{Serialize, Serializer};
use volley_protocol::packet::{self, DataRef, Decoded, Packet, PacketData, PacketRef};
use volley_protocol::Value;

/// How deep the generated values nest (each target has its own limits beyond this too).
pub const MAX_DEPTH: usize = 6;
/// The most items of one generated array or map.
pub const MAX_ITEMS: usize = 8;

/// A MessagePack value of every kind, nested at most `depth` more levels.
pub fn value(u: &mut Unstructured<'_>, depth: usize) -> Result<Value> {
    let last = if depth == 0 { 8 } else { 10 };
    Ok(match u.int_in_range(0..=last)? {
        0 => Value::Nil,
        1 => Value::Boolean(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<u64>()?),
        3 => Value::from(u.arbitrary::<i64>()?),
        4 => Value::F32(u.arbitrary()?),
        5 => Value::F64(u.arbitrary()?),
        6 => Value::from(u.arbitrary::<String>()?),
        7 => Value::Binary(u.arbitrary()?),
        8 => Value::Ext(u.arbitrary()?, u.arbitrary()?),
        9 => Value::Array(items(u, |u| value(u, depth - 1))?),
        _ => Value::Map(items(u, |u| {
            Ok((value(u, depth - 1)?, value(u, depth - 1)?))
        })?),
    })
}

/// Up to [`MAX_ITEMS`] items, each made by `item`.
pub fn items<T>(
    u: &mut Unstructured<'_>,
    mut item: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while out.len() < MAX_ITEMS && u.arbitrary::<bool>()? {
        out.push(item(u)?);
    }
    Ok(out)
}

/// A list of values, for event arguments.
pub fn values(u: &mut Unstructured<'_>) -> Result<Vec<Value>> {
    items(u, |u| value(u, MAX_DEPTH))
}

/// A Rust value as an application hands it to `to_args` (through serde), covering the serde
/// data model: what the emitter accepts from its users.
#[derive(Debug, Arbitrary)]
pub enum Arg {
    /// `()`.
    Unit,
    /// `None`.
    None,
    /// `Some(x)`.
    Some(Box<Arg>),
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// A `char`.
    Char(char),
    /// A string.
    Str(String),
    /// Bytes (`serialize_bytes`: binary).
    Bytes(Vec<u8>),
    /// A sequence.
    Seq(Vec<Arg>),
    /// A tuple.
    Tuple(Vec<Arg>),
    /// A map with string keys.
    Map(Vec<(String, Arg)>),
    /// A map with any keys.
    AnyKeyMap(Vec<(Arg, Arg)>),
    /// A struct with fields `a`, `b`, `c` (as many as given).
    Struct(Vec<Arg>),
    /// A unit variant of an enum.
    UnitVariant(u8),
    /// A newtype variant.
    NewtypeVariant(u8, Box<Arg>),
    /// A tuple variant.
    TupleVariant(u8, Vec<Arg>),
}

const FIELDS: [&str; 3] = ["a", "b", "c"];
const VARIANTS: [&str; 3] = ["A", "B", "C"];

fn variant(i: u8) -> (u32, &'static str) {
    let i = usize::from(i) % VARIANTS.len();
    (i as u32, VARIANTS[i])
}

fn map<S: Serializer, K: Serialize>(
    s: S,
    entries: &[(K, Arg)],
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(entries.len()))?;
    entries
        .iter()
        .try_for_each(|(k, v)| map.serialize_entry(k, v))?;
    map.end()
}

impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Arg::Unit => s.serialize_unit(),
            Arg::None => s.serialize_none(),
            Arg::Some(x) => s.serialize_some(x),
            Arg::Bool(b) => s.serialize_bool(*b),
            Arg::I64(n) => s.serialize_i64(*n),
            Arg::U64(n) => s.serialize_u64(*n),
            Arg::F32(f) => s.serialize_f32(*f),
            Arg::F64(f) => s.serialize_f64(*f),
            Arg::Char(c) => s.serialize_char(*c),
            Arg::Str(t) => s.serialize_str(t),
            Arg::Bytes(b) => s.serialize_bytes(b),
            Arg::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items
                    .iter()
                    .try_for_each(|item| seq.serialize_element(item))?;
                seq.end()
            }
            Arg::Tuple(items) => {
                let mut tuple = s.serialize_tuple(items.len())?;
                items
                    .iter()
                    .try_for_each(|item| tuple.serialize_element(item))?;
                tuple.end()
            }
            Arg::Map(entries) => map(s, entries),
            Arg::AnyKeyMap(entries) => map(s, entries),
            Arg::Struct(fields) => {
                let fields = &fields[..fields.len().min(FIELDS.len())];
                let mut st = s.serialize_struct("S", fields.len())?;
                for (name, value) in FIELDS.iter().zip(fields) {
                    st.serialize_field(name, value)?;
                }
                st.end()
            }
            Arg::UnitVariant(i) => {
                let (index, name) = variant(*i);
                s.serialize_unit_variant("E", index, name)
            }
            Arg::NewtypeVariant(i, x) => {
                let (index, name) = variant(*i);
                s.serialize_newtype_variant("E", index, name, x)
            }
            Arg::TupleVariant(i, items) => {
                let (index, name) = variant(*i);
                let mut tv = s.serialize_tuple_variant("E", index, name, items.len())?;
                items.iter().try_for_each(|item| tv.serialize_field(item))?;
                tv.end()
            }
        }
    }
}

/// Whether `value` holds a map marked as a Socket.IO attachment placeholder
/// (`{"_placeholder": true, ...}`): such a map is read back as an attachment, as in every
/// Socket.IO implementation, so it cannot round-trip as a map.
pub fn has_placeholder_map(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_placeholder_map),
        Value::Map(entries) => entries.iter().any(|(k, v)| {
            (k.as_str() == Some("_placeholder") && *v == Value::Boolean(true))
                || has_placeholder_map(k)
                || has_placeholder_map(v)
        }),
        _ => false,
    }
}

/// The borrowed form of a decoded packet, to encode it again; `None` for CONNECT, whose
/// client form (auth) and server form (sid) differ.
pub fn packet_ref(packet: &Packet) -> Option<PacketRef<'_>> {
    let data = match &packet.data {
        PacketData::Connect(_) => return None,
        PacketData::Disconnect => DataRef::Disconnect,
        PacketData::Event { event, args } => DataRef::Event { event, args },
        PacketData::Ack(args) => DataRef::Ack(args),
        PacketData::ConnectError(value) => DataRef::ConnectError(value),
    };
    Some(PacketRef {
        ns: &packet.ns,
        id: packet.id,
        data,
    })
}

/// Encodes `packet` in the Socket.IO text form, then decodes the text and pushes the
/// attachments as a client's messages would arrive: the packet read back, or `None` when it
/// cannot be encoded. Panics when the server cannot read what it wrote.
pub fn text_round_trip(packet: &PacketRef<'_>) -> Option<Packet> {
    let mut text = String::new();
    let attachments = packet::encode(packet, &mut text).ok()?;
    let decoded = packet::decode(&text, attachments.len())
        .unwrap_or_else(|e| panic!("cannot decode {text:?} that encode wrote: {e}"));
    Some(match decoded {
        Decoded::Complete(packet) => {
            assert!(
                attachments.is_empty(),
                "{text:?}: complete, yet attachments"
            );
            packet
        }
        Decoded::Partial(mut partial) => {
            assert_eq!(partial.remaining(), attachments.len(), "{text:?}");
            let mut done = None;
            for attachment in attachments {
                assert!(
                    done.is_none(),
                    "{text:?}: complete before its last attachment"
                );
                done = partial
                    .push(attachment)
                    .expect("an attachment it announced");
            }
            done.expect("complete after its last attachment")
        }
    })
}
