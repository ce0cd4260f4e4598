//! Converting user types to and from an argument list.
//!
//! Events and acknowledgements carry a list of [`Value`]s. [`to_args`] and [`from_args`] map
//! Rust types onto such lists the way a JavaScript peer sees them: `()` is no argument, a
//! tuple is one argument per element, anything else is one argument. Values follow the JSON
//! conventions of `serde_json` (structs and maps are maps, unit variants are strings,
//! other variants are `{"Variant": ...}`), except that bytes are `Value::Binary`, which
//! travels as a binary attachment.
//!
//! ```
//! use volley_protocol::args::{from_args, to_args};
//! use volley_protocol::Value;
//!
//! let args = to_args(&("hello", 42)).unwrap();
//! assert_eq!(args, vec![Value::from("hello"), Value::from(42)]);
//! let (text, n): (String, u32) = from_args(args).unwrap();
//! assert_eq!((text.as_str(), n), ("hello", 42));
//! ```

use rmpv::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{DecodeError, EncodeError};

mod list_de;
mod list_ser;
mod value_de;
mod value_ser;

pub use list_de::ALL_ARGS;

/// Serializes `data` into an argument list: `()` -> no arguments; a tuple (serialize_tuple)
/// -> one argument per element; anything else -> exactly one argument. Bytes
/// (serialize_bytes, e.g. `bytes::Bytes` or `serde_bytes`) become `Value::Binary`.
///
/// Unit structs give no argument and tuple structs one argument per field, mirroring
/// [`from_args`]; newtype structs are transparent. Note that fixed-size arrays (`[T; N]`)
/// serialize as tuples, so they give `N` arguments: wrap them in a `Vec` to send one array.
pub fn to_args<T: Serialize + ?Sized>(data: &T) -> Result<Vec<Value>, EncodeError> {
    data.serialize(list_ser::ArgsSerializer)
}

/// Deserializes an argument list into `T`.
///
/// Tuples and tuple structs take the whole list, one argument per element (a tuple ignores extra
/// arguments, and missing trailing arguments read as null, so `Option`s become `None`); `()`
/// accepts any list; anything else (a struct, map, `Vec`, `String`, number, `Value`, `Option`,
/// ...) takes the first argument (an `Option` is `None` when the list is empty), mirroring
/// [`to_args`]. A type that stands for the whole list asks for a tuple of [`ALL_ARGS`] elements. `Value::Binary`
/// is handed to `visit_byte_buf`, so `bytes::Bytes` and `serde_bytes::ByteBuf` work.
pub fn from_args<T: DeserializeOwned>(args: Vec<Value>) -> Result<T, DecodeError> {
    T::deserialize(list_de::ArgsDeserializer(args))
}

/// Deserializes one value into `T`.
///
/// Like `rmpv::ext::from_value`, but with JSON conventions: enums are read from `"Variant"`
/// or `{"Variant": ...}`, unit structs from null, and string map keys convert to numbers.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    T::deserialize(value_de::ValueDeserializer(value))
}

/// Serializes one value.
///
/// Like `rmpv::ext::to_value`, but with JSON conventions: structs become maps (not arrays),
/// unit variants strings, other variants `{"Variant": ...}`, unit structs nil.
pub fn to_value<T: Serialize + ?Sized>(data: &T) -> Result<Value, EncodeError> {
    data.serialize(value_ser::ValueSerializer)
}

#[cfg(test)]
mod tests;
