//! The fault kit over the Redis Streams bus on a Redis Cluster (`redis-cluster://…?bus=streams`):
//! a private cluster of three masters (no replicas) that keep their data in an append-only file
//! `fsync`ed before each reply (`appendfsync always`); the master that owns the run's stream
//! (its name is a hash tag, `{…}`) is killed (`SIGKILL`) and restarted three times under steady
//! cross-node traffic, while the two others keep running. What that master acknowledged is on
//! disk before a node hears of it, so the stream comes back with every entry whose `XADD`
//! returned `Ok`, and each node reads on from the last entry it had read, through the cluster
//! client's paths: every emit that returned `Ok` reaches every client exactly once.

use std::time::Duration;

use volley_tests::brokers::redis::Persistence;
use volley_tests::brokers::redis_cluster::PrivateRedisCluster;
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_master_restarts() -> TestResult {
    let stream = format!("{{{}}}fault", volley_tests::cluster::unique_prefix());
    let mut cluster = PrivateRedisCluster::start_with(&stream, Persistence::AppendOnly).await?;
    let plan = FaultPlan::default()
        .adapter_url(format!("{}?bus=streams&stream={stream}", cluster.url()))
        .limit(Duration::from_secs(300));
    fault::run(&mut cluster, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
