//! The cluster suite over Redis (127.0.0.1:6379), with every node a separate process.

use volley_tests::cluster::Backend;

fn redis() -> Backend {
    Backend::Url {
        url: "redis://127.0.0.1:6379".to_owned(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(redis());
