//! Serializing one value into a [`Value`], with JSON conventions.
//!
//! `rmpv::ext::to_value` follows MessagePack conventions (structs become arrays, enums become
//! `[index, ...]`), which a JavaScript peer cannot read; this serializer follows the JSON
//! conventions of `serde_json` instead, except that bytes become `Value::Binary`.

use rmpv::Value;
use serde::ser::{
    self, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant,
};
use serde::Serialize;

use crate::EncodeError;

/// Serializes one value with JSON conventions.
pub(super) struct ValueSerializer;

/// Converts the `[tag, data]` array serialized for a MessagePack extension back to `Ext`.
fn ext_from_array(value: Value) -> Result<Value, EncodeError> {
    if let Value::Array(items) = &value {
        if let [Value::Integer(tag), Value::Binary(data)] = items.as_slice() {
            if let Some(tag) = tag.as_i64().and_then(|t| i8::try_from(t).ok()) {
                return Ok(Value::Ext(tag, data.clone()));
            }
        }
    }
    Err(EncodeError::Serialize(
        "malformed MessagePack extension".to_owned(),
    ))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = EncodeError;
    type SerializeSeq = ArraySerializer;
    type SerializeTuple = ArraySerializer;
    type SerializeTupleStruct = ArraySerializer;
    type SerializeTupleVariant = VariantSerializer<ArraySerializer>;
    type SerializeMap = MapSerializer;
    type SerializeStruct = MapSerializer;
    type SerializeStructVariant = VariantSerializer<MapSerializer>;

    fn serialize_bool(self, v: bool) -> Result<Value, EncodeError> {
        Ok(Value::Boolean(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, EncodeError> {
        if let Ok(v) = u64::try_from(v) {
            Ok(Value::from(v))
        } else if let Ok(v) = i64::try_from(v) {
            Ok(Value::from(v))
        } else {
            Err(EncodeError::Serialize(format!("integer {v} out of range")))
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, EncodeError> {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| EncodeError::Serialize(format!("integer {v} out of range")))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, EncodeError> {
        Ok(Value::F32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, EncodeError> {
        Ok(Value::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, EncodeError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, EncodeError> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, EncodeError> {
        Ok(Value::Binary(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, EncodeError> {
        Ok(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, EncodeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, EncodeError> {
        Ok(Value::Nil)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, EncodeError> {
        Ok(Value::Nil)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, EncodeError> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, EncodeError> {
        let inner = value.serialize(ValueSerializer)?;
        if name == rmpv::MSGPACK_EXT_STRUCT_NAME {
            ext_from_array(inner)
        } else {
            Ok(inner)
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, EncodeError> {
        let inner = value.serialize(ValueSerializer)?;
        Ok(Value::Map(vec![(Value::from(variant), inner)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ArraySerializer, EncodeError> {
        Ok(ArraySerializer::new(len.unwrap_or(0)))
    }
    fn serialize_tuple(self, len: usize) -> Result<ArraySerializer, EncodeError> {
        Ok(ArraySerializer::new(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<ArraySerializer, EncodeError> {
        Ok(ArraySerializer::new(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSerializer<ArraySerializer>, EncodeError> {
        Ok(VariantSerializer {
            variant,
            inner: ArraySerializer::new(len),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSerializer, EncodeError> {
        Ok(MapSerializer::new(len.unwrap_or(0)))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapSerializer, EncodeError> {
        Ok(MapSerializer::new(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSerializer<MapSerializer>, EncodeError> {
        Ok(VariantSerializer {
            variant,
            inner: MapSerializer::new(len),
        })
    }
}

/// Collects the items of a sequence, tuple or tuple struct into `Value::Array`.
pub(super) struct ArraySerializer {
    pub(super) items: Vec<Value>,
}

impl ArraySerializer {
    pub(super) fn new(len: usize) -> Self {
        // `len` comes from a `Serialize` impl; do not trust it for huge allocations.
        ArraySerializer {
            items: Vec::with_capacity(len.min(1024)),
        }
    }

    pub(super) fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.items.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
}

impl SerializeSeq for ArraySerializer {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, EncodeError> {
        Ok(Value::Array(self.items))
    }
}

impl SerializeTuple for ArraySerializer {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, EncodeError> {
        Ok(Value::Array(self.items))
    }
}

impl SerializeTupleStruct for ArraySerializer {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, EncodeError> {
        Ok(Value::Array(self.items))
    }
}

/// Collects the entries of a map or struct into `Value::Map`.
pub(super) struct MapSerializer {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

impl MapSerializer {
    fn new(len: usize) -> Self {
        MapSerializer {
            entries: Vec::with_capacity(len.min(1024)),
            key: None,
        }
    }
}

impl SerializeMap for MapSerializer {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        self.key = Some(key.serialize(ValueSerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| EncodeError::Serialize("map value without a key".to_owned()))?;
        self.entries.push((key, value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value, EncodeError> {
        Ok(Value::Map(self.entries))
    }
}

impl SerializeStruct for MapSerializer {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.entries
            .push((Value::from(key), value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value, EncodeError> {
        Ok(Value::Map(self.entries))
    }
}

/// A tuple or struct variant: `{"Variant": <inner>}`.
pub(super) struct VariantSerializer<S> {
    variant: &'static str,
    inner: S,
}

impl SerializeTupleVariant for VariantSerializer<ArraySerializer> {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.inner.push(value)
    }
    fn end(self) -> Result<Value, EncodeError> {
        let inner = SerializeSeq::end(self.inner)?;
        Ok(Value::Map(vec![(Value::from(self.variant), inner)]))
    }
}

impl SerializeStructVariant for VariantSerializer<MapSerializer> {
    type Ok = Value;
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Value, EncodeError> {
        let inner = SerializeStruct::end(self.inner)?;
        Ok(Value::Map(vec![(Value::from(self.variant), inner)]))
    }
}
