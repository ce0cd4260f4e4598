//! The fault kit over a Redis Cluster's pub/sub bus (`redis-cluster://…`, Volley's channels as
//! sharded pub/sub channels there): a private cluster of three masters (no replicas) whose one
//! master is killed (`SIGKILL`) and restarted three times under steady cross-node traffic to one
//! room, while the two others keep running. The cluster's channels all hash to that master's slot
//! (the prefix is a hash tag, `{…}`: the channel of every node and each node's own), so the run
//! loses the master its channels are published and subscribed on each time, through the cluster
//! client's paths. Every emit that returned `Ok` reaches every client exactly once; emits made
//! while the master is down, or while a node has not subscribed again, return an error.
//!
//! With classic `PUBLISH` this failed (36 of about 4,800 `Ok` emits lost in one run): a cluster
//! answers a `PUBLISH` with the subscribers of the one shard it reached, so the receiver check
//! could not see a node still subscribing again elsewhere. It tolerates what the pub/sub bus's
//! fault test tolerates: a message the master handed to a subscriber's connection, and
//! acknowledged, just before it was killed can be gone before the subscriber read it.

use std::time::Duration;

use volley_tests::brokers::redis_cluster::PrivateRedisCluster;
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_master_restarts() -> TestResult {
    // a hash tag: every channel of the run hashes to one slot
    let prefix = format!("{{{}}}", volley_tests::cluster::unique_prefix());
    let mut cluster = PrivateRedisCluster::start(&format!("{prefix}#")).await?;
    let plan = FaultPlan::default()
        .adapter_url(cluster.url().to_owned())
        .prefix(prefix)
        .allow_loss_at_kill()
        .limit(Duration::from_secs(300));
    fault::run(&mut cluster, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
