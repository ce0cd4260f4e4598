//! The fault kit over RabbitMQ: a private RabbitMQ node is killed (`SIGKILL`) and restarted three
//! times under steady cross-node traffic. Every emit that returned `Ok` reaches every client
//! exactly once (the nodes' durable queues, their bindings and the persistent messages survive
//! the crash; redeliveries are dropped by message id); emits made while the broker is down
//! return an error; memory and task counts stay flat (no more than 4 tokio tasks more at the
//! end than before the first kill: a connection's tasks end with it).

use volley_tests::brokers::rabbitmq::RabbitMq;
use volley_tests::fault::{self, FaultPlan};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ok_emit_is_delivered_once_across_rabbitmq_crashes() -> TestResult {
    let mut broker = RabbitMq::start().await?;
    let plan = FaultPlan::default().task_growth(4);
    fault::run(&mut broker, env!("CARGO_BIN_EXE_cluster_node"), &plan).await?;
    Ok(())
}
