//! How values are written as JSON, and what cannot be encoded.

use bytes::Bytes;
use rmpv::Value;

use super::*;

fn encode_ack_without_id(args: &[Value]) -> Result<String, EncodeError> {
    let mut out = String::new();
    encode(
        &PacketRef {
            ns: "/",
            id: None,
            data: DataRef::Ack(args),
        },
        &mut out,
    )?;
    Ok(out)
}

fn encode_ack(args: &[Value]) -> Result<String, EncodeError> {
    let mut out = String::new();
    encode(
        &PacketRef {
            ns: "/",
            id: Some(1),
            data: DataRef::Ack(args),
        },
        &mut out,
    )?;
    Ok(out)
}

#[test]
fn json_rules_for_values() {
    let lossy: Value = rmpv::decode::read_value(&mut &[0xa2, 0xff, b'a'][..]).unwrap();
    let args = [
        Value::Nil,
        Value::from(false),
        Value::from(i64::MIN),
        Value::from(u64::MAX),
        Value::F64(f64::NAN),
        Value::F64(f64::INFINITY),
        Value::F32(f32::NEG_INFINITY),
        Value::F64(0.5),
        Value::F32(0.1),
        Value::F64(-2.0),
        lossy,
        Value::from("\"\\\n\u{1}é"),
        Value::Map(vec![
            (Value::from(1), Value::from("int")),
            (Value::from(-2), Value::from("neg")),
            (Value::from(true), Value::from("bool")),
            (Value::Nil, Value::from("nil")),
            (Value::from("s"), Value::from("str")),
        ]),
    ];
    assert_eq!(
        encode_ack(&args).unwrap(),
        concat!(
            r#"31[null,false,-9223372036854775808,18446744073709551615,null,null,null,0.5,0.1,-2.0,"#,
            "\"\u{fffd}a\",",
            r#""\"\\\n\u0001é","#,
            r#"{"1":"int","-2":"neg","true":"bool","null":"nil","s":"str"}]"#
        )
    );
}

#[test]
fn encode_errors() {
    assert!(matches!(
        encode_ack(&[Value::Ext(1, vec![])]),
        Err(EncodeError::UnsupportedExt)
    ));
    assert!(matches!(
        encode_ack(&[Value::Array(vec![Value::Map(vec![(
            Value::from(1.5),
            Value::Nil
        )])])]),
        Err(EncodeError::InvalidMapKey("float"))
    ));
    for key in [bin(&[1]), Value::Array(vec![]), Value::Map(vec![])] {
        assert!(matches!(
            encode_ack(&[Value::Map(vec![(key, Value::Nil)])]),
            Err(EncodeError::InvalidMapKey(_))
        ));
    }
    assert!(matches!(
        encode_ack_without_id(&[]),
        Err(EncodeError::MissingAckId)
    ));

    let binary = Value::Map(vec![(Value::from("data"), bin(&[1]))]);
    let mut out = String::from("4");
    let bad: [PacketRef<'_>; 6] = [
        PacketRef {
            ns: "/",
            id: None,
            data: DataRef::ConnectError(&binary),
        },
        PacketRef {
            ns: "/",
            id: Some(1),
            data: DataRef::Connect {
                sid: "x",
                pid: None,
            },
        },
        PacketRef {
            ns: "/",
            id: Some(1),
            data: DataRef::Disconnect,
        },
        PacketRef {
            ns: "/",
            id: Some(1),
            data: DataRef::ConnectError(&Value::Nil),
        },
        PacketRef {
            ns: "custom",
            id: None,
            data: DataRef::Disconnect,
        },
        PacketRef {
            ns: "/a,b",
            id: None,
            data: DataRef::Disconnect,
        },
    ];
    let expected = ["UnexpectedBinary", "UnexpectedAckId", "UnexpectedAckId"];
    for (i, packet) in bad.iter().enumerate() {
        let err = encode(packet, &mut out).unwrap_err();
        if let Some(name) = expected.get(i) {
            assert!(format!("{err:?}").starts_with(name), "{err:?}");
        }
        assert_eq!(out, "4", "output must be left untouched on error");
    }
    assert!(matches!(
        encode(
            &PacketRef {
                ns: "",
                id: None,
                data: DataRef::Disconnect
            },
            &mut out
        ),
        Err(EncodeError::InvalidNamespace(_))
    ));
}

#[test]
fn connect_error_data_is_an_object_or_a_string() {
    // found by fuzzing: `4` then `44` read back as an acknowledgement id
    let mut out = String::new();
    for value in [
        Value::from(44),
        Value::from(-1),
        Value::Nil,
        Value::Array(vec![]),
    ] {
        let packet = PacketRef {
            ns: "/",
            id: None,
            data: DataRef::ConnectError(&value),
        };
        assert!(
            matches!(
                encode(&packet, &mut out),
                Err(EncodeError::InvalidConnectError)
            ),
            "{value}"
        );
        assert_eq!(out, "");
    }
    for (value, text) in [(Value::from("no"), r#"4"no""#), (Value::Map(vec![]), "4{}")] {
        let packet = PacketRef {
            ns: "/",
            id: None,
            data: DataRef::ConnectError(&value),
        };
        encode(&packet, &mut out).unwrap();
        assert_eq!(out, text);
        assert!(matches!(decode(&out, 0), Ok(Decoded::Complete(_))));
        out.clear();
    }
}

#[test]
fn encode_keeps_the_prefix() {
    let mut out = String::from("4");
    let args = [Value::from("x")];
    encode(
        &PacketRef {
            ns: "/custom",
            id: Some(3),
            data: DataRef::Event {
                event: "e",
                args: &args,
            },
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, r#"42/custom,3["e","x"]"#);
}

#[test]
fn nested_binary_numbering_is_depth_first() {
    let args = [
        Value::Map(vec![
            (Value::from("a"), bin(b"0")),
            (
                Value::from("b"),
                Value::Array(vec![
                    bin(b"1"),
                    Value::Map(vec![(Value::from("c"), bin(b"2"))]),
                ]),
            ),
        ]),
        bin(b"3"),
    ];
    let (text, attachments) = encode_str(PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Event {
            event: "e",
            args: &args,
        },
    });
    assert_eq!(
        text,
        format!(
            r#"54-["e",{{"a":{},"b":[{},{{"c":{}}}]}},{}]"#,
            placeholder(0),
            placeholder(1),
            placeholder(2),
            placeholder(3)
        )
    );
    assert_eq!(
        attachments,
        vec![
            Bytes::from_static(b"0"),
            Bytes::from_static(b"1"),
            Bytes::from_static(b"2"),
            Bytes::from_static(b"3"),
        ]
    );
}
