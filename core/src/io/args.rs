//! A whole argument list as one value.

use std::any::Any;
use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use volley_protocol::{DecodeError, EncodeError, Value};

/// All the arguments of an event or ack, as a list.
///
/// As a handler's parameter it receives every argument; given to an emit or returned as an ack it
/// sends each element as its own argument (a plain `Vec` would be sent as one array argument).
///
/// ```
/// use volley::{Args, Socket};
/// # let io = volley::Server::builder().build();
/// // acks with exactly the arguments received
/// io.of("/").on("echo", |_s: Socket, args: Args| args);
/// ```
///
/// Its `Debug` shows the arguments as data, not as the codec's value tree:
///
/// ```
/// use volley::{Args, Value};
/// let args = Args(vec![Value::from("hi"), Value::from(1), Value::Binary(vec![7])]);
/// assert_eq!(format!("{args:?}"), r#"Args(["hi", 1, [7]])"#);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Args(pub Vec<Value>);

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Args([")?;
        for (i, value) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            std::fmt::Display::fmt(value, f)?;
        }
        f.write_str("])")
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct All;
        impl<'de> serde::de::Visitor<'de> for All {
            type Value = Args;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of arguments")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Args(out))
            }
        }
        // A tuple of "all the arguments": the argument-list deserializer hands over every
        // argument; any other deserializer (one JSON array) gives its elements.
        d.deserialize_tuple(volley_protocol::args::ALL_ARGS, All)
    }
}

impl From<Vec<Value>> for Args {
    fn from(v: Vec<Value>) -> Self {
        Args(v)
    }
}

/// A received argument list as a handler's parameter: `Args` takes the list as it came, any
/// other type is deserialized from it (see [`volley_protocol::args::from_args`]).
///
/// Going through serde for `Args` would rebuild every value only to get the same list back;
/// an echo-style handler spent about a tenth of its server's CPU doing that.
pub(crate) fn take_list<A: DeserializeOwned + 'static>(list: Vec<Value>) -> Result<A, DecodeError> {
    let mut slot = Some(Args(list));
    let any: &mut dyn Any = &mut slot;
    if let Some(args) = any.downcast_mut::<Option<A>>().and_then(Option::take) {
        return Ok(args);
    }
    volley_protocol::args::from_args(slot.map(|a| a.0).unwrap_or_default())
}

/// A handler's result as the argument list to send: borrowed when it is `Args`, serialized
/// otherwise (see [`volley_protocol::args::to_args`]).
pub(crate) fn as_list<R: Serialize + 'static>(r: &R) -> Result<Cow<'_, [Value]>, EncodeError> {
    let any: &dyn Any = r;
    match any.downcast_ref::<Args>() {
        Some(args) => Ok(Cow::Borrowed(&args.0)),
        None => volley_protocol::args::to_args(r).map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_spread_and_gathered() {
        let args = Args(vec![Value::from(1), Value::from("two")]);
        let list = volley_protocol::args::to_args(&args).expect("to_args");
        assert_eq!(list, args.0);
        let back: Args = volley_protocol::args::from_args(list).expect("from_args");
        assert_eq!(back, args);
        let empty = volley_protocol::args::to_args(&Args::default()).expect("to_args");
        assert!(empty.is_empty());
    }

    #[test]
    fn args_pass_through_without_serde() {
        let list = vec![
            Value::from(1),
            Value::Binary(vec![1, 2]),
            Value::from("three"),
        ];
        let args: Args = take_list(list.clone()).expect("take_list");
        assert_eq!(args.0, list);
        assert!(matches!(as_list(&args), Ok(Cow::Borrowed(l)) if l == list.as_slice()));
    }

    #[test]
    fn other_types_still_go_through_serde() {
        let list = vec![Value::from(1), Value::from("two")];
        let pair: (u8, String) = take_list(list.clone()).expect("take_list");
        assert_eq!(pair, (1, "two".to_owned()));
        let first: Value = take_list(list.clone()).expect("take_list");
        assert_eq!(first, Value::from(1));
        assert!(take_list::<(String,)>(list).is_err());
        assert!(
            matches!(as_list(&pair), Ok(Cow::Owned(l)) if l == vec![Value::from(1), Value::from("two")])
        );
        assert!(matches!(as_list(&()), Ok(Cow::Owned(l)) if l.is_empty()));
    }
}
