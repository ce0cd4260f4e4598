//! The bus conformance suite of `volley_cluster::conformance` against a real Kafka-protocol
//! broker (`scripts/kafka.sh`), where a cluster is a topic of its own.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::{brokers, setup};
use volley_cluster::conformance::{unique, Capabilities, ConnectError, FailFast, Harness, Options};
use volley_kafka::{KafkaBus, KafkaError, DEFAULT_MAX_MESSAGE_SIZE};

/// `KafkaBus` on the tests' broker.
struct Kafka;

#[async_trait]
impl Harness for Kafka {
    type Bus = KafkaBus;
    type Cluster = String;

    fn name(&self) -> &str {
        "kafka"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wait: Duration::from_secs(10),
            quiet: Duration::from_millis(500),
            limit: Duration::from_secs(120),
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            // Each publish enqueues its record when first polled, on the topic's one partition.
            pipelined_publishes_keep_order: true,
            // Within the 1 s connect and operation timeouts of `unreachable`, with some slack.
            fails_fast: FailFast {
                each: Duration::from_secs(4),
                total: Duration::from_secs(12),
            },
            ..Capabilities::default()
        }
    }

    async fn lock(&self) -> Box<dyn Send> {
        Box::new(setup())
    }

    async fn cluster(&self, name: &str) -> String {
        unique(name)
    }

    async fn bus(&self, topic: &String, options: Options) -> KafkaBus {
        let mut builder = KafkaBus::builder(&brokers()).topic(topic);
        if let Some(max) = options.max_message_size {
            builder = builder.max_message_size(max);
        }
        let bus = builder.build().expect("valid settings");
        if !options.lazy {
            bus.connect()
                .await
                .expect("the broker answers: run scripts/kafka.sh");
        }
        bus
    }

    async fn unreachable(&self) -> Option<KafkaBus> {
        // Nothing listens on port 1.
        let bus = KafkaBus::builder("127.0.0.1:1")
            .connect_timeout(Duration::from_secs(1))
            .operation_timeout(Duration::from_secs(1))
            .build()
            .expect("valid settings");
        Some(bus)
    }

    async fn connect(&self, bus: &KafkaBus) -> Result<(), ConnectError> {
        bus.connect().await.map_err(|e| match e {
            KafkaError::Connect(reason) => ConnectError::Unreachable(reason),
            other => ConnectError::Other(other.to_string()),
        })
    }

    async fn close(&self, bus: &KafkaBus) {
        bus.close().await;
    }
}

volley_cluster::bus_conformance_suite!(Kafka);
