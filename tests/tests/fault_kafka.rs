//! The fault kit over Kafka: a private tansu (SQLite storage, so the topic and its records
//! survive) is killed (`SIGKILL`) and restarted three times under steady cross-node traffic.
//! Every emit that returned `Ok` (acknowledged by the broker) reaches every client exactly once:
//! the consumers resume at the offset they had not read; emits made while the broker is down
//! return an error; memory and task counts stay flat.

use volley_tests::brokers::tansu::Tansu;
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_kafka_crashes() -> TestResult {
    let mut broker = Tansu::start().await?;
    fault::run(
        &mut broker,
        env!("CARGO_BIN_EXE_cluster_node"),
        &FaultPlan::default(),
    )
    .await?;
    Ok(())
}
