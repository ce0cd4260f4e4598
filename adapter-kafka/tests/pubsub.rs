//! Publish and subscribe through a real Kafka-protocol broker (`scripts/kafka.sh`), each test on
//! a topic of its own.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bus, next, nothing_more, setup, unique_topic};
use futures_util::future::join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tokio::sync::mpsc;
use volley_cluster::{PubSub, Subscription};
use volley_kafka::{KafkaBus, PUBLISH_PARTITION, TOPIC_PARTITIONS};

const WAIT: Duration = Duration::from_secs(10);
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Runs a test body with an upper bound, so that nothing hangs.
async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("the test finished in time");
}

#[tokio::test]
async fn exact_channel_and_prefix_deliver_to_their_subscribers() {
    let _lock = setup();
    bounded(async {
        let topic = unique_topic("exact");
        let bus = bus(&topic).await;
        let exact = "base#exact".to_owned();
        let prefix = "base#room#".to_owned();

        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(
            &[
                Subscription::Channel(exact.clone()),
                Subscription::Prefix(prefix.clone()),
                // overlapping: still delivered once
                Subscription::Prefix("base#room#a".into()),
            ],
            tx,
        )
        .await
        .expect("subscribe");

        // A second bus (another node) publishes.
        let other = common::bus(&topic).await;
        for (channel, payload) in [
            (exact.as_str(), &b"one"[..]),
            ("base#room#a#", b"two"),
            ("base#exactly-not", b"no"),
            ("base#room", b"no"),
            (prefix.as_str(), b"three"),
        ] {
            other
                .publish(channel, Bytes::copy_from_slice(payload))
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
            ("base#room#a#", &b"two"[..])
        );
        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            (prefix.as_str(), &b"three"[..])
        );
        nothing_more(&mut rx).await;
        bus.close().await;
        other.close().await;
    })
    .await;
}

#[tokio::test]
async fn payloads_are_byte_exact() {
    let _lock = setup();
    bounded(async {
        let topic = unique_topic("binary");
        let bus = bus(&topic).await;
        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(&[Subscription::Channel("bin".into())], tx)
            .await
            .expect("subscribe");

        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let payloads: Vec<Bytes> = vec![
            Bytes::new(),
            Bytes::from_static(b"\x00"),
            Bytes::from_static(b"\x00\x00\x00"),
            Bytes::from_static(b"\xff\xfe\x00\xc3\x28"), // invalid UTF-8
            Bytes::from_static("plain text, é ü 中".as_bytes()),
            Bytes::from(all_bytes),
            // as large as the default limit allows
            Bytes::from(
                (0..volley_kafka::DEFAULT_MAX_MESSAGE_SIZE)
                    .map(|i| (i % 251) as u8)
                    .collect::<Vec<u8>>(),
            ),
        ];
        for payload in &payloads {
            bus.publish("bin", payload.clone()).await.expect("publish");
        }
        for payload in &payloads {
            let m = next(&mut rx, WAIT).await;
            assert_eq!(m.channel, "bin");
            assert_eq!(m.payload.len(), payload.len());
            assert!(
                m.payload == payload,
                "payload of {} bytes differs",
                payload.len()
            );
        }
        nothing_more(&mut rx).await;
        bus.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_is_kept_over_10000_messages() {
    let _lock = setup();
    bounded(async {
        const COUNT: usize = 10_000;
        let topic = unique_topic("order");
        let publisher = bus(&topic).await;
        let subscriber = bus(&topic).await;
        let (tx, mut rx) = mpsc::channel(256);
        subscriber
            .subscribe(&[Subscription::Prefix("order#".into())], tx)
            .await
            .expect("subscribe");

        let receiving = tokio::spawn(async move {
            let mut got = Vec::with_capacity(COUNT);
            while got.len() < COUNT {
                let m = next(&mut rx, WAIT).await;
                got.push((m.channel, m.payload));
            }
            nothing_more(&mut rx).await;
            got
        });
        // Concurrent publishes, queued in order (each publish enqueues when first polled), in
        // batches so that the producer's queue stays small; channels alternate so that the order
        // across channels is checked too.
        let started = std::time::Instant::now();
        for batch in 0..COUNT / 1000 {
            let publishes = (batch * 1000..(batch + 1) * 1000).map(|i| {
                let publisher = publisher.clone();
                async move {
                    let channel = format!("order#{}", i % 3);
                    publisher
                        .publish(&channel, Bytes::from(i.to_string()))
                        .await
                }
            });
            for result in join_all(publishes).await {
                result.expect("publish");
            }
        }
        let published = started.elapsed();
        let got = receiving.await.expect("the receiver finished");
        for (i, (channel, payload)) in got.iter().enumerate() {
            assert_eq!(channel, &format!("order#{}", i % 3));
            assert_eq!(payload, &Bytes::from(i.to_string()), "message {i}");
        }
        eprintln!(
            "{COUNT} messages published in {published:?}, all received in order after {:?}",
            started.elapsed()
        );
        publisher.close().await;
        subscriber.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buses_both_receive_everything() {
    let _lock = setup();
    bounded(async {
        let topic = unique_topic("fanout");
        let a = bus(&topic).await;
        let b = bus(&topic).await;
        let (tx_a, mut rx_a) = mpsc::channel(256);
        let (tx_b, mut rx_b) = mpsc::channel(256);
        let subscriptions = [Subscription::Channel("all#".into())];
        a.subscribe(&subscriptions, tx_a)
            .await
            .expect("subscribe a");
        b.subscribe(&subscriptions, tx_b)
            .await
            .expect("subscribe b");

        // Each publishes; each receives its own messages and the other's.
        for i in 0..50u32 {
            let from = if i % 2 == 0 { &a } else { &b };
            from.publish("all#", Bytes::from(i.to_be_bytes().to_vec()))
                .await
                .expect("publish");
        }
        for rx in [&mut rx_a, &mut rx_b] {
            for i in 0..50u32 {
                let m = next(rx, WAIT).await;
                assert_eq!(&m.payload[..], &i.to_be_bytes()[..]);
            }
            nothing_more(rx).await;
        }
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_topic_is_created_with_one_partition() {
    let _lock = setup();
    bounded(async {
        let topic = unique_topic("created");
        assert_eq!(partitions(&topic).await, None, "the topic is new");
        let bus = bus(&topic).await; // connect() creates it
        assert_eq!(partitions(&topic).await, Some(TOPIC_PARTITIONS as usize));
        assert_eq!(PUBLISH_PARTITION, 0);

        // A publish alone creates it too.
        let topic = unique_topic("created-by-publish");
        let lazy = KafkaBus::builder(&common::brokers())
            .topic(&topic)
            .build()
            .expect("valid settings");
        lazy.publish("x", Bytes::from_static(b"x"))
            .await
            .expect("publish");
        assert_eq!(partitions(&topic).await, Some(1));
        bus.close().await;
        lazy.close().await;
    })
    .await;
}

/// The number of partitions of `topic` the broker reports, `None` when it does not exist.
async fn partitions(topic: &str) -> Option<usize> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", common::brokers())
            .set("allow.auto.create.topics", "false")
            .create()
            .expect("a metadata client");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .expect("metadata");
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
    })
    .await
    .expect("the metadata query finished")
}

#[tokio::test]
async fn messages_published_before_subscribing_are_not_delivered() {
    let _lock = setup();
    bounded(async {
        let topic = unique_topic("latest");
        let publisher = bus(&topic).await;
        for i in 0..5 {
            publisher
                .publish("news#", Bytes::from(format!("old {i}")))
                .await
                .expect("publish");
        }
        let late = bus(&topic).await;
        let (tx, mut rx) = mpsc::channel(16);
        late.subscribe(&[Subscription::Channel("news#".into())], tx)
            .await
            .expect("subscribe");
        // Right after subscribe returns: delivered.
        publisher
            .publish("news#", Bytes::from_static(b"new"))
            .await
            .expect("publish");
        let m = next(&mut rx, WAIT).await;
        assert_eq!(&m.payload[..], b"new");
        nothing_more(&mut rx).await;

        // A second subscription of the same bus starts at the end too.
        let (tx2, mut rx2) = mpsc::channel(16);
        late.subscribe(&[Subscription::Prefix("news".into())], tx2)
            .await
            .expect("subscribe again");
        late.publish("news#", Bytes::from_static(b"newer"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"newer");
        assert_eq!(&next(&mut rx2, WAIT).await.payload[..], b"newer");
        nothing_more(&mut rx2).await;
        publisher.close().await;
        late.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_closed_sink_or_bus_stops_delivery() {
    let _lock = setup();
    bounded(async {
        let topic = unique_topic("closed");
        let bus = bus(&topic).await;
        let (tx, rx) = mpsc::channel(1);
        bus.subscribe(&[Subscription::Prefix(String::new())], tx)
            .await
            .expect("subscribe");
        drop(rx);
        // Publishing still works with nobody listening.
        for _ in 0..3 {
            bus.publish("a", Bytes::from_static(b"a"))
                .await
                .expect("publish");
        }
        bus.close().await;
        let result = bus.publish("a", Bytes::from_static(b"a")).await;
        assert!(
            matches!(result, Err(volley_cluster::BusError::Unavailable(_))),
            "{result:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_raised_message_size_limit_carries_large_payloads() {
    let _lock = setup();
    bounded(async {
        const SIZE: usize = 3 * 1024 * 1024;
        let topic = unique_topic("large");
        let bus = KafkaBus::builder(&common::brokers())
            .topic(&topic)
            .max_message_size(4 * 1024 * 1024)
            .build()
            .expect("valid settings");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("large".into())], tx)
            .await
            .expect("subscribe");
        let payload = Bytes::from((0..SIZE).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
        bus.publish("large", payload.clone())
            .await
            .expect("publish a large payload");
        let m = next(&mut rx, WAIT).await;
        assert!(m.payload == payload, "the large payload differs");
        bus.close().await;
    })
    .await;
}
