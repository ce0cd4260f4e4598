#![allow(clippy::unwrap_used)]

use rmpv::Value;

use super::normalize::iso_string;
use super::request::js_number;
use super::*;

mod fixtures;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().map(|(k, v)| (s(k), v.clone())).collect())
}

/// Equality where an integer equals a float of the same value (JavaScript has one number
/// type, and notepack writes integral numbers as integers) and NaN equals NaN.
fn same(a: &Value, b: &Value) -> bool {
    same_within(a, b, 0)
}

/// [`same`], with floats allowed to be `ulps` units in the last place apart.
fn same_within(a: &Value, b: &Value, ulps: u64) -> bool {
    let number = |v: &Value| match v {
        Value::Integer(n) => n.as_f64(),
        Value::F32(f) => Some(f64::from(*f)),
        Value::F64(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_within(a, b, ulps))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same_within(va, vb, ulps))
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => {
                x == y
                    || (x.is_nan() && y.is_nan())
                    || (x.is_finite()
                        && y.is_finite()
                        && x.signum() == y.signum()
                        && x.to_bits().abs_diff(y.to_bits()) <= ulps)
            }
            _ => a == b,
        },
    }
}

fn assert_same(got: &Value, expected: &Value, what: &str) {
    assert!(
        same(got, expected),
        "{what}:\n got      {got}\n expected {expected}"
    );
}

fn opts(rooms: &[&str], except: &[&str]) -> Opts {
    Opts {
        rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
        except: except.iter().map(|r| (*r).to_owned()).collect(),
        ..Opts::default()
    }
}

fn broadcast(event: &str, args: Vec<Value>, opts: Opts) -> Broadcast {
    Broadcast {
        uid: EMITTER_UID.to_owned(),
        nsp: "/".to_owned(),
        event: event.to_owned(),
        args,
        opts,
    }
}

// --- channels --------------------------------------------------------------------------------

#[test]
fn channel_names() {
    assert_eq!(broadcast_channel(DEFAULT_KEY, "/", None), "socket.io#/#");
    assert_eq!(
        broadcast_channel(DEFAULT_KEY, "/", Some("room1")),
        "socket.io#/#room1#"
    );
    assert_eq!(request_channel("key", "/admin"), "key-request#/admin#");
    let one = opts(&["r"], &[]);
    let two = opts(&["r", "s"], &["x"]);
    let args = [];
    let msg = |opts| BroadcastRef {
        uid: EMITTER_UID,
        nsp: "/chat",
        event: "e",
        args: &args,
        opts,
    };
    assert_eq!(msg(&one).channel("k"), "k#/chat#r#");
    assert_eq!(msg(&two).channel("k"), "k#/chat#");
    assert_eq!(msg(&Opts::default()).channel("k"), "k#/chat#");
}

// --- broadcasts --------------------------------------------------------------------------------

/// The bytes of `emitter.to("room1").emit("hello", "world")`, written out by hand from the
/// layout in the module documentation.
#[test]
fn hand_written_example_bytes() {
    let mut expected = Vec::new();
    expected.extend_from_slice(
        b"\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xa5hello\xa5world\xa3nsp\xa1/",
    );
    expected.extend_from_slice(b"\x83\xa5rooms\x91\xa5room1\xa5flags\x80\xa6except\x90");
    let message = broadcast("hello", vec![s("world")], opts(&["room1"], &[]));
    let bytes = encode_broadcast(&message.as_ref()).unwrap();
    assert_eq!(hex(&bytes), hex(&expected));
    assert_eq!(message.as_ref().channel(DEFAULT_KEY), "socket.io#/#room1#");
    assert_eq!(decode_broadcast(&expected).unwrap(), message);
}

/// The frame of an older emitter, as reported against Node's Redis adapter: no `except`.
#[test]
fn old_emitter_frame_without_except() {
    let frame = b"\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xa4test\xa9some data\xa3nsp\xa1/\x82\xa5rooms\x90\xa5flags\x80";
    let got = decode_broadcast(frame).unwrap();
    assert_eq!(
        got,
        broadcast("test", vec![s("some data")], Opts::default())
    );
}

#[test]
fn flags_are_written_volatile_then_compress() {
    let all = |volatile, compress| {
        let opts = Opts {
            volatile,
            compress,
            ..Opts::default()
        };
        let bytes = encode_broadcast(&broadcast("e", vec![], opts.clone()).as_ref()).unwrap();
        assert_eq!(decode_broadcast(&bytes).unwrap().opts, opts);
        hex(&bytes)
    };
    assert!(all(false, None).contains(&hex(b"\xa5flags\x80")));
    assert!(all(true, None).contains(&hex(b"\xa5flags\x81\xa8volatile\xc3")));
    assert!(all(false, Some(false)).contains(&hex(b"\xa5flags\x81\xa8compress\xc2")));
    assert!(all(true, Some(true)).contains(&hex(b"\xa5flags\x82\xa8volatile\xc3\xa8compress\xc3")));
}

#[test]
fn numbers_are_written_like_javascript_numbers() {
    let one = |v: Value| {
        let bytes = encode_broadcast(&broadcast("n", vec![v], Opts::default()).as_ref()).unwrap();
        // 93 a7 emitter 83 a4 type 02 a4 data 92 a1 n <arg>
        // a3 nsp a1 / 83 a5 rooms 90 a5 flags 80 a6 except 90
        let start = 1 + 8 + 1 + 5 + 1 + 5 + 1 + 2;
        let end = bytes.len() - (4 + 2 + 1 + 6 + 1 + 6 + 1 + 7 + 1);
        hex(&bytes[start..end])
    };
    assert_eq!(one(Value::F64(1.0)), "01");
    assert_eq!(one(Value::F64(-0.0)), "00");
    assert_eq!(one(Value::F64(-33.0)), "d0df");
    assert_eq!(one(Value::F32(2.0)), "02");
    assert_eq!(one(Value::F32(1.5)), "cb3ff8000000000000");
    assert_eq!(one(Value::F64(1.5)), "cb3ff8000000000000");
    assert_eq!(one(Value::F64(4_294_967_296.0)), "cf0000000100000000");
    assert_eq!(
        one(Value::F64(-9_223_372_036_854_775_808.0)),
        "d38000000000000000"
    );
    // 2^64 and beyond: notepack's output wraps around there; a float 64 is kept instead.
    assert_eq!(
        one(Value::F64(18_446_744_073_709_551_616.0)),
        "cb43f0000000000000"
    );
    assert_eq!(
        one(Value::F64(1e300)),
        hex(&[&[0xcb][..], &1e300f64.to_be_bytes()].concat())
    );
    assert_eq!(
        one(Value::F64(f64::NAN)),
        hex(&[&[0xcb][..], &f64::NAN.to_be_bytes()].concat())
    );
    assert_eq!(one(Value::from(u64::MAX)), "cfffffffffffffffff");
    assert_eq!(one(Value::from(i64::MIN)), "d38000000000000000");
}

#[test]
fn round_trip_of_every_kind_of_value() {
    let args = vec![
        Value::Nil,
        Value::Boolean(true),
        Value::from(-5),
        Value::from(u64::MAX),
        Value::F64(0.25),
        Value::F64(f64::INFINITY),
        s("é😀"),
        Value::Binary(vec![0, 1, 2]),
        Value::Binary(vec![7; 70_000]),
        s(&"x".repeat(70_000)),
        Value::Array((0..70_000).map(|i| Value::from(i % 7)).collect()),
        map(&[
            ("a", Value::Array(vec![Value::Binary(vec![])])),
            ("b", map(&[])),
        ]),
    ];
    let message = Broadcast {
        uid: "abcdef".into(),
        nsp: "/custom".into(),
        event: "everything".into(),
        args: args.clone(),
        opts: Opts {
            rooms: vec!["r1".into(), "r2".into()],
            except: vec!["x".into()],
            volatile: true,
            compress: Some(false),
        },
    };
    let back = decode_broadcast(&encode_broadcast(&message.as_ref()).unwrap()).unwrap();
    assert_eq!(back, message);
}

#[test]
fn encode_errors() {
    let mut message = broadcast("e", vec![], Opts::default());
    message.nsp = "chat".into();
    assert!(matches!(
        encode_broadcast(&message.as_ref()),
        Err(EncodeError::InvalidNamespace(_))
    ));
}

fn nested(levels: usize) -> Value {
    let mut value = Value::Nil;
    for _ in 0..levels {
        value = Value::Array(vec![value]);
    }
    value
}

/// The encoder refuses what the decoder would refuse: 125 levels of arguments fit (the
/// message's array, packet map and data array are the first three of 128).
#[test]
fn nesting_limit_is_the_same_both_ways() {
    let ok = broadcast("deep", vec![nested(125)], Opts::default());
    let bytes = encode_broadcast(&ok.as_ref()).unwrap();
    assert_eq!(decode_broadcast(&bytes).unwrap(), ok);
    let too_deep = broadcast("deep", vec![nested(126)], Opts::default());
    assert!(encode_broadcast(&too_deep.as_ref()).is_err());
    // The same bytes with one more level, written by hand, are refused by the decoder.
    let mut bytes = bytes.to_vec();
    let at = bytes.iter().position(|b| *b == 0x91).unwrap();
    bytes.insert(at, 0x91);
    assert!(decode_broadcast(&bytes).is_err());
}

// --- malformed input: errors, never panics ----------------------------------------------------

fn valid_frame() -> Vec<u8> {
    let message = broadcast(
        "ev",
        vec![
            map(&[("k", Value::Array(vec![Value::from(1), Value::F64(1.5)]))]),
            Value::Binary(vec![1; 40]),
            Value::Ext(-1, vec![0, 0, 0, 1]),
        ],
        opts(&["a", "b"], &["c"]),
    );
    let mut bytes = encode_broadcast(&message.as_ref()).unwrap().to_vec();
    assert!(decode_broadcast(&bytes).is_ok());
    bytes.truncate(bytes.len());
    bytes
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = valid_frame();
    for len in 0..bytes.len() {
        assert!(
            decode_broadcast(&bytes[..len]).is_err(),
            "prefix of {len} bytes"
        );
        let _ = decode_request(&bytes[..len]);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let frame = valid_frame();
    for round in 0..20_000 {
        let mut bytes = if round % 2 == 0 {
            frame.clone()
        } else {
            (0..next() % 64).map(|_| next() as u8).collect()
        };
        // flip a few bytes of a valid frame (or of random bytes)
        for _ in 0..(next() % 4) {
            if !bytes.is_empty() {
                let at = next() % bytes.len();
                bytes[at] = next() as u8;
            }
        }
        let _ = decode_broadcast(&bytes);
        let _ = decode_request(&bytes);
        let mut json = b"{\"type\":6,\"data\":[\"e\",".to_vec();
        json.extend_from_slice(&bytes);
        let _ = decode_request(&json);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 100k nested arrays as the argument of a broadcast.
    let mut bytes = b"\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xa2ev".to_vec();
    bytes.extend(std::iter::repeat_n(0x91, 100_000));
    bytes.push(0xc0);
    bytes.extend_from_slice(b"\xa3nsp\xa1/\x80");
    assert!(matches!(
        decode_broadcast(&bytes),
        Err(DecodeError::InvalidMsgpack(_))
    ));
    // ... and as the whole message.
    let deep = vec![0x91; 100_000];
    assert!(decode_broadcast(&deep).is_err());
    assert!(decode_request(&deep).is_err());
    // 100k nested JSON arrays in a server-side emit.
    let mut json = b"{\"type\":6,\"data\":[\"e\",".to_vec();
    json.extend(std::iter::repeat_n(b'[', 100_000));
    json.extend(std::iter::repeat_n(b']', 100_000));
    json.extend_from_slice(b"]}");
    assert!(matches!(
        decode_request(&json),
        Err(DecodeError::InvalidJson(_))
    ));
}

#[test]
fn wrong_shapes_are_errors() {
    let enc = |v: Value| {
        let mut w = Writer(Vec::new());
        w.value(&v).unwrap();
        w.0
    };
    let packet = map(&[
        ("type", Value::from(2)),
        ("data", Value::Array(vec![s("ev")])),
        ("nsp", s("/")),
    ]);
    let ok = enc(Value::Array(vec![s("u"), packet.clone(), map(&[])]));
    assert!(decode_broadcast(&ok).is_ok());
    for bad in [
        Value::Nil,
        s("x"),
        Value::Array(vec![]),
        Value::Array(vec![s("u"), packet.clone()]),
        Value::Array(vec![Value::from(1), packet.clone(), map(&[])]),
        Value::Array(vec![s("u"), Value::Array(vec![]), map(&[])]),
        Value::Array(vec![s("u"), packet.clone(), Value::Array(vec![])]),
        Value::Array(vec![s("u"), packet.clone(), map(&[("rooms", s("abc"))])]),
        Value::Array(vec![
            s("u"),
            packet.clone(),
            map(&[("rooms", Value::Array(vec![Value::Nil]))]),
        ]),
        Value::Array(vec![s("u"), packet.clone(), map(&[("except", map(&[]))])]),
        Value::Array(vec![
            s("u"),
            packet.clone(),
            map(&[("flags", Value::from(1))]),
        ]),
        Value::Array(vec![
            s("u"),
            map(&[
                ("type", Value::from(2)),
                ("data", Value::Array(vec![s("ev")])),
                ("nsp", Value::from(1)),
            ]),
            map(&[]),
        ]),
        Value::Array(vec![
            s("u"),
            map(&[("type", s("2")), ("data", Value::Array(vec![s("ev")]))]),
            map(&[]),
        ]),
    ] {
        assert!(
            decode_broadcast(&enc(bad.clone())).is_err(),
            "{bad} accepted"
        );
    }
}

// --- foreign values ------------------------------------------------------------------------

#[test]
fn timestamps_become_date_to_json_text() {
    let ts32 = |s: u32| Value::Ext(-1, s.to_be_bytes().to_vec());
    let ts64 = |s: u64, ns: u32| Value::Ext(-1, ((u64::from(ns) << 34) | s).to_be_bytes().to_vec());
    let ts96 =
        |s: i64, ns: u32| Value::Ext(-1, [&ns.to_be_bytes()[..], &s.to_be_bytes()[..]].concat());
    let cases = [
        (ts32(961_804_800), "2000-06-24T00:00:00.000Z"),
        (ts32(960_854_400), "2000-06-13T00:00:00.000Z"),
        (ts32(0), "1970-01-01T00:00:00.000Z"),
        (ts32(u32::MAX), "2106-02-07T06:28:15.000Z"),
        (ts64(961_804_800, 123_000_000), "2000-06-24T00:00:00.123Z"),
        // sub-millisecond nanoseconds are cut, as `new Date(ms)` does
        (ts64(0, 999_999), "1970-01-01T00:00:00.000Z"),
        (ts96(-1, 999_000_000), "1969-12-31T23:59:59.999Z"),
        (ts96(-1, 1), "1969-12-31T23:59:59.001Z"),
        (ts96(-62_198_755_200, 0), "-000001-01-01T00:00:00.000Z"),
        (ts96(-62_167_219_200, 0), "0000-01-01T00:00:00.000Z"),
        (ts96(8_640_000_000_000, 0), "+275760-09-13T00:00:00.000Z"),
        (ts96(-8_640_000_000_000, 0), "-271821-04-20T00:00:00.000Z"),
        (ts96(253_402_300_800, 0), "+010000-01-01T00:00:00.000Z"),
        // notepack 2: fixext 8 of type 0 holding milliseconds
        (
            Value::Ext(0, 961_804_800_123i64.to_be_bytes().to_vec()),
            "2000-06-24T00:00:00.123Z",
        ),
        (
            Value::Ext(0, (-1i64).to_be_bytes().to_vec()),
            "1969-12-31T23:59:59.999Z",
        ),
    ];
    for (ext, text) in cases {
        assert_eq!(normalize(ext.clone()), s(text), "{ext}");
    }
    // Dates JavaScript cannot hold are invalid: toJSON gives null.
    for ext in [
        ts96(8_640_000_000_001, 0),
        ts96(i64::MIN, u32::MAX),
        ts96(i64::MAX, 0),
        Value::Ext(0, i64::MAX.to_be_bytes().to_vec()),
    ] {
        assert_eq!(normalize(ext.clone()), Value::Nil, "{ext}");
    }
}

#[test]
fn iso_strings() {
    assert_eq!(iso_string(0.0).unwrap(), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso_string(-0.5).unwrap(), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso_string(-1.5).unwrap(), "1969-12-31T23:59:59.999Z");
    assert_eq!(
        iso_string(951_782_400_000.0).unwrap(),
        "2000-02-29T00:00:00.000Z"
    );
    assert_eq!(iso_string(8.64e15).unwrap(), "+275760-09-13T00:00:00.000Z");
    assert!(iso_string(8.64e15 + 1.0).is_none());
    assert!(iso_string(f64::NAN).is_none());
    assert!(iso_string(f64::NEG_INFINITY).is_none());
}

#[test]
fn other_extensions() {
    // notepack 2's undefined
    assert_eq!(normalize(Value::Ext(0, vec![0])), Value::Nil);
    assert_eq!(
        normalize(Value::Array(vec![Value::Ext(0, vec![0]), Value::from(1)])),
        Value::Array(vec![Value::Nil, Value::from(1)])
    );
    assert_eq!(
        normalize(map(&[("a", Value::Ext(0, vec![0])), ("b", Value::from(1))])),
        map(&[("b", Value::from(1))])
    );
    // notepack 2's ArrayBuffer (as rmpv reads ext 8 of type 0)
    assert_eq!(
        normalize(Value::Ext(0, vec![1, 2, 3])),
        Value::Binary(vec![1, 2, 3])
    );
    assert_eq!(normalize(Value::Ext(0, vec![])), Value::Binary(vec![]));
    // unknown: [type, binary], as notepack 3 decodes it
    for (ty, data) in [
        (5, vec![1, 2]),
        (-1, vec![7]),
        (-1, vec![0; 16]),
        (127, vec![]),
    ] {
        assert_eq!(
            normalize(Value::Ext(ty, data.clone())),
            Value::Array(vec![Value::from(ty), Value::Binary(data)])
        );
    }
    // deep inside, and NaN kept
    let nested = map(&[(
        "x",
        Value::Array(vec![Value::Ext(-1, vec![0, 0, 0, 0]), Value::F64(f64::NAN)]),
    )]);
    let Value::Map(entries) = normalize(nested) else {
        panic!()
    };
    let Value::Array(items) = &entries[0].1 else {
        panic!()
    };
    assert_eq!(items[0], s("1970-01-01T00:00:00.000Z"));
    assert!(matches!(items[1], Value::F64(f) if f.is_nan()));
}

#[test]
fn decoded_arguments_hold_no_extension() {
    let message = broadcast(
        "ev",
        vec![
            Value::Ext(-1, vec![0, 0, 0, 1]),
            Value::Array(vec![Value::Ext(9, vec![1])]),
        ],
        Opts::default(),
    );
    let back = decode_broadcast(&encode_broadcast(&message.as_ref()).unwrap()).unwrap();
    assert_eq!(
        back.args,
        vec![
            s("1970-01-01T00:00:01.000Z"),
            Value::Array(vec![Value::Array(vec![
                Value::from(9),
                Value::Binary(vec![1])
            ])]),
        ]
    );
}

// --- requests ------------------------------------------------------------------------------

fn json(request: &Request) -> String {
    String::from_utf8(encode_request(request).unwrap().to_vec()).unwrap()
}

#[test]
fn requests_round_trip() {
    let requests = [
        Request::Join {
            opts: opts(&["a"], &["b"]),
            rooms: vec!["c".into(), "d".into()],
        },
        Request::Leave {
            opts: opts(&[], &[]),
            rooms: vec!["c".into()],
        },
        Request::Disconnect {
            opts: opts(&["a"], &[]),
            close: true,
        },
        Request::Disconnect {
            opts: opts(&[], &["x"]),
            close: false,
        },
        Request::ServerSideEmit {
            uid: Some(EMITTER_UID.into()),
            event: "e".into(),
            args: vec![Value::from(1), s("\"quoted\"\n"), map(&[("k", Value::Nil)])],
        },
        Request::ServerSideEmit {
            uid: None,
            event: "e".into(),
            args: vec![],
        },
    ];
    for request in requests {
        let text = json(&request);
        assert_eq!(decode_request(text.as_bytes()).unwrap(), request, "{text}");
    }
}

#[test]
fn request_json_is_the_emitters() {
    assert_eq!(
        json(&Request::Join {
            opts: opts(&["r1"], &["r2"]),
            rooms: vec!["a".into(), "b".into()]
        }),
        r#"{"type":2,"opts":{"rooms":["r1"],"except":["r2"]},"rooms":["a","b"]}"#
    );
    assert_eq!(
        json(&Request::Leave {
            opts: Opts {
                volatile: true,
                compress: Some(true),
                ..opts(&[], &[])
            },
            rooms: vec!["a".into()]
        }),
        r#"{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["a"]}"#
    );
    assert_eq!(
        json(&Request::Disconnect {
            opts: opts(&[], &[]),
            close: false
        }),
        r#"{"type":4,"opts":{"rooms":[],"except":[]},"close":false}"#
    );
    assert_eq!(
        json(&Request::ServerSideEmit {
            uid: Some("emitter".into()),
            event: "ev".into(),
            args: vec![
                Value::Binary(vec![1, 255]),
                Value::F64(f64::NAN),
                Value::F32(0.5),
                Value::Ext(-1, vec![0, 0, 0, 0]),
                map(&[("u", Value::Ext(0, vec![0])), ("v", Value::Ext(0, vec![0]))]),
                Value::Map(vec![
                    (Value::from(1), Value::Boolean(true)),
                    (Value::Nil, Value::Nil)
                ]),
            ]
        }),
        r#"{"uid":"emitter","type":6,"data":["ev",{"type":"Buffer","data":[1,255]},null,0.5,"1970-01-01T00:00:00.000Z",{},{"1":true,"null":null}]}"#
    );
    assert!(encode_request(&Request::ServerSideEmit {
        uid: None,
        event: "e".into(),
        args: vec![Value::Map(vec![(Value::Binary(vec![]), Value::Nil)])],
    })
    .is_err());
    assert!(encode_request(&Request::Unsupported { kind: 5 }).is_err());
}

#[test]
fn javascript_number_text() {
    for (f, text) in [
        (1.0, "1"),
        (-0.0, "0"),
        (100.0, "100"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123_456.789, "123456.789"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (9_007_199_254_740_992.0, "9007199254740992"),
        (0.000_001, "0.000001"),
        (1e-7, "1e-7"),
        (1.23e-18, "1.23e-18"),
        (-2.5e-8, "-2.5e-8"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (-1e300, "-1e+300"),
    ] {
        assert_eq!(js_number(f), text, "{f:e}");
    }
}

/// The largest JSON request we encode is one `serde_json` reads back.
#[test]
fn json_nesting_limit_is_the_same_both_ways() {
    let deepest_ok = (1..200)
        .take_while(|levels| {
            encode_request(&Request::ServerSideEmit {
                uid: None,
                event: "e".into(),
                args: vec![nested(*levels)],
            })
            .is_ok()
        })
        .last()
        .unwrap();
    assert_eq!(deepest_ok, 125);
    let request = Request::ServerSideEmit {
        uid: None,
        event: "e".into(),
        args: vec![nested(deepest_ok)],
    };
    assert_eq!(
        decode_request(&encode_request(&request).unwrap()).unwrap(),
        request
    );
    // Binary takes two levels (`{"type":"Buffer","data":[...]}`).
    let mut binary = Value::Binary(vec![1]);
    for _ in 0..123 {
        binary = Value::Array(vec![binary]);
    }
    let request = Request::ServerSideEmit {
        uid: None,
        event: "e".into(),
        args: vec![binary.clone()],
    };
    let text = encode_request(&request).unwrap();
    assert!(decode_request(&text).is_ok());
    let request = Request::ServerSideEmit {
        uid: None,
        event: "e".into(),
        args: vec![Value::Array(vec![binary])],
    };
    assert!(encode_request(&request).is_err());
}

#[test]
fn node_node_requests_are_unsupported() {
    for text in [
        r#"{"uid":"abcdef","requestId":"xyz123","type":0,"rooms":["a"]}"#,
        r#"{"uid":"abcdef","requestId":"xyz123","type":1}"#,
        r#"{"uid":"abcdef","requestId":"xyz123","type":5,"opts":{"rooms":[],"except":[]}}"#,
        r#"{"type":8,"requestId":"xyz123","clientCount":3}"#,
        r#"{"type":42}"#,
    ] {
        assert!(
            matches!(
                decode_request(text.as_bytes()),
                Ok(Request::Unsupported { .. })
            ),
            "{text}"
        );
    }
    // BROADCAST and BROADCAST_ACK travel as msgpack maps.
    let mut w = Writer(Vec::new());
    w.value(&map(&[
        ("uid", s("abcdef")),
        ("requestId", s("xyz123")),
        ("type", Value::from(7)),
        (
            "packet",
            map(&[
                ("type", Value::from(2)),
                ("data", Value::Array(vec![s("e")])),
            ]),
        ),
        ("opts", map(&[])),
    ]))
    .unwrap();
    assert_eq!(
        decode_request(&w.0).unwrap(),
        Request::Unsupported { kind: 7 }
    );
}

#[test]
fn request_tolerance() {
    let decode = |text: &str| decode_request(text.as_bytes()).unwrap();
    // A server-side emit of a Node node, with or without an ack request.
    assert_eq!(
        decode(r#"{"uid":"abcdef","type":6,"data":["ev",1],"requestId":"r"}"#),
        Request::ServerSideEmit {
            uid: Some("abcdef".into()),
            event: "ev".into(),
            args: vec![Value::from(1)]
        }
    );
    // Legacy forms naming one socket.
    assert_eq!(
        decode(r#"{"uid":"abcdef","requestId":"r","type":2,"sid":"s1","room":"r1"}"#),
        Request::Join {
            opts: opts(&["s1"], &[]),
            rooms: vec!["r1".into()]
        }
    );
    assert_eq!(
        decode(r#"{"type":3,"sid":"s1","room":7}"#),
        Request::Leave {
            opts: opts(&["s1"], &[]),
            rooms: vec!["7".into()]
        }
    );
    assert_eq!(
        decode(r#"{"type":4,"sid":"s1","close":true}"#),
        Request::Disconnect {
            opts: opts(&["s1"], &[]),
            close: true
        }
    );
    // opts without rooms/except, one room as a string, close absent, flags ignored,
    // duplicate keys (the last wins), unknown keys, a float type.
    assert_eq!(
        decode(r#"{"type":2.0,"opts":{"flags":{"volatile":true}},"rooms":"solo","x":1}"#),
        Request::Join {
            opts: Opts::default(),
            rooms: vec!["solo".into()]
        }
    );
    assert_eq!(
        decode(r#"{"type":4,"opts":{"rooms":null,"except":["a"]},"type":4}"#),
        Request::Disconnect {
            opts: opts(&[], &["a"]),
            close: false
        }
    );
    // msgpack, with a timestamp in the arguments.
    let mut w = Writer(Vec::new());
    w.value(&map(&[
        ("uid", s("emitter")),
        ("type", Value::from(6)),
        (
            "data",
            Value::Array(vec![s("ev"), Value::Ext(-1, vec![0, 0, 0, 0])]),
        ),
    ]))
    .unwrap();
    assert_eq!(
        decode_request(&w.0).unwrap(),
        Request::ServerSideEmit {
            uid: Some("emitter".into()),
            event: "ev".into(),
            args: vec![s("1970-01-01T00:00:00.000Z")]
        }
    );
}

#[test]
fn request_errors() {
    for text in [
        "",
        "{",
        "{}",
        "[]",
        "{\"type\":\"2\"}",
        "{\"type\":-1}",
        "{\"type\":2.5}",
        "{\"type\":2}",
        "{\"type\":2,\"opts\":{}}",
        "{\"type\":2,\"opts\":true,\"rooms\":[]}",
        "{\"type\":2,\"opts\":{\"rooms\":\"abc\"},\"rooms\":[]}",
        "{\"type\":2,\"opts\":{},\"rooms\":[null]}",
        "{\"type\":2,\"sid\":\"s\"}",
        "{\"type\":4,\"opts\":{},\"close\":\"yes\"}",
        "{\"type\":4}",
        "{\"type\":6}",
        "{\"type\":6,\"data\":[]}",
        "{\"type\":6,\"data\":[1]}",
        "{\"type\":6,\"data\":\"ev\"}",
        "{\"type\":6,\"uid\":1,\"data\":[\"ev\"]}",
        "{\"type\":6,\"data\":[\"ev\"]} trailing",
        "\u{93}",
    ] {
        assert!(
            decode_request(text.as_bytes()).is_err(),
            "{text:?} accepted"
        );
    }
}
