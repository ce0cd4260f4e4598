//! The broker restarts (`rabbitmqctl stop_app` / `start_app`): publishes fail fast during the
//! outage, then the buses reconnect, declare their exchange, queues and consumers again, and
//! delivery resumes into the same sinks.
//!
//! A binary of its own: it restarts the machine's shared RabbitMQ, so it takes the broker lock
//! exclusive (every other test that uses RabbitMQ, in any crate, holds it shared).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{amqp_url, delete_exchange, exclusive_lock, next, rabbitmqctl, unique};
use tokio::sync::mpsc;
use volley::manager::cluster::{BusError, BusMessage, PubSub, Subscription};
use volley_amqp::AmqpBus;

const WAIT: Duration = Duration::from_secs(5);

/// Restarts the broker's application if the test stops before doing it, so that a failing test
/// does not leave the machine without RabbitMQ.
struct Outage {
    over: bool,
}

impl Outage {
    async fn begin() -> Outage {
        tokio::task::spawn_blocking(|| rabbitmqctl(&["stop_app"]))
            .await
            .expect("rabbitmqctl task");
        Outage { over: false }
    }

    async fn end(mut self) {
        tokio::task::spawn_blocking(|| {
            rabbitmqctl(&["start_app"]);
            rabbitmqctl(&["await_startup"]);
        })
        .await
        .expect("rabbitmqctl task");
        self.over = true;
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.over {
            let _ = std::process::Command::new("rabbitmqctl")
                .arg("start_app")
                .status();
        }
    }
}

/// Publishes on `channel` from `publisher` until a publish succeeds and the subscriber receives
/// it, polling for at most `within`. Returns how long it took.
async fn until_delivered(
    publisher: &AmqpBus,
    rx: &mut mpsc::Receiver<BusMessage>,
    channel: &str,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        assert!(
            start.elapsed() < within,
            "no delivery on {channel} within {within:?} after the restart"
        );
        attempt += 1;
        let payload = Bytes::from(format!("after-{attempt}"));
        if publisher.publish(channel, payload.clone()).await.is_ok() {
            // Delivered only once the subscriber's queue is back: wait a little for this one,
            // and skip older ones.
            let deadline = Instant::now() + Duration::from_millis(300);
            while let Ok(Some(m)) = tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                if m.payload == payload {
                    assert_eq!(m.channel, channel);
                    return start.elapsed();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that a publish fails, and quickly (the bound is generous: no exact timing).
async fn fails_during_the_outage(bus: &AmqpBus, channel: &str) -> Duration {
    let started = Instant::now();
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
    started.elapsed()
}

#[tokio::test]
async fn broker_restart_restores_publishing_and_subscriptions() {
    let _lock = exclusive_lock().await;
    tokio::time::timeout(Duration::from_secs(120), async {
        let exchange = unique("restart");
        let bus_on = || {
            AmqpBus::builder(&amqp_url())
                .exchange(&exchange)
                .build()
                .expect("valid URL")
        };
        // Node A subscribes to an exact channel and a prefix; node B publishes too.
        let a = bus_on();
        let b = bus_on();
        let (tx, mut rx) = mpsc::channel(64);
        a.subscribe(
            &[
                Subscription::Channel("volley#".into()),
                Subscription::Prefix("socket.io#".into()),
            ],
            tx,
        )
        .await
        .expect("subscribe");
        b.connect().await.expect("connect b");
        for channel in ["volley#", "socket.io#/#"] {
            b.publish(channel, Bytes::from_static(b"before"))
                .await
                .expect("publish before the outage");
            let m = next(&mut rx, WAIT).await;
            assert_eq!(
                (m.channel.as_str(), &m.payload[..]),
                (channel, &b"before"[..])
            );
        }

        let outage = Outage::begin().await;
        let first_failure = fails_during_the_outage(&a, "volley#").await;
        fails_during_the_outage(&b, "volley#").await;
        // And again a bit later, while the buses are reconnecting with backoff.
        tokio::time::sleep(Duration::from_millis(700)).await;
        fails_during_the_outage(&b, "volley#").await;
        assert!(!a.is_connected() && !b.is_connected());

        let restarted = Instant::now();
        outage.end().await;
        eprintln!("start_app took {:?}", restarted.elapsed());
        // From the other node (cross-node), then from the subscriber itself.
        let took = until_delivered(&b, &mut rx, "volley#", Duration::from_secs(30)).await;
        until_delivered(&b, &mut rx, "socket.io#/#", Duration::from_secs(5)).await;
        until_delivered(&a, &mut rx, "volley#", Duration::from_secs(5)).await;
        eprintln!(
            "outage publish failed after {first_failure:?}; delivery resumed {took:?} after the \
             broker was back"
        );
        assert!(a.is_connected() && b.is_connected());
        a.close().await;
        b.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}
