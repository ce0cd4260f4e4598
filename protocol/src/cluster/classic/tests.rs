#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use crate::cluster::node::MAX_CLIENT_COUNT;
use crate::cluster::{NodeInfo, RemoteSocket};

const ME: &str = "00aa11bb22cc33dd";
const PEER: &str = "99ff88ee77dd66cc";

fn msg(uid: &str, nsp: &str, body: Body) -> Message {
    Message {
        uid: uid.into(),
        nsp: nsp.into(),
        body,
    }
}

fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOpts {
    BroadcastOpts {
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        except: except.iter().map(|r| r.to_string()).collect(),
        ..BroadcastOpts::default()
    }
}

/// What `peer` publishes, as node `me` reads it back from the channel it went on.
fn through(message: &Message, to: Option<&str>, me: &str) -> Option<Message> {
    let (route, bytes) = to_classic(message, to).unwrap();
    match route {
        Route::Broadcast { .. } => from_broadcast(&bytes, me).unwrap(),
        Route::Request => from_request(&bytes, &message.nsp, me).unwrap(),
        Route::Response => from_response(&bytes, &message.nsp, me).unwrap(),
    }
}

#[test]
fn every_message_crosses_between_volley_nodes() {
    let socket = RemoteSocket {
        id: "s1".into(),
        nsp: "/chat".into(),
        rooms: vec!["s1".into(), "r".into()],
        auth: Value::Map(vec![("token".into(), "t".into())]),
        url: "/socket.io/?EIO=4".into(),
        address: Some("127.0.0.1".into()),
    };
    let requests = [
        Body::Broadcast {
            opts: opts(&["a", "b"], &["c"]),
            event: "e".into(),
            args: vec![Value::from(1), Value::Binary(vec![1, 2])],
            offset: Some("o-1".into()),
            ack: None,
        },
        Body::Broadcast {
            opts: opts(&["a"], &[]),
            event: "e".into(),
            args: vec![],
            offset: None,
            ack: Some(AckRequest {
                id: 7,
                timeout_ms: 1234,
            }),
        },
        Body::SocketsJoin {
            opts: opts(&["a"], &["b"]),
            rooms: vec!["x".into()],
        },
        Body::SocketsLeave {
            opts: opts(&[], &[]),
            rooms: vec!["x".into(), "y".into()],
        },
        Body::DisconnectSockets {
            opts: opts(&["a"], &[]),
            close: true,
        },
        Body::FetchSockets {
            opts: opts(&["r"], &[]),
            request_id: 3,
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: vec![Value::from("x")],
            request_id: Some(4),
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: vec![],
            request_id: None,
        },
        Body::Heartbeat(NodeInfo::default()),
        Body::InitialHeartbeat(NodeInfo::default()),
        Body::AdapterClose,
    ];
    for body in requests {
        let m = msg(PEER, "/chat", body);
        assert_eq!(through(&m, None, ME), Some(m.clone()), "{m:?}");
        // the sender skips its own
        assert_eq!(through(&m, None, PEER), None, "{m:?}");
    }
    let answers = [
        Body::FetchSocketsResponse {
            request_id: 3,
            sockets: vec![socket],
        },
        Body::ServerSideEmitResponse {
            request_id: 4,
            args: vec![Value::from(1), Value::from(2)],
        },
        Body::BroadcastClientCount {
            request_id: 7,
            sids: vec!["s1".into(), "s2".into()],
        },
        Body::BroadcastAck {
            request_id: 7,
            sid: "s1".into(),
            args: vec![Value::from("ok")],
        },
        Body::RestoreSession {
            request_id: 9,
            pid: "p".into(),
            offset: Some("o".into()),
        },
    ];
    for body in answers {
        let m = msg(PEER, "/chat", body);
        assert_eq!(through(&m, Some(ME), ME), Some(m.clone()), "{m:?}");
        // an answer to another node is not read
        assert_eq!(through(&m, Some("1234567890abcdef"), ME), None, "{m:?}");
    }
}

#[test]
fn answers_need_their_requester() {
    let m = msg(
        PEER,
        "/",
        Body::ServerSideEmitResponse {
            request_id: 1,
            args: vec![],
        },
    );
    assert!(to_classic(&m, None).is_err());
}

#[test]
fn a_broadcast_to_one_room_takes_the_rooms_channel() {
    let one = msg(
        ME,
        "/",
        Body::Broadcast {
            opts: opts(&["r1"], &[]),
            event: "e".into(),
            args: vec![],
            offset: None,
            ack: None,
        },
    );
    let (route, bytes) = to_classic(&one, None).unwrap();
    assert_eq!(route.channel("k", "/"), "k#/#r1#");
    // without an offset, exactly what Node's emitter writes for the same emit
    let emitter = crate::classic::encode_broadcast(&crate::classic::BroadcastRef {
        uid: ME,
        nsp: "/",
        event: "e",
        args: &[],
        opts: &crate::classic::Opts {
            rooms: vec!["r1".into()],
            ..Default::default()
        },
    })
    .unwrap();
    assert_eq!(bytes, emitter);
    let mut two = one.clone();
    if let Body::Broadcast { opts: o, .. } = &mut two.body {
        *o = opts(&["r1", "r2"], &[]);
    }
    assert_eq!(to_classic(&two, None).unwrap().0.channel("k", "/"), "k#/#");
}

/// Requests as Node's adapter writes them (`JSON.stringify` in `@socket.io/redis-adapter` 8.3).
#[test]
fn reads_node_requests_and_answers_them_under_their_id() {
    let fetch =
        br#"{"uid":"Ab3dE9","requestId":"xYz123","type":5,"opts":{"rooms":["r"],"except":[]}}"#;
    let m = from_request(fetch, "/", ME).unwrap().unwrap();
    assert_eq!(m.uid, "Ab3dE9");
    let Body::FetchSockets {
        opts: o,
        request_id,
    } = m.body
    else {
        panic!("{m:?}")
    };
    assert_eq!(o.rooms, vec!["r".to_string()]);
    let answer = msg(
        ME,
        "/",
        Body::FetchSocketsResponse {
            request_id,
            sockets: vec![],
        },
    );
    let (route, bytes) = to_classic(&answer, Some("Ab3dE9")).unwrap();
    assert_eq!(route, Route::Response);
    let Value::Map(entries) = read_value(&bytes).unwrap() else {
        panic!()
    };
    let id = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("requestId"))
        .map(|(_, v)| v.as_str().unwrap().to_owned());
    assert_eq!(id.as_deref(), Some("xYz123"));

    let sse = br#"{"uid":"Ab3dE9","requestId":"Q","type":6,"data":["who",1]}"#;
    let m = from_request(sse, "/", ME).unwrap().unwrap();
    let Body::ServerSideEmit {
        event,
        args,
        request_id: Some(id),
    } = m.body
    else {
        panic!("{m:?}")
    };
    assert_eq!((event.as_str(), args), ("who", vec![Value::from(1)]));
    assert_eq!(answer_id("Ab3dE9", id), "Q");

    let join = br#"{"uid":"Ab3dE9","type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c"]}"#;
    assert_eq!(
        from_request(join, "/x", ME).unwrap().unwrap().body,
        Body::SocketsJoin {
            opts: opts(&["a"], &["b"]),
            rooms: vec!["c".into()]
        }
    );
    // an emitter's request has no uid
    let leave = br#"{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["c"]}"#;
    assert_eq!(
        from_request(leave, "/", ME).unwrap().unwrap().uid,
        crate::cluster::EMITTER_UID
    );
    // types only Node answers are left to Node
    let all_rooms = br#"{"uid":"Ab3dE9","requestId":"abc","type":1}"#;
    assert_eq!(from_request(all_rooms, "/", ME).unwrap(), None);
    // an id that does not fit is refused, not misread
    let long = br#"{"uid":"Ab3dE9","requestId":"12345678","type":5,"opts":{}}"#;
    assert!(from_request(long, "/", ME).is_err());
}

#[test]
fn reads_node_answers_without_a_sender() {
    let id = own_id(ME, 5);
    let count = format!(r#"{{"type":8,"requestId":"{id}","clientCount":2}}"#);
    let m = from_response(count.as_bytes(), "/", ME).unwrap().unwrap();
    assert_eq!(m.uid, "");
    assert_eq!(
        m.body,
        Body::BroadcastClientCount {
            request_id: 5,
            sids: vec![String::new(); 2]
        }
    );
    let sse = format!(r#"{{"type":6,"requestId":"{id}","data":"node1"}}"#);
    assert_eq!(
        from_response(sse.as_bytes(), "/", ME)
            .unwrap()
            .unwrap()
            .body,
        Body::ServerSideEmitResponse {
            request_id: 5,
            args: vec![Value::from("node1")]
        }
    );
    let fetch = format!(
        r#"{{"requestId":"{id}","sockets":[{{"id":"s","handshake":{{"auth":{{"a":1}},"url":"/u","address":"::1"}},"rooms":["s"],"data":{{}}}}]}}"#
    );
    let Body::FetchSocketsResponse { sockets, .. } = from_response(fetch.as_bytes(), "/n", ME)
        .unwrap()
        .unwrap()
        .body
    else {
        panic!()
    };
    assert_eq!(sockets[0].id, "s");
    assert_eq!(sockets[0].nsp, "/n");
    assert_eq!(sockets[0].url, "/u");
    // a huge count is cut
    let huge = format!(r#"{{"type":8,"requestId":"{id}","clientCount":1e15}}"#);
    let Body::BroadcastClientCount { sids, .. } = from_response(huge.as_bytes(), "/", ME)
        .unwrap()
        .unwrap()
        .body
    else {
        panic!()
    };
    assert_eq!(sids.len() as u64, MAX_CLIENT_COUNT);
    // other nodes' answers, and Node's own ids, are not ours
    let theirs = br#"{"type":8,"requestId":"xYz123","clientCount":2}"#;
    assert_eq!(from_response(theirs, "/", ME).unwrap(), None);
    let other = format!(
        r#"{{"type":8,"requestId":"{}","clientCount":2}}"#,
        own_id(PEER, 5)
    );
    assert_eq!(from_response(other.as_bytes(), "/", ME).unwrap(), None);
}

#[test]
fn foreign_ids_round_trip() {
    for id in ["a", "Ab3dE9", "1234567", "ü"] {
        let n = foreign_id("node", Some(Value::from(id))).unwrap();
        assert!(n & FOREIGN != 0);
        assert_eq!(answer_id("node", n), id);
    }
    assert_eq!(
        foreign_id("node", Some(Value::from("node:12"))).unwrap(),
        12
    );
    assert_eq!(answer_id("node", 12), "node:12");
    assert!(foreign_id("node", Some(Value::from(""))).is_err());
    assert!(foreign_id("node", None).is_err());
    assert_eq!(mine("me:18446744073709551615", "me"), None);
}

#[test]
fn a_volley_message_for_another_node_is_not_read() {
    let m = msg(
        PEER,
        "/",
        Body::RestoreSession {
            request_id: 1,
            pid: "p".into(),
            offset: None,
        },
    );
    let (_, bytes) = to_classic(&m, Some("someone-else")).unwrap();
    assert_eq!(from_request(&bytes, "/", ME).unwrap(), None);
    // nor one whose inner sender differs from the outer one
    let forged = write_value(&map(vec![
        ("uid", Value::from("mallory")),
        ("type", Value::from(VOLLEY_MESSAGE)),
        ("message", Value::Binary(m.encode().unwrap().to_vec())),
    ]))
    .unwrap();
    assert!(from_request(&forged, "/", ME).is_err());
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    let inputs: [&[u8]; 12] = [
        b"",
        b"{",
        b"{}",
        b"[]",
        b"\x90",
        b"\xc1",
        br#"{"type":"x"}"#,
        br#"{"type":5,"uid":1}"#,
        br#"{"type":7,"uid":"n","requestId":"r","packet":{"type":0}}"#,
        br#"{"type":6,"uid":"n","data":[]}"#,
        br#"{"type":100,"uid":"n","message":"x"}"#,
        br#"{"type":8,"requestId":"00aa11bb22cc33dd:1","clientCount":"x"}"#,
    ];
    for input in inputs {
        let _ = from_request(input, "/", ME);
        let _ = from_response(input, "/", ME);
        let _ = from_broadcast(input, ME);
    }
    assert!(from_request(b"{}", "/", ME).is_err());
    assert!(from_response(b"[1]", "/", ME).is_err());
    assert!(from_broadcast(b"\x90", ME).is_err());
}
