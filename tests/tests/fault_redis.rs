//! The fault kit over Redis pub/sub: a private `redis-server` is killed (`SIGKILL`) and
//! restarted three times under steady cross-node traffic. Every emit that returned `Ok` reaches
//! every client exactly once; emits made while Redis is down, or while a node has not subscribed
//! again, return an error.

use std::time::Duration;

use volley_tests::brokers::redis::{Persistence, RedisServer};
use volley_tests::fault::{self, FaultPlan};
use volley_tests::{Failure, TestResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_redis_restarts() -> TestResult {
    let mut redis = RedisServer::start(Persistence::None).await?;
    let url = redis.url();
    let plan = FaultPlan::default();
    let run = fault::run(&mut redis, &url, env!("CARGO_BIN_EXE_cluster_node"), &plan);
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .map_err(|_| Failure::msg("the fault run took more than 240 s"))??;
    Ok(())
}
