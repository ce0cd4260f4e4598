//! A whole argument list as one value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use volley_protocol::Value;

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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(pub Vec<Value>);

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
}
