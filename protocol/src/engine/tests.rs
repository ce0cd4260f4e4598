#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn decodes_every_text_type() {
    assert_eq!(decode_text("0"), Ok(Packet::Open));
    assert_eq!(decode_text("1"), Ok(Packet::Close));
    assert_eq!(decode_text("2"), Ok(Packet::Ping("")));
    assert_eq!(decode_text("2probe"), Ok(Packet::Ping("probe")));
    assert_eq!(decode_text("3"), Ok(Packet::Pong("")));
    assert_eq!(decode_text("3probe"), Ok(Packet::Pong("probe")));
    assert_eq!(decode_text("4hello"), Ok(Packet::Message("hello")));
    assert_eq!(decode_text("4"), Ok(Packet::Message("")));
    assert_eq!(decode_text("4é☃"), Ok(Packet::Message("é☃")));
    assert_eq!(decode_text("5"), Ok(Packet::Upgrade));
    assert_eq!(decode_text("6"), Ok(Packet::Noop));
}

#[test]
fn rejects_malformed_text() {
    assert_eq!(decode_text(""), Err(DecodeError::Empty));
    assert_eq!(decode_text("abc"), Err(DecodeError::UnknownPacketType('a')));
    assert_eq!(decode_text("9"), Err(DecodeError::UnknownPacketType('9')));
    assert_eq!(decode_text("7x"), Err(DecodeError::UnknownPacketType('7')));
    assert_eq!(decode_text("é"), Err(DecodeError::UnknownPacketType('é')));
}

#[test]
fn message_text_keeps_socketio_garbage_for_the_next_layer() {
    // `4abc` is a valid Engine.IO message; the Socket.IO decoder rejects `abc`.
    assert_eq!(decode_text("4abc"), Ok(Packet::Message("abc")));
    assert!(crate::packet::decode("abc", 10).is_err());
}

#[test]
fn packet_type_digits_round_trip() {
    for c in '0'..='6' {
        let ty = PacketType::from_char(c).unwrap();
        assert_eq!(ty.as_char(), c);
        assert_eq!(ty as u8, c as u8 - b'0');
    }
    assert_eq!(PacketType::from_char('7'), None);
}

#[test]
fn write_to_round_trips() {
    for text in ["0", "1", "2", "2probe", "3probe", "4hello", "5", "6"] {
        let mut out = String::new();
        decode_text(text).unwrap().write_to(&mut out);
        assert_eq!(out, text);
    }
}

#[test]
fn splits_text_and_binary_records() {
    let items: Vec<_> = decode_payload("4hello\u{1e}bAQIDBA==").collect();
    assert_eq!(
        items,
        vec![
            Ok(Item::Text(Packet::Message("hello"))),
            Ok(Item::Binary(Bytes::from_static(&[1, 2, 3, 4]))),
        ]
    );
    let items: Vec<_> = decode_payload("4test1\u{1e}4test2\u{1e}4test3")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        items,
        vec![
            Item::Text(Packet::Message("test1")),
            Item::Text(Packet::Message("test2")),
            Item::Text(Packet::Message("test3")),
        ]
    );
    let items: Vec<_> = decode_payload("b").collect();
    assert_eq!(items, vec![Ok(Item::Binary(Bytes::new()))]);
}

#[test]
fn payload_errors() {
    assert_eq!(
        decode_payload("4hello\u{1e}b!!!").nth(1),
        Some(Err(DecodeError::InvalidBase64))
    );
    // Unpadded base64 is rejected.
    assert_eq!(
        decode_payload("bAQIDBA").next(),
        Some(Err(DecodeError::InvalidBase64))
    );
    assert_eq!(decode_payload("").next(), Some(Err(DecodeError::Empty)));
    assert_eq!(
        decode_payload("4a\u{1e}\u{1e}4b").nth(1),
        Some(Err(DecodeError::Empty))
    );
    assert_eq!(
        decode_payload("abc").next(),
        Some(Err(DecodeError::UnknownPacketType('a')))
    );
}

#[test]
fn writes_binary_records() {
    let mut out = String::from("4hello");
    out.push(SEPARATOR);
    write_binary_record(&mut out, &[1, 2, 3, 4]);
    assert_eq!(out, "4hello\u{1e}bAQIDBA==");
    let mut out = String::new();
    write_binary_record(&mut out, &[]);
    assert_eq!(out, "b");
}

#[test]
fn handshake_has_exact_keys_in_order() {
    let handshake = Handshake {
        sid: "abc\"d",
        upgrades: &["websocket"],
        ping_interval_ms: 300,
        ping_timeout_ms: 200,
        max_payload: 1_000_000,
    };
    assert_eq!(
        handshake.to_packet(),
        r#"0{"sid":"abc\"d","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
    );
    let handshake = Handshake {
        upgrades: &[],
        sid: "x",
        ..handshake
    };
    assert_eq!(
        handshake.to_packet(),
        r#"0{"sid":"x","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
    );
    let json: serde_json::Value = serde_json::from_str(&handshake.to_packet()[1..]).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 5);
}

#[test]
fn json_strings_are_escaped_as_serde_json_does() {
    for s in [
        "",
        "plain-Sid_09",
        "quote\"",
        "back\\slash",
        "tab\tnewline\n",
        "\u{1}\u{1f}",
        "\u{7f}é☃😀",
        "</script>",
    ] {
        let mut out = String::new();
        push_json_str(&mut out, s);
        assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
    }
}
