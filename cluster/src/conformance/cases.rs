//! The cases of the conformance suite, one function each, run by
//! [`bus_conformance_suite!`](crate::bus_conformance_suite) (under [`run`](super::run)). Each
//! makes its own clusters and buses through the [`Harness`], closes them and removes the
//! clusters at the end.

use std::time::Instant;

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::sync::mpsc;

use super::{next, nothing_more, skip, Capabilities, ConnectError, Harness, Options};
use crate::{BusError, BusMessage, PubSub, Subscription};

/// A connected bus with the default options.
async fn node<H: Harness>(h: &H, cluster: &H::Cluster) -> H::Bus {
    h.bus(cluster, Options::default()).await
}

/// Asserts that `m` came on `channel` with `payload`.
fn is(m: &BusMessage, channel: &str, payload: &[u8]) {
    assert_eq!(
        (m.channel.as_str(), &m.payload[..]),
        (channel, payload),
        "the message received"
    );
}

/// An exact-channel subscription and prefix subscriptions (two of them overlapping) of one node
/// receive, from another node, what they match, each message once, and nothing else.
pub async fn exact_channel_and_prefix_deliver_to_their_subscribers<H: Harness>(h: &H) {
    let Capabilities { wait, quiet, .. } = h.capabilities();
    let cluster = h.cluster("exact").await;
    let ch = |name: &str| h.channel(&cluster, name);
    let bus = node(h, &cluster).await;
    let exact = ch("volley#exact");
    let prefix = ch("volley#room#");
    let (tx, mut rx) = mpsc::channel(16);
    bus.subscribe(
        &[
            Subscription::Channel(exact.clone()),
            Subscription::Prefix(prefix.clone()),
            // overlapping: still delivered once
            Subscription::Prefix(ch("volley#room#a")),
        ],
        tx,
    )
    .await
    .expect("subscribe");

    // A second bus (another node) publishes.
    let other = node(h, &cluster).await;
    let room_a = ch("volley#room#a#");
    for (channel, payload) in [
        (exact.clone(), &b"one"[..]),
        (room_a.clone(), b"two"),
        (ch("volley#exactly-not"), b"no"),
        (ch("volley#exac"), b"no"),
        (ch("volley#room"), b"no"),
        (ch(""), b"no"),
        (prefix.clone(), b"three"),
    ] {
        other
            .publish(&channel, Bytes::from_static(payload))
            .await
            .expect("publish");
    }

    is(&next(&mut rx, wait).await, &exact, b"one");
    is(&next(&mut rx, wait).await, &room_a, b"two");
    is(&next(&mut rx, wait).await, &prefix, b"three");
    nothing_more(&mut rx, quiet).await;
    h.close(&bus).await;
    h.close(&other).await;
    h.remove(cluster).await;
}

/// Two nodes of a cluster, publishing in turn, each receive every message (their own too), in
/// the order published; a node of another cluster, subscribed to the same channel name, hears
/// none of them.
pub async fn every_node_of_a_cluster_receives_every_message_and_no_other_cluster_does<
    H: Harness,
>(
    h: &H,
) {
    let Capabilities { wait, quiet, .. } = h.capabilities();
    let cluster = h.cluster("nodes").await;
    let channel = h.channel(&cluster, "volley#");
    let a = node(h, &cluster).await;
    let b = node(h, &cluster).await;
    let (tx_a, mut rx_a) = mpsc::channel(256);
    let (tx_b, mut rx_b) = mpsc::channel(256);
    let subscriptions = [Subscription::Channel(channel.clone())];
    a.subscribe(&subscriptions, tx_a)
        .await
        .expect("subscribe a");
    b.subscribe(&subscriptions, tx_b)
        .await
        .expect("subscribe b");

    // Each publishes; each receives its own messages and the other's (the cluster manager
    // skips its own).
    for i in 0..50u32 {
        let from = if i % 2 == 0 { &a } else { &b };
        from.publish(&channel, Bytes::from(i.to_be_bytes().to_vec()))
            .await
            .expect("publish");
    }
    for rx in [&mut rx_a, &mut rx_b] {
        for i in 0..50u32 {
            let m = next(rx, wait).await;
            assert_eq!(&m.payload[..], &i.to_be_bytes()[..]);
        }
        nothing_more(rx, quiet).await;
    }

    // A bus of another cluster is another cluster: it hears nothing of these.
    let elsewhere_cluster = h.cluster("elsewhere").await;
    let elsewhere = node(h, &elsewhere_cluster).await;
    let (tx_c, mut rx_c) = mpsc::channel(16);
    elsewhere
        .subscribe(
            &[Subscription::Channel(
                h.channel(&elsewhere_cluster, "volley#"),
            )],
            tx_c,
        )
        .await
        .expect("subscribe c");
    a.publish(&channel, Bytes::from_static(b"only a and b"))
        .await
        .expect("publish");
    assert_eq!(&next(&mut rx_a, wait).await.payload[..], b"only a and b");
    assert_eq!(&next(&mut rx_b, wait).await.payload[..], b"only a and b");
    nothing_more(&mut rx_c, quiet).await;

    for bus in [a, b] {
        h.close(&bus).await;
    }
    h.close(&elsewhere).await;
    h.remove(cluster).await;
    h.remove(elsewhere_cluster).await;
}

/// Payloads arrive byte for byte: empty, NULs, invalid UTF-8, bytes that look like the wire
/// protocols, every byte value, and large ones up to the bus's limit.
pub async fn payloads_are_byte_exact<H: Harness>(h: &H) {
    let Capabilities { wait, quiet, .. } = h.capabilities();
    let cluster = h.cluster("binary").await;
    let bus = node(h, &cluster).await;
    let channel = h.channel(&cluster, "volley#bin#");
    let (tx, mut rx) = mpsc::channel(16);
    bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .expect("subscribe");

    let max = bus.max_message_size();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let mut payloads: Vec<Bytes> = vec![
        Bytes::new(),
        Bytes::from_static(b"\x00"),
        Bytes::from_static(b"\x00\x00\x00"),
        Bytes::from_static(b"\xff\xfe\x00\xc3\x28"), // invalid UTF-8
        Bytes::from_static(b"\xc0\x80"),             // overlong NUL, invalid UTF-8
        Bytes::from_static("plain text, é ü 中".as_bytes()),
        Bytes::from_static(b"123"),               // looks like an integer
        Bytes::from_static(b"\r\n$3\r\nfoo\r\n"), // looks like RESP
        Bytes::from_static(b"\xce\x00\x00\x00\x08AMQP\x00\x00\x09\x01"), // frame-like bytes
        Bytes::from(all_bytes),
    ];
    let large = [
        Bytes::from(vec![0x93u8; 1024 * 1024]), // 1 MiB, msgpack-ish; many AMQP body frames
        Bytes::from(
            (0..300_000u32)
                .flat_map(|i| i.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    ];
    payloads.extend(large.into_iter().filter(|p| p.len() <= max));
    // As large as the bus takes by default (up to 2 MiB).
    payloads.push(Bytes::from(
        (0..max.min(2 * 1024 * 1024))
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    ));
    for payload in &payloads {
        bus.publish(&channel, payload.clone())
            .await
            .expect("publish");
    }
    for payload in &payloads {
        let m = next(&mut rx, wait).await;
        assert_eq!(m.channel, channel);
        assert_eq!(m.payload.len(), payload.len());
        assert!(
            m.payload == payload,
            "payload of {} bytes differs",
            payload.len()
        );
    }
    nothing_more(&mut rx, quiet).await;
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// Ten thousand messages from one publisher, on three channels in turn, arrive in the order
/// published at a prefix subscription of another node with a small sink: the transport waits
/// for the reader instead of losing or reordering messages.
pub async fn order_is_kept_for_ten_thousand_messages<H: Harness>(h: &H) {
    const N: u32 = 10_000;
    let caps = h.capabilities();
    let cluster = h.cluster("order").await;
    let subscriber = h.bus(&cluster, Options::default().bulk()).await;
    let publisher = h.bus(&cluster, Options::default().bulk()).await;
    let channels: Vec<String> = (0..3)
        .map(|n| h.channel(&cluster, &format!("volley#order#{n}")))
        .collect();
    // A small sink: the transport must wait for the reader, not lose messages.
    let (tx, mut rx) = mpsc::channel(64);
    subscriber
        .subscribe(
            &[Subscription::Prefix(h.channel(&cluster, "volley#order#"))],
            tx,
        )
        .await
        .expect("subscribe");

    let started = Instant::now();
    let to_publish = channels.clone();
    let pipelined = caps.pipelined_publishes_keep_order;
    // One publisher, while the test reads concurrently. The order of concurrent publishes is not
    // defined, unless the transport says that publishes keep the order they were first polled in:
    // then they go in batches, awaited together.
    let publishing = tokio::spawn(async move {
        let payload = |i: u32| Bytes::from(i.to_be_bytes().to_vec());
        let channel = |i: u32| to_publish[(i % 3) as usize].as_str();
        if pipelined {
            for batch in 0..N / 1000 {
                let publishes = (batch * 1000..(batch + 1) * 1000)
                    .map(|i| publisher.publish(channel(i), payload(i)));
                for result in join_all(publishes).await {
                    result.expect("publish");
                }
            }
        } else {
            for i in 0..N {
                publisher
                    .publish(channel(i), payload(i))
                    .await
                    .expect("publish");
            }
        }
        publisher
    });

    for i in 0..N {
        let m = next(&mut rx, caps.wait).await;
        assert_eq!(m.channel, channels[(i % 3) as usize]);
        assert_eq!(m.payload[..], i.to_be_bytes(), "message {i}");
    }
    let publisher = publishing.await.expect("publisher task");
    nothing_more(&mut rx, caps.quiet).await;
    eprintln!(
        "{N} messages received in order after {:?} on {}",
        started.elapsed(),
        h.name()
    );
    h.close(&subscriber).await;
    h.close(&publisher).await;
    h.remove(cluster).await;
}

/// Five concurrent publishers are all answered while nobody reads a sink of one; then every
/// message arrives, each publisher's in its order.
pub async fn a_slow_reader_loses_nothing<H: Harness>(h: &H) {
    const N: u32 = 500;
    let caps = h.capabilities();
    if !caps.keeps_messages_for_slow_readers {
        return skip(
            h,
            "a_slow_reader_loses_nothing",
            "no waiting for slow readers",
        );
    }
    let cluster = h.cluster("slow").await;
    let channel = h.channel(&cluster, "volley#");
    let bus = h.bus(&cluster, Options::default().read_ahead(4)).await;
    let (tx, mut rx) = mpsc::channel(1);
    bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .expect("subscribe");
    // Concurrent publishers: all answered while nobody reads.
    let mut tasks = Vec::new();
    for t in 0..5u32 {
        let bus = bus.clone();
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..N / 5 {
                bus.publish(&channel, Bytes::from((t * 1000 + i).to_be_bytes().to_vec()))
                    .await
                    .expect("publish");
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    let mut got = Vec::new();
    for _ in 0..N {
        got.push(number(&next(&mut rx, caps.wait).await));
    }
    // Each publisher's messages arrive in its order.
    for t in 0..5u32 {
        let mine: Vec<u32> = got.iter().copied().filter(|v| v / 1000 == t).collect();
        let expected: Vec<u32> = (0..N / 5).map(|i| t * 1000 + i).collect();
        assert_eq!(mine, expected, "publisher {t}");
    }
    nothing_more(&mut rx, caps.quiet).await;
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// The big-endian `u32` a message carries.
fn number(m: &BusMessage) -> u32 {
    u32::from_be_bytes(m.payload[..].try_into().expect("4 bytes"))
}

/// Two subscribe calls of one bus each get what their own subscriptions match, once even where
/// two of them match; a closed sink ends its subscription and leaves the other's.
pub async fn each_subscribe_call_gets_only_its_own_messages_once<H: Harness>(h: &H) {
    let Capabilities { wait, quiet, .. } = h.capabilities();
    let cluster = h.cluster("calls").await;
    let ch = |name: &str| h.channel(&cluster, name);
    let bus = node(h, &cluster).await;
    let (tx_a, mut rx_a) = mpsc::channel(16);
    let (tx_b, mut rx_b) = mpsc::channel(16);
    // A: a prefix and an exact channel it covers (delivered once).
    bus.subscribe(
        &[
            Subscription::Prefix(ch("volley#")),
            Subscription::Channel(ch("volley#x")),
        ],
        tx_a,
    )
    .await
    .expect("subscribe a");
    // B: only the exact channel.
    bus.subscribe(&[Subscription::Channel(ch("volley#x"))], tx_b)
        .await
        .expect("subscribe b");

    bus.publish(&ch("volley#x"), Bytes::from_static(b"x"))
        .await
        .expect("publish");
    bus.publish(&ch("volley#y"), Bytes::from_static(b"y"))
        .await
        .expect("publish");

    assert_eq!(&next(&mut rx_a, wait).await.payload[..], b"x");
    assert_eq!(&next(&mut rx_a, wait).await.payload[..], b"y");
    assert_eq!(&next(&mut rx_b, wait).await.payload[..], b"x");
    nothing_more(&mut rx_a, quiet).await;
    nothing_more(&mut rx_b, quiet).await;

    // Closing B's sink ends B's subscription; A keeps receiving.
    drop(rx_b);
    bus.publish(&ch("volley#x"), Bytes::from_static(b"x2"))
        .await
        .expect("publish");
    assert_eq!(&next(&mut rx_a, wait).await.payload[..], b"x2");
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// A prefix is matched as text: the characters of glob patterns in it match only themselves.
pub async fn prefix_with_glob_characters_matches_literally<H: Harness>(h: &H) {
    let Capabilities { wait, quiet, .. } = h.capabilities();
    let cluster = h.cluster("glob").await;
    let ch = |name: &str| h.channel(&cluster, name);
    let bus = node(h, &cluster).await;
    let prefix = ch(r"volley#a*b?c[xy]\d#");
    let (tx, mut rx) = mpsc::channel(16);
    bus.subscribe(&[Subscription::Prefix(prefix.clone())], tx)
        .await
        .expect("subscribe");

    // Each of these would match if the prefix were taken as a glob pattern.
    for would_match_a_glob in [
        ch(r"volley#aXXbZcx\d#"),
        ch(r"volley#a*b?cx\d#"),
        ch(r"volley#a*b?c[xy]d#"),
        ch(r"volley#ab?c[xy]\d#"),
    ] {
        bus.publish(&would_match_a_glob, Bytes::from_static(b"no"))
            .await
            .expect("publish");
    }
    let literal = format!("{prefix}room");
    bus.publish(&literal, Bytes::from_static(b"yes"))
        .await
        .expect("publish");

    is(&next(&mut rx, wait).await, &literal, b"yes");
    nothing_more(&mut rx, quiet).await;
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// 32 tasks publishing 200 messages each on channels of their own, all at once on one bus:
/// every message arrives once, on its channel.
pub async fn many_concurrent_publishers_are_all_delivered_once<H: Harness>(h: &H) {
    const TASKS: u32 = 32;
    const EACH: u32 = 200;
    let Capabilities { wait, quiet, .. } = h.capabilities();
    let cluster = h.cluster("concurrent").await;
    let bus = node(h, &cluster).await;
    let (tx, mut rx) = mpsc::channel(1024);
    bus.subscribe(&[Subscription::Prefix(h.channel(&cluster, "volley#"))], tx)
        .await
        .expect("subscribe");
    let channels: Vec<String> = (0..TASKS)
        .map(|t| h.channel(&cluster, &format!("volley#{t}")))
        .collect();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let bus = bus.clone();
        let channel = channels[t as usize].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                bus.publish(&channel, Bytes::from((t * EACH + i).to_be_bytes().to_vec()))
                    .await
                    .expect("publish");
            }
        }));
    }
    let mut seen = vec![false; (TASKS * EACH) as usize];
    for _ in 0..TASKS * EACH {
        let m = next(&mut rx, wait).await;
        let v = number(&m);
        assert_eq!(m.channel, channels[(v / EACH) as usize]);
        assert!(!seen[v as usize], "{v} twice");
        seen[v as usize] = true;
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    nothing_more(&mut rx, quiet).await;
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// A message published the moment `subscribe` returned is delivered, every time: the
/// subscription is in place at the broker by then, not merely queued. Each round takes a fresh,
/// lazily connected bus, so that the first subscription races the connection's set-up (a
/// transport whose client answers a subscription before the broker took it loses the message
/// in some rounds).
pub async fn a_publish_right_after_subscribe_is_delivered<H: Harness>(h: &H) {
    const ROUNDS: usize = 12;
    let caps = h.capabilities();
    let cluster = h.cluster("right-after").await;
    let publisher = node(h, &cluster).await;
    for round in 0..ROUNDS {
        let channel = h.channel(&cluster, &format!("round{round}"));
        let bus = h.bus(&cluster, Options::default().lazy()).await;
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe");
        publisher
            .publish(&channel, Bytes::from(format!("round {round}")))
            .await
            .expect("publish");
        let m = tokio::time::timeout(caps.wait, rx.recv()).await;
        assert!(
            matches!(&m, Ok(Some(m)) if m.payload == format!("round {round}").as_bytes()),
            "round {round} of {ROUNDS}: the message published right after subscribe returned \
             was not delivered ({m:?})"
        );
        h.close(&bus).await;
    }
    h.close(&publisher).await;
    h.remove(cluster).await;
}

/// A subscription starts at the end: what was published before it is not delivered (or, on a
/// transport that refuses what nobody can receive, was refused); what is published once
/// `subscribe` returned is. A second subscription of the same bus starts at the end too.
pub async fn messages_published_before_subscribing_are_not_delivered<H: Harness>(h: &H) {
    let caps = h.capabilities();
    let cluster = h.cluster("latest").await;
    let channel = h.channel(&cluster, "news#");
    let publisher = node(h, &cluster).await;
    for i in 0..5 {
        let result = publisher
            .publish(&channel, Bytes::from(format!("old {i}")))
            .await;
        if caps.refuses_unrouted {
            assert!(
                matches!(result, Err(BusError::Unavailable(_))),
                "a publish nobody can receive: {result:?}"
            );
        } else {
            result.expect("publish");
        }
    }
    let late = node(h, &cluster).await;
    let (tx, mut rx) = mpsc::channel(16);
    late.subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .expect("subscribe");
    // Right after subscribe returns: delivered.
    publisher
        .publish(&channel, Bytes::from_static(b"new"))
        .await
        .expect("publish");
    assert_eq!(&next(&mut rx, caps.wait).await.payload[..], b"new");
    nothing_more(&mut rx, caps.quiet).await;

    // A second subscription of the same bus starts at the end too.
    let (tx2, mut rx2) = mpsc::channel(16);
    late.subscribe(&[Subscription::Prefix(h.channel(&cluster, "news"))], tx2)
        .await
        .expect("subscribe again");
    late.publish(&channel, Bytes::from_static(b"newer"))
        .await
        .expect("publish");
    assert_eq!(&next(&mut rx, caps.wait).await.payload[..], b"newer");
    assert_eq!(&next(&mut rx2, caps.wait).await.payload[..], b"newer");
    nothing_more(&mut rx2, caps.quiet).await;
    h.close(&publisher).await;
    h.close(&late).await;
    h.remove(cluster).await;
}

/// A subscription whose sink was dropped does not stop the bus from publishing.
pub async fn a_dropped_sink_does_not_stop_publishing<H: Harness>(h: &H) {
    let cluster = h.cluster("dropped").await;
    let bus = node(h, &cluster).await;
    let (tx, rx) = mpsc::channel(1);
    bus.subscribe(&[Subscription::Prefix(h.channel(&cluster, ""))], tx)
        .await
        .expect("subscribe");
    drop(rx);
    for _ in 0..3 {
        bus.publish(&h.channel(&cluster, "a"), Bytes::from_static(b"a"))
            .await
            .expect("publish");
    }
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// A bus connects on its first subscribe; once closed, its sinks are closed, and publishes and
/// subscribes fail (and, where the transport says so, connecting again too).
pub async fn connect_is_lazy_and_close_ends_everything<H: Harness>(h: &H) {
    let caps = h.capabilities();
    if !caps.closes {
        return skip(h, "connect_is_lazy_and_close_ends_everything", "no close");
    }
    let cluster = h.cluster("lazy").await;
    let channel = h.channel(&cluster, "volley#");
    let bus = h.bus(&cluster, Options::default().lazy()).await;
    assert_ne!(
        h.is_connected(&bus),
        Some(true),
        "connected before any call"
    );
    let (tx, mut rx) = mpsc::channel(4);
    bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .expect("subscribe connects");
    assert_ne!(h.is_connected(&bus), Some(false), "subscribe connected");
    bus.publish(&channel, Bytes::from_static(b"hi"))
        .await
        .expect("publish");
    assert_eq!(&next(&mut rx, caps.wait).await.payload[..], b"hi");

    // After close, the sink is closed and publishing fails.
    h.close(&bus).await;
    assert_ne!(h.is_connected(&bus), Some(true), "connected after close");
    assert!(tokio::time::timeout(caps.wait, rx.recv())
        .await
        .expect("closed in time")
        .is_none());
    let result = bus.publish(&channel, Bytes::from_static(b"x")).await;
    assert!(
        matches!(result, Err(BusError::Unavailable(_))),
        "publish after close: {result:?}"
    );
    let (tx, _rx) = mpsc::channel(4);
    assert!(bus
        .subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .is_err());
    if caps.refuses_connect_after_close {
        assert!(h.connect(&bus).await.is_err(), "connect after close");
    }
    h.remove(cluster).await;
}

/// A bus whose limit was set to 4 MiB carries a 3 MiB payload.
pub async fn a_4_mib_limit_carries_a_3_mib_payload<H: Harness>(h: &H) {
    const SIZE: usize = 3 * 1024 * 1024;
    let caps = h.capabilities();
    if caps.max_message_size.is_none() {
        return skip(h, "a_4_mib_limit_carries_a_3_mib_payload", "no size limit");
    }
    let cluster = h.cluster("large").await;
    let channel = h.channel(&cluster, "large");
    let options = Options::default().lazy().max_message_size(4 * 1024 * 1024);
    let bus = h.bus(&cluster, options).await;
    let (tx, mut rx) = mpsc::channel(4);
    bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .expect("subscribe");
    let payload = Bytes::from((0..SIZE).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    bus.publish(&channel, payload.clone())
        .await
        .expect("publish a large payload");
    let m = next(&mut rx, caps.wait).await;
    assert!(m.payload == payload, "the large payload differs");
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// A payload over the bus's limit is refused with [`BusError::TooLarge`], one of exactly the
/// limit is delivered; the default limit is checked before connecting or sending.
pub async fn oversized_publishes_are_refused_before_connecting<H: Harness>(h: &H) {
    let caps = h.capabilities();
    let Some(default_max) = caps.max_message_size else {
        return skip(
            h,
            "oversized_publishes_are_refused_before_connecting",
            "no size limit",
        );
    };
    let cluster = h.cluster("big").await;
    let channel = h.channel(&cluster, "volley#big");
    let options = Options::default().lazy().max_message_size(1000);
    let bus = h.bus(&cluster, options).await;
    let (tx, mut rx) = mpsc::channel(4);
    bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
        .await
        .expect("subscribe");

    let result = bus.publish(&channel, Bytes::from(vec![7u8; 1001])).await;
    assert_eq!(result, Err(BusError::TooLarge(1001)));
    bus.publish(&channel, Bytes::from(vec![7u8; 1000]))
        .await
        .expect("exactly the limit is accepted");
    let received = next(&mut rx, caps.wait).await;
    assert_eq!(received.payload.len(), 1000);

    // The default limit; the check happens before connecting or sending.
    if let Some(default) = h.unreachable().await {
        assert_eq!(default.max_message_size(), default_max);
        let too_big = Bytes::from(vec![0u8; default_max + 1]);
        assert_eq!(
            default.publish("x", too_big).await,
            Err(BusError::TooLarge(default_max + 1))
        );
    }
    h.close(&bus).await;
    h.remove(cluster).await;
}

/// With nothing listening at the broker's address, connect, publish and subscribe fail soon:
/// connect with its reason, publish and subscribe with [`BusError::Unavailable`].
pub async fn an_unreachable_broker_fails_fast<H: Harness>(h: &H) {
    let Some(bus) = h.unreachable().await else {
        return skip(h, "an_unreachable_broker_fails_fast", "no broker");
    };
    let bounds = h.capabilities().fails_fast;
    let timed = |what: &str, started: Instant| {
        let took = started.elapsed();
        assert!(took < bounds.each, "{what} took {took:?}");
        took
    };
    let started = Instant::now();
    match h.connect(&bus).await {
        Err(ConnectError::Unreachable(reason)) => assert!(!reason.is_empty()),
        other => panic!("connect to a closed port gave {other:?}"),
    }
    let connect = timed("connect", started);

    let at = Instant::now();
    let result = bus.publish("x", Bytes::from_static(b"x")).await;
    assert!(
        matches!(result, Err(BusError::Unavailable(_))),
        "{result:?}"
    );
    let publish = timed("publish", at);

    let at = Instant::now();
    let (tx, _rx) = mpsc::channel(1);
    let result = bus
        .subscribe(&[Subscription::Channel("x".into())], tx)
        .await;
    assert!(
        matches!(result, Err(BusError::Unavailable(_))),
        "{result:?}"
    );
    let subscribe = timed("subscribe", at);
    assert_ne!(h.is_connected(&bus), Some(true));
    let total = started.elapsed();
    assert!(total < bounds.total, "the three calls took {total:?}");
    eprintln!(
        "unreachable {}: connect {connect:?}, publish {publish:?}, subscribe {subscribe:?}",
        h.name()
    );
    h.close(&bus).await;
}
