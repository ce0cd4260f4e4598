//! The cluster suite over NATS JetStream (127.0.0.1:4222, `?bus=jetstream`), with every node a
//! separate process. The tests share one stream (`volley-test-suite`, at most 10 000 messages:
//! one stream on the machine's server, whatever the number of runs); each test's nodes skip
//! the others' messages by channel, as their channel prefixes differ.

use volley_tests::cluster::Backend;

fn jetstream() -> Backend {
    Backend::Url {
        url: "nats://127.0.0.1:4222?bus=jetstream&key=volley-test-suite&maxlen=10000".to_owned(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: jetstream());

mod core {
    //! The same suite over core NATS subjects (nothing stored), under their own root.

    use volley_tests::cluster::Backend;

    fn core() -> Backend {
        Backend::Url {
            url: "nats://127.0.0.1:4222?key=volley-test-core".to_owned(),
            node_bin: env!("CARGO_BIN_EXE_cluster_node"),
        }
    }

    volley_tests::cluster_suite!(broker: core());
}
