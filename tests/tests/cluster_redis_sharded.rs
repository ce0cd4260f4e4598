//! The cluster suite over Redis sharded pub/sub (127.0.0.1:6379, `?bus=sharded`: a channel per
//! room, listened to by the nodes with members there), with every node a separate process.

use volley_tests::cluster::Backend;

fn sharded() -> Backend {
    Backend::Url {
        url: "redis://127.0.0.1:6379?bus=sharded".to_owned(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(@without_recovery [] sharded());
volley_tests::cluster_suite!(@tests [] sharded(); recovery_on_the_same_node recovery_on_another_node emitter_input);
