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

volley_tests::cluster_suite!(@without_recovery [] redis_cluster());
volley_tests::cluster_suite!(@tests [] redis_cluster(); recovery_on_the_same_node emitter_input);
// A socket handed over to another node comes with what it missed, answered on the response
// channel, while the broadcasts go on the broadcast channel: on a Redis Cluster each channel lives
// on its own shard, so a broadcast published before the answer can arrive after it (and be
// delivered twice) or the other way round (and be missed). Since both are shard channels
// (`SPUBLISH` straight to each subscriber, no longer copied over the cluster bus) the window is
// microseconds and 15 runs in a row passed by hand, but nothing orders the two: left out until
// the handover carries a position in each node's broadcasts (bus=sharded asks the old node again
// once it listens, and passes).
volley_tests::cluster_suite!(@tests [#[ignore = "on Redis Cluster pub/sub a handover's answer and the broadcasts take different shards: their order is not kept"]] redis_cluster(); recovery_on_another_node);
