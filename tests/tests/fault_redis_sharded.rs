//! The fault kit over Redis sharded pub/sub (`?bus=sharded`: a channel per room, listened to by
//! the nodes with members there): a private `redis-server` is killed (`SIGKILL`) and restarted
//! three times under steady cross-node traffic to one room. Every emit that returned `Ok`
//! reaches every client exactly once; emits made while Redis is down, or while a node has not
//! subscribed again (to the room's channel too), return an error.
//!
//! It tolerates what the pub/sub bus's fault test tolerates, for the same reason: a message Redis
//! handed to a subscriber's connection, and acknowledged, just before it was killed can be gone
//! before the subscriber read it. The run tolerates the loss of `Ok` emits in flight at a kill,
//! and of no others.

use std::time::Duration;

use volley_tests::brokers::redis::{Persistence, RedisServer};
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_redis_restarts() -> TestResult {
    let mut redis = RedisServer::start(Persistence::None).await?;
    let plan = FaultPlan::default()
        .adapter_url(format!("{}?bus=sharded", redis.url()))
        .allow_loss_at_kill()
        .limit(Duration::from_secs(240));
    fault::run(&mut redis, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
