//! The fault kit over Kafka: a private tansu (SQLite storage, so the topic and its records
//! survive) is killed (`SIGKILL`) and restarted three times under steady cross-node traffic.
//! Every emit that returned `Ok` (acknowledged by the broker) reaches every client exactly once:
//! the consumers resume at the offset they had not read; emits made while the broker is down
//! return an error; memory and task counts stay flat.

use std::time::Duration;

use volley_tests::brokers::tansu::Tansu;
use volley_tests::fault::{self, FaultPlan};
use volley_tests::{Failure, TestResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_kafka_crashes() -> TestResult {
    let mut broker = Tansu::start().await?;
    let url = broker.url();
    let plan = FaultPlan::default();
    let run = fault::run(&mut broker, &url, env!("CARGO_BIN_EXE_cluster_node"), &plan);
    let report = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .map_err(|_| Failure::msg("the fault run took more than 300 s"))??;
    eprintln!("{report}");
    Ok(())
}
