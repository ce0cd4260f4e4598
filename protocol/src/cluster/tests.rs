use super::*;

fn opts() -> BroadcastOpts {
    BroadcastOpts {
        rooms: vec!["r1".into(), "r2".into()],
        except: vec!["x".into()],
        volatile: true,
        local: false,
    }
}

fn every_body() -> Vec<Body> {
    let args = vec![
        Value::from("s"),
        Value::from(-3),
        Value::F64(1.5),
        Value::Binary(vec![0, 255]),
        Value::Map(vec![(Value::from("k"), Value::Array(vec![Value::Nil]))]),
    ];
    vec![
        Body::InitialHeartbeat(NodeInfo::default()),
        Body::Heartbeat(NodeInfo::default()),
        Body::Broadcast {
            opts: opts(),
            event: "ev".into(),
            args: args.clone(),
            offset: None,
            ack: None,
        },
        Body::Broadcast {
            opts: opts(),
            event: "ev".into(),
            args: args.clone(),
            offset: Some("a1b2-3f".into()),
            ack: Some(AckRequest {
                id: 7,
                timeout_ms: 100,
            }),
        },
        Body::Broadcast {
            opts: opts(),
            event: "ev".into(),
            args: vec![],
            offset: Some("a1b2-40".into()),
            ack: None,
        },
        Body::Broadcast {
            opts: BroadcastOpts::default(),
            event: "ev".into(),
            args: vec![],
            offset: None,
            ack: Some(AckRequest {
                id: u64::MAX,
                timeout_ms: 5000,
            }),
        },
        Body::SocketsJoin {
            opts: opts(),
            rooms: vec!["a".into()],
        },
        Body::SocketsLeave {
            opts: opts(),
            rooms: vec![],
        },
        Body::DisconnectSockets {
            opts: opts(),
            close: true,
        },
        Body::FetchSockets {
            opts: opts(),
            request_id: 7,
        },
        Body::FetchSocketsResponse {
            request_id: 7,
            sockets: vec![RemoteSocket {
                id: "abc".into(),
                nsp: "/chat".into(),
                rooms: vec!["abc".into(), "r".into()],
                auth: Value::Map(vec![(Value::from("token"), Value::from("t"))]),
                url: "/socket.io/?EIO=4".into(),
                address: Some("127.0.0.1".into()),
            }],
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: args.clone(),
            request_id: Some(3),
        },
        Body::ServerSideEmit {
            event: "hello".into(),
            args: vec![],
            request_id: None,
        },
        Body::ServerSideEmitResponse {
            request_id: 3,
            args: args.clone(),
        },
        Body::BroadcastClientCount {
            request_id: 9,
            sids: vec!["s1".into()],
        },
        Body::BroadcastAck {
            request_id: 9,
            sid: "s1".into(),
            args,
        },
        Body::AdapterClose,
        Body::RestoreSession {
            request_id: 9,
            pid: "p".into(),
            offset: Some("a1-2".into()),
        },
        Body::RestoreSession {
            request_id: 10,
            pid: "p".into(),
            offset: None,
        },
        Body::RestoreSessionResponse {
            request_id: 9,
            session: None,
        },
        Body::RestoreSessionResponse {
            request_id: 9,
            session: Some(RecoveredSession {
                sid: "s".into(),
                rooms: vec!["r".into()],
                data: Value::from("d"),
                missed: vec![
                    Value::from("42[\"e\"]"),
                    Value::Binary(vec![1]),
                    Value::Array(vec![Value::from("451-[]"), Value::Binary(vec![2])]),
                ],
                marks: [("a1".to_owned(), 2u64)].into_iter().collect(),
                last: None,
            }),
        },
    ]
}

#[test]
fn every_message_round_trips() {
    for (i, body) in every_body().into_iter().enumerate() {
        let msg = Message {
            uid: "0123456789abcdef".into(),
            nsp: if i % 2 == 0 { "/" } else { "/chat" }.into(),
            body,
        };
        let bytes = msg.encode().expect("encode");
        assert_eq!(Message::decode(&bytes).expect("decode"), msg);
    }
}

#[test]
fn type_numbers_follow_node() {
    let numbers: Vec<u8> = every_body()
        .into_iter()
        .map(|body| {
            Message {
                uid: "u".into(),
                nsp: "/".into(),
                body,
            }
            .type_number()
        })
        .collect();
    assert_eq!(
        numbers,
        vec![1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11, 12, 13, 100, 100, 101, 101]
    );
}

#[test]
fn foreign_bytes_are_errors_not_panics() {
    let good = Message {
        uid: "u".into(),
        nsp: "/".into(),
        body: every_body().swap_remove(2),
    }
    .encode()
    .expect("encode");
    for end in 0..good.len() {
        assert!(Message::decode(&good[..end]).is_err(), "prefix {end}");
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5000 {
        let len = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = Message::decode(&bytes);
    }
    let deep: Vec<u8> = std::iter::repeat_n(0x91u8, 100_000).collect();
    assert!(Message::decode(&deep).is_err());
    // a map without uid, or of an unknown type
    let no_uid =
        write_value(&Value::Map(vec![(Value::from("type"), Value::from(2))])).expect("encode");
    assert!(Message::decode(&no_uid).is_err());
    let unknown = write_value(&Value::Map(vec![
        (Value::from("uid"), Value::from("u")),
        (Value::from("type"), Value::from(99)),
    ]))
    .expect("encode");
    assert!(Message::decode(&unknown).is_err());
}

#[test]
fn peek_uid_agrees_with_decode() {
    for uid in [
        "",
        "a1b2c3d4e5f60718",
        &"x".repeat(31),
        &"y".repeat(32),
        &"z".repeat(255),
    ] {
        let msg = Message {
            uid: uid.to_owned(),
            nsp: "/".into(),
            body: Body::Heartbeat(NodeInfo::default()),
        };
        let bytes = msg.encode().expect("encode");
        assert_eq!(Message::peek_uid(&bytes), Some(uid));
        assert_eq!(Message::decode(&bytes).expect("decode").uid, uid);
    }
    // uid not first, or not a string: no answer, decode decides
    let later = write_value(&Value::Map(vec![
        (Value::from("type"), Value::from(2)),
        (Value::from("uid"), Value::from("u")),
    ]))
    .expect("encode");
    assert_eq!(Message::peek_uid(&later), None);
    let number =
        write_value(&Value::Map(vec![(Value::from("uid"), Value::from(7))])).expect("encode");
    assert_eq!(Message::peek_uid(&number), None);
    // truncated input never panics
    let bytes = Message {
        uid: "a1b2".into(),
        nsp: "/".into(),
        body: Body::Heartbeat(NodeInfo::default()),
    }
    .encode()
    .expect("encode");
    for end in 0..bytes.len() {
        let _ = Message::peek_uid(&bytes[..end]);
    }
}

/// The `data` of a broadcast as the generic encoder builds it.
fn broadcast_data(body: &Body) -> Option<Value> {
    let Body::Broadcast {
        opts,
        event,
        args,
        offset,
        ack,
    } = body.clone()
    else {
        return None;
    };
    let data = BroadcastData {
        opts,
        event,
        args,
        offset,
        ack,
    };
    Some(to_value(&data).expect("to_value"))
}

#[test]
fn broadcasts_are_written_as_the_generic_encoder_writes_them() {
    for body in every_body() {
        let Some(data) = broadcast_data(&body) else {
            continue;
        };
        let msg = Message {
            uid: "a1b2c3d4e5f60718".into(),
            nsp: "/chat".into(),
            body,
        };
        let generic = write_value(&Value::Map(vec![
            (Value::from("uid"), Value::from(msg.uid.as_str())),
            (Value::from("nsp"), Value::from(msg.nsp.as_str())),
            (Value::from("type"), Value::from(3)),
            (Value::from("data"), data),
        ]))
        .expect("encode");
        assert_eq!(msg.encode().expect("encode"), generic);
    }
}

/// Broadcasts of every layout detail the fast path reads: string, array and integer forms of
/// each size, every kind of argument, with and without ack.
fn broadcast_variety() -> Vec<Message> {
    let long = |n: usize| "é".repeat(n / 2) + &"x".repeat(n % 2);
    let args = vec![
        Value::Nil,
        Value::Boolean(false),
        Value::from(0),
        Value::from(127),
        Value::from(-1),
        Value::from(-33),
        Value::from(300),
        Value::from(70_000),
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::F32(0.5),
        Value::F64(-1e300),
        Value::from(""),
        Value::from(long(31)),
        Value::from(long(32)),
        Value::from(long(255)),
        Value::from(long(256)),
        Value::from(long(70_000)),
        Value::Binary(vec![]),
        Value::Binary(vec![7; 300]),
        Value::Binary(vec![9; 70_000]),
        Value::Ext(5, vec![1]),
        Value::Ext(-3, vec![1; 16]),
        Value::Ext(9, vec![2; 3]),
        Value::Array((0..20).map(Value::from).collect()),
        Value::Map(
            (0..20)
                .map(|i| (Value::from(format!("k{i}")), Value::from(i)))
                .collect(),
        ),
        Value::Map(vec![(Value::from(1), Value::Array(vec![Value::Nil]))]),
        Value::Array(vec![Value::Array(vec![Value::Array(vec![])])]),
    ];
    let mut out = Vec::new();
    for (i, ack) in [
        None,
        Some((0, 0)),
        Some((127, 128)),
        Some((255, 256)),
        Some((65_535, 65_536)),
        Some((u64::from(u32::MAX) + 1, 5000)),
        Some((u64::MAX, u64::MAX)),
    ]
    .into_iter()
    .enumerate()
    {
        let rooms: Vec<String> = (0..[0, 1, 20][i % 3]).map(|r| format!("room{r}")).collect();
        out.push(Message {
            uid: ["a1b2c3d4e5f60718", "", &"u".repeat(40)][i % 3].to_owned(),
            nsp: ["/", "/chat", &long(300)][i % 3].to_owned(),
            body: Body::Broadcast {
                opts: BroadcastOpts {
                    rooms: rooms.clone(),
                    except: rooms.into_iter().rev().take(i).collect(),
                    volatile: i % 2 == 1,
                    local: false,
                },
                event: ["ev", "", &long(40)][i % 3].to_owned(),
                args: match i {
                    0 => vec![],
                    1 => args.clone(),
                    _ => args.iter().skip(i).step_by(3).cloned().collect(),
                },
                offset: (i % 4 == 2).then(|| format!("a1b2c3d4e5f60718-{i:x}")),
                ack: ack.map(|(id, timeout_ms)| AckRequest { id, timeout_ms }),
            },
        });
    }
    out
}

#[test]
fn encoded_broadcasts_take_the_fast_path_and_read_as_the_generic_path_reads_them() {
    for msg in broadcast_variety() {
        let bytes = msg.encode().expect("encode");
        assert_eq!(broadcast::decode(&bytes).as_ref(), Some(&msg));
        assert_eq!(Message::decode_generic(&bytes).expect("generic"), msg);
        assert_eq!(Message::decode(&bytes).expect("decode"), msg);
    }
}

/// What the fast path accepts, the generic path reads the same: on every prefix of encoded
/// broadcasts, and on copies with one byte changed or one byte inserted, anywhere.
#[test]
fn the_fast_path_never_reads_what_the_generic_path_reads_otherwise() {
    let mut accepted_altered = 0usize;
    for msg in broadcast_variety() {
        let bytes = msg.encode().expect("encode");
        if bytes.len() > 4096 {
            // the large arguments: their prefixes alone
            for end in (0..bytes.len()).step_by(61) {
                assert_eq!(broadcast::decode(&bytes[..end]), None, "prefix {end}");
            }
            continue;
        }
        for end in 0..bytes.len() {
            assert_eq!(broadcast::decode(&bytes[..end]), None, "prefix {end}");
            assert!(Message::decode(&bytes[..end]).is_err(), "prefix {end}");
        }
        let mut check = |altered: &[u8]| {
            let fast = broadcast::decode(altered);
            let generic = Message::decode_generic(altered);
            if let Some(fast) = fast {
                accepted_altered += 1;
                assert_eq!(Ok(fast), generic, "altered bytes {altered:02x?}");
            }
        };
        for at in 0..bytes.len() {
            for new in [
                0x00, 0x01, 0x7f, 0x80, 0x84, 0x90, 0xa0, 0xc0, 0xc2, 0xc3, 0xd4, 0xff,
            ] {
                let mut altered = bytes.to_vec();
                altered[at] = new;
                check(&altered);
                altered[at] = bytes[at] ^ 0x01;
                check(&altered);
                let mut inserted = bytes.to_vec();
                inserted.insert(at, new);
                check(&inserted);
            }
        }
    }
    // the alterations that keep the layout (a different letter, count or flag) were read
    assert!(accepted_altered > 100, "{accepted_altered}");
}

/// Layouts the fast path leaves to the generic path: other key orders, extra keys, other
/// integer forms, a `data` before `type`, invalid UTF-8.
#[test]
fn other_layouts_of_a_broadcast_still_decode() {
    let msg = broadcast_variety().swap_remove(1);
    let data = broadcast_data(&msg.body).expect("a broadcast");
    let entry = |k: &str, v: Value| (Value::from(k), v);
    let layouts = [
        vec![
            entry("data", data.clone()),
            entry("type", Value::from(3)),
            entry("nsp", Value::from(msg.nsp.as_str())),
            entry("uid", Value::from(msg.uid.as_str())),
        ],
        vec![
            entry("uid", Value::from(msg.uid.as_str())),
            entry("nsp", Value::from(msg.nsp.as_str())),
            entry("type", Value::from(3)),
            entry("data", data.clone()),
            entry("extra", Value::from("ignored")),
        ],
    ];
    for layout in layouts {
        let bytes = write_value(&Value::Map(layout)).expect("encode");
        assert_eq!(broadcast::decode(&bytes), None);
        assert_eq!(Message::decode(&bytes).expect("decode"), msg);
    }
    // `type` as a uint8 (0xcc 0x03), as another encoder may write it
    let bytes = msg.encode().expect("encode");
    let at = bytes
        .windows(6)
        .position(|w| w == b"\xa4type\x03".as_slice())
        .expect("type")
        + 5;
    let mut wide = bytes.to_vec();
    wide.splice(at..=at, [0xcc, 0x03]);
    assert_eq!(broadcast::decode(&wide), None);
    assert_eq!(Message::decode(&wide).expect("decode"), msg);
    // an invalid UTF-8 event name reads as the generic path reads it: replaced
    let named = Message {
        body: Body::Broadcast {
            opts: BroadcastOpts::default(),
            event: "évent".into(),
            args: vec![],
            offset: None,
            ack: None,
        },
        ..msg
    };
    let mut bytes = named.encode().expect("encode").to_vec();
    let at = bytes
        .windows(2)
        .position(|w| w == "é".as_bytes())
        .expect("é");
    bytes[at + 1] = 0x41;
    assert_eq!(broadcast::decode(&bytes), None);
    let Body::Broadcast { event, .. } = Message::decode(&bytes).expect("decode").body else {
        panic!("not a broadcast")
    };
    assert_eq!(event, "\u{fffd}Avent");
}

/// An argument nested as deep as the generic path allows reads on both paths; one level more
/// is refused by both.
#[test]
fn the_fast_path_keeps_the_nesting_limit() {
    let nested = |levels: usize| (0..levels).fold(Value::Nil, |inner, _| Value::Array(vec![inner]));
    let message = |arg: Value| Message {
        uid: "u".into(),
        nsp: "/".into(),
        body: Body::Broadcast {
            opts: BroadcastOpts::default(),
            event: "e".into(),
            args: vec![arg],
            offset: None,
            ack: None,
        },
    };
    // the message map, its data map and the args array are three levels
    let deepest = message(nested(crate::msgpack::MAX_DEPTH - 3));
    let bytes = deepest.encode().expect("encode");
    assert_eq!(broadcast::decode(&bytes).as_ref(), Some(&deepest));
    assert_eq!(Message::decode_generic(&bytes).expect("generic"), deepest);
    let bytes = message(nested(crate::msgpack::MAX_DEPTH - 2))
        .encode()
        .expect("encode");
    assert_eq!(broadcast::decode(&bytes), None);
    assert!(Message::decode(&bytes).is_err());
}

#[test]
fn a_broadcast_is_written_into_one_allocation() {
    for msg in broadcast_variety() {
        let Body::Broadcast {
            opts,
            event,
            args,
            offset,
            ack,
        } = &msg.body
        else {
            unreachable!()
        };
        let broadcast = BroadcastRef {
            uid: &msg.uid,
            nsp: &msg.nsp,
            opts,
            event,
            args,
            offset: offset.as_deref(),
            ack: *ack,
        };
        let bytes = broadcast.encode().expect("encode");
        assert!(bytes.len() <= broadcast.size_bound());
    }
    // the fixed part, with every field of a fixed size at its longest
    let empty = BroadcastOpts::default();
    let longest_fixed = BroadcastRef {
        uid: "",
        nsp: "",
        opts: &empty,
        event: "",
        args: &[],
        offset: None,
        ack: Some(AckRequest {
            id: u64::MAX,
            timeout_ms: u64::MAX,
        }),
    };
    assert!(longest_fixed.encode().expect("encode").len() <= 160);
}

#[test]
fn heartbeats_carry_an_address_only_when_there_is_one() {
    let with = |address: Option<&str>| Message {
        uid: "a1b2".into(),
        nsp: "/".into(),
        body: Body::Heartbeat(NodeInfo {
            address: address.map(str::to_owned),
        }),
    };
    // without one, a heartbeat is what it always was: no `data`
    let bare = with(None).encode().expect("encode");
    let Value::Map(entries) = read_value(&bare).expect("read") else {
        panic!("not a map");
    };
    assert!(entries.iter().all(|(k, _)| k.as_str() != Some("data")));
    // with one, it comes back as sent, on both kinds of heartbeat
    let msg = with(Some("node1:3000"));
    assert_eq!(
        Message::decode(&msg.encode().expect("encode")).expect("decode"),
        msg
    );
    let initial = Message {
        body: Body::InitialHeartbeat(NodeInfo {
            address: Some("10.1.2.3:80".into()),
        }),
        ..with(None)
    };
    assert_eq!(
        Message::decode(&initial.encode().expect("encode")).expect("decode"),
        initial
    );
}

#[test]
fn a_heartbeat_whose_data_cannot_be_read_still_counts_as_one() {
    for data in [
        Value::from("not a map"),
        Value::Map(vec![(Value::from("address"), Value::from(7))]),
        Value::Map(vec![(Value::from("address"), Value::from(""))]),
        Value::Map(vec![(
            Value::from("address"),
            Value::from("h".repeat(NodeInfo::MAX_ADDRESS_LEN + 1).as_str()),
        )]),
    ] {
        let bytes = write_value(&Value::Map(vec![
            (Value::from("uid"), Value::from("u")),
            (Value::from("type"), Value::from(2)),
            (Value::from("data"), data),
        ]))
        .expect("encode");
        assert_eq!(
            Message::decode(&bytes).expect("decode").body,
            Body::Heartbeat(NodeInfo::default())
        );
    }
}
