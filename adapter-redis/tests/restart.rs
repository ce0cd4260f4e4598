//! A Redis server that dies and comes back: publishes fail fast during the outage, then the
//! bus reconnects and its subscriptions are restored.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{next, RedisServer};
use tokio::sync::mpsc;
use volley_cluster::conformance::until_delivered;
use volley_cluster::{BusError, PubSub, Subscription};
use volley_redis::RedisBus;

const WAIT: Duration = Duration::from_secs(5);

/// Asserts that a publish on `channel` fails with `Unavailable` within 5 s.
async fn fails_during_the_outage(bus: &RedisBus, channel: &str) {
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        bus.publish(channel, Bytes::from_static(b"during")),
    )
    .await
    .expect("a publish during the outage must not hang");
    assert!(
        matches!(result, Err(BusError::Unavailable(_))),
        "publish during the outage gave {result:?}"
    );
}

/// Subscribes to `subscriptions`, checks a publish on each of `channels` arrives, kills and
/// restarts the server, and checks again; within 60 s.
async fn restart_scenario(subscriptions: Vec<Subscription>, channels: Vec<String>) {
    tokio::time::timeout(Duration::from_secs(60), scenario(subscriptions, channels))
        .await
        .expect("the test finished in time");
}

async fn scenario(subscriptions: Vec<Subscription>, channels: Vec<String>) {
    let channel = channels[0].clone();
    let mut server = RedisServer::start().await;
    let bus = RedisBus::new(&server.url()).expect("valid URL");
    bus.connect().await.expect("connect to the test's server");

    let (tx, mut rx) = mpsc::channel(64);
    bus.subscribe(&subscriptions, tx).await.expect("subscribe");
    for channel in &channels {
        bus.publish(channel, Bytes::from_static(b"before"))
            .await
            .expect("publish before the outage");
        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            (channel.as_str(), &b"before"[..])
        );
    }

    server.kill();

    // During the outage a publish fails, and quickly (the bound is generous: no exact timing).
    let started = Instant::now();
    fails_during_the_outage(&bus, &channel).await;
    let first_failure = started.elapsed();
    // And again a bit later, while fred is reconnecting with backoff.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fails_during_the_outage(&bus, &channel).await;
    assert!(!bus.is_connected());

    server.restart().await;
    for channel in &channels {
        let took = until_delivered(&bus, &mut rx, channel, Duration::from_secs(10)).await;
        eprintln!(
            "{channel}: outage publish failed after {first_failure:?}; delivery resumed {took:?} \
             after the restart"
        );
    }
    assert!(bus.is_connected());
    bus.close().await;
}

#[tokio::test]
async fn restart_restores_channel_and_prefix_subscriptions() {
    let base = common::unique("restart");
    let exact = format!("{base}#exact");
    let prefix = format!("{base}#room#");
    let subscriptions = vec![
        Subscription::Channel(exact.clone()),
        Subscription::Prefix(prefix.clone()),
    ];
    restart_scenario(subscriptions, vec![exact, format!("{prefix}a#")]).await;
}

#[tokio::test]
async fn restart_restores_a_prefix_only_subscription() {
    let base = common::unique("restart-prefix");
    let subscriptions = vec![Subscription::Prefix(format!("{base}#"))];
    restart_scenario(subscriptions, vec![format!("{base}#room#")]).await;
}

#[tokio::test]
async fn restart_restores_a_channel_only_subscription() {
    let base = common::unique("restart-channel");
    let channel = format!("{base}#only");
    restart_scenario(vec![Subscription::Channel(channel.clone())], vec![channel]).await;
}
