//! The cluster suite over a Redis Cluster (`redis-cluster://`, three masters started by
//! `scripts/redis-cluster.sh` when they do not run), bus `pubsub`, with every node a separate
//! process.

use volley_tests::brokers::redis_cluster;
use volley_tests::cluster::Backend;

fn redis_cluster() -> Backend {
    Backend::Url {
        url: redis_cluster::url_with("bus=pubsub"),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

// A socket handed over to another node comes with what it missed, answered on the response
// channel, while the broadcasts go on the broadcast channel: on a Redis Cluster each lives on
// its own shard, so a broadcast the old node had handed over can reach the new node after the
// answer. Each node's broadcasts keep their order there (one channel), so the new node knows it
// by the old node's marks and does not deliver it again.
volley_tests::cluster_suite!(broker: redis_cluster());
