//! The cluster suite over a Redis Cluster (`redis-cluster://`, three masters started by
//! `scripts/redis-cluster.sh` when they do not run), bus `sharded`, with every node a separate
//! process.

use volley_tests::brokers::redis_cluster;
use volley_tests::cluster::Backend;

fn redis_cluster() -> Backend {
    Backend::Url {
        url: redis_cluster::url_with("bus=sharded"),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(@without_recovery [] redis_cluster());
volley_tests::cluster_suite!(@tests [] redis_cluster(); recovery_on_the_same_node recovery_on_another_node emitter_input);
