//! Encoding then decoding gives back the packet, in both namespaces.

use bytes::Bytes;
use rmpv::Value;

use super::*;

#[test]
fn round_trips_every_type_in_both_namespaces() {
    for ns in ["/", "/custom"] {
        for id in [None, Some(0), Some(12), Some(u64::MAX)] {
            let event = Packet {
                ns: ns.into(),
                id,
                data: PacketData::Event {
                    event: "hello \"world\"\n☃".into(),
                    args: vec![
                        Value::Nil,
                        Value::from(true),
                        Value::from(-5),
                        Value::from(u64::MAX),
                        Value::from(1.5),
                        Value::from("two"),
                        json(r#"{"a":[1,{"b":null}],"c":{}}"#),
                        Value::Array(vec![]),
                    ],
                },
            };
            let (text, decoded) = through_wire(&event);
            assert!(text.starts_with('2'), "{text}");
            assert_eq!(decoded, event);

            let no_args = Packet {
                ns: ns.into(),
                id,
                data: PacketData::Event {
                    event: "e".into(),
                    args: vec![],
                },
            };
            assert_eq!(through_wire(&no_args).1, no_args);

            if let Some(id) = id {
                let ack = Packet {
                    ns: ns.into(),
                    id: Some(id),
                    data: PacketData::Ack(vec![Value::from("ok"), json("[1,2]")]),
                };
                let (text, decoded) = through_wire(&ack);
                assert!(text.starts_with('3'), "{text}");
                assert_eq!(decoded, ack);

                let empty_ack = Packet {
                    ns: ns.into(),
                    id: Some(id),
                    data: PacketData::Ack(vec![]),
                };
                assert_eq!(through_wire(&empty_ack).1, empty_ack);

                let binary_ack = Packet {
                    ns: ns.into(),
                    id: Some(id),
                    data: PacketData::Ack(vec![bin(&[9]), Value::from(1)]),
                };
                let (text, decoded) = through_wire(&binary_ack);
                assert!(text.starts_with("61-"), "{text}");
                assert_eq!(decoded, binary_ack);
            }

            let binary = Packet {
                ns: ns.into(),
                id,
                data: PacketData::Event {
                    event: "bin".into(),
                    args: vec![
                        bin(&[1]),
                        Value::Map(vec![(
                            Value::from("nested"),
                            Value::Array(vec![bin(&[2, 2]), bin(&[])]),
                        )]),
                        bin(&[3, 3, 3]),
                    ],
                },
            };
            let (text, decoded) = through_wire(&binary);
            assert!(text.starts_with("54-"), "{text}");
            assert_eq!(decoded, binary);
        }

        let disconnect = Packet {
            ns: ns.into(),
            id: None,
            data: PacketData::Disconnect,
        };
        let (text, decoded) = through_wire(&disconnect);
        assert_eq!(
            text,
            if ns == "/" {
                "1".to_owned()
            } else {
                format!("1{ns},")
            }
        );
        assert_eq!(decoded, disconnect);

        let error = Packet {
            ns: ns.into(),
            id: None,
            data: PacketData::ConnectError(json(r#"{"message":"nope","data":[1]}"#)),
        };
        assert_eq!(through_wire(&error).1, error);

        let (text, _) = encode_str(PacketRef {
            ns,
            id: None,
            data: DataRef::Connect {
                sid: "abc",
                pid: None,
            },
        });
        let connect = complete(&text);
        assert_eq!(connect.ns, ns);
        assert_eq!(
            connect.data,
            PacketData::Connect(Some(json(r#"{"sid":"abc"}"#)))
        );
    }
}

#[test]
fn decode_then_encode_is_identity_for_canonical_text() {
    for text in [
        r#"2["a"]"#,
        r#"2/custom,["a",1,{"b":[true,null]}]"#,
        r#"212["a"]"#,
        r#"2/custom,12["a"]"#,
        r#"312[]"#,
        r#"3/custom,0["x"]"#,
        "1",
        "1/custom,",
        r#"4{"message":"x"}"#,
    ] {
        let packet = complete(text);
        let (encoded, _) = through_wire(&packet);
        assert_eq!(encoded, text);
    }
}

#[test]
fn placeholders_follow_their_num_not_their_position() {
    let text = format!(r#"52-["a",{},[{}]]"#, placeholder(1), placeholder(0));
    let mut partial = partial(&text);
    assert_eq!(partial.push(Bytes::from_static(b"first")), Ok(None));
    let packet = partial
        .push(Bytes::from_static(b"second"))
        .unwrap()
        .unwrap();
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "a".into(),
            args: vec![bin(b"second"), Value::Array(vec![bin(b"first")])],
        }
    );
}

#[test]
fn binary_ack_decodes_to_ack() {
    let text = format!(r#"61-/custom,5[{{"x":{}}}]"#, placeholder(0));
    let mut partial = partial(&text);
    let packet = partial.push(Bytes::from_static(&[7])).unwrap().unwrap();
    assert_eq!(packet.ns, "/custom");
    assert_eq!(packet.id, Some(5));
    assert_eq!(
        packet.data,
        PacketData::Ack(vec![Value::Map(vec![(Value::from("x"), bin(&[7]))])])
    );
}

#[test]
fn binary_packet_without_attachments_is_complete() {
    let packet = complete(r#"50-["a",1]"#);
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "a".into(),
            args: vec![Value::from(1)]
        }
    );
    assert_eq!(
        decode_err(&format!(r#"50-["a",{}]"#, placeholder(0))),
        DecodeError::InvalidPlaceholder
    );
}

#[test]
fn placeholder_in_plain_packet_stays_a_map() {
    let text = format!(r#"2["a",{}]"#, placeholder(0));
    assert_eq!(
        complete(&text).data,
        PacketData::Event {
            event: "a".into(),
            args: vec![json(&placeholder(0))],
        }
    );
}

#[test]
fn numbers_decode_as_integers_or_floats() {
    let packet = complete(r#"2["n",1,-1,18446744073709551615,1.5,1e3,-0.0]"#);
    let PacketData::Event { args, .. } = packet.data else {
        panic!()
    };
    assert_eq!(
        args,
        vec![
            Value::from(1),
            Value::from(-1),
            Value::from(u64::MAX),
            Value::F64(1.5),
            Value::F64(1000.0),
            Value::F64(-0.0),
        ]
    );
}
