//! Refusals of AMQP's own: payloads over a receiver's limit, long channel names, publishes that
//! reach no queue, bad URLs and names, wrong credentials, an exchange declared differently.
//! Oversized payloads and unreachable brokers: the conformance suite (tests/conformance.rs).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{amqp_url, delete_exchange, next, nothing_more, shared_lock, unique, Admin};
use lapin::ExchangeKind;
use tokio::sync::mpsc;
use volley_amqp::{wire, AmqpBus, AmqpError};
use volley_cluster::{BusError, PubSub, Subscription};

const WAIT: Duration = Duration::from_secs(5);

async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(30), body)
        .await
        .expect("the test finished in time");
}

#[tokio::test]
async fn a_receiver_drops_what_exceeds_its_limit_and_long_channel_names_are_refused() {
    bounded(async {
        let exchange = unique("big");
        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .max_message_size(1000)
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .expect("subscribe");

        // Another publisher with a larger limit: the receiving bus drops what exceeds its own.
        let other = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .build()
            .expect("valid URL");
        other
            .publish("volley#", Bytes::from(vec![1u8; 5000]))
            .await
            .expect("publish");
        other
            .publish("volley#", Bytes::from_static(b"small"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"small");
        nothing_more(&mut rx).await;

        // A channel name is checked before connecting or sending, as the payload's size is (the
        // conformance suite): a routing key is at most 255 bytes.
        let default = AmqpBus::new("amqp://127.0.0.1:1").expect("valid URL");
        let long = "x".repeat(wire::MAX_NAME_LEN + 1);
        assert!(matches!(
            default.publish(&long, Bytes::new()).await,
            Err(BusError::Other(_))
        ));
        bus.publish(&"y".repeat(wire::MAX_NAME_LEN), Bytes::new())
            .await
            .expect("a 255-byte channel is fine");
        bus.close().await;
        other.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn a_publish_that_reaches_no_queue_is_returned() {
    bounded(async {
        let exchange = unique("returned");
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

#[test]
fn invalid_urls_are_errors_not_panics() {
    for url in [
        "",
        "   ",
        "127.0.0.1:5672",
        "http://127.0.0.1:5672",
        "amqps://127.0.0.1:5671",
        "amqp://",
        "amqp://127.0.0.1:65536",
        "amqp://127.0.0.1:-1",
        "amqp://[::1",
        "amqp://user:pw@host:5672/a/b",
        "amqp://user:pw@host/?heartbeat=soon",
        "amqp://user:pw@host/?unknown=1",
        "\u{0}\u{ffff}",
    ] {
        match AmqpBus::new(url) {
            Err(AmqpError::InvalidUrl(reason)) => {
                assert!(!reason.is_empty());
                assert!(!reason.contains("pw@"), "the URL leaks into {reason}");
            }
            Err(other) => panic!("{url:?}: unexpected error {other}"),
            Ok(_) => panic!("{url:?} was accepted"),
        }
    }
}

#[test]
fn invalid_exchange_names_are_refused() {
    for name in ["amq.fanout".to_owned(), "e".repeat(256)] {
        assert!(matches!(
            AmqpBus::builder("amqp://127.0.0.1").exchange(name).build(),
            Err(AmqpError::InvalidExchange(_))
        ));
    }
}

#[tokio::test]
async fn wrong_credentials_and_vhost_are_connect_errors() {
    bounded(async {
        for url in [
            "amqp://guest:not-the-password@127.0.0.1:5672/%2f",
            "amqp://nobody:nothing@127.0.0.1:5672/%2f",
            "amqp://guest:guest@127.0.0.1:5672/no-such-vhost",
        ] {
            let bus = AmqpBus::new(url).expect("syntactically valid");
            let started = Instant::now();
            let result = bus.connect().await;
            assert!(
                matches!(result, Err(AmqpError::Connect(_))),
                "{url}: {result:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "{url}: {:?}",
                started.elapsed()
            );
            let text = result.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!text.contains("not-the-password"), "{text}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_exchange_declared_differently_is_a_declare_error() {
    bounded(async {
        let exchange = unique("topic");
        let admin = Admin::connect().await;
        admin.declare(&exchange, ExchangeKind::Topic, true).await;

        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .build()
            .expect("valid URL");
        let result = bus.connect().await;
        assert!(
            matches!(result, Err(AmqpError::Declare(ref reason)) if reason.contains("PRECONDITION")),
            "{result:?}"
        );
        let result = bus.publish("volley#", Bytes::from_static(b"x")).await;
        assert!(matches!(result, Err(BusError::Other(_))), "{result:?}");

        admin.delete_exchange(&exchange).await;
        admin.close().await;
        // Once the conflicting exchange is gone, the next call connects.
        bus.connect().await.expect("connect");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .expect("subscribe");
        bus.publish("volley#", Bytes::from_static(b"x"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"x");
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await;
}

#[tokio::test]
async fn an_exchange_an_earlier_version_declared_non_durable_is_used_as_it_is() {
    bounded(async {
        let exchange = unique("transient");
        let admin = Admin::connect().await;
        admin.declare(&exchange, ExchangeKind::Fanout, false).await;
        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .expect("subscribe on the non-durable exchange");
        bus.publish("volley#", Bytes::from_static(b"x"))
            .await
            .expect("publish on the non-durable exchange");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"x");
        bus.close().await;
        admin.delete_exchange(&exchange).await;
        admin.close().await;
    })
    .await;
}
