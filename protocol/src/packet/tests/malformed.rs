//! Malformed input is an error, never a panic.

use bytes::Bytes;

use super::*;

#[test]
fn rejects_malformed_packets() {
    use DecodeError::*;
    let too_deep = format!("2[\"a\",{}{}]", "[".repeat(200), "]".repeat(200));
    let cases: Vec<(String, DecodeError)> = vec![
        ("".into(), Empty),
        ("abc".into(), UnknownPacketType('a')),
        ("99".into(), UnknownPacketType('9')),
        ("7".into(), UnknownPacketType('7')),
        ("é".into(), UnknownPacketType('é')),
        ("-1".into(), UnknownPacketType('-')),
        ("5-[\"a\"]".into(), InvalidAttachmentCount),
        ("5[\"a\"]".into(), InvalidAttachmentCount),
        ("51[\"a\"]".into(), InvalidAttachmentCount),
        ("6".into(), InvalidAttachmentCount),
        (
            "5999999999999999999999999999-[\"a\"]".into(),
            InvalidAttachmentCount,
        ),
        (
            "511-[\"a\"]".into(),
            TooManyAttachments { count: 11, max: 10 },
        ),
        (
            "51000000-[\"a\"]".into(),
            TooManyAttachments {
                count: 1_000_000,
                max: 10,
            },
        ),
        ("2999999999999999999999[\"a\"]".into(), InvalidAckId),
        ("3[\"a\"]".into(), MissingAckId),
        ("3".into(), MissingAckId),
        ("0123".into(), InvalidAckId),
        ("11".into(), InvalidAckId),
        ("41{}".into(), InvalidAckId),
        ("0/custom,1".into(), InvalidAckId),
    ];
    for (text, expected) in cases {
        assert_eq!(decode_err(&text), expected, "{text:?}");
    }
    let json_errors = [
        "2[\"a\"",
        "2abc[\"a\"]",
        "2/custom,abc[\"a\"]",
        "2[\"a\"]x",
        "2[\"a\"]]",
        "2 1[\"a\"]",
        "2'a'",
        "0{\"a\":}",
        too_deep.as_str(),
    ];
    for text in json_errors {
        assert!(
            matches!(decode_err(text), InvalidJson(_)),
            "{text:?}: {:?}",
            decode(text, MAX)
        );
    }
    let payload_errors = [
        "2{}",
        "2",
        "2/custom,",
        "2[]",
        "2[1]",
        "2[null]",
        "2[[\"a\"]]",
        "2\"a\"",
        "312{}",
        "312\"x\"",
        "0[]",
        "0\"x\"",
        "0null",
        "1{}",
        "1/custom,[]",
        "4",
        "4/custom,",
        "2/custom[\"a\"]",
    ];
    for text in payload_errors {
        assert!(
            matches!(decode_err(text), InvalidPayload(_)),
            "{text:?}: {:?}",
            decode(text, MAX)
        );
    }
}

#[test]
fn rejects_bad_placeholders() {
    let cases = [
        format!(r#"51-["a",{}]"#, placeholder(1)),
        format!(r#"52-["a",{},{}]"#, placeholder(0), placeholder(0)),
        format!(
            r#"52-["a",[{}],{{"x":{}}}]"#,
            placeholder(1),
            placeholder(1)
        ),
        r#"51-["a",{"_placeholder":true}]"#.to_owned(),
        r#"51-["a",{"_placeholder":true,"num":-1}]"#.to_owned(),
        r#"51-["a",{"_placeholder":true,"num":0.5}]"#.to_owned(),
        r#"51-["a",{"_placeholder":true,"num":"0"}]"#.to_owned(),
        r#"51-["a",{"_placeholder":true,"num":18446744073709551615}]"#.to_owned(),
        format!(r#"61-1[{}]"#, placeholder(3)),
    ];
    for text in cases {
        assert_eq!(decode_err(&text), DecodeError::InvalidPlaceholder, "{text}");
    }
    // A placeholder as the event name is not a string.
    assert!(matches!(
        decode_err(&format!("51-[{}]", placeholder(0))),
        DecodeError::InvalidPayload(_)
    ));
    // `_placeholder` that is not `true` is a plain map.
    let packet =
        partial(r#"51-["a",{"_placeholder":false,"num":7},{"_placeholder":true,"num":0}]"#)
            .push(Bytes::from_static(&[1]))
            .unwrap()
            .unwrap();
    let PacketData::Event { args, .. } = packet.data else {
        panic!()
    };
    assert_eq!(args[0], json(r#"{"_placeholder":false,"num":7}"#));
    assert_eq!(args[1], bin(&[1]));
}

#[test]
fn unreferenced_attachments_are_accepted() {
    let mut partial = partial(r#"52-["a"]"#);
    assert_eq!(partial.push(Bytes::new()), Ok(None));
    let packet = partial.push(Bytes::new()).unwrap().unwrap();
    assert_eq!(
        packet.data,
        PacketData::Event {
            event: "a".into(),
            args: vec![]
        }
    );
}

#[test]
fn max_attachments_is_inclusive() {
    assert!(matches!(decode(r#"52-["a"]"#, 2), Ok(Decoded::Partial(_))));
    assert_eq!(
        decode(r#"52-["a"]"#, 1).unwrap_err(),
        DecodeError::TooManyAttachments { count: 2, max: 1 }
    );
    assert!(matches!(decode(r#"50-["a"]"#, 0), Ok(Decoded::Complete(_))));
}
