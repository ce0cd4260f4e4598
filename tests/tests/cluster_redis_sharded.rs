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
volley_tests::cluster_suite!(@tests [] sharded(); recovery_on_the_same_node emitter_input);
// A socket recovered on another node enters its rooms there, and that node subscribes to their
// channels in the background: a broadcast published on a room's channel in between reaches
// neither node (the old one no longer holds the socket). Left out until a transfer holds the
// broadcasts of that window.
volley_tests::cluster_suite!(@tests [#[ignore = "a recovered socket's rooms are subscribed in the background on its new node: a broadcast in between is missed"]] sharded(); recovery_on_another_node);
