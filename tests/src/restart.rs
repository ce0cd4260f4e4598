//! The restart kit: a crash and restart of a broker of the test's own ([`Broker`]) under a
//! running cluster of two node processes.
//!
//! [`delivery_resumes_after_a_restart`] starts two `cluster_node` processes on the broker, one
//! official client on each, and an emitter (`volley_emitter`). Then it checks, in order:
//!
//! - before the outage, an emit of node 0 and one of the emitter reach node 1's client;
//! - while the broker is down, an emit of node 0 fails visibly (its ack carries the bus error)
//!   and still reaches node 0's own client, and the emitter fails within 8 s;
//! - once the broker is back, publishing from node 0 succeeds again, node 1 receives again (its
//!   subscriptions were restored), and the emitter reaches both nodes again, all within the
//!   recovery time the test gives.
//!
//! What each broker keeps across the kill is its own: a RabbitMQ node its durable queues and
//! bindings, tansu its topic and records, a Redis server nothing (the nodes subscribe again). The
//! machine's shared brokers are never touched.
//!
//! ```no_run
//! use std::time::Duration;
//! use volley_tests::brokers::redis::{Persistence, RedisServer};
//!
//! # async fn test() -> volley_tests::TestResult {
//! let mut redis = RedisServer::start(Persistence::None).await?;
//! let node_bin = "path/to/cluster_node"; // env!("CARGO_BIN_EXE_cluster_node") in a test
//! volley_tests::restart::delivery_resumes_after_a_restart(&mut redis, node_bin, Duration::from_secs(20))
//!     .await
//! # }
//! ```

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::brokers::Broker;
use crate::cluster::{self, Backend};
use crate::puppet::Puppet;
use crate::{Failure, TestResult};

/// How soon delivery resumes after a RabbitMQ or Kafka restart, at most.
pub const RECOVERY: Duration = Duration::from_secs(30);
/// The bound of the whole scenario.
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);
/// How long an emitter may take to fail while the broker is down.
const EMITTER_FAILS_WITHIN: Duration = Duration::from_secs(8);

/// Whether an ack of the `broadcast` handler says the emit succeeded.
fn is_ok(ack: &Value) -> bool {
    ack == &json!([{"Ok": null}])
}

/// Runs the scenario of the [module's documentation](self) on `broker`, with nodes of the
/// `cluster_node` binary at `node_bin`; delivery must resume within `recovery` of the broker's
/// return.
pub async fn delivery_resumes_after_a_restart(
    broker: &mut dyn Broker,
    node_bin: &'static str,
    recovery: Duration,
) -> TestResult {
    let name = broker.name().to_owned();
    tokio::time::timeout(SCENARIO_LIMIT, scenario(broker, node_bin, recovery))
        .await
        .map_err(|_| {
            Failure::msg(format!(
                "the {name} restart scenario took more than {SCENARIO_LIMIT:?}"
            ))
        })?
}

async fn scenario(
    broker: &mut dyn Broker,
    node_bin: &'static str,
    recovery: Duration,
) -> TestResult {
    let backend = Backend::Url {
        url: broker.url(),
        node_bin,
    };
    let prefix = cluster::unique_prefix();
    let nodes = cluster::start_with_prefix(&backend, 2, &prefix).await?;
    let mut a = Puppet::spawn(&nodes[0].url, "websocket").await?;
    a.connect("/", None).await?;
    let mut b = Puppet::spawn(&nodes[1].url, "websocket").await?;
    b.connect("/", None).await?;
    let emitter = broker
        .emitter()
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
    let started = Instant::now();
    let failed = tokio::time::timeout(EMITTER_FAILS_WITHIN, emitter.emit("lost", &()))
        .await
        .map_err(|_| Failure::msg("an emit during the outage hung"))?;
    assert!(
        matches!(failed, Err(volley_emitter::EmitterError::Publish(_))),
        "emitter during the outage: {failed:?}"
    );
    eprintln!("the emitter failed after {:?}", started.elapsed());

    let restarted = Instant::now();
    broker.restart().await?;
    eprintln!("the restart took {:?}", restarted.elapsed());
    let back = Instant::now();
    // Publishing from node 0 recovers...
    let deadline = back + recovery;
    loop {
        let after = a
            .emit_ack("/", "broadcast", json!(["after", [], [], []]))
            .await?;
        if is_ok(&after) {
            break;
        }
        if Instant::now() > deadline {
            return Err(Failure::msg(format!("publishing never recovered: {after}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and node 1 receives again (it subscribed again, or found its queue again).
    loop {
        let ack = a
            .emit_ack("/", "broadcast", json!(["probe", [], [], []]))
            .await?;
        if is_ok(&ack) && b.next_event("/", "probe").await.is_ok() {
            break;
        }
        if Instant::now() > deadline {
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
        if Instant::now() > deadline {
            return Err(Failure::msg("the emitter never published again"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(a.next_event("/", "emitted-after").await?, json!([]));
    assert_eq!(b.next_event("/", "emitted-after").await?, json!([]));
    emitter.close().await;
    Ok(())
}
