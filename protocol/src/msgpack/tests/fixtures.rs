//! Interop with the npm `socket.io-msgpack-parser`: the fixtures in
//! `tests/clients/msgpack-fixtures/fixtures.jsonl` were made by its encoder (see the README
//! there).

use serde_json::json;

use super::*;

const FIXTURES: &str = include_str!("../../../../tests/clients/msgpack-fixtures/fixtures.jsonl");

const SID: &str = "oSO0OpakmV7_r2LQAAAB";

#[derive(serde::Deserialize)]
struct Fixture {
    name: String,
    kind: String,
    hex: String,
}

fn fixtures() -> Vec<Fixture> {
    FIXTURES
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `n` bytes, byte `i` being `i * 7 + seed` (as `bytes()` in gen.mjs).
fn pattern(n: usize, seed: usize) -> Value {
    Value::Binary((0..n).map(|i| ((i * 7 + seed) & 0xff) as u8).collect())
}

fn int(n: i64) -> Value {
    Value::from(n)
}

/// What the fixture `name` decodes to (server and client fixtures).
fn expected(name: &str) -> Packet {
    let message_args = [int(1), s("2"), map(&[("3", arr(&[Value::from(true)]))])];
    let ack_args = [map(&[("a", arr(&[Value::from(1.5), Value::Nil, s("é")]))])];
    match name {
        "server-connect-root" => packet(
            "/",
            None,
            PacketData::Connect(Some(map(&[("sid", s(SID))]))),
        ),
        "server-connect-custom" => packet(
            "/custom",
            None,
            PacketData::Connect(Some(map(&[("sid", s(SID))]))),
        ),
        "server-disconnect-root" => packet("/", None, PacketData::Disconnect),
        "server-disconnect-custom" | "client-disconnect" => {
            packet("/custom", None, PacketData::Disconnect)
        }
        "server-event" | "client-event" => event("/", None, "message", &message_args),
        "server-event-no-args" => event("/", None, "ping", &[]),
        "server-event-id" | "client-event-id" => {
            event("/custom", Some(456), "message-with-ack", &message_args[..2])
        }
        "server-event-binary" => event(
            "/",
            None,
            "bin",
            &[
                bin(&[1, 2, 3]),
                map(&[("a", arr(&[bin(&[])])), ("b", pattern(300, 1))]),
            ],
        ),
        "server-event-binary-id" => event(
            "/custom",
            Some(4_294_967_296),
            "bin",
            &[arr(&[bin(&[0xff])])],
        ),
        "server-event-integers" => {
            let max_safe = (1i64 << 53) - 1;
            let ints = [
                0,
                127,
                128,
                255,
                256,
                65535,
                65536,
                4_294_967_295,
                4_294_967_296,
                max_safe,
                -1,
                -32,
                -33,
                -128,
                -129,
                -32768,
                -32769,
                -2_147_483_648,
                -2_147_483_649,
                -max_safe,
            ];
            event("/", None, "ints", &ints.map(int))
        }
        "server-event-floats" => event(
            "/",
            None,
            "floats",
            &[
                1.5,
                -0.25,
                0.1,
                1e-300,
                5e-324,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ]
            .map(Value::F64),
        ),
        "server-event-strings" => event(
            "/",
            None,
            "strings",
            &[
                s(""),
                s("é"),
                s("😀"),
                s(&"a".repeat(31)),
                s(&"b".repeat(32)),
                s(&"é".repeat(200)),
            ],
        ),
        "server-event-containers" => event(
            "/",
            None,
            "containers",
            &[
                Value::Array((0..16).map(int).collect()),
                Value::Map((0..16).map(|i| (s(&format!("k{i}")), int(i))).collect()),
                arr(&[arr(&[arr(&[arr(&[])])])]),
                map(&[]),
                arr(&[]),
                Value::Nil,
                Value::from(true),
                Value::from(false),
                map(&[(
                    "nested",
                    map(&[("deeper", arr(&[map(&[("x", Value::Nil)])]))]),
                )]),
            ],
        ),
        "server-ack" | "client-ack" => {
            packet("/custom", Some(12), PacketData::Ack(ack_args.to_vec()))
        }
        "server-ack-empty" => packet("/", Some(0), PacketData::Ack(vec![])),
        "server-ack-binary" => packet(
            "/",
            Some(7),
            PacketData::Ack(vec![bin(b"hello"), map(&[("b", pattern(70, 9))])]),
        ),
        "server-connect-error" => packet(
            "/random",
            None,
            PacketData::ConnectError(map(&[("message", s("Invalid namespace"))])),
        ),
        "server-connect-error-string" => {
            packet("/", None, PacketData::ConnectError(s("not authorized")))
        }
        "client-connect-no-auth" => packet("/", None, PacketData::Connect(None)),
        "client-connect-auth" => packet(
            "/custom",
            None,
            PacketData::Connect(Some(map(&[("token", s("123"))]))),
        ),
        "client-connect-recovery" => packet(
            "/",
            None,
            PacketData::Connect(Some(map(&[
                ("pid", s("p1")),
                ("offset", s("o1")),
                ("token", s("t")),
            ]))),
        ),
        "client-event-buffer" => event(
            "/",
            None,
            "bin",
            &[bin(&[1, 2, 3]), map(&[("a", arr(&[bin(&[4])]))])],
        ),
        "client-event-arraybuffer" => event("/", None, "ab", &[bin(&[5, 6, 7]), bin(&[8, 9])]),
        "client-event-undefined" => event(
            "/",
            None,
            "undef",
            &[Value::Nil, map(&[("b", int(1))]), arr(&[Value::Nil])],
        ),
        "client-event-date" => event(
            "/",
            None,
            "date",
            &[Value::Ext(0, 1_700_000_000_000i64.to_be_bytes().to_vec())],
        ),
        // notepack.io writes integral numbers beyond 64 bits wrongly; we read what it wrote.
        "client-numbers-beyond-64-bits" => event(
            "/",
            None,
            "big",
            &[Value::from(7_766_279_631_452_241_920u64), int(0), int(0)],
        ),
        "client-ack-binary" => packet("/", Some(7), PacketData::Ack(vec![bin(b"hi")])),
        "client-key-order" => event("/", Some(3), "x", &[]),
        _ => panic!("no expectation for fixture {name:?}"),
    }
}

#[test]
fn fixtures_of_the_npm_encoder() {
    let fixtures = fixtures();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for fixture in &fixtures {
        let name = fixture.name.as_str();
        let bytes = unhex(&fixture.hex);
        *counts.entry(fixture.kind.as_str()).or_default() += 1;
        match fixture.kind.as_str() {
            "server" => {
                let packet = expected(name);
                assert_eq!(decode(&bytes).as_ref(), Ok(&packet), "{name}: decode");
                assert_eq!(
                    hex(&encode_packet(&packet)),
                    fixture.hex,
                    "{name}: our encoding differs from the npm encoder's"
                );
            }
            "client" => {
                assert_eq!(decode(&bytes), Ok(expected(name)), "{name}: decode");
            }
            "invalid" | "stricter" => {
                let result = decode(&bytes);
                assert!(result.is_err(), "{name}: decoded to {result:?}");
            }
            kind => panic!("{name}: unknown kind {kind:?}"),
        }
    }
    // Guard against a truncated or emptied file.
    assert_eq!(counts.get("server"), Some(&18), "{counts:?}");
    assert_eq!(counts.get("client"), Some(&14), "{counts:?}");
    assert!(
        counts.get("invalid").is_some_and(|n| *n >= 20),
        "{counts:?}"
    );
    assert!(
        counts.get("stricter").is_some_and(|n| *n >= 6),
        "{counts:?}"
    );
}

/// How check.mjs renders a value decoded by the npm decoder as JSON.
fn js_json(value: &Value) -> serde_json::Value {
    let number = |f: f64| {
        if f.is_finite() {
            json!(f)
        } else {
            json!({ "$number": f.to_string().replace("inf", "Infinity") })
        }
    };
    match value {
        Value::Nil => json!(null),
        Value::Boolean(b) => json!(b),
        Value::Integer(n) => match (n.as_u64(), n.as_i64()) {
            (Some(n), _) => json!(n),
            (_, Some(n)) => json!(n),
            _ => unreachable!(),
        },
        Value::F32(f) => number(f64::from(*f)),
        Value::F64(f) => number(*f),
        Value::String(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        Value::Binary(data) => json!({ "$binary": hex(data) }),
        Value::Array(items) => items.iter().map(js_json).collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let key = match k {
                    Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    Value::Nil => "null".to_owned(),
                    other => other.to_string(),
                };
                (key, js_json(v))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Value::Ext(0, data) if data.len() == 8 => {
            let mut ms = [0; 8];
            ms.copy_from_slice(data);
            json!({ "$date": i64::from_be_bytes(ms) })
        }
        Value::Ext(ty, data) => json!([ty, { "$binary": hex(data) }]),
    }
}

fn js_packet(packet: &Packet, ty: u8, data: Option<serde_json::Value>) -> serde_json::Value {
    let mut out = json!({ "type": ty, "nsp": packet.ns });
    if let Some(data) = data {
        out["data"] = data;
    }
    if let Some(id) = packet.id {
        out["id"] = json!(id);
    }
    out
}

/// What check.mjs expects the npm decoder to make of `packet`.
fn js_expect(packet: &Packet) -> serde_json::Value {
    match &packet.data {
        PacketData::Connect(data) => js_packet(packet, 0, data.as_ref().map(js_json)),
        PacketData::Disconnect => js_packet(packet, 1, None),
        PacketData::Event { event, args } => {
            let mut items = vec![json!(event)];
            items.extend(args.iter().map(js_json));
            js_packet(packet, 2, Some(items.into()))
        }
        PacketData::Ack(args) => js_packet(packet, 3, Some(args.iter().map(js_json).collect())),
        PacketData::ConnectError(data) => js_packet(packet, 4, Some(js_json(data))),
    }
}

/// Packets only our encoder makes (no npm fixture to compare with).
fn extras() -> Vec<(&'static str, Packet)> {
    let invalid_utf8 = rmpv::decode::read_value(&mut &[0xa2, 0x61, 0xff][..]).unwrap();
    let mut deep = Value::from("bottom");
    for _ in 1..MAX_DEPTH {
        deep = arr(&[deep]);
    }
    vec![
        (
            "extra-f32",
            event("/", None, "f32", &[Value::F32(1.5), Value::F32(-0.0)]),
        ),
        (
            "extra-integral-f64",
            event("/", None, "f64", &[Value::F64(2.0), Value::F64(-0.0)]),
        ),
        (
            "extra-non-finite",
            event(
                "/",
                None,
                "nf",
                &[
                    Value::F64(f64::NAN),
                    Value::F64(f64::INFINITY),
                    Value::F32(f32::NEG_INFINITY),
                ],
            ),
        ),
        (
            "extra-64-bit-extremes",
            event(
                "/",
                None,
                "big",
                &[Value::from(u64::MAX), Value::from(i64::MIN)],
            ),
        ),
        (
            "extra-32-bit-lengths",
            event(
                "/",
                None,
                "long",
                &[
                    s(&"x".repeat(70_000)),
                    bin(&[7; 70_000]),
                    Value::Array(vec![Value::Nil; 70_000]),
                    Value::Map((0..70_000).map(|i| (s(&format!("k{i}")), int(i))).collect()),
                ],
            ),
        ),
        (
            "extra-non-string-keys",
            event(
                "/",
                None,
                "keys",
                &[Value::Map(vec![
                    (int(1), s("a")),
                    (Value::from(true), s("b")),
                    (Value::Nil, s("c")),
                ])],
            ),
        ),
        (
            "extra-invalid-utf8",
            event("/", None, "utf8", &[invalid_utf8]),
        ),
        (
            "extra-ext",
            event(
                "/",
                None,
                "ext",
                &[
                    Value::Ext(5, vec![1, 2, 3]),
                    Value::Ext(-1, vec![1, 2, 3, 4]),
                    Value::Ext(0, 1_700_000_000_000i64.to_be_bytes().to_vec()),
                ],
            ),
        ),
        (
            "extra-connect-error-binary",
            packet(
                "/",
                None,
                PacketData::ConnectError(map(&[("message", s("no")), ("data", bin(&[1, 2]))])),
            ),
        ),
        (
            "extra-namespace-comma",
            event("/a,b", Some(1), "comma", &[]),
        ),
        ("extra-deep", event("/", None, "deep", &[deep])),
    ]
}

/// With `VOLLEY_MSGPACK_OURS=<path>`, writes our encodings for check.mjs (see the README of
/// tests/clients/msgpack-fixtures): every fixture we can encode, then the extras with the
/// value the npm decoder should produce.
#[test]
fn write_our_encodings_for_check_mjs() {
    let mut out = String::new();
    for fixture in fixtures() {
        if fixture.kind != "server" && fixture.kind != "client" {
            continue;
        }
        let packet = expected(&fixture.name);
        let Some(packet_ref) = to_ref(&packet) else {
            continue;
        };
        let line = json!({ "name": fixture.name, "hex": hex(&encode(&packet_ref).unwrap()) });
        out.push_str(&format!("{line}\n"));
    }
    for (name, packet) in extras() {
        let bytes = encode_packet(&packet);
        // Ours decodes again to the same packet, except that a string not in UTF-8 is
        // converted and NaN is not equal to itself.
        let decoded = decode(&bytes).unwrap();
        if !matches!(name, "extra-invalid-utf8" | "extra-non-finite") {
            assert_eq!(decoded, packet, "{name}");
        }
        let line = json!({ "name": name, "hex": hex(&bytes), "expect": js_expect(&packet) });
        out.push_str(&format!("{line}\n"));
    }
    if let Some(path) = std::env::var_os("VOLLEY_MSGPACK_OURS") {
        std::fs::write(path, out).unwrap();
    }
}
