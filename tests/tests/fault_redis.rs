//! The fault kit over Redis pub/sub: a private `redis-server` is killed (`SIGKILL`) and
//! restarted three times under steady cross-node traffic. Every emit that returned `Ok` reaches
//! every client exactly once; emits made while Redis is down, or while a node has not subscribed
//! again, return an error.
//!
//! One window stays open, as the `RedisBus` documentation says: a message Redis handed to a
//! subscriber's connection, and acknowledged, just before it was killed can be gone before the
//! subscriber read it (the connection's unread bytes go with it). The run tolerates the loss of
//! `Ok` emits in flight at a kill, and of no others (about one run in seven lost one such
//! emit, on a loaded machine); the streams bus, whose fault test tolerates none, closes it.

use std::time::Duration;

use volley_tests::brokers::redis::{Persistence, RedisServer};
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_redis_restarts() -> TestResult {
    let mut redis = RedisServer::start(Persistence::None).await?;
    let plan = FaultPlan::default()
        .allow_loss_at_kill()
        .limit(Duration::from_secs(240));
    fault::run(&mut redis, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
