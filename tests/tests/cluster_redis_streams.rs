//! The cluster suite over the Redis Streams bus (127.0.0.1:6379, `?bus=streams`), with every
//! node a separate process. The tests share one stream, trimmed to about 10 000 entries (one key
//! on the machine's Redis, whatever the number of runs); each test's nodes skip the others'
//! entries by channel, as their channel prefixes differ.

use volley_tests::cluster::Backend;

fn streams() -> Backend {
    Backend::Url {
        url: "redis://127.0.0.1:6379?bus=streams&stream=volley-test-suite&maxlen=10000".to_owned(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: streams());
