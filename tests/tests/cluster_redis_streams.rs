//! The cluster suite over the Redis Streams bus (127.0.0.1:6379, `?bus=streams`), with every
//! node a separate process. Each test has a stream of its own, trimmed to about 1 000 entries.

use volley_tests::cluster::{self, Backend};

fn streams() -> Backend {
    Backend::Url {
        url: format!(
            "redis://127.0.0.1:6379?bus=streams&stream={}-stream&maxlen=1000",
            cluster::unique_prefix()
        ),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: streams());
