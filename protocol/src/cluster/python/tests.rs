#![allow(clippy::unwrap_used)]

//! Fixtures are what python-socketio 5.18's managers publish (`json.dumps` of their messages).

use super::*;

const BINARY_EMIT: &str = r#"{"method": "emit", "event": "bin", "data": [["x", {"_placeholder": true, "num": 0}, {"k": {"_placeholder": true, "num": 1}}], "AQI=", "/w=="], "binary": true, "namespace": "/other", "room": ["a", "b"], "skip_sid": "s1", "callback": null, "host_id": "h1"}"#;

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

#[test]
fn binary_emits_get_their_attachments_back() {
    let msg = decode(BINARY_EMIT.as_bytes()).unwrap();
    assert_eq!(msg.host_id.as_deref(), Some("h1"));
    assert!(!msg.from_volley);
    let Method::Emit(emit) = msg.method else {
        panic!("not an emit")
    };
    assert_eq!(emit.event, "bin");
    assert_eq!(emit.namespace, "/other");
    assert_eq!(emit.rooms, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(emit.skip_sids, vec!["s1".to_owned()]);
    assert_eq!(emit.callback, None);
    assert_eq!(
        emit.args,
        vec![
            Value::from("x"),
            Value::Binary(vec![1, 2]),
            map(vec![("k", Value::Binary(vec![0xff]))]),
        ]
    );
}

#[test]
fn kombu_bodies_are_json_text_in_a_json_string() {
    let wrapped = serde_json::to_string(BINARY_EMIT).unwrap();
    assert_eq!(
        decode(wrapped.as_bytes()).unwrap(),
        decode(BINARY_EMIT.as_bytes()).unwrap()
    );
}

#[test]
fn room_changes_disconnects_and_callbacks() {
    let cases = [
        (
            r#"{"method": "enter_room", "sid": "s", "room": "r", "namespace": "/", "host_id": "h"}"#,
            Method::EnterRoom {
                sid: "s".into(),
                room: "r".into(),
                namespace: "/".into(),
            },
        ),
        (
            r#"{"method": "leave_room", "sid": "s", "room": 7, "namespace": "/x", "host_id": "h"}"#,
            Method::LeaveRoom {
                sid: "s".into(),
                room: "7".into(),
                namespace: "/x".into(),
            },
        ),
        (
            r#"{"method": "close_room", "room": "r", "namespace": "/", "host_id": "h1"}"#,
            Method::CloseRoom {
                room: "r".into(),
                namespace: "/".into(),
            },
        ),
        (
            r#"{"method": "disconnect", "sid": "sid1", "namespace": "/", "host_id": "h1"}"#,
            Method::Disconnect {
                sid: "sid1".into(),
                namespace: "/".into(),
            },
        ),
        (
            r#"{"method": "callback", "host_id": "h", "sid": "s", "namespace": "/", "id": 3, "args": ["ok", 1]}"#,
            Method::Callback {
                sid: "s".into(),
                namespace: "/".into(),
                id: 3,
                args: vec![Value::from("ok"), Value::from(1u64)],
            },
        ),
        (
            r#"{"method": "rpc", "host_id": "h"}"#,
            Method::Other("rpc".into()),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(decode(text.as_bytes()).unwrap().method, expected, "{text}");
    }
}

#[test]
fn emits_with_callbacks_name_room_namespace_and_id() {
    let text = r#"{"method": "emit", "event": "e", "data": [1], "binary": false, "namespace": "/", "room": "s", "skip_sid": null, "callback": ["s", "/", 1], "host_id": "h"}"#;
    let Method::Emit(emit) = decode(text.as_bytes()).unwrap().method else {
        panic!("not an emit")
    };
    assert_eq!(emit.callback, Some(("s".into(), "/".into(), 1)));
    assert!(emit.skip_sids.is_empty());
}

#[test]
fn malformed_messages_are_errors() {
    let bad: &[&[u8]] = &[
        b"",
        b"\x80\x04pickle",
        b"[1,2]",
        b"\"not json inside\"",
        br#"{"event": "no method"}"#,
        br#"{"method": "emit", "data": []}"#,
        br#"{"method": "emit", "event": "e", "data": {"a": 1}, "binary": true}"#,
        br#"{"method": "emit", "event": "e", "data": [[{"_placeholder": true, "num": 1}], "AA=="], "binary": true}"#,
        br#"{"method": "emit", "event": "e", "data": [[1], "!!"], "binary": true}"#,
        br#"{"method": "emit", "event": "e", "data": [], "callback": ["s", "/"]}"#,
        br#"{"method": "disconnect", "namespace": "/"}"#,
        br#"{"method": "callback", "sid": "s", "id": "x"}"#,
        br#"{"method": 3}"#,
    ];
    for bytes in bad {
        assert!(
            decode(bytes).is_err(),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let deep = "[".repeat(10_000);
    assert!(decode(deep.as_bytes()).is_err());
    let nested = |levels: usize| {
        format!(
            r#"{{"method": "emit", "event": "e", "data": {}1{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    assert!(decode(nested(MAX_DEPTH - 1).as_bytes()).is_ok());
    assert!(decode(nested(MAX_DEPTH).as_bytes()).is_err());
    let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
    assert!(decode(&big).is_err());
}

#[test]
fn volley_emits_read_back_as_python_wrote_them() {
    let args = [
        Value::from("x"),
        Value::Binary(vec![1, 2]),
        map(vec![("k", Value::Binary(vec![0xff]))]),
    ];
    let rooms = ["a".to_owned(), "b".to_owned()];
    let skip = ["s1".to_owned()];
    let bytes = encode_emit(
        "h1",
        &EmitRef {
            namespace: "/other",
            event: "bin",
            args: &args,
            rooms: &rooms,
            skip_sids: &skip,
        },
    )
    .unwrap();
    let json: Json = serde_json::from_slice(&bytes).unwrap();
    let python: Json = serde_json::from_str(BINARY_EMIT).unwrap();
    for key in [
        "method",
        "event",
        "data",
        "binary",
        "namespace",
        "room",
        "skip_sid",
        "callback",
        "host_id",
    ] {
        assert_eq!(json[key], python[key], "{key}");
    }
    let back = decode(&bytes).unwrap();
    assert!(back.from_volley);
    let Method::Emit(emit) = back.method else {
        panic!("not an emit")
    };
    assert_eq!(emit.args, args);
    let plain = encode_emit(
        "h",
        &EmitRef {
            namespace: "/",
            event: "e",
            args: &[Value::from(1u64)],
            rooms: &[],
            skip_sids: &[],
        },
    )
    .unwrap();
    let json: Json = serde_json::from_slice(&plain).unwrap();
    assert_eq!(json["room"], Json::Null);
    assert_eq!(json["data"], serde_json::json!([1]));
    assert_eq!(json["binary"], Json::Bool(false));
}

#[test]
fn volley_room_changes_disconnects_and_acks() {
    let enter = decode(&encode_room_change("h", true, "/", "s", "r").unwrap()).unwrap();
    assert_eq!(
        enter.method,
        Method::EnterRoom {
            sid: "s".into(),
            room: "r".into(),
            namespace: "/".into()
        }
    );
    let leave = decode(&encode_room_change("h", false, "/", "s", "r").unwrap()).unwrap();
    assert!(matches!(leave.method, Method::LeaveRoom { .. }));
    let closed = decode(&encode_close_room("h", "/", "r").unwrap()).unwrap();
    assert_eq!(
        closed.method,
        Method::CloseRoom {
            room: "r".into(),
            namespace: "/".into()
        }
    );
    let gone = decode(&encode_disconnect("h", "/x", "s").unwrap()).unwrap();
    assert_eq!(
        gone.method,
        Method::Disconnect {
            sid: "s".into(),
            namespace: "/x".into()
        }
    );
    let ack = decode(&encode_callback("them", "/", "s", 9, &[Value::from("ok")]).unwrap()).unwrap();
    assert_eq!(ack.host_id.as_deref(), Some("them"));
    assert_eq!(
        ack.method,
        Method::Callback {
            sid: "s".into(),
            namespace: "/".into(),
            id: 9,
            args: vec![Value::from("ok")]
        }
    );
}
