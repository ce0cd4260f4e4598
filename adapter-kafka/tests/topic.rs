//! The topic a Kafka bus creates, on a real Kafka-protocol broker (`scripts/kafka.sh`). What
//! every transport shares: the conformance suite (tests/conformance.rs).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bus, setup, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use volley_cluster::PubSub;
use volley_kafka::{KafkaBus, PUBLISH_PARTITION, TOPIC_PARTITIONS};

const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Runs a test body with an upper bound, so that nothing hangs.
async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("the test finished in time");
}

#[tokio::test]
async fn the_topic_is_created_with_one_partition() {
    let _lock = setup();
    bounded(async {
        let topic = unique("created");
        assert_eq!(partitions(&topic).await, None, "the topic is new");
        let bus = bus(&topic).await; // connect() creates it
        assert_eq!(partitions(&topic).await, Some(TOPIC_PARTITIONS as usize));
        assert_eq!(PUBLISH_PARTITION, 0);

        // A publish alone creates it too.
        let topic = unique("created-by-publish");
        let lazy = KafkaBus::builder(&common::brokers())
            .topic(&topic)
            .build()
            .expect("valid settings");
        lazy.publish("x", Bytes::from_static(b"x"))
            .await
            .expect("publish");
        assert_eq!(partitions(&topic).await, Some(1));
        bus.close().await;
        lazy.close().await;
    })
    .await;
}

/// The number of partitions of `topic` the broker reports, `None` when it does not exist.
async fn partitions(topic: &str) -> Option<usize> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", common::brokers())
            .set("allow.auto.create.topics", "false")
            .create()
            .expect("a metadata client");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .expect("metadata");
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
    })
    .await
    .expect("the metadata query finished")
}
