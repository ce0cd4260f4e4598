//! A Kafka topic that gains partitions while nodes read it: each node's consumer lists the
//! topic's partitions every `partition_check` and reads the new ones from their start, so a
//! record produced into a partition added after the node started still reaches it. On a
//! private tansu of the test's own ([`Tansu`]), whose storage the test grows (tansu has no
//! `CreatePartitions` request). A node whose check runs only once an hour does not read the new
//! partition in the same time: the check is what reads it.

use std::time::Duration;

use bytes::Bytes;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::sync::mpsc;
use volley::manager::cluster::{BusMessage, PubSub, Subscription};
use volley_kafka::KafkaBus;
use volley_tests::brokers::tansu::Tansu;
use volley_tests::{bail, Failure, TestResult};

const CHANNEL: &str = "t#";
const WAIT: Duration = Duration::from_secs(15);

async fn node(
    broker: &Tansu,
    topic: &str,
    check: Duration,
) -> TestResult<(KafkaBus, mpsc::Receiver<BusMessage>)> {
    let bus = KafkaBus::builder(&broker.brokers())
        .topic(topic)
        .partition_check(check)
        .build()
        .map_err(|e| Failure::msg(e.to_string()))?;
    let (tx, rx) = mpsc::channel(16);
    bus.subscribe(&[Subscription::Channel(CHANNEL.into())], tx)
        .await
        .map_err(|e| Failure::msg(e.to_string()))?;
    Ok((bus, rx))
}

async fn next(rx: &mut mpsc::Receiver<BusMessage>, within: Duration) -> Option<Bytes> {
    tokio::time::timeout(within, rx.recv())
        .await
        .ok()
        .flatten()
        .map(|m| m.payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_added_while_nodes_run_is_read() -> TestResult {
    let broker = Tansu::start().await?;
    let topic = "volley-partitions";
    let (publisher, mut checking) = node(&broker, topic, Duration::from_millis(300)).await?;
    let (_idle, mut idle) = node(&broker, topic, Duration::from_secs(3600)).await?;
    // the topic exists (the bus made it, with one partition) and both read it
    publisher
        .publish(CHANNEL, Bytes::from_static(b"first"))
        .await
        .map_err(|e| Failure::msg(e.to_string()))?;
    for rx in [&mut checking, &mut idle] {
        if next(rx, WAIT).await.as_deref() != Some(&b"first"[..]) {
            bail!("a node did not read the topic's first partition");
        }
    }

    broker.add_partitions(topic, 1).await?;
    // a producer made now knows the new partition; the record goes straight into it
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .create()
        .map_err(|e| Failure::msg(e.to_string()))?;
    producer
        .send(
            FutureRecord::to(topic)
                .partition(1)
                .key(CHANNEL)
                .payload(&b"in the new partition"[..]),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| Failure::msg(format!("cannot produce into partition 1: {e}")))?;

    match next(&mut checking, WAIT).await {
        Some(p) if p == b"in the new partition"[..] => {}
        other => bail!("the node did not read the new partition within {WAIT:?}: {other:?}"),
    }
    if let Some(p) = next(&mut idle, Duration::from_secs(3)).await {
        bail!("a node that does not check its partitions read the new one: {p:?}");
    }
    Ok(())
}
