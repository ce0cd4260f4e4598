#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use rmpv::Value;
use serde::{Deserialize, Serialize};

use super::*;
use crate::packet::{encode, DataRef, PacketRef};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: u8,
    #[serde(default)]
    tags: Vec<String>,
    avatar: Option<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(f64),
    Rect(u32, u32),
    Named { name: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Pair(String, u32);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Meters(f64);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Marker;

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

fn to_json(args: &[Value]) -> String {
    let mut out = String::new();
    encode(
        &PacketRef {
            ns: "/",
            id: Some(0),
            data: DataRef::Ack(args),
        },
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn unit_is_no_argument() {
    assert_eq!(to_args(&()).unwrap(), Vec::<Value>::new());
    assert_eq!(to_args(&Marker).unwrap(), Vec::<Value>::new());
    from_args::<()>(vec![]).unwrap();
    from_args::<()>(vec![Value::from(1), Value::from("x")]).unwrap();
    from_args::<Marker>(vec![Value::from(1)]).unwrap();
}

#[test]
fn single_values_are_one_argument() {
    assert_eq!(to_args("hello").unwrap(), vec![Value::from("hello")]);
    assert_eq!(
        to_args(&"hello".to_owned()).unwrap(),
        vec![Value::from("hello")]
    );
    assert_eq!(to_args(&5u8).unwrap(), vec![Value::from(5)]);
    assert_eq!(to_args(&-5i64).unwrap(), vec![Value::from(-5)]);
    assert_eq!(to_args(&'c').unwrap(), vec![Value::from("c")]);
    assert_eq!(to_args(&2.5f64).unwrap(), vec![Value::F64(2.5)]);
    assert_eq!(to_args(&true).unwrap(), vec![Value::from(true)]);
    assert_eq!(
        to_args(&vec![1, 2]).unwrap(),
        vec![Value::Array(vec![Value::from(1), Value::from(2)])]
    );
    assert_eq!(from_args::<String>(vec![Value::from("hi")]).unwrap(), "hi");
    assert_eq!(
        from_args::<String>(vec![Value::from("hi"), Value::from(1)]).unwrap(),
        "hi"
    );
    assert_eq!(from_args::<u16>(vec![Value::from(300)]).unwrap(), 300);
    assert!(from_args::<u8>(vec![Value::from(300)]).is_err());
    assert_eq!(from_args::<f64>(vec![Value::from(3)]).unwrap(), 3.0);
    let err = from_args::<String>(vec![]).unwrap_err();
    assert!(matches!(err, crate::DecodeError::Deserialize(_)), "{err}");
    assert!(from_args::<String>(vec![Value::from(1)]).is_err());
}

#[test]
fn tuples_are_one_argument_per_element() {
    let args = to_args(&("a", 2, true)).unwrap();
    assert_eq!(
        args,
        vec![Value::from("a"), Value::from(2), Value::from(true)]
    );
    let (a, b, c): (String, i32, bool) = from_args(args).unwrap();
    assert_eq!((a.as_str(), b, c), ("a", 2, true));

    assert_eq!(to_args(&(1,)).unwrap(), vec![Value::from(1)]);
    let (one,): (u32,) = from_args(vec![Value::from(1), Value::from(2)]).unwrap();
    assert_eq!(one, 1);

    // Tuple structs mirror tuples.
    let args = to_args(&Pair("x".into(), 3)).unwrap();
    assert_eq!(args, vec![Value::from("x"), Value::from(3)]);
    assert_eq!(from_args::<Pair>(args).unwrap(), Pair("x".into(), 3));

    // Newtypes are transparent.
    assert_eq!(to_args(&Meters(1.5)).unwrap(), vec![Value::F64(1.5)]);
    assert_eq!(
        from_args::<Meters>(vec![Value::F64(1.5)]).unwrap(),
        Meters(1.5)
    );
}

#[test]
fn missing_and_extra_tuple_arguments() {
    let (a, b): (String, Option<u32>) = from_args(vec![Value::from("a")]).unwrap();
    assert_eq!((a.as_str(), b), ("a", None));
    let (a, b): (String, Option<u32>) =
        from_args(vec![Value::from("a"), Value::from(4), Value::from("extra")]).unwrap();
    assert_eq!((a.as_str(), b), ("a", Some(4)));
    let err = from_args::<(String, u32)>(vec![Value::from("a")]).unwrap_err();
    assert_eq!(
        err,
        crate::DecodeError::Deserialize("expected 2 arguments, got 1".into())
    );
    assert!(from_args::<(String, u32)>(vec![Value::from(1), Value::from(2)]).is_err());
}

#[test]
fn structs_are_maps() {
    let user = User {
        name: "Ann".into(),
        age: 33,
        tags: vec!["a".into()],
        avatar: Some(Bytes::from_static(&[1, 2])),
    };
    let args = to_args(&user).unwrap();
    assert_eq!(
        args,
        vec![map(&[
            ("name", Value::from("Ann")),
            ("age", Value::from(33)),
            ("tags", Value::Array(vec![Value::from("a")])),
            ("avatar", Value::Binary(vec![1, 2])),
        ])]
    );
    assert_eq!(
        to_json(&args),
        r#"61-0[{"name":"Ann","age":33,"tags":["a"],"avatar":{"_placeholder":true,"num":0}}]"#
    );
    assert_eq!(from_args::<User>(args.clone()).unwrap(), user);
    assert_eq!(from_value::<User>(args[0].clone()).unwrap(), user);
    assert_eq!(to_value(&user).unwrap(), args[0]);

    // Parsed from JSON, with a missing defaulted field and null option.
    let parsed: Value = serde_json::from_str(r#"{"name":"Bob","age":7,"avatar":null}"#).unwrap();
    assert_eq!(
        from_args::<User>(vec![parsed]).unwrap(),
        User {
            name: "Bob".into(),
            age: 7,
            tags: vec![],
            avatar: None
        }
    );
    let wrong: Value = serde_json::from_str(r#"{"name":1,"age":7}"#).unwrap();
    assert!(from_args::<User>(vec![wrong]).is_err());
}

#[test]
fn bytes_are_binary() {
    let data = Bytes::from_static(&[1, 2, 3]);
    let args = to_args(&data).unwrap();
    assert_eq!(args, vec![Value::Binary(vec![1, 2, 3])]);
    assert_eq!(from_args::<Bytes>(args.clone()).unwrap(), data);
    assert_eq!(from_value::<Bytes>(args[0].clone()).unwrap(), data);
    let (text, bin): (String, Bytes) =
        from_args(vec![Value::from("t"), Value::Binary(vec![9])]).unwrap();
    assert_eq!((text.as_str(), &bin[..]), ("t", &[9u8][..]));
}

#[test]
fn options() {
    assert_eq!(to_args(&Some(1)).unwrap(), vec![Value::from(1)]);
    assert_eq!(to_args(&None::<u32>).unwrap(), vec![Value::Nil]);
    assert_eq!(from_args::<Option<u32>>(vec![]).unwrap(), None);
    assert_eq!(from_args::<Option<u32>>(vec![Value::Nil]).unwrap(), None);
    assert_eq!(
        from_args::<Option<u32>>(vec![Value::from(5)]).unwrap(),
        Some(5)
    );
    assert!(from_args::<Option<u32>>(vec![Value::from("x")]).is_err());
}

#[test]
fn sequences_are_one_argument_like_in_to_args() {
    let args = vec![Value::from(1), Value::from("2"), Value::Nil];
    // a Vec is one (array) argument, both ways
    let list = vec![Value::Array(args.clone()), Value::from("ignored")];
    assert_eq!(from_args::<Vec<Value>>(list).unwrap(), args);
    assert!(from_args::<Vec<Value>>(args.clone()).is_err());
    assert_eq!(from_args::<Value>(args.clone()).unwrap(), Value::from(1));
    assert_eq!(from_args::<Value>(vec![]).unwrap(), Value::Nil);
    assert_eq!(
        from_args::<Vec<u32>>(vec![Value::Array(vec![Value::from(1), Value::from(2)])]).unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        from_args::<serde_json::Value>(vec![map(&[("a", Value::from(1))])]).unwrap(),
        serde_json::json!({"a": 1})
    );
    // to_args of a Vec<Value> is one array argument.
    assert_eq!(to_args(&args).unwrap(), vec![Value::Array(args.clone())]);
}

#[test]
fn enums_follow_json_conventions() {
    let cases = [
        (Shape::Dot, Value::from("Dot")),
        (Shape::Circle(1.5), map(&[("Circle", Value::F64(1.5))])),
        (
            Shape::Rect(2, 3),
            map(&[("Rect", Value::Array(vec![Value::from(2), Value::from(3)]))]),
        ),
        (
            Shape::Named { name: "n".into() },
            map(&[("Named", map(&[("name", Value::from("n"))]))]),
        ),
    ];
    for (shape, value) in cases {
        assert_eq!(to_value(&shape).unwrap(), value);
        assert_eq!(to_args(&shape).unwrap(), vec![value.clone()]);
        assert_eq!(from_value::<Shape>(value.clone()).unwrap(), shape);
        assert_eq!(from_args::<Shape>(vec![value]).unwrap(), shape);
    }
    assert_eq!(
        from_value::<Shape>(map(&[("Dot", Value::Nil)])).unwrap(),
        Shape::Dot
    );
    assert!(from_value::<Shape>(Value::from("Nope")).is_err());
    assert!(from_value::<Shape>(Value::from(0)).is_err());
    assert!(from_value::<Shape>(Value::Map(vec![])).is_err());
}

#[test]
fn values_round_trip_unchanged() {
    let value = Value::Array(vec![
        Value::Nil,
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::F32(0.5),
        Value::F64(0.25),
        Value::Binary(vec![0, 255]),
        Value::Ext(3, vec![1, 2]),
        Value::Map(vec![
            (Value::from(1), Value::from("int key")),
            (Value::from("s"), Value::Map(vec![])),
        ]),
    ]);
    assert_eq!(to_value(&value).unwrap(), value);
    assert_eq!(from_value::<Value>(value.clone()).unwrap(), value);
    assert_eq!(to_args(&value).unwrap(), vec![value.clone()]);
    assert_eq!(from_args::<Value>(vec![value.clone()]).unwrap(), value);
}

#[test]
fn string_map_keys_convert_to_numbers() {
    let value: Value = serde_json::from_str(r#"{"1":"a","20":"b"}"#).unwrap();
    let parsed: HashMap<u32, String> = from_value(value.clone()).unwrap();
    assert_eq!(parsed.get(&20).map(String::as_str), Some("b"));
    let parsed: BTreeMap<String, String> = from_value(value).unwrap();
    assert_eq!(parsed.len(), 2);
    let bad: Value = serde_json::from_str(r#"{"x":"a"}"#).unwrap();
    assert!(from_value::<HashMap<u32, String>>(bad).is_err());
    let mut source = BTreeMap::new();
    source.insert(7u32, "x");
    let value = to_value(&source).unwrap();
    assert_eq!(value, Value::Map(vec![(Value::from(7), Value::from("x"))]));
    assert_eq!(to_json(&[value]), r#"30[{"7":"x"}]"#);
}

#[test]
fn fixed_size_arrays_spread() {
    assert_eq!(
        to_args(&[1u8, 2]).unwrap(),
        vec![Value::from(1), Value::from(2)]
    );
}

#[test]
fn serialize_errors_surface() {
    struct Failing;
    impl Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    let err = to_args(&Failing).unwrap_err();
    assert!(
        matches!(&err, crate::EncodeError::Serialize(m) if m == "nope"),
        "{err}"
    );
    assert!(to_value(&(1u128 << 70)).is_err());
    assert_eq!(to_value(&5u128).unwrap(), Value::from(5));
    assert_eq!(to_value(&-5i128).unwrap(), Value::from(-5));
}
