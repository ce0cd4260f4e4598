//! The fault kit over the Redis Streams bus: a private `redis-server` that keeps its data in an
//! append-only file `fsync`ed before each reply (`appendfsync always`) is killed (`SIGKILL`)
//! and restarted three times under steady cross-node traffic. What Redis acknowledged is on
//! disk before the node hears of it, so the stream survives each kill with every entry whose
//! `XADD` returned `Ok`, and each node reads on from the last entry it had read: every emit that
//! returned `Ok` reaches every client exactly once. (Without persistence a restarted Redis is
//! empty, and what a node had not read yet before the kill is gone.)

use std::time::Duration;

use volley_tests::brokers::redis::{Persistence, RedisServer};
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_redis_restarts() -> TestResult {
    let mut redis = RedisServer::start(Persistence::AppendOnly).await?;
    let plan = FaultPlan::default()
        .adapter_url(format!("{}?bus=streams&stream=fault", redis.url()))
        .limit(Duration::from_secs(240));
    fault::run(&mut redis, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
