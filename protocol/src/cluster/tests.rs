use super::*;

fn opts() -> BroadcastOpts {
    BroadcastOpts {
        rooms: vec!["r1".into(), "r2".into()],
        except: vec!["x".into()],
        volatile: true,
        local: false,
    }
}

fn every_body() -> Vec<Body> {
    let args = vec![
        Value::from("s"),
        Value::from(-3),
        Value::F64(1.5),
        Value::Binary(vec![0, 255]),
        Value::Map(vec![(Value::from("k"), Value::Array(vec![Value::Nil]))]),
    ];
    vec![
        Body::InitialHeartbeat,
        Body::Heartbeat,
        Body::Broadcast {
            opts: opts(),
            event: "ev".into(),
            args: args.clone(),
            ack: None,
        },
        Body::Broadcast {
            opts: BroadcastOpts::default(),
            event: "ev".into(),
            args: vec![],
            ack: Some(AckRequest {
                id: u64::MAX,
                timeout_ms: 5000,
            }),
        },
        Body::SocketsJoin {
            opts: opts(),
            rooms: vec!["a".into()],
        },
        Body::SocketsLeave {
            opts: opts(),
            rooms: vec![],
        },
        Body::DisconnectSockets {
            opts: opts(),
            close: true,
        },
        Body::FetchSockets {
            opts: opts(),
            request_id: 7,
        },
        Body::FetchSocketsResponse {
            request_id: 7,
            sockets: vec![RemoteSocket {
                id: "abc".into(),
                nsp: "/chat".into(),
                rooms: vec!["abc".into(), "r".into()],
                auth: Value::Map(vec![(Value::from("token"), Value::from("t"))]),
                url: "/socket.io/?EIO=4".into(),
                address: Some("127.0.0.1".into()),
            }],
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: args.clone(),
            request_id: Some(3),
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: vec![],
            request_id: None,
        },
        Body::ServerSideEmitResponse {
            request_id: 3,
            args: args.clone(),
        },
        Body::BroadcastClientCount {
            request_id: 9,
            sids: vec!["s1".into()],
        },
        Body::BroadcastAck {
            request_id: 9,
            sid: "s1".into(),
            args,
        },
        Body::AdapterClose,
    ]
}

#[test]
fn every_message_round_trips() {
    for (i, body) in every_body().into_iter().enumerate() {
        let msg = Message {
            uid: "0123456789abcdef".into(),
            nsp: if i % 2 == 0 { "/" } else { "/chat" }.into(),
            body,
        };
        let bytes = msg.encode().expect("encode");
        assert_eq!(Message::decode(&bytes).expect("decode"), msg);
    }
}

#[test]
fn type_numbers_follow_node() {
    let numbers: Vec<u8> = every_body()
        .into_iter()
        .map(|body| {
            Message {
                uid: "u".into(),
                nsp: "/".into(),
                body,
            }
            .type_number()
        })
        .collect();
    assert_eq!(
        numbers,
        vec![1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11, 12, 13]
    );
}

#[test]
fn foreign_bytes_are_errors_not_panics() {
    let good = Message {
        uid: "u".into(),
        nsp: "/".into(),
        body: every_body().swap_remove(2),
    }
    .encode()
    .expect("encode");
    for end in 0..good.len() {
        assert!(Message::decode(&good[..end]).is_err(), "prefix {end}");
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5000 {
        let len = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = Message::decode(&bytes);
    }
    let deep: Vec<u8> = std::iter::repeat_n(0x91u8, 100_000).collect();
    assert!(Message::decode(&deep).is_err());
    // a map without uid, or of an unknown type
    let no_uid =
        write_value(&Value::Map(vec![(Value::from("type"), Value::from(2))])).expect("encode");
    assert!(Message::decode(&no_uid).is_err());
    let unknown = write_value(&Value::Map(vec![
        (Value::from("uid"), Value::from("u")),
        (Value::from("type"), Value::from(99)),
    ]))
    .expect("encode");
    assert!(Message::decode(&unknown).is_err());
}

#[test]
fn peek_uid_agrees_with_decode() {
    for uid in [
        "",
        "a1b2c3d4e5f60718",
        &"x".repeat(31),
        &"y".repeat(32),
        &"z".repeat(255),
    ] {
        let msg = Message {
            uid: uid.to_owned(),
            nsp: "/".into(),
            body: Body::Heartbeat,
        };
        let bytes = msg.encode().expect("encode");
        assert_eq!(Message::peek_uid(&bytes), Some(uid));
        assert_eq!(Message::decode(&bytes).expect("decode").uid, uid);
    }
    // uid not first, or not a string: no answer, decode decides
    let later = write_value(&Value::Map(vec![
        (Value::from("type"), Value::from(2)),
        (Value::from("uid"), Value::from("u")),
    ]))
    .expect("encode");
    assert_eq!(Message::peek_uid(&later), None);
    let number =
        write_value(&Value::Map(vec![(Value::from("uid"), Value::from(7))])).expect("encode");
    assert_eq!(Message::peek_uid(&number), None);
    // truncated input never panics
    let bytes = Message {
        uid: "a1b2".into(),
        nsp: "/".into(),
        body: Body::Heartbeat,
    }
    .encode()
    .expect("encode");
    for end in 0..bytes.len() {
        let _ = Message::peek_uid(&bytes[..end]);
    }
}

#[test]
fn broadcasts_are_written_as_the_generic_encoder_writes_them() {
    for body in every_body() {
        let Body::Broadcast {
            opts,
            event,
            args,
            ack,
        } = body.clone()
        else {
            continue;
        };
        let msg = Message {
            uid: "a1b2c3d4e5f60718".into(),
            nsp: "/chat".into(),
            body,
        };
        let data = to_value(&BroadcastData {
            opts,
            event,
            args,
            ack,
        })
        .expect("to_value");
        let generic = write_value(&Value::Map(vec![
            (Value::from("uid"), Value::from(msg.uid.as_str())),
            (Value::from("nsp"), Value::from(msg.nsp.as_str())),
            (Value::from("type"), Value::from(3)),
            (Value::from("data"), data),
        ]))
        .expect("encode");
        assert_eq!(msg.encode().expect("encode"), generic);
    }
}
