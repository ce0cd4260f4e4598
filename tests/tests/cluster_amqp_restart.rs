//! A RabbitMQ crash and restart under a running cluster of two node processes and an emitter
//! (the restart kit, [`volley_tests::restart`]), on a private RabbitMQ node of the test's own
//! ([`RabbitMq`]: killed with `SIGKILL`, started again on the same port with its data): the
//! nodes reconnect and find their durable queues and bindings again.

use volley_tests::brokers::rabbitmq::RabbitMq;
use volley_tests::restart::{delivery_resumes_after_a_restart, RECOVERY};
use volley_tests::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_rabbitmq_restart() -> TestResult {
    let node = env!("CARGO_BIN_EXE_cluster_node");
    delivery_resumes_after_a_restart(&mut RabbitMq::start().await?, node, RECOVERY).await
}
