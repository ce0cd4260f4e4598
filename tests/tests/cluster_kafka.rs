//! The cluster suite over Kafka, in a file of its own because it needs a Kafka-protocol broker
//! (127.0.0.1:9092, started by `scripts/kafka.sh`); every node is a separate process.

use std::sync::OnceLock;
use std::time::Duration;

use volley_tests::cluster::Backend;

const BROKER: &str = "127.0.0.1:9092";

/// The Kafka backend; fails the test (never skips it) when no broker listens.
///
/// The first call takes the Kafka tests' lock shared, for the life of this test binary, so that
/// a test that stops the broker (which takes it exclusive) never runs meanwhile.
fn kafka() -> Backend {
    static SHARED_LOCK: OnceLock<std::fs::File> = OnceLock::new();
    SHARED_LOCK.get_or_init(|| {
        let path = std::env::temp_dir().join("volley-kafka-tests.lock");
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .expect("open the Kafka tests' lock file");
        fs4::FileExt::lock_shared(&file).expect("lock the Kafka tests' lock file");
        file
    });
    let reachable = BROKER.parse().ok().is_some_and(|addr| {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
    });
    assert!(
        reachable,
        "no Kafka broker at {BROKER}: run scripts/kafka.sh"
    );
    Backend::Url {
        url: format!("kafka://{BROKER}"),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: kafka());
