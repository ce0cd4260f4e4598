//! Helpers shared by the integration tests: they run against a real Kafka-protocol broker,
//! 127.0.0.1:9092 unless `VOLLEY_KAFKA_BROKERS` says otherwise (`scripts/kafka.sh` starts one).

#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use std::fs::File;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use tokio::sync::mpsc;
pub use volley_cluster::conformance::{next, unique};
use volley_cluster::BusMessage;
use volley_kafka::KafkaBus;

/// The brokers of the tests.
pub fn brokers() -> String {
    std::env::var("VOLLEY_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Fails the test with a clear message when no broker listens: the tests never skip.
pub fn require_broker() {
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    let reachable = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no Kafka broker at {brokers}: run scripts/kafka.sh (or set VOLLEY_KAFKA_BROKERS)"
    );
}

/// Which lock a test holds on the broker: tests share it, the restart test has it alone.
pub enum Access {
    Shared,
    Exclusive,
}

/// Held for the duration of a test: keeps the restart test (which stops the broker) from running
/// while other Kafka tests do, across test binaries and concurrent `cargo test` runs.
pub struct BrokerLock(File);

pub fn lock_broker(access: Access) -> BrokerLock {
    let path = std::env::temp_dir().join("volley-kafka-tests.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&path)
        .expect("open the test lock file");
    match access {
        Access::Shared => fs4::FileExt::lock_shared(&file),
        Access::Exclusive => fs4::FileExt::lock(&file),
    }
    .expect("lock the test lock file");
    BrokerLock(file)
}

/// Takes the shared lock and checks that a broker runs.
pub fn setup() -> BrokerLock {
    let lock = lock_broker(Access::Shared);
    require_broker();
    lock
}

/// A connected bus on `topic`.
pub async fn bus(topic: &str) -> KafkaBus {
    let bus = KafkaBus::builder(&brokers())
        .topic(topic)
        .build()
        .expect("valid settings");
    bus.connect()
        .await
        .expect("the broker answers: run scripts/kafka.sh");
    bus
}

/// Asserts that nothing arrives for a short while.
pub async fn nothing_more(rx: &mut mpsc::Receiver<BusMessage>) {
    volley_cluster::conformance::nothing_more(rx, Duration::from_millis(500)).await;
}
