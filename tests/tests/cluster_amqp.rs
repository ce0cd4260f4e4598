//! The cluster suite over RabbitMQ (127.0.0.1:5672, guest/guest), every node a separate process,
//! in a file of its own because it must hold the machine-wide RabbitMQ lock: the broker restart
//! test of `volley-amqp` (adapter-amqp/tests/restart.rs) takes it exclusive while it stops the
//! broker, and every test that uses RabbitMQ takes it shared (here, once for the whole binary).

use std::fs::File;
use std::sync::OnceLock;

use volley_tests::cluster::Backend;

/// The lock file shared with adapter-amqp's tests.
const BROKER_LOCK: &str = "/tmp/volley-rabbitmq.lock";

/// Holds the broker lock shared until this test binary exits (waiting, if need be, for a broker
/// restart in another test binary to finish).
fn hold_broker_lock() {
    static LOCK: OnceLock<File> = OnceLock::new();
    tokio::task::block_in_place(|| {
        LOCK.get_or_init(|| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(BROKER_LOCK)
                .expect("open the RabbitMQ lock file");
            fs4::FileExt::lock_shared(&file).expect("lock the RabbitMQ lock file (shared)");
            file
        });
    });
}

fn amqp() -> Backend {
    hold_broker_lock();
    Backend::Url {
        url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: amqp());
