//! Deserializing an argument list.

use rmpv::Value;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

use super::value_de::{error, ValueDeserializer};
use crate::DecodeError;

/// Deserializes an argument list: tuples and sequences take the whole list, `()` ignores
/// it, anything else takes the first argument.
pub(super) struct ArgsDeserializer(pub(super) Vec<Value>);

impl ArgsDeserializer {
    fn first(self) -> Result<ValueDeserializer, DecodeError> {
        self.0
            .into_iter()
            .next()
            .map(ValueDeserializer)
            .ok_or_else(|| error("expected at least one argument, got none"))
    }

    fn tuple<'de, V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        let available = self.0.len();
        // `usize::MAX` asks for every argument there is, no padding (see `ALL_ARGS`).
        let len = if len == ALL_ARGS { available } else { len };
        visitor.visit_seq(TupleArgs {
            iter: self.0.into_iter(),
            len,
            index: 0,
            available,
        })
    }
}

macro_rules! first_arg {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
                self.first()?.$method(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ArgsDeserializer {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.into_iter().next() {
            Some(value) => ValueDeserializer(value).deserialize_any(visitor),
            None => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.into_iter().next() {
            Some(value) => ValueDeserializer(value).deserialize_option(visitor),
            None => visitor.visit_none(),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        // A sequence is one argument (an array), mirroring `to_args`; only tuples spread.
        self.first()?.deserialize_seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        if name == rmpv::MSGPACK_EXT_STRUCT_NAME {
            self.first()?.deserialize_newtype_struct(name, visitor)
        } else {
            // Newtypes are transparent: `Wrapper((A, B))` takes two arguments.
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.first()?.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.first()?.deserialize_enum(name, variants, visitor)
    }

    first_arg! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_map
        deserialize_identifier
    }
}

/// The tuple length that takes exactly the arguments given, however many: what a type that
/// stands for the whole argument list asks for in `deserialize_tuple`.
pub const ALL_ARGS: usize = usize::MAX;

/// The arguments seen as a tuple of `len` elements: extra arguments are ignored, missing
/// ones read as null (so that trailing `Option`s become `None`).
struct TupleArgs {
    iter: std::vec::IntoIter<Value>,
    len: usize,
    index: usize,
    available: usize,
}

impl<'de> SeqAccess<'de> for TupleArgs {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        if self.index >= self.len {
            return Ok(None);
        }
        self.index += 1;
        match self.iter.next() {
            Some(value) => seed.deserialize(ValueDeserializer(value)).map(Some),
            None => seed
                .deserialize(ValueDeserializer(Value::Nil))
                .map(Some)
                .map_err(|_| {
                    error(format_args!(
                        "expected {} arguments, got {}",
                        self.len, self.available
                    ))
                }),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.saturating_sub(self.index))
    }
}
