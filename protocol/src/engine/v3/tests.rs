#![allow(clippy::unwrap_used)]

use super::*;
use crate::engine::Packet;

fn items(body: &str) -> Vec<Result<Item<'_>, DecodeError>> {
    decode_payload(body).collect()
}

#[test]
fn text_records_count_utf16_units() {
    // 😀 is two UTF-16 units, é one: as JavaScript's `length` counts them
    assert_eq!(
        items("3:4😀2:4é1:2"),
        [
            Ok(Item::Text(Packet::Message("😀"))),
            Ok(Item::Text(Packet::Message("é"))),
            Ok(Item::Text(Packet::Ping(""))),
        ]
    );
    let mut out = String::new();
    write_text_record(&mut out, "4😀");
    write_text_record(&mut out, "6");
    assert_eq!(out, "3:4😀1:6");
}

#[test]
fn empty_records_are_skipped_an_empty_body_is_not() {
    assert_eq!(items("0:1:6"), [Ok(Item::Text(Packet::Noop))]);
    assert_eq!(items(""), [Err(DecodeError::Empty)]);
}

#[test]
fn malformed_text_payloads_are_errors() {
    for body in [
        "4hello",        // no length
        ":4",            // empty length
        "x:4",           // not a number
        "-1:4",          // not a number
        "9:4hi",         // past the end
        "2:4😀",         // inside a surrogate pair
        "99999999999:4", // too many digits
        "2:422:4",       // the second record runs past the end
    ] {
        assert!(
            items(body)
                .iter()
                .any(|i| i == &Err(DecodeError::InvalidLength)),
            "{body:?} gave {:?}",
            items(body)
        );
    }
    assert_eq!(items("4:b4!!"), [Err(DecodeError::InvalidBase64)]);
    assert_eq!(items("2:b2"), [Err(DecodeError::InvalidBase64)]);
    assert_eq!(items("1:9"), [Err(DecodeError::UnknownPacketType('9'))]);
}

#[test]
fn base64_records_round_trip() {
    let mut out = String::new();
    write_base64_record(&mut out, &[0, 255, 7, 8]);
    assert_eq!(out, "10:b4AP8HCA==");
    assert_eq!(items(&out), [Ok(Item::Binary(vec![0u8, 255, 7, 8].into()))]);
}

#[test]
fn binary_payloads_round_trip() {
    let mut out = Vec::new();
    write_binary_text_record(&mut out, "4é");
    write_binary_data_record(&mut out, &[9; 12]);
    assert_eq!(&out[..4], &[0, 3, 0xff, b'4']);
    assert_eq!(&out[6..11], &[1, 1, 3, 0xff, 4]);
    let decoded: Vec<_> = decode_binary_payload(&out).collect();
    assert_eq!(
        decoded,
        [
            Ok(Item::Text(Packet::Message("é"))),
            Ok(Item::Binary(vec![9u8; 12].into())),
        ]
    );
}

#[test]
fn malformed_binary_payloads_are_errors() {
    let err = |body: &[u8]| decode_binary_payload(body).find_map(Result::err);
    assert_eq!(err(&[]), Some(DecodeError::Empty));
    assert_eq!(err(&[2, 1, 0xff, b'6']), Some(DecodeError::InvalidLength));
    assert_eq!(err(&[0, 0xff, b'6']), Some(DecodeError::InvalidLength));
    assert_eq!(err(&[0, 12, 0xff, b'6']), Some(DecodeError::InvalidLength));
    assert_eq!(err(&[0, 5, 0xff, b'6']), Some(DecodeError::InvalidLength));
    assert_eq!(
        err(&[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff]),
        Some(DecodeError::InvalidLength)
    );
    assert!(matches!(
        err(&[0, 2, 0xff, b'4', 0xc3]),
        Some(DecodeError::InvalidPayload(_))
    ));
    assert_eq!(
        err(&[1, 2, 0xff, 2, 0]),
        Some(DecodeError::UnknownPacketType('2'))
    );
}
