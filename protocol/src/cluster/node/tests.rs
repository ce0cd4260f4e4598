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
    }
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
