//! A RabbitMQ crash and restart under a running cluster of two node processes, on a private
//! RabbitMQ node of the test's own ([`RabbitMq`]: killed with `SIGKILL`, started again on the
//! same port with its data): emits during the outage fail visibly (and still reach the emitting
//! node's own clients), then the nodes reconnect, find their durable queues and bindings again,
//! and delivery between them resumes within a bounded wait; an emitter
//! (`volley_emitter::Emitter::amqp`) fails during the outage and reaches both nodes again
//! afterwards. The machine's shared RabbitMQ is never touched.

use std::time::Duration;

use serde_json::{json, Value};
use volley_tests::brokers::rabbitmq::RabbitMq;
use volley_tests::cluster::{self, Backend};
use volley_tests::puppet::Puppet;
use volley_tests::{Failure, TestResult};

/// How long delivery may take to resume once the broker is back.
const RECOVERY: Duration = Duration::from_secs(30);

fn is_ok(ack: &Value) -> bool {
    ack == &json!([{"Ok": null}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_rabbitmq_restart() -> TestResult {
    let mut broker = RabbitMq::start().await?;
    tokio::time::timeout(Duration::from_secs(180), scenario(&mut broker))
        .await
        .map_err(|_| Failure::msg("the restart scenario took more than 180 s"))?
}

async fn scenario(broker: &mut RabbitMq) -> TestResult {
    let amqp_url = broker.url();
    let backend = Backend::Url {
        url: amqp_url.clone(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    };
    let prefix = cluster::unique_prefix();
    let nodes = cluster::start_with_prefix(&backend, 2, &prefix).await?;
    let mut a = Puppet::spawn(&nodes[0].url, "websocket").await?;
    a.connect("/", None).await?;
    let mut b = Puppet::spawn(&nodes[1].url, "websocket").await?;
    b.connect("/", None).await?;
    let emitter = volley_emitter::Emitter::amqp(&amqp_url)
        .await?
        .with_key(cluster::compat_key(&prefix));

    let before = a
        .emit_ack("/", "broadcast", json!(["before", [], [], []]))
        .await?;
    assert!(is_ok(&before), "emit before the outage: {before}");
    assert_eq!(b.next_event("/", "before").await?, json!([]));
    emitter.emit("emitted-before", &()).await?;
    assert_eq!(b.next_event("/", "emitted-before").await?, json!([]));

    broker.kill().await?;
    // The emit is still delivered on its own node, and its caller sees the bus error.
    let during = a
        .emit_ack_within(
            "/",
            "broadcast",
            json!(["during", [], [], []]),
            cluster::OUTAGE_ACK_WAIT,
        )
        .await?;
    assert!(
        during[0].get("Err").is_some(),
        "emit during the outage: {during}"
    );
    assert_eq!(a.next_event("/", "during").await?, json!([]));
    // The emitter fails too, in bounded time.
    let started = tokio::time::Instant::now();
    let failed = tokio::time::timeout(Duration::from_secs(8), emitter.emit("lost", &()))
        .await
        .map_err(|_| Failure::msg("an emit during the outage hung"))?;
    assert!(
        matches!(failed, Err(volley_emitter::EmitterError::Publish(_))),
        "emitter during the outage: {failed:?}"
    );
    eprintln!("the emitter failed after {:?}", started.elapsed());

    let restarted = tokio::time::Instant::now();
    broker.restart().await?;
    eprintln!("the restart took {:?}", restarted.elapsed());
    let back = tokio::time::Instant::now();
    // Publishing from node 0 recovers...
    let deadline = back + RECOVERY;
    loop {
        let after = a
            .emit_ack("/", "broadcast", json!(["after", [], [], []]))
            .await?;
        if is_ok(&after) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::msg(format!("publishing never recovered: {after}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and node 1 receives again (its queue was declared and bound again).
    loop {
        let ack = a
            .emit_ack("/", "broadcast", json!(["probe", [], [], []]))
            .await?;
        if is_ok(&ack) && b.next_event("/", "probe").await.is_ok() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::msg("the other node never received again"));
        }
    }
    eprintln!(
        "cross-node delivery resumed {:?} after the broker was back",
        back.elapsed()
    );
    // The emitter reconnected too, and reaches both nodes.
    loop {
        if emitter.emit("emitted-after", &()).await.is_ok() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::msg("the emitter never published again"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(a.next_event("/", "emitted-after").await?, json!([]));
    assert_eq!(b.next_event("/", "emitted-after").await?, json!([]));
    emitter.close().await;
    Ok(())
}
