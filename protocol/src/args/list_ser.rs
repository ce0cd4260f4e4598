//! Serializing the top level of an argument list.

use rmpv::Value;
use serde::ser::{
    self, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant,
};
use serde::Serialize;

use super::value_ser::{ArraySerializer, MapSerializer, ValueSerializer, VariantSerializer};
use crate::EncodeError;

/// Serializes the top level of an argument list: `()` gives no argument, a tuple (or tuple
/// struct) one argument per element, anything else a single argument.
pub(super) struct ArgsSerializer;

/// Wraps a single-value serializer so that it yields a one-argument list.
pub(super) struct One<S>(S);

fn one(value: Value) -> Result<Vec<Value>, EncodeError> {
    Ok(vec![value])
}

impl ser::Serializer for ArgsSerializer {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    type SerializeSeq = One<ArraySerializer>;
    type SerializeTuple = TupleArgs;
    type SerializeTupleStruct = TupleArgs;
    type SerializeTupleVariant = One<VariantSerializer<ArraySerializer>>;
    type SerializeMap = One<MapSerializer>;
    type SerializeStruct = One<MapSerializer>;
    type SerializeStructVariant = One<VariantSerializer<MapSerializer>>;

    fn serialize_bool(self, v: bool) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_bool(v)?)
    }
    fn serialize_i8(self, v: i8) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_i8(v)?)
    }
    fn serialize_i16(self, v: i16) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_i16(v)?)
    }
    fn serialize_i32(self, v: i32) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_i32(v)?)
    }
    fn serialize_i64(self, v: i64) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_i64(v)?)
    }
    fn serialize_i128(self, v: i128) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_i128(v)?)
    }
    fn serialize_u8(self, v: u8) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_u8(v)?)
    }
    fn serialize_u16(self, v: u16) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_u16(v)?)
    }
    fn serialize_u32(self, v: u32) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_u32(v)?)
    }
    fn serialize_u64(self, v: u64) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_u64(v)?)
    }
    fn serialize_u128(self, v: u128) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_u128(v)?)
    }
    fn serialize_f32(self, v: f32) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_f32(v)?)
    }
    fn serialize_f64(self, v: f64) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_f64(v)?)
    }
    fn serialize_char(self, v: char) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_char(v)?)
    }
    fn serialize_str(self, v: &str) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_str(v)?)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_bytes(v)?)
    }
    fn serialize_none(self) -> Result<Vec<Value>, EncodeError> {
        one(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<Value>, EncodeError> {
        one(value.serialize(ValueSerializer)?)
    }
    fn serialize_unit(self) -> Result<Vec<Value>, EncodeError> {
        Ok(Vec::new())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Vec<Value>, EncodeError> {
        Ok(Vec::new())
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_unit_variant(name, index, variant)?)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Vec<Value>, EncodeError> {
        if name == rmpv::MSGPACK_EXT_STRUCT_NAME {
            one(ValueSerializer.serialize_newtype_struct(name, value)?)
        } else {
            // Newtypes are transparent: `Wrapper((a, b))` gives two arguments.
            value.serialize(self)
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Vec<Value>, EncodeError> {
        one(ValueSerializer.serialize_newtype_variant(name, index, variant, value)?)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<One<ArraySerializer>, EncodeError> {
        Ok(One(ValueSerializer.serialize_seq(len)?))
    }
    fn serialize_tuple(self, len: usize) -> Result<TupleArgs, EncodeError> {
        Ok(TupleArgs(ArraySerializer::new(len)))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<TupleArgs, EncodeError> {
        Ok(TupleArgs(ArraySerializer::new(len)))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<One<VariantSerializer<ArraySerializer>>, EncodeError> {
        Ok(One(
            ValueSerializer.serialize_tuple_variant(name, index, variant, len)?
        ))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<One<MapSerializer>, EncodeError> {
        Ok(One(ValueSerializer.serialize_map(len)?))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<One<MapSerializer>, EncodeError> {
        Ok(One(ValueSerializer.serialize_struct(name, len)?))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<One<VariantSerializer<MapSerializer>>, EncodeError> {
        Ok(One(
            ValueSerializer.serialize_struct_variant(name, index, variant, len)?
        ))
    }
}

/// A top-level tuple: its elements are the arguments themselves.
pub(super) struct TupleArgs(ArraySerializer);

impl SerializeTuple for TupleArgs {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.0.push(value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        Ok(self.0.items)
    }
}

impl SerializeTupleStruct for TupleArgs {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.0.push(value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        Ok(self.0.items)
    }
}

impl SerializeSeq for One<ArraySerializer> {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.0.push(value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        one(SerializeSeq::end(self.0)?)
    }
}

impl SerializeTupleVariant for One<VariantSerializer<ArraySerializer>> {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.0.serialize_field(value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        one(self.0.end()?)
    }
}

impl SerializeMap for One<MapSerializer> {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        self.0.serialize_key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.0.serialize_value(value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        one(SerializeMap::end(self.0)?)
    }
}

impl SerializeStruct for One<MapSerializer> {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        SerializeStruct::serialize_field(&mut self.0, key, value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        one(SerializeStruct::end(self.0)?)
    }
}

impl SerializeStructVariant for One<VariantSerializer<MapSerializer>> {
    type Ok = Vec<Value>;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.0.serialize_field(key, value)
    }
    fn end(self) -> Result<Vec<Value>, EncodeError> {
        one(self.0.end()?)
    }
}
