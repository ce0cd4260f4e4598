//! Malformed messages are errors, never panics.

use super::*;

/// A small deterministic pseudo-random generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next().to_be_bytes()[7]
    }
}

/// Valid messages of every kind, as encoded by us.
fn samples() -> Vec<Vec<u8>> {
    let nested = [
        bin(&[1, 2, 3]),
        map(&[(
            "a",
            arr(&[bin(&[4]), Value::F64(1.5), Value::from(-70_000)]),
        )]),
        Value::Ext(3, vec![1, 2, 3]),
        s("é".repeat(40).as_str()),
    ];
    let packets = [
        packet(
            "/",
            None,
            PacketData::Connect(Some(map(&[("sid", s("abc"))]))),
        ),
        packet("/custom", None, PacketData::Disconnect),
        event("/", None, "message", &nested),
        event("/custom", Some(70_000), "message", &nested),
        packet("/", Some(1), PacketData::Ack(nested.to_vec())),
        packet(
            "/",
            None,
            PacketData::ConnectError(map(&[("message", s("no"))])),
        ),
    ];
    packets.iter().map(|p| encode_packet(p).to_vec()).collect()
}

/// Wraps `data` (raw msgpack) as the data of `{"type": 2, "data": ..., "nsp": "/"}`.
fn with_data(data: &[u8]) -> Vec<u8> {
    let mut out = unhex("83a47479706502a464617461");
    out.extend_from_slice(data);
    out.extend_from_slice(&unhex("a36e7370a12f"));
    out
}

fn msgpack_err(bytes: &[u8]) -> String {
    match decode(bytes) {
        Err(DecodeError::InvalidMsgpack(message)) => message,
        other => panic!("{} gave {other:?}", hex(bytes)),
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Lcg(7);
    for _ in 0..50_000 {
        let len = rng.below(48);
        let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        let _ = decode(&bytes);
    }
    // Random bodies behind a valid map header, so that parsing goes deeper.
    for _ in 0..50_000 {
        let len = rng.below(64);
        let mut bytes = unhex("84a47479706502a464617461");
        bytes.extend((0..len).map(|_| rng.byte()));
        let _ = decode(&bytes);
    }
    for byte in 0..=255u8 {
        assert!(decode(&[byte]).is_err());
    }
    assert!(matches!(decode(&[]), Err(DecodeError::InvalidMsgpack(_))));
}

#[test]
fn truncated_messages_are_errors() {
    for sample in samples() {
        assert!(decode(&sample).is_ok());
        for end in 0..sample.len() {
            assert!(
                decode(&sample[..end]).is_err(),
                "{} truncated to {end}",
                hex(&sample)
            );
        }
    }
}

#[test]
fn mutated_messages_never_panic() {
    let mut rng = Lcg(42);
    for sample in samples() {
        for _ in 0..5_000 {
            let mut bytes = sample.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.byte();
            }
            if let Ok(packet) = decode(&bytes) {
                // Whatever decodes is a valid packet, and re-encodes when it can.
                if let Some(packet_ref) = to_ref(&packet) {
                    assert!(encode(&packet_ref).is_ok());
                }
            }
        }
    }
}

#[test]
fn trailing_bytes_are_errors() {
    for sample in samples() {
        let mut bytes = sample.clone();
        bytes.push(0xc0);
        assert!(msgpack_err(&bytes).contains("trailing"));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    const LEVELS: usize = 100_000;
    // Arrays: [[[[...]]]] as the event data.
    let mut data = vec![0x91; LEVELS];
    data.push(0xc0);
    assert!(msgpack_err(&with_data(&data)).contains("nested deeper"));
    // Maps: {"k": {"k": ...}}.
    let mut data = [0x81, 0xa1, b'k'].repeat(LEVELS);
    data.push(0xc0);
    assert!(msgpack_err(&with_data(&data)).contains("nested deeper"));
    // Maps as keys: {{{...}: nil}: nil}.
    let mut data = vec![0x81; LEVELS];
    data.extend(std::iter::repeat_n(0xc0, LEVELS + 1));
    assert!(msgpack_err(&with_data(&data)).contains("nested deeper"));
    // Under an ignored key, and as a key of the packet map itself.
    let mut bytes = unhex("83a47479706501a36e7370a12fa76f7074696f6e73");
    bytes.extend(std::iter::repeat_n(0x91, LEVELS));
    bytes.push(0xc0);
    assert!(msgpack_err(&bytes).contains("nested deeper"));
    let mut bytes = vec![0x81];
    bytes.extend(std::iter::repeat_n(0x91, LEVELS));
    bytes.extend([0xc0, 0xc0]);
    assert!(msgpack_err(&bytes).contains("nested deeper"));
    // Arrays with 16-bit lengths.
    let mut data = [0xdc, 0x00, 0x01].repeat(LEVELS);
    data.push(0xc0);
    assert!(msgpack_err(&with_data(&data)).contains("nested deeper"));

    // The limit: `data` plus 127 levels inside it decode, one more does not.
    let mut ok = vec![0x92, 0xa1, b'e'];
    ok.extend(std::iter::repeat_n(0x91, MAX_DEPTH - 1));
    ok.push(0xc0);
    assert!(decode(&with_data(&ok)).is_ok());
    let mut too_deep = vec![0x92, 0xa1, b'e'];
    too_deep.extend(std::iter::repeat_n(0x91, MAX_DEPTH));
    too_deep.push(0xc0);
    assert!(msgpack_err(&with_data(&too_deep)).contains("nested deeper"));
}

#[test]
fn announced_lengths_beyond_the_message_are_errors() {
    for data in [
        "dcffff",       // array 16
        "ddffffffff",   // array 32
        "deffff",       // map 16
        "dfffffffff",   // map 32
        "c4ff",         // bin 8
        "c6ffffffff",   // bin 32
        "dbffffffff",   // str 32
        "c9ffffffff05", // ext 32
        "d805",         // fixext 16
        "cf00",         // uint 64
        "cb00",         // float 64
    ] {
        let _ = msgpack_err(&with_data(&unhex(data)));
    }
    let _ = msgpack_err(&unhex("dfffffffff"));
    let _ = msgpack_err(&unhex("deffff"));
}

#[test]
fn reserved_marker_is_an_error() {
    assert!(msgpack_err(&with_data(&[0xc1])).contains("0xc1"));
}

#[test]
fn wrong_shapes_are_payload_errors() {
    // (hex of a whole message, expected error) — the JSON decoder's rules plus `type` and
    // `nsp` being required.
    let payload = |text: &str| DecodeError::InvalidPayload(text.to_owned());
    let cases: Vec<(&str, DecodeError)> = vec![
        // ["a"]: not a map.
        ("91a161", payload("a packet must be a map")),
        ("c0", payload("a packet must be a map")),
        // {"nsp": "/"}
        ("81a36e7370a12f", payload("missing packet type")),
        // {"type": 2, "data": ["a"]}
        (
            "82a47479706502a46461746191a161",
            payload("missing namespace"),
        ),
        // {"type": 7, "nsp": "/"}
        ("82a47479706507a36e7370a12f", payload("invalid packet type")),
        // {"type": -1, "nsp": "/"}
        ("82a474797065ffa36e7370a12f", payload("invalid packet type")),
        // {"type": "2", "nsp": "/"}
        (
            "82a474797065a132a36e7370a12f",
            payload("invalid packet type"),
        ),
        // {"type": 2.0, "nsp": "/"}
        (
            "82a474797065cb4000000000000000a36e7370a12f",
            payload("invalid packet type"),
        ),
        // {"type": 5, "data": ["a"], "nsp": "/"}
        (
            "83a47479706505a46461746191a161a36e7370a12f",
            payload("BINARY_EVENT and BINARY_ACK are not used by the msgpack parser"),
        ),
        // {"type": 6, "data": [], "id": 1, "nsp": "/"}
        (
            "84a47479706506a46461746190a2696401a36e7370a12f",
            payload("BINARY_EVENT and BINARY_ACK are not used by the msgpack parser"),
        ),
        // {"type": 1, "nsp": 1}
        (
            "82a47479706501a36e737001",
            payload("the namespace must be a string"),
        ),
        // {"type": 1, "nsp": "custom"}
        (
            "82a47479706501a36e7370a6637573746f6d",
            payload("the namespace must start with '/'"),
        ),
        // {"type": 1, "nsp": ""}
        (
            "82a47479706501a36e7370a0",
            payload("the namespace must start with '/'"),
        ),
        // {"type": 2, "data": "a", "nsp": "/"}
        (
            "83a47479706502a464617461a161a36e7370a12f",
            payload("EVENT data must be an array"),
        ),
        // {"type": 2, "nsp": "/"}
        (
            "82a47479706502a36e7370a12f",
            payload("EVENT data must be an array"),
        ),
        // {"type": 2, "data": [], "nsp": "/"}
        (
            "83a47479706502a46461746190a36e7370a12f",
            payload("EVENT data must not be empty"),
        ),
        // {"type": 2, "data": [1], "nsp": "/"}
        (
            "83a47479706502a4646174619101a36e7370a12f",
            payload("event name must be a string"),
        ),
        // {"type": 3, "data": ["a"], "nsp": "/"}
        (
            "83a47479706503a46461746191a161a36e7370a12f",
            DecodeError::MissingAckId,
        ),
        // {"type": 3, "data": {}, "id": 1, "nsp": "/"}
        (
            "84a47479706503a46461746180a2696401a36e7370a12f",
            payload("ACK data must be an array"),
        ),
        // {"type": 0, "data": ["a"], "nsp": "/"}
        (
            "83a47479706500a46461746191a161a36e7370a12f",
            payload("CONNECT data must be a map"),
        ),
        // {"type": 0, "data": null, "nsp": "/"}
        (
            "83a47479706500a464617461c0a36e7370a12f",
            payload("CONNECT data must be a map"),
        ),
        // {"type": 0, "data": {}, "id": 1, "nsp": "/"}
        (
            "84a47479706500a46461746180a2696401a36e7370a12f",
            DecodeError::InvalidAckId,
        ),
        // {"type": 1, "data": null, "nsp": "/"}
        (
            "83a47479706501a464617461c0a36e7370a12f",
            payload("DISCONNECT carries no data"),
        ),
        // {"type": 1, "id": 1, "nsp": "/"}
        (
            "83a47479706501a2696401a36e7370a12f",
            DecodeError::InvalidAckId,
        ),
        // {"type": 4, "nsp": "/"}
        (
            "82a47479706504a36e7370a12f",
            payload("CONNECT_ERROR without data"),
        ),
        // {"type": 2, "data": ["a"], "id": -1, "nsp": "/"}
        (
            "84a47479706502a46461746191a161a26964ffa36e7370a12f",
            DecodeError::InvalidAckId,
        ),
        // {"type": 2, "data": ["a"], "id": 1.5, "nsp": "/"}
        (
            "84a47479706502a46461746191a161a26964cb3ff8000000000000a36e7370a12f",
            DecodeError::InvalidAckId,
        ),
        // {"type": 2, "data": ["a"], "id": null, "nsp": "/"}
        (
            "84a47479706502a46461746191a161a26964c0a36e7370a12f",
            DecodeError::InvalidAckId,
        ),
        // {"type": 2, "data": ["a"], "id": "1", "nsp": "/"}
        (
            "84a47479706502a46461746191a161a26964a131a36e7370a12f",
            DecodeError::InvalidAckId,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(decode(&unhex(text)), Err(expected), "{text}");
    }
}
