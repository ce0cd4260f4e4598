//! The cluster suite over a Redis Cluster (`redis-cluster://`, three masters started by
//! `scripts/redis-cluster.sh` when they do not run), bus `streams`, with every node a separate
//! process.

use volley_tests::brokers::redis_cluster;
use volley_tests::cluster::Backend;

fn redis_cluster() -> Backend {
    Backend::Url {
        url: redis_cluster::url_with("bus=streams&stream={volley-test-suite}&maxlen=10000"),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: redis_cluster());
