//! Refusals: oversized payloads, bad URLs, unreachable servers.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{next, redis_url, unique, RedisServer};
use tokio::sync::mpsc;
use volley_cluster::{BusError, PubSub, Subscription};
use volley_redis::{RedisBus, RedisError, DEFAULT_MAX_MESSAGE_SIZE};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn oversized_publish_is_refused() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let channel = unique("big");
        let bus = RedisBus::builder(&redis_url())
            .max_message_size(1000)
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe");

        let result = bus.publish(&channel, Bytes::from(vec![7u8; 1001])).await;
        assert_eq!(result, Err(BusError::TooLarge(1001)));
        bus.publish(&channel, Bytes::from(vec![7u8; 1000]))
            .await
            .expect("exactly the limit is accepted");
        assert_eq!(next(&mut rx, WAIT).await.payload.len(), 1000);

        // The default limit is 16 MiB; the check happens before connecting or sending.
        let default = RedisBus::new("redis://127.0.0.1:1").expect("valid URL");
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
fn invalid_urls_are_errors_not_panics() {
    for url in [
        "",
        "   ",
        "127.0.0.1:6379",
        "http://127.0.0.1:6379",
        "rediss://127.0.0.1:6379",
        "redis-cluster://127.0.0.1:6379",
        "redis://",
        "redis://127.0.0.1:65536",
        "redis://127.0.0.1:-1",
        "redis://127.0.0.1/notadb",
        "redis://[::1",
        "redis://user:pw@host:6379/0/extra",
        "\u{0}\u{ffff}",
    ] {
        match RedisBus::new(url) {
            Err(RedisError::InvalidUrl(reason)) => {
                assert!(!reason.is_empty());
                assert!(!reason.contains("pw@"), "the URL leaks into {reason}");
            }
            Err(other) => panic!("{url:?}: unexpected error {other}"),
            Ok(_) => panic!("{url:?} was accepted"),
        }
    }
}

#[tokio::test]
async fn unreachable_server_fails_fast_and_a_later_call_connects() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let port = common::free_port();
        let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}")).expect("valid URL");

        let started = Instant::now();
        match bus.connect().await {
            Err(RedisError::Connect(reason)) => assert!(!reason.is_empty()),
            other => panic!("connect to a closed port gave {other:?}"),
        }
        let result = bus.publish("x", Bytes::from_static(b"x")).await;
        assert!(
            matches!(result, Err(BusError::Unavailable(_))),
            "{result:?}"
        );
        let (tx, _rx) = mpsc::channel(1);
        let result = bus
            .subscribe(&[Subscription::Channel("x".into())], tx)
            .await;
        assert!(
            matches!(result, Err(BusError::Unavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        // The server appears: the next call connects.
        let server = RedisServer::start_on(port).await;
        bus.connect().await.expect("connect once the server runs");
        let channel = unique("late");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe");
        bus.publish(&channel, Bytes::from_static(b"late"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"late");
        bus.close().await;
        drop(server);
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn wrong_database_is_a_connect_error() {
    tokio::time::timeout(Duration::from_secs(30), async {
        // Redis has 16 databases by default.
        let url = format!("{}/200", redis_url().trim_end_matches('/'));
        let bus = RedisBus::new(&url).expect("syntactically valid");
        let result = bus.connect().await;
        assert!(matches!(result, Err(RedisError::Connect(_))), "{result:?}");
    })
    .await
    .expect("the test finished in time");
}
