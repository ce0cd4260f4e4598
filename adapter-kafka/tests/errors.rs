//! Refusals: oversized payloads, bad settings, unreachable brokers.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{next, setup, unique_topic};
use tokio::sync::mpsc;
use volley_cluster::{BusError, PubSub, Subscription};
use volley_kafka::{KafkaBus, KafkaError, DEFAULT_MAX_MESSAGE_SIZE};

#[tokio::test]
async fn oversized_publish_is_refused() {
    let _lock = setup();
    tokio::time::timeout(Duration::from_secs(60), async {
        let bus = KafkaBus::builder(&common::brokers())
            .topic(&unique_topic("big"))
            .max_message_size(1000)
            .build()
            .expect("valid settings");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("big".into())], tx)
            .await
            .expect("subscribe");

        let result = bus.publish("big", Bytes::from(vec![7u8; 1001])).await;
        assert_eq!(result, Err(BusError::TooLarge(1001)));
        bus.publish("big", Bytes::from(vec![7u8; 1000]))
            .await
            .expect("exactly the limit is accepted");
        assert_eq!(
            next(&mut rx, Duration::from_secs(10)).await.payload.len(),
            1000
        );

        // The default limit; the check happens before connecting or sending.
        let default = KafkaBus::new("127.0.0.1:1").expect("valid settings");
        let too_big = Bytes::from(vec![0u8; DEFAULT_MAX_MESSAGE_SIZE + 1]);
        assert_eq!(
            default.publish("x", too_big).await,
            Err(BusError::TooLarge(DEFAULT_MAX_MESSAGE_SIZE + 1))
        );
        bus.close().await;
    })
    .await
    .expect("the test finished in time");
}

#[test]
fn invalid_settings_are_errors_not_panics() {
    for brokers in [
        "",
        "   ",
        "http://127.0.0.1:9092",
        "kafka://",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "kafka://user:pw@host:9092",
        "[::1",
        "\u{0}\u{ffff}",
    ] {
        match KafkaBus::new(brokers) {
            Err(KafkaError::InvalidBrokers(reason)) => {
                assert!(!reason.is_empty());
                assert!(!reason.contains("pw"), "the password leaks into {reason}");
            }
            Err(other) => panic!("{brokers:?}: unexpected error {other}"),
            Ok(_) => panic!("{brokers:?} was accepted"),
        }
    }
    for topic in ["", "a b", "a/b", ".."] {
        let result = KafkaBus::builder("h:9092").topic(topic).build();
        assert!(
            matches!(result, Err(KafkaError::InvalidTopic(_))),
            "{topic:?}"
        );
    }
    let result = KafkaBus::builder("h:9092")
        .option("linger.ms", "not a number")
        .build();
    assert!(matches!(result, Err(KafkaError::Config(_))), "{result:?}");
    let result = KafkaBus::builder("h:9092")
        .option("no.such.property", "1")
        .build();
    assert!(matches!(result, Err(KafkaError::Config(_))), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_fail_within_the_timeouts() {
    tokio::time::timeout(Duration::from_secs(60), async {
        // Nothing listens on port 1.
        let bus = KafkaBus::builder("127.0.0.1:1")
            .connect_timeout(Duration::from_secs(1))
            .operation_timeout(Duration::from_secs(1))
            .build()
            .expect("valid settings");

        let started = Instant::now();
        match bus.connect().await {
            Err(KafkaError::Connect(reason)) => assert!(!reason.is_empty()),
            other => panic!("connect to a closed port gave {other:?}"),
        }
        let connect = started.elapsed();
        assert!(connect < Duration::from_secs(4), "connect took {connect:?}");

        let started = Instant::now();
        let result = bus.publish("x", Bytes::from_static(b"x")).await;
        assert!(
            matches!(result, Err(BusError::Unavailable(_))),
            "{result:?}"
        );
        let publish = started.elapsed();
        assert!(publish < Duration::from_secs(4), "publish took {publish:?}");

        let started = Instant::now();
        let (tx, _rx) = mpsc::channel(1);
        let result = bus
            .subscribe(&[Subscription::Channel("x".into())], tx)
            .await;
        assert!(
            matches!(result, Err(BusError::Unavailable(_))),
            "{result:?}"
        );
        let subscribe = started.elapsed();
        assert!(
            subscribe < Duration::from_secs(4),
            "subscribe took {subscribe:?}"
        );
        eprintln!("unreachable: connect {connect:?}, publish {publish:?}, subscribe {subscribe:?}");
        bus.close().await;
    })
    .await
    .expect("the test finished in time");
}
