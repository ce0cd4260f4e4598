//! The broker dies and comes back (`scripts/kafka.sh stop` / `start`; tansu's memory storage
//! forgets every topic): publishes fail within a bound during the outage, then the bus creates
//! the topic again and delivery resumes. Holds the broker lock exclusively, so no other Kafka
//! test runs meanwhile.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{lock_broker, next, require_broker, unique_topic, Access};
use tokio::sync::mpsc;
use volley::manager::cluster::{BusError, BusMessage, PubSub, Subscription};
use volley_kafka::KafkaBus;

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

fn kafka_sh(action: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(action)
        .status()
        .expect("run scripts/kafka.sh");
    assert!(
        status.success(),
        "scripts/kafka.sh {action} failed: the restart test needs the broker started by \
         scripts/kafka.sh"
    );
}

/// Starts the broker again when dropped, so that a failing test does not leave it stopped for
/// the tests that follow.
struct StartOnDrop;

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        kafka_sh("start");
    }
}

fn bus(topic: &str) -> KafkaBus {
    let mut builder = KafkaBus::builder(&common::brokers())
        .topic(topic)
        .publish_timeout(PUBLISH_TIMEOUT);
    // e.g. VOLLEY_KAFKA_DEBUG=metadata,protocol with RUST_LOG=volley::cluster=debug
    if let Ok(debug) = std::env::var("VOLLEY_KAFKA_DEBUG") {
        builder = builder.option("debug", &debug);
    }
    builder.build().expect("valid settings")
}

/// Publishes until a publish succeeds and the subscriber receives it, polling for at most
/// `within`. Returns how long it took.
async fn until_delivered(
    bus: &KafkaBus,
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
        let published = tokio::time::timeout(
            PUBLISH_TIMEOUT * 2 + Duration::from_secs(3),
            bus.publish(channel, payload.clone()),
        )
        .await
        .expect("a publish never hangs");
        if published.is_ok() {
            // Skip older ones that may still arrive.
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(Some(m)) = tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                if m.payload == payload {
                    assert_eq!(m.channel, channel);
                    return start.elapsed();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_broker_restart() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let _lock = lock_broker(Access::Exclusive);
    require_broker();
    tokio::time::timeout(Duration::from_secs(120), async {
        let topic = unique_topic("restart");
        let subscriber = bus(&topic);
        let publisher = bus(&topic);
        let (tx, mut rx) = mpsc::channel(64);
        subscriber
            .subscribe(
                &[
                    Subscription::Channel("exact".into()),
                    Subscription::Prefix("room#".into()),
                ],
                tx,
            )
            .await
            .expect("subscribe");
        for channel in ["exact", "room#a"] {
            publisher
                .publish(channel, Bytes::from_static(b"before"))
                .await
                .expect("publish before the outage");
            let m = next(&mut rx, Duration::from_secs(10)).await;
            assert_eq!(
                (m.channel.as_str(), &m.payload[..]),
                (channel, &b"before"[..])
            );
        }

        kafka_sh("stop");
        let restart = StartOnDrop;

        // During the outage a publish fails, within the publish timeout (plus slack).
        let bound = PUBLISH_TIMEOUT + Duration::from_secs(2);
        let mut failures = Vec::new();
        for _ in 0..2 {
            let started = Instant::now();
            let result = tokio::time::timeout(
                bound,
                publisher.publish("exact", Bytes::from_static(b"during")),
            )
            .await
            .expect("a publish during the outage fails within the publish timeout");
            assert!(
                matches!(result, Err(BusError::Unavailable(_))),
                "publish during the outage gave {result:?}"
            );
            failures.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        drop(restart); // kafka.sh start
        let within = Duration::from_secs(30);
        let exact = until_delivered(&publisher, &mut rx, "exact", within).await;
        let room = until_delivered(&publisher, &mut rx, "room#b", within).await;
        eprintln!(
            "outage publishes failed after {failures:?}; delivery resumed {exact:?} after the \
             restart (then {room:?} for the prefix)"
        );
        // The subscriber's own bus publishes too.
        let own = until_delivered(&subscriber, &mut rx, "exact", within).await;
        eprintln!("the subscriber's own publish delivered after {own:?}");
        publisher.close().await;
        subscriber.close().await;
    })
    .await
    .expect("the test finished in time");
}
