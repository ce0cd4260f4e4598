//! Publish and subscribe through the machine's RabbitMQ server. Each test uses an exchange of
//! its own, so the tests run in parallel without hearing each other.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{amqp_url, delete_exchange, next, nothing_more, shared_lock, unique};
use tokio::sync::mpsc;
use volley_amqp::AmqpBus;
use volley_cluster::{BusError, PubSub, Subscription};

const WAIT: Duration = Duration::from_secs(5);
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// A connected bus on `exchange`: one node.
async fn bus(exchange: &str) -> AmqpBus {
    let bus = AmqpBus::builder(&amqp_url())
        .exchange(exchange)
        .build()
        .expect("valid URL");
    bus.connect()
        .await
        .expect("RabbitMQ runs at VOLLEY_AMQP_URL or 127.0.0.1:5672");
    bus
}

/// Runs a test body holding the broker lock shared, with an upper bound, so that nothing hangs.
async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    let _lock = shared_lock().await;
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("the test finished in time");
}

#[tokio::test]
async fn exact_channel_and_prefix_deliver_to_their_subscribers() {
    bounded(async {
        let exchange = unique("exact");
        let bus = bus(&exchange).await;
        let exact = "volley#exact".to_owned();
        let prefix = "volley#room#".to_owned();

        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(
            &[
                Subscription::Channel(exact.clone()),
                Subscription::Prefix(prefix.clone()),
            ],
            tx,
        )
        .await
        .expect("subscribe");

        // A second bus (another node) publishes.
        let other = bus_on(&exchange).await;
        for (channel, payload) in [
            (exact.as_str(), &b"one"[..]),
            ("volley#room#a#", b"two"),
            ("volley#exactly-not", b"no"),
            ("volley#exac", b"no"),
            ("volley#room", b"no"),
            ("", b"no"),
            (prefix.as_str(), b"three"),
        ] {
            other
                .publish(channel, Bytes::from_static(payload))
                .await
                .expect("publish");
        }

        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            (exact.as_str(), &b"one"[..])
        );
        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            ("volley#room#a#", &b"two"[..])
        );
        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            (prefix.as_str(), &b"three"[..])
        );
        nothing_more(&mut rx).await;
        bus.close().await;
        other.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

/// Another bus with its own connection, standing for another node.
async fn bus_on(exchange: &str) -> AmqpBus {
    bus(exchange).await
}

#[tokio::test]
async fn every_node_receives_every_message() {
    bounded(async {
        let exchange = unique("nodes");
        let a = bus(&exchange).await;
        let b = bus(&exchange).await;
        let (tx_a, mut rx_a) = mpsc::channel(16);
        let (tx_b, mut rx_b) = mpsc::channel(16);
        let subscriptions = [Subscription::Channel("volley#".into())];
        a.subscribe(&subscriptions, tx_a)
            .await
            .expect("subscribe a");
        b.subscribe(&subscriptions, tx_b)
            .await
            .expect("subscribe b");

        // Each node also receives its own messages, as with Redis: the cluster manager skips them.
        a.publish("volley#", Bytes::from_static(b"from a"))
            .await
            .expect("publish");
        b.publish("volley#", Bytes::from_static(b"from b"))
            .await
            .expect("publish");
        for rx in [&mut rx_a, &mut rx_b] {
            let mut got = vec![
                next(rx, WAIT).await.payload.to_vec(),
                next(rx, WAIT).await.payload.to_vec(),
            ];
            got.sort();
            assert_eq!(got, vec![b"from a".to_vec(), b"from b".to_vec()]);
            nothing_more(rx).await;
        }

        // A bus on another exchange is another cluster: it hears nothing of these.
        let elsewhere_exchange = unique("elsewhere");
        let elsewhere = bus(&elsewhere_exchange).await;
        let (tx_c, mut rx_c) = mpsc::channel(16);
        elsewhere
            .subscribe(&subscriptions, tx_c)
            .await
            .expect("subscribe c");
        a.publish("volley#", Bytes::from_static(b"only a and b"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"only a and b");
        assert_eq!(&next(&mut rx_b, WAIT).await.payload[..], b"only a and b");
        nothing_more(&mut rx_c).await;

        for bus in [a, b, elsewhere] {
            bus.close().await;
        }
        delete_exchange(&exchange).await;
        delete_exchange(&elsewhere_exchange).await;
    })
    .await;
}

#[tokio::test]
async fn payloads_are_byte_exact() {
    bounded(async {
        let exchange = unique("binary");
        let bus = bus(&exchange).await;
        let channel = "volley#bin#";
        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(&[Subscription::Channel(channel.into())], tx)
            .await
            .expect("subscribe");

        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let payloads: Vec<Bytes> = vec![
            Bytes::new(),
            Bytes::from_static(b"\x00"),
            Bytes::from_static(b"\x00\x00\x00"),
            Bytes::from_static(b"\xff\xfe\x00\xc3\x28"), // invalid UTF-8
            Bytes::from_static(b"\xc0\x80"),             // overlong NUL, invalid UTF-8
            Bytes::from_static("plain text, é ü 中".as_bytes()),
            Bytes::from_static(b"\xce\x00\x00\x00\x08AMQP\x00\x00\x09\x01"), // frame-like bytes
            Bytes::from(all_bytes),
            Bytes::from(vec![0x93u8; 1024 * 1024]), // 1 MiB: many AMQP body frames
            Bytes::from(
                (0..300_000u32)
                    .flat_map(|i| i.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
        ];
        for payload in &payloads {
            bus.publish(channel, payload.clone())
                .await
                .expect("publish");
        }
        for payload in &payloads {
            let m = next(&mut rx, WAIT).await;
            assert_eq!(m.channel, channel);
            assert_eq!(m.payload, *payload);
        }
        nothing_more(&mut rx).await;
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn order_is_kept_for_ten_thousand_messages() {
    bounded(async {
        let exchange = unique("order");
        // Transient: with a reader this slow the messages wait in the queue, and a persistent
        // message waiting in a queue is confirmed only once on disk, so that 10 000 publishes
        // one after the other take minutes. The order does not depend on it.
        let transient = |exchange: &str| {
            AmqpBus::builder(&amqp_url())
                .exchange(exchange)
                .durable(false)
                .build()
                .expect("valid URL")
        };
        let bus = transient(&exchange);
        let other = transient(&exchange);
        let channel = "volley#order#all".to_owned();
        // A small sink: the consumer must wait for the reader (the broker holds the rest in the
        // queue), not lose messages.
        let (tx, mut rx) = mpsc::channel(64);
        bus.subscribe(&[Subscription::Prefix("volley#order#".into())], tx)
            .await
            .expect("subscribe");

        const N: u32 = 10_000;
        let channel_p = channel.clone();
        // One publisher in sequence (the order of concurrent publishes is not defined), on the
        // other node, while the test reads concurrently.
        let publishing = tokio::spawn(async move {
            for i in 0..N {
                other
                    .publish(&channel_p, Bytes::from(i.to_be_bytes().to_vec()))
                    .await
                    .expect("publish");
            }
            other
        });

        for i in 0..N {
            let m = next(&mut rx, WAIT).await;
            assert_eq!(m.channel, channel);
            assert_eq!(m.payload[..], i.to_be_bytes(), "message {i}");
        }
        let other = publishing.await.expect("publisher task");
        nothing_more(&mut rx).await;
        bus.close().await;
        other.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn a_slow_reader_loses_nothing() {
    bounded(async {
        let exchange = unique("slow");
        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .prefetch(4)
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(1);
        bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .expect("subscribe");
        const N: u32 = 500;
        // Concurrent publishers: all confirmed while nobody reads.
        let mut tasks = Vec::new();
        for t in 0..5u32 {
            let bus = bus.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..N / 5 {
                    bus.publish(
                        "volley#",
                        Bytes::from((t * 1000 + i).to_be_bytes().to_vec()),
                    )
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
            let m = next(&mut rx, WAIT).await;
            got.push(u32::from_be_bytes(
                m.payload[..].try_into().expect("4 bytes"),
            ));
        }
        // Each publisher's messages arrive in its order.
        for t in 0..5u32 {
            let mine: Vec<u32> = got.iter().copied().filter(|v| v / 1000 == t).collect();
            let expected: Vec<u32> = (0..N / 5).map(|i| t * 1000 + i).collect();
            assert_eq!(mine, expected, "publisher {t}");
        }
        nothing_more(&mut rx).await;
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn each_subscribe_call_gets_only_its_own_messages_once() {
    bounded(async {
        let exchange = unique("calls");
        let bus = bus(&exchange).await;
        let (tx_a, mut rx_a) = mpsc::channel(16);
        let (tx_b, mut rx_b) = mpsc::channel(16);
        // A: a prefix and an exact channel it covers (delivered once).
        bus.subscribe(
            &[
                Subscription::Prefix("volley#".into()),
                Subscription::Channel("volley#x".into()),
            ],
            tx_a,
        )
        .await
        .expect("subscribe a");
        // B: only the exact channel.
        bus.subscribe(&[Subscription::Channel("volley#x".into())], tx_b)
            .await
            .expect("subscribe b");

        bus.publish("volley#x", Bytes::from_static(b"x"))
            .await
            .expect("publish");
        bus.publish("volley#y", Bytes::from_static(b"y"))
            .await
            .expect("publish");

        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"x");
        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"y");
        assert_eq!(&next(&mut rx_b, WAIT).await.payload[..], b"x");
        nothing_more(&mut rx_a).await;
        nothing_more(&mut rx_b).await;

        // Closing B's sink forgets B; A keeps receiving.
        drop(rx_b);
        bus.publish("volley#x", Bytes::from_static(b"x2"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"x2");
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn publish_and_subscribe_connect_lazily_and_close_ends_everything() {
    bounded(async {
        let exchange = unique("lazy");
        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .build()
            .expect("valid URL");
        assert!(!bus.is_connected());
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .expect("subscribe connects");
        assert!(bus.is_connected());
        bus.publish("volley#", Bytes::from_static(b"hi"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"hi");

        // After close, the sink is closed and publishing fails.
        bus.close().await;
        assert!(!bus.is_connected());
        assert!(tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("closed in time")
            .is_none());
        assert!(matches!(
            bus.publish("volley#", Bytes::from_static(b"x")).await,
            Err(BusError::Unavailable(_))
        ));
        let (tx, _rx) = mpsc::channel(4);
        assert!(bus
            .subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .is_err());
        assert!(bus.connect().await.is_err());

        // A publish-only bus declares no queue. With no queue bound at all, its publish is
        // returned by the broker (`mandatory`): it fails, as nobody received it.
        let publisher = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .build()
            .expect("valid URL");
        let result = publisher
            .publish("volley#", Bytes::from_static(b"nobody listens"))
            .await;
        assert!(
            matches!(result, Err(BusError::Unavailable(ref m)) if m.contains("returned")),
            "a publish that reaches no queue: {result:?}"
        );
        publisher.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn many_concurrent_publishers_are_all_confirmed_and_delivered() {
    bounded(async {
        let exchange = unique("concurrent");
        let bus = bus(&exchange).await;
        let (tx, mut rx) = mpsc::channel(1024);
        bus.subscribe(&[Subscription::Prefix("volley#".into())], tx)
            .await
            .expect("subscribe");
        const TASKS: u32 = 32;
        const EACH: u32 = 200;
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let bus = bus.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..EACH {
                    bus.publish(
                        &format!("volley#{t}"),
                        Bytes::from((t * EACH + i).to_be_bytes().to_vec()),
                    )
                    .await
                    .expect("publish");
                }
            }));
        }
        let mut seen = vec![false; (TASKS * EACH) as usize];
        for _ in 0..TASKS * EACH {
            let m = next(&mut rx, WAIT).await;
            let v = u32::from_be_bytes(m.payload[..].try_into().expect("4 bytes"));
            assert_eq!(m.channel, format!("volley#{}", v / EACH));
            assert!(!seen[v as usize], "{v} twice");
            seen[v as usize] = true;
        }
        for task in tasks {
            task.await.expect("publisher");
        }
        nothing_more(&mut rx).await;
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}
