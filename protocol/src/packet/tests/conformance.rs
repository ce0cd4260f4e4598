//! Every example of the protocol conformance notes, both directions.

use bytes::Bytes;
use rmpv::Value;

use super::*;

#[test]
fn conformance_connect() {
    assert_eq!(
        complete("0"),
        Packet {
            ns: "/".into(),
            id: None,
            data: PacketData::Connect(None)
        }
    );
    assert_eq!(
        complete(r#"0{"token":"123"}"#).data,
        PacketData::Connect(Some(json(r#"{"token":"123"}"#)))
    );
    for text in ["0/custom,", "0/custom"] {
        let packet = complete(text);
        assert_eq!(packet.ns, "/custom");
        assert_eq!(packet.data, PacketData::Connect(None));
    }
    let packet = complete(r#"0/custom,{"token":"abc"}"#);
    assert_eq!(packet.ns, "/custom");
    assert_eq!(
        packet.data,
        PacketData::Connect(Some(json(r#"{"token":"abc"}"#)))
    );
    assert_eq!(complete("0/random").ns, "/random");
}

#[test]
fn conformance_disconnect() {
    assert_eq!(complete("1").data, PacketData::Disconnect);
    let packet = complete("1/custom");
    assert_eq!(packet.ns, "/custom");
    assert_eq!(packet.data, PacketData::Disconnect);
    assert_eq!(complete("1/custom,").ns, "/custom");
}

#[test]
fn conformance_plain_event() {
    let packet = complete(r#"2["message",1,"2",{"3":[true]}]"#);
    assert_eq!(packet.ns, "/");
    assert_eq!(packet.id, None);
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "message".into(),
            args: vec![Value::from(1), Value::from("2"), json(r#"{"3":[true]}"#)],
        }
    );
    let packet = complete(r#"2["message","message to main namespace"]"#);
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "message".into(),
            args: vec![Value::from("message to main namespace")],
        }
    );
}

#[test]
fn conformance_binary_event() {
    let text = format!(r#"52-["message",{},{}]"#, placeholder(0), placeholder(1));
    let mut partial = partial(&text);
    assert_eq!(partial.remaining(), 2);
    assert_eq!(partial.push(Bytes::from_static(&[1, 2, 3])), Ok(None));
    assert_eq!(partial.remaining(), 1);
    let packet = partial
        .push(Bytes::from_static(&[4, 5, 6]))
        .unwrap()
        .unwrap();
    assert_eq!(partial.remaining(), 0);
    assert_eq!(
        packet,
        Packet {
            ns: "/".into(),
            id: None,
            data: PacketData::Event {
                event: "message".into(),
                args: vec![bin(&[1, 2, 3]), bin(&[4, 5, 6])],
            },
        }
    );
    assert_eq!(
        partial.push(Bytes::from_static(&[7])),
        Err(DecodeError::UnexpectedAttachment)
    );
}

#[test]
fn conformance_event_with_ack() {
    let packet = complete(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#);
    assert_eq!(packet.id, Some(456));
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "message-with-ack".into(),
            args: vec![Value::from(1), Value::from("2"), json(r#"{"3":[false]}"#)],
        }
    );
}

#[test]
fn conformance_binary_event_with_ack() {
    let text = format!(
        r#"52-789["message-with-ack",{},{}]"#,
        placeholder(0),
        placeholder(1)
    );
    let mut partial = partial(&text);
    assert_eq!(partial.push(Bytes::from_static(&[1, 2, 3])), Ok(None));
    let packet = partial
        .push(Bytes::from_static(&[4, 5, 6]))
        .unwrap()
        .unwrap();
    assert_eq!(packet.id, Some(789));
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "message-with-ack".into(),
            args: vec![bin(&[1, 2, 3]), bin(&[4, 5, 6])],
        }
    );
}

// ---- conformance examples, encode side ----

#[test]
fn conformance_connect_ack() {
    let (text, attachments) = encode_str(PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Connect {
            sid: "x",
            pid: None,
        },
    });
    assert_eq!(text, r#"0{"sid":"x"}"#);
    assert!(attachments.is_empty());
    let (text, _) = encode_str(PacketRef {
        ns: "/custom",
        id: None,
        data: DataRef::Connect {
            sid: "a\"b",
            pid: None,
        },
    });
    assert_eq!(text, r#"0/custom,{"sid":"a\"b"}"#);
    // with connection state recovery, the private session id follows the sid
    let (text, _) = encode_str(PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Connect {
            sid: "x",
            pid: Some("p\"q"),
        },
    });
    assert_eq!(text, r#"0{"sid":"x","pid":"p\"q"}"#);
}

#[test]
fn conformance_connect_error() {
    let value = Value::Map(vec![(
        Value::from("message"),
        Value::from("Invalid namespace"),
    )]);
    let (text, _) = encode_str(PacketRef {
        ns: "/random",
        id: None,
        data: DataRef::ConnectError(&value),
    });
    assert_eq!(text, r#"4/random,{"message":"Invalid namespace"}"#);
}

#[test]
fn conformance_auth_event() {
    let auth = [Value::Map(vec![])];
    let (text, _) = encode_str(PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Event {
            event: "auth",
            args: &auth,
        },
    });
    assert_eq!(text, r#"2["auth",{}]"#);
    let auth = [json(r#"{"token":"abc"}"#)];
    let (text, _) = encode_str(PacketRef {
        ns: "/custom",
        id: None,
        data: DataRef::Event {
            event: "auth",
            args: &auth,
        },
    });
    assert_eq!(text, r#"2/custom,["auth",{"token":"abc"}]"#);
}

#[test]
fn conformance_echo_and_ack() {
    let args = [Value::from(1), Value::from("2"), json(r#"{"3":[true]}"#)];
    let (text, _) = encode_str(PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Event {
            event: "message-back",
            args: &args,
        },
    });
    assert_eq!(text, r#"2["message-back",1,"2",{"3":[true]}]"#);

    let args = [Value::from(1), Value::from("2"), json(r#"{"3":[false]}"#)];
    let (text, _) = encode_str(PacketRef {
        ns: "/",
        id: Some(456),
        data: DataRef::Ack(&args),
    });
    assert_eq!(text, r#"3456[1,"2",{"3":[false]}]"#);
}

#[test]
fn conformance_binary_echo_and_ack() {
    let args = [bin(&[1, 2, 3]), bin(&[4, 5, 6])];
    let expected_attachments = vec![
        Bytes::from_static(&[1, 2, 3]),
        Bytes::from_static(&[4, 5, 6]),
    ];
    let (text, attachments) = encode_str(PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Event {
            event: "message-back",
            args: &args,
        },
    });
    assert_eq!(
        text,
        format!(
            r#"52-["message-back",{},{}]"#,
            placeholder(0),
            placeholder(1)
        )
    );
    assert_eq!(attachments, expected_attachments);

    let (text, attachments) = encode_str(PacketRef {
        ns: "/",
        id: Some(789),
        data: DataRef::Ack(&args),
    });
    assert_eq!(
        text,
        format!(r#"62-789[{},{}]"#, placeholder(0), placeholder(1))
    );
    assert_eq!(attachments, expected_attachments);
}
