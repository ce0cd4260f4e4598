use super::*;
use crate::cluster::{AckRequest, Body, BroadcastOpts, Message, NodeInfo, RemoteSocket};

fn msg(body: Body) -> Message {
    Message {
        uid: "0123456789abcdef".into(),
        nsp: "/chat".into(),
        body,
    }
}

fn opts() -> BroadcastOpts {
    BroadcastOpts {
        rooms: vec!["r1".into()],
        except: vec!["r2".into()],
        volatile: true,
        local: false,
    }
}

/// Every type Node has goes out and comes back the same, through an entry and through pub/sub.
#[test]
fn round_trips() {
    let bodies = vec![
        Body::InitialHeartbeat(NodeInfo::default()),
        Body::Heartbeat(NodeInfo::default()),
        Body::AdapterClose,
        Body::Broadcast {
            opts: opts(),
            event: "ev".into(),
            args: vec![Value::from(1), Value::Binary(vec![1, 2])],
            offset: None,
            ack: None,
        },
        Body::Broadcast {
            opts: opts(),
            event: "ev".into(),
            args: vec![Value::from("x")],
            offset: None,
            ack: Some(AckRequest {
                id: 0xfeed,
                timeout_ms: 1234,
            }),
        },
        Body::SocketsJoin {
            opts: opts(),
            rooms: vec!["a".into()],
        },
        Body::SocketsLeave {
            opts: opts(),
            rooms: vec!["a".into()],
        },
        Body::DisconnectSockets {
            opts: opts(),
            close: true,
        },
        Body::FetchSockets {
            opts: opts(),
            request_id: u64::MAX,
        },
        Body::FetchSocketsResponse {
            request_id: 7,
            sockets: vec![RemoteSocket {
                id: "abcdefghijABCDEFGHIJ".into(),
                nsp: "/chat".into(),
                rooms: vec!["abcdefghijABCDEFGHIJ".into(), "r1".into()],
                auth: Value::Map(vec![(Value::from("token"), Value::from("t"))]),
                url: "/socket.io/?EIO=4".into(),
                address: Some("127.0.0.1".into()),
            }],
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: vec![Value::from(true)],
            request_id: Some(3),
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: vec![],
            request_id: None,
        },
        Body::ServerSideEmitResponse {
            request_id: 3,
            args: vec![Value::from("pong")],
        },
        Body::BroadcastClientCount {
            request_id: 3,
            sids: vec![String::new(), String::new()],
        },
        Body::BroadcastClientCount {
            request_id: 3,
            sids: vec!["abcdefghijABCDEFGHIJ".into()],
        },
        Body::BroadcastAck {
            request_id: 3,
            sid: String::new(),
            args: vec![Value::from(5)],
        },
        Body::BroadcastAck {
            request_id: 3,
            sid: "abcdefghijABCDEFGHIJ".into(),
            args: vec![Value::from(5)],
        },
    ];
    for body in bodies {
        let m = msg(body);
        let entry = to_entry(&m).expect("valid");
        assert_eq!(
            from_entry(&entry, None).expect("valid"),
            m,
            "entry {entry:?}"
        );
        let bytes = to_msgpack(&m).expect("valid");
        assert_eq!(from_msgpack(&bytes).expect("valid"), m);
        let sharded = to_sharded(&m).expect("valid");
        assert_eq!(from_sharded(&sharded).expect("valid"), m, "{sharded:?}");
    }
}

/// Node's sharded adapter publishes JSON unless the data holds binary; Volley does the same, and
/// reads what Node writes (fields in Node's order, an ack without argument).
#[test]
fn sharded_messages_are_json_unless_binary() {
    let join = msg(Body::SocketsJoin {
        opts: BroadcastOpts::default(),
        rooms: vec!["a".into()],
    });
    assert_eq!(
        &to_sharded(&join).expect("valid")[..],
        br#"{"uid":"0123456789abcdef","nsp":"/chat","type":4,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["a"]}}"#
    );
    let binary = msg(Body::Broadcast {
        opts: BroadcastOpts::default(),
        event: "b".into(),
        args: vec![Value::Binary(vec![0xff])],
        offset: None,
        ack: None,
    });
    let bytes = to_sharded(&binary).expect("valid");
    assert_ne!(bytes[0], b'{');
    assert_eq!(from_msgpack(&bytes).expect("valid"), binary);

    let from_node = br#"{"type":12,"data":{"requestId":"00000000000000ff"},"uid":"abc","nsp":"/"}"#;
    let read = from_sharded(from_node).expect("valid");
    assert_eq!(read.uid, "abc");
    assert_eq!(
        read.body,
        Body::BroadcastAck {
            request_id: 255,
            sid: String::new(),
            args: vec![Value::Nil],
        }
    );
    let broadcast = br#"{"type":3,"data":{"packet":{"type":2,"data":["ev",1,"x"],"nsp":"/"},"opts":{"rooms":["r"],"except":[],"flags":{}}},"uid":"abc","nsp":"/"}"#;
    let Body::Broadcast {
        opts, event, args, ..
    } = from_sharded(broadcast).expect("valid").body
    else {
        panic!("not a broadcast");
    };
    assert_eq!(
        (opts.rooms, event),
        (vec!["r".to_string()], "ev".to_string())
    );
    assert_eq!(args, vec![Value::from(1), Value::from("x")]);
}

/// What Node's cluster protocol has no use for rides in Volley's own encoding, under its type
/// number, which Node's nodes skip.
#[test]
fn sharded_carries_volleys_own_messages() {
    let transfer = msg(Body::RestoreSession {
        request_id: 1,
        pid: "p".into(),
        offset: Some("1-0".into()),
    });
    let offset = msg(Body::Broadcast {
        opts: opts(),
        event: "ev".into(),
        args: vec![],
        offset: Some("1700000000000-3".into()),
        ack: None,
    });
    let bytes = to_sharded(&offset).expect("valid");
    assert!(std::str::from_utf8(&bytes)
        .expect("JSON")
        .contains(r#""offset":"1700000000000-3""#));
    assert_eq!(from_sharded(&bytes).expect("valid"), offset);
    let bytes = to_sharded(&transfer).expect("valid");
    let Value::Map(fields) = crate::msgpack::read_value(&bytes).expect("msgpack") else {
        panic!("not a map");
    };
    let kind = fields.iter().find(|(k, _)| k.as_str() == Some("type"));
    assert_eq!(kind.and_then(|(_, v)| v.as_u64()), Some(100));
    assert_eq!(from_sharded(&bytes).expect("valid"), transfer);
}

#[test]
fn malformed_sharded_messages_are_errors() {
    for bad in [
        &b""[..],
        b"{",
        b"{}",
        b"[1,2]",
        br#"{"uid":"a","type":3}"#,
        br#"{"uid":"a","type":3,"data":{"packet":{"type":2,"data":[]}}}"#,
        b"\x81\xa4type\x02",
    ] {
        assert!(from_sharded(bad).is_err(), "{bad:?}");
    }
    // a Volley message inside that is not one
    let mut junk = vec![0x84];
    for (k, v) in [("uid", "a"), ("nsp", "/")] {
        junk.push(0xa0 | k.len() as u8);
        junk.extend_from_slice(k.as_bytes());
        junk.push(0xa0 | v.len() as u8);
        junk.extend_from_slice(v.as_bytes());
    }
    junk.extend_from_slice(b"\xa4type\x02\xa4data\x81\xa6volley\xc4\x01\x00");
    assert!(from_sharded(&junk).is_err());
}

#[test]
fn binary_data_is_base64_msgpack_and_the_rest_json() {
    let plain = msg(Body::SocketsJoin {
        opts: BroadcastOpts::default(),
        rooms: vec!["a".into()],
    });
    let entry = to_entry(&plain).expect("valid");
    assert_eq!(
        entry.data.as_deref(),
        Some(r#"{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["a"]}"#)
    );
    let binary = msg(Body::Broadcast {
        opts: BroadcastOpts::default(),
        event: "b".into(),
        args: vec![Value::Binary(vec![0xff])],
        offset: None,
        ack: None,
    });
    let data = to_entry(&binary).expect("valid").data.expect("valid");
    assert!(!data.starts_with('{'));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&data)
        .expect("valid");
    assert!(crate::msgpack::read_value(&raw).is_ok());
}

/// What Node's answers look like: one value, no socket ids, a count.
#[test]
fn node_answers() {
    let count = Entry {
        uid: "n".into(),
        nsp: "/".into(),
        kind: "11".into(),
        data: Some(r#"{"requestId":"00000000000000ff","clientCount":3}"#.into()),
    };
    let Body::BroadcastClientCount { request_id, sids } =
        from_entry(&count, None).expect("valid").body
    else {
        panic!()
    };
    assert_eq!((request_id, sids.len()), (255, 3));
    let huge = Entry {
        data: Some(r#"{"requestId":"00000000000000ff","clientCount":1e300}"#.into()),
        ..count.clone()
    };
    assert!(from_entry(&huge, None).is_err());
    let many = Entry {
        data: Some(r#"{"requestId":"00000000000000ff","clientCount":99999999999}"#.into()),
        ..count
    };
    let Body::BroadcastClientCount { sids, .. } = from_entry(&many, None).expect("valid").body
    else {
        panic!()
    };
    assert_eq!(sids.len() as u64, MAX_CLIENT_COUNT);
}

/// Whatever a stranger writes into the stream is an error, never a panic.
#[test]
fn malformed_entries_are_errors() {
    let cases = [
        ("3", Some("{")),
        ("3", Some("not base64 !!")),
        ("3", Some(r#"{"packet":{"type":2,"data":[]}}"#)),
        ("3", Some(r#"{"packet":{"type":0,"data":["e"]}}"#)),
        (
            "3",
            Some(r#"{"packet":{"type":2,"data":["e"]},"requestId":"xyz"}"#),
        ),
        ("7", Some(r#"{"requestId":5}"#)),
        ("4", Some(r#"{"rooms":[{}]}"#)),
        ("x", None),
        ("99", None),
        ("3", Some("[1]")),
    ];
    for (kind, data) in cases {
        let entry = Entry {
            uid: "n".into(),
            nsp: "/".into(),
            kind: kind.into(),
            data: data.map(str::to_owned),
        };
        assert!(from_entry(&entry, None).is_err(), "{kind} {data:?}");
    }
    assert!(from_msgpack(b"\x93\x01\x02\x03").is_err());
    assert!(from_msgpack(b"").is_err());
}

#[test]
fn session_transfer_has_no_node_shape() {
    let m = msg(Body::RestoreSession {
        request_id: 1,
        pid: "p".into(),
        offset: None,
    });
    assert!(to_entry(&m).is_err());
    assert!(is_ephemeral(&m.body));
}
