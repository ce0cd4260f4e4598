//! Deserializing one [`Value`], with JSON conventions.
//!
//! `rmpv::ext::from_value` expects MessagePack conventions for enums (`[index, ...]`) and unit
//! structs (`[]`); this deserializer follows `serde_json` instead (`"Variant"`,
//! `{"Variant": ...}`, `null`), and hands binary values to `visit_byte_buf`.

use rmpv::Value;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;

use crate::DecodeError;

pub(super) fn error(message: impl std::fmt::Display) -> DecodeError {
    DecodeError::Deserialize(message.to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "null",
        Value::Boolean(_) => "a boolean",
        Value::Integer(_) => "an integer",
        Value::F32(_) | Value::F64(_) => "a float",
        Value::String(_) => "a string",
        Value::Binary(_) => "binary data",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Ext(..) => "a MessagePack extension",
    }
}

/// Deserializes one value with JSON conventions.
pub(super) struct ValueDeserializer(pub(super) Value);

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Nil => visitor.visit_unit(),
            Value::Boolean(b) => visitor.visit_bool(b),
            Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
                (Some(n), _) => visitor.visit_u64(n),
                (None, Some(n)) => visitor.visit_i64(n),
                (None, None) => Err(error("integer out of range")),
            },
            Value::F32(f) => visitor.visit_f32(f),
            Value::F64(f) => visitor.visit_f64(f),
            Value::String(s) => {
                if s.is_str() {
                    visitor.visit_string(s.into_str().unwrap_or_default())
                } else {
                    visitor.visit_byte_buf(s.into_bytes())
                }
            }
            Value::Binary(b) => visitor.visit_byte_buf(b),
            Value::Array(items) => visit_array(items, visitor),
            Value::Map(entries) => visit_map(entries, visitor),
            Value::Ext(tag, data) => {
                visitor.visit_newtype_struct(ValueDeserializer(ext_array(tag, data)))
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Nil => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        if name == rmpv::MSGPACK_EXT_STRUCT_NAME {
            return match self.0 {
                Value::Ext(tag, data) => {
                    visitor.visit_newtype_struct(ValueDeserializer(ext_array(tag, data)))
                }
                other => Err(error(format_args!(
                    "expected a MessagePack extension, found {}",
                    kind(&other)
                ))),
            };
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::String(s) => match s.into_str() {
                Some(s) => {
                    visitor.visit_enum(IntoDeserializer::<DecodeError>::into_deserializer(s))
                }
                None => Err(error("enum variant name is not valid UTF-8")),
            },
            Value::Map(entries) => {
                let mut entries = entries.into_iter();
                match (entries.next(), entries.next()) {
                    (Some((variant, value)), None) => {
                        visitor.visit_enum(EnumDeserializer { variant, value })
                    }
                    _ => Err(error("an enum must be a map with exactly one entry")),
                }
            }
            other => Err(error(format_args!(
                "expected an enum (a string or a one-entry map), found {}",
                kind(&other)
            ))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// The `[tag, data]` array that a MessagePack extension stands for in serde.
fn ext_array(tag: i8, data: Vec<u8>) -> Value {
    Value::Array(vec![Value::from(tag), Value::Binary(data)])
}

pub(super) fn visit_array<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, DecodeError> {
    let len = items.len();
    let mut seq = SeqDeserializer {
        iter: items.into_iter(),
    };
    let value = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(
            len,
            &"fewer elements in the array",
        ))
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: Vec<(Value, Value)>,
    visitor: V,
) -> Result<V::Value, DecodeError> {
    let len = entries.len();
    let mut map = MapDeserializer {
        iter: entries.into_iter(),
        value: None,
    };
    let value = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer entries in the map"))
    }
}

struct SeqDeserializer {
    iter: std::vec::IntoIter<Value>,
}

impl<'de> SeqAccess<'de> for SeqDeserializer {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        self.iter
            .next()
            .map(|value| seed.deserialize(ValueDeserializer(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDeserializer {
    iter: std::vec::IntoIter<(Value, Value)>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for MapDeserializer {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        match self.value.take() {
            Some(value) => seed.deserialize(ValueDeserializer(value)),
            None => Err(error("map value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A map key: like a value, but JSON object keys (strings) also deserialize into numbers
/// and booleans, as with `serde_json` (`HashMap<u32, _>` from `{"1": ..}`).
struct KeyDeserializer(Value);

macro_rules! parse_key {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
                match self.0 {
                    Value::String(s) => match s.as_str().and_then(|s| s.parse::<$ty>().ok()) {
                        Some(n) => visitor.$visit(n),
                        None => Err(error(format_args!(
                            "map key {s} is not a valid {}",
                            stringify!($ty)
                        ))),
                    },
                    other => ValueDeserializer(other).$method(visitor),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for KeyDeserializer {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        ValueDeserializer(self.0).deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        ValueDeserializer(self.0).deserialize_option(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        ValueDeserializer(self.0).deserialize_enum(name, variants, visitor)
    }

    parse_key! {
        deserialize_bool => bool, visit_bool;
        deserialize_i8 => i8, visit_i8;
        deserialize_i16 => i16, visit_i16;
        deserialize_i32 => i32, visit_i32;
        deserialize_i64 => i64, visit_i64;
        deserialize_i128 => i128, visit_i128;
        deserialize_u8 => u8, visit_u8;
        deserialize_u16 => u16, visit_u16;
        deserialize_u32 => u32, visit_u32;
        deserialize_u64 => u64, visit_u64;
        deserialize_u128 => u128, visit_u128;
        deserialize_f32 => f32, visit_f32;
        deserialize_f64 => f64, visit_f64;
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// An enum written `{"Variant": value}`.
struct EnumDeserializer {
    variant: Value,
    value: Value,
}

impl<'de> EnumAccess<'de> for EnumDeserializer {
    type Error = DecodeError;
    type Variant = VariantDeserializer;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, VariantDeserializer), DecodeError> {
        let variant = seed.deserialize(KeyDeserializer(self.variant))?;
        Ok((variant, VariantDeserializer(self.value)))
    }
}

struct VariantDeserializer(Value);

impl<'de> VariantAccess<'de> for VariantDeserializer {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        match self.0 {
            Value::Nil => Ok(()),
            other => Err(error(format_args!(
                "expected a unit variant, found {}",
                kind(&other)
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(ValueDeserializer(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(ValueDeserializer(self.0), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_map(ValueDeserializer(self.0), visitor)
    }
}
