//! The fault kit over NATS JetStream: a private `nats-server -js` (its storage in a directory
//! of its own, kept across kills) is killed (`SIGKILL`) and restarted three times under steady
//! cross-node traffic. A publish returns `Ok` once the stream has the message in its files, and
//! each node reads the stream on from the last sequence it read, so every emit that returned
//! `Ok` reaches every client exactly once; emits made while the server is down return an error.
//!
//! Core NATS (`nats://` without `bus=jetstream`) is not run here: it stores nothing and cannot
//! tell whether a node was listening, so it does not promise what this test checks (see the
//! README's "Many nodes").

use std::time::Duration;

use volley_tests::brokers::nats::NatsServer;
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_nats_restarts() -> TestResult {
    let mut nats = NatsServer::start().await?;
    let plan = FaultPlan::default()
        .adapter_url(format!("{}?bus=jetstream&stream=fault", nats.url()))
        .limit(Duration::from_secs(240));
    fault::run(&mut nats, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
