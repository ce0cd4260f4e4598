//! Refusals of Redis's own: bad URLs, a database the server does not have; and a server that
//! appears after the first connect failed. Oversized payloads and unreachable servers: the
//! conformance suite (tests/conformance.rs).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{next, redis_url, unique, RedisServer};
use tokio::sync::mpsc;
use volley_cluster::{PubSub, Subscription};
use volley_redis::{RedisBus, RedisError};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn invalid_urls_are_errors_not_panics() {
    for url in [
        "",
        "   ",
        "127.0.0.1:6379",
        "http://127.0.0.1:6379",
        "rediss://127.0.0.1:6379",
        "redis-cluster://127.0.0.1",
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
async fn a_later_call_connects_once_the_server_runs() {
    tokio::time::timeout(Duration::from_secs(30), async {
        // How a bus fails while nothing listens: the conformance suite (tests/conformance.rs).
        let port = common::free_port();
        let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}")).expect("valid URL");
        assert!(bus.connect().await.is_err(), "nothing listens on {port}");

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
