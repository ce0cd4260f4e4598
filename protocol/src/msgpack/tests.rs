#![allow(clippy::unwrap_used)]

use rmpv::Value;

use super::*;

mod fixtures;
mod malformed;

pub(super) fn bin(data: &[u8]) -> Value {
    Value::Binary(data.to_vec())
}

pub(super) fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

pub(super) fn arr(items: &[Value]) -> Value {
    Value::Array(items.to_vec())
}

pub(super) fn s(text: &str) -> Value {
    Value::from(text)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The outgoing form of `packet`; a CONNECT must carry exactly `{"sid": <string>}`.
pub(super) fn to_ref(packet: &Packet) -> Option<PacketRef<'_>> {
    let data = match &packet.data {
        PacketData::Event { event, args } => DataRef::Event { event, args },
        PacketData::Ack(args) => DataRef::Ack(args),
        PacketData::Disconnect => DataRef::Disconnect,
        PacketData::ConnectError(value) => DataRef::ConnectError(value),
        PacketData::Connect(Some(Value::Map(entries))) => match entries.as_slice() {
            [(key, Value::String(sid))] if key.as_str() == Some("sid") => DataRef::Connect {
                sid: sid.as_str()?,
                pid: None,
            },
            _ => return None,
        },
        PacketData::Connect(_) => return None,
    };
    Some(PacketRef {
        ns: &packet.ns,
        id: packet.id,
        data,
    })
}

pub(super) fn encode_packet(packet: &Packet) -> Bytes {
    encode(&to_ref(packet).unwrap()).unwrap()
}

fn through_wire(packet: &Packet) -> Packet {
    decode(&encode_packet(packet)).unwrap()
}

fn packet(ns: &str, id: Option<u64>, data: PacketData) -> Packet {
    Packet {
        ns: ns.to_owned(),
        id,
        data,
    }
}

fn event(ns: &str, id: Option<u64>, name: &str, args: &[Value]) -> Packet {
    packet(
        ns,
        id,
        PacketData::Event {
            event: name.to_owned(),
            args: args.to_vec(),
        },
    )
}

#[test]
fn every_packet_type_round_trips() {
    let nested_binary = [
        bin(&[1, 2, 3]),
        map(&[("a", arr(&[bin(&[]), s("x"), bin(&[0xff; 300])]))]),
        arr(&[arr(&[map(&[("deep", bin(&[9]))])])]),
    ];
    for ns in ["/", "/custom"] {
        let mut packets = vec![
            packet(
                ns,
                None,
                PacketData::Connect(Some(map(&[("sid", s("oSO0OpakmV7_r2LQAAAB"))]))),
            ),
            packet(ns, None, PacketData::Disconnect),
            packet(
                ns,
                None,
                PacketData::ConnectError(map(&[("message", s("Invalid namespace"))])),
            ),
            packet(ns, None, PacketData::ConnectError(s("not authorized"))),
            packet(
                ns,
                None,
                PacketData::ConnectError(map(&[("message", s("m")), ("data", bin(&[7]))])),
            ),
        ];
        for id in [None, Some(0), Some(456), Some(u64::MAX)] {
            packets.push(event(ns, id, "ping", &[]));
            packets.push(event(
                ns,
                id,
                "message",
                &[
                    Value::from(1),
                    s("2"),
                    map(&[("3", arr(&[Value::from(true)]))]),
                ],
            ));
            packets.push(event(ns, id, "binary", &nested_binary));
        }
        for id in [0, 12, u64::MAX] {
            packets.push(packet(ns, Some(id), PacketData::Ack(vec![])));
            packets.push(packet(
                ns,
                Some(id),
                PacketData::Ack(vec![map(&[(
                    "a",
                    arr(&[Value::from(1.5), Value::Nil, s("é")]),
                )])]),
            ));
            packets.push(packet(
                ns,
                Some(id),
                PacketData::Ack(nested_binary.to_vec()),
            ));
        }
        for packet in &packets {
            assert_eq!(&through_wire(packet), packet);
        }
    }
}

#[test]
fn writes_the_documented_bytes() {
    let args = [bin(&[1])];
    let bytes = encode(&PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Event {
            event: "a",
            args: &args,
        },
    })
    .unwrap();
    // {"type": 2, "data": ["a", <bin 01>], "nsp": "/"}
    assert_eq!(
        hex(&bytes),
        "83a47479706502a46461746192a161c40101a36e7370a12f"
    );

    let bytes = encode(&PacketRef {
        ns: "/custom",
        id: Some(300),
        data: DataRef::Ack(&[]),
    })
    .unwrap();
    // {"type": 3, "data": [], "id": 300, "nsp": "/custom"}
    assert_eq!(
        hex(&bytes),
        "84a47479706503a46461746190a26964cd012ca36e7370a72f637573746f6d"
    );

    let bytes = encode(&PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Disconnect,
    })
    .unwrap();
    assert_eq!(hex(&bytes), "82a47479706501a36e7370a12f");
}

#[test]
fn values_round_trip() {
    let long = |n: usize| "é".repeat(n / 2) + &"x".repeat(n % 2);
    let mut values = vec![
        Value::Nil,
        Value::from(true),
        Value::from(false),
        Value::from(0),
        Value::from(127),
        Value::from(128),
        Value::from(255),
        Value::from(256),
        Value::from(65535),
        Value::from(65536),
        Value::from(u32::MAX),
        Value::from(u64::from(u32::MAX) + 1),
        Value::from(u64::MAX),
        Value::from(-1),
        Value::from(-32),
        Value::from(-33),
        Value::from(-128),
        Value::from(-129),
        Value::from(-32768),
        Value::from(-32769),
        Value::from(i32::MIN),
        Value::from(i64::from(i32::MIN) - 1),
        Value::from(i64::MIN),
        Value::F32(1.5),
        Value::F32(-0.0),
        Value::F64(2.0),
        Value::F64(-1e300),
        Value::F64(f64::INFINITY),
        Value::F64(f64::MIN_POSITIVE),
        Value::Ext(5, vec![1]),
        Value::Ext(-1, vec![1, 2]),
        Value::Ext(7, vec![1, 2, 3]),
        Value::Ext(0, vec![0; 8]),
        Value::Ext(127, vec![4; 16]),
        Value::Ext(-128, vec![4; 17]),
        Value::Ext(3, vec![4; 256]),
        Value::Ext(3, vec![4; 70_000]),
        Value::Map(vec![
            (Value::from(1), s("int key")),
            (Value::Nil, s("nil key")),
            (arr(&[]), s("array key")),
        ]),
    ];
    for n in [0, 31, 32, 255, 256, 65535, 65536, 70_000] {
        values.push(s(&long(n)));
        values.push(bin(&vec![0xab; n]));
    }
    for n in [0, 15, 16, 65535, 65536] {
        values.push(Value::Array(vec![Value::from(n); n]));
        values.push(Value::Map(
            (0..n).map(|i| (Value::from(i), Value::Nil)).collect(),
        ));
    }
    let mut deepest = Value::Nil;
    for _ in 1..MAX_DEPTH {
        deepest = arr(&[deepest]);
    }
    values.push(deepest);

    for value in values {
        let original = event("/", None, "v", std::slice::from_ref(&value));
        assert_eq!(through_wire(&original), original, "{value:?}");
    }

    let nan = through_wire(&event("/", None, "nan", &[Value::F64(f64::NAN)]));
    let PacketData::Event { args, .. } = nan.data else {
        panic!("not an event")
    };
    assert!(matches!(args[..], [Value::F64(f)] if f.is_nan()));
}

#[test]
fn javascript_values_map_to_plain_values() {
    // Ext 8 of type 0 (a Node ArrayBuffer) reads as binary; fixext 1 of type 0 is undefined.
    let arraybuffer = Value::Ext(0, vec![1, 2, 3]);
    let undefined = Value::Ext(0, vec![0]);
    let decoded = through_wire(&event(
        "/",
        None,
        "js",
        &[
            arraybuffer,
            undefined.clone(),
            map(&[("gone", undefined.clone()), ("kept", Value::Nil)]),
        ],
    ));
    assert_eq!(
        decoded,
        event(
            "/",
            None,
            "js",
            &[bin(&[1, 2, 3]), Value::Nil, map(&[("kept", Value::Nil)])]
        )
    );

    // Strings that are not UTF-8 are converted lossily both ways.
    let invalid = rmpv::decode::read_value(&mut &[0xa2, 0x61, 0xff][..]).unwrap();
    assert!(matches!(&invalid, Value::String(s) if s.as_str().is_none()));
    let decoded = through_wire(&event("/", None, "utf8", &[invalid]));
    assert_eq!(decoded, event("/", None, "utf8", &[s("a\u{fffd}")]));
    let mut raw = unhex("83a47479706502a46461746192a2");
    raw.extend_from_slice(&[0x65, 0xff, 0xa2, 0x61, 0xfe]);
    raw.extend_from_slice(&unhex("a36e7370a12f"));
    assert_eq!(
        decode(&raw).unwrap(),
        event("/", None, "e\u{fffd}", &[s("a\u{fffd}")])
    );
}

#[test]
fn client_packets_decode() {
    let decode_hex = |text: &str| decode(&unhex(text));
    // {"type": 0, "data": undefined, "nsp": "/"}: socket.io-client without auth.
    assert_eq!(
        decode_hex("83a47479706500a464617461d40000a36e7370a12f").unwrap(),
        packet("/", None, PacketData::Connect(None))
    );
    // {"nsp": "/", "options": {"compress": true}, "id": 3, "data": ["x"], "type": 2}
    assert_eq!(
        decode_hex("85a36e7370a12fa76f7074696f6e7381a8636f6d7072657373c3a2696403a46461746191a178a47479706502")
            .unwrap(),
        event("/", Some(3), "x", &[])
    );
    // {"type": 1, "nsp": "/a", "nsp": "/b", "id": undefined, 7: 8}: later keys win,
    // undefined is absent, non-string keys are ignored.
    assert_eq!(
        decode_hex("85a47479706501a36e7370a22f61a36e7370a22f62a26964d400000708").unwrap(),
        packet("/b", None, PacketData::Disconnect)
    );
    // Namespaces may hold commas: the msgpack format has no separator.
    assert_eq!(
        decode(&encode_packet(&packet(
            "/a,b",
            None,
            PacketData::Disconnect
        )))
        .unwrap(),
        packet("/a,b", None, PacketData::Disconnect)
    );
}

#[test]
fn encode_refuses_what_cannot_be_sent() {
    let args = [Value::from(1)];
    let refused = |ns: &str, id: Option<u64>, data: DataRef<'_>| {
        encode(&PacketRef { ns, id, data }).unwrap_err()
    };
    let sid = DataRef::Connect {
        sid: "x",
        pid: None,
    };
    let error = Value::from("e");
    assert!(matches!(
        refused("custom", None, DataRef::Disconnect),
        EncodeError::InvalidNamespace(ns) if ns == "custom"
    ));
    assert!(matches!(
        refused("", None, DataRef::Disconnect),
        EncodeError::InvalidNamespace(_)
    ));
    assert!(matches!(
        refused("/", None, DataRef::Ack(&args)),
        EncodeError::MissingAckId
    ));
    for data in [sid, DataRef::Disconnect, DataRef::ConnectError(&error)] {
        assert!(matches!(
            refused("/", Some(1), data),
            EncodeError::UnexpectedAckId
        ));
    }
}

#[test]
fn connect_ack_carries_the_private_id_when_given() {
    let bytes = encode(&PacketRef {
        ns: "/",
        id: None,
        data: DataRef::Connect {
            sid: "x",
            pid: Some("y"),
        },
    })
    .unwrap();
    let packet = decode(&bytes).unwrap();
    assert_eq!(
        packet.data,
        PacketData::Connect(Some(Value::Map(vec![
            (Value::from("sid"), Value::from("x")),
            (Value::from("pid"), Value::from("y")),
        ])))
    );
}
