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
volley_tests::cluster_suite!(@tests [] redis_cluster(); recovery_on_the_same_node emitter_input);
// A socket recovered on another node enters its rooms there, and that node subscribes to their
// channels in the background: a broadcast published on a room's channel in between reaches
// neither node (the old one no longer holds the socket). Left out until a transfer holds the
// broadcasts of that window.
volley_tests::cluster_suite!(@tests [#[ignore = "a recovered socket's rooms are subscribed in the background on its new node: a broadcast in between is missed"]] redis_cluster(); recovery_on_another_node);
