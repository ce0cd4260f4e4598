//! A Kafka broker crash and restart under a running cluster of two node processes and an
//! emitter (the restart kit, [`volley_tests::restart`]), on a private tansu of the test's own
//! ([`Tansu`]: SQLite storage, killed with `SIGKILL`, started again on the same port with its
//! data): the nodes' consumers resume where they were.

use volley_tests::brokers::tansu::Tansu;
use volley_tests::restart::{delivery_resumes_after_a_restart, RECOVERY};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_kafka_restart() -> TestResult {
    let node = env!("CARGO_BIN_EXE_cluster_node");
    delivery_resumes_after_a_restart(&mut Tansu::start().await?, node, RECOVERY).await
}
