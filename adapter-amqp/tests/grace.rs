//! A node whose connection drops keeps its queue for the queue expiry: back within it, it
//! receives, in order and once each, everything published while it was away; back later, it
//! finds its queue gone, says so (`queue_losses`), and receives what is published from then on.
//! The broker closes the node's connection (`rabbitmqctl close_connection`); it never restarts.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{amqp_url, close_connections_named, delete_exchange, next, shared_lock, unique};
use tokio::sync::mpsc;
use volley_amqp::AmqpBus;
use volley_cluster::{BusMessage, PubSub, Subscription};

const WAIT: Duration = Duration::from_secs(10);

/// A subscribed bus on `exchange`, named `name`, that waits `away` before reconnecting.
async fn away_node(
    exchange: &str,
    name: &str,
    away: Duration,
    expiry: Duration,
) -> (AmqpBus, mpsc::Receiver<BusMessage>) {
    let bus = AmqpBus::builder(&amqp_url())
        .exchange(exchange)
        .connection_name(name)
        .reconnect_delays(away, away)
        .queue_expiry(expiry)
        .build()
        .expect("valid URL");
    let (tx, rx) = mpsc::channel(1024);
    bus.subscribe(&[Subscription::Prefix("volley#".into())], tx)
        .await
        .expect("subscribe");
    (bus, rx)
}

/// Publishes `count` numbered messages from `publisher`, each confirmed.
async fn publish_numbered(publisher: &AmqpBus, from: u32, count: u32) {
    for i in from..from + count {
        publisher
            .publish("volley#n", Bytes::from(i.to_string()))
            .await
            .expect("the other node's publish is confirmed");
    }
}

async fn wait_disconnected(bus: &AmqpBus) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus.is_connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bus never noticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_node_back_within_the_expiry_receives_what_was_published_meanwhile() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        let exchange = unique("grace");
        let name = unique("away");
        let (node, mut rx) = away_node(
            &exchange,
            &name,
            Duration::from_secs(2),
            Duration::from_secs(30),
        )
        .await;
        let (other, mut other_rx) = away_node(
            &exchange,
            &unique("other"),
            Duration::from_millis(100),
            Duration::from_secs(30),
        )
        .await;

        publish_numbered(&other, 0, 10).await;
        for i in 0..10 {
            assert_eq!(next(&mut rx, WAIT).await.payload, i.to_string());
        }
        assert_eq!(close_connections_named(&name).await, 1);
        wait_disconnected(&node).await;
        // Published while the node is away (it waits 2 s before reconnecting).
        publish_numbered(&other, 10, 200).await;
        assert!(
            !node.is_connected(),
            "the node came back too early for this test"
        );
        for i in 10..210 {
            let m = next(&mut rx, WAIT).await;
            assert_eq!(m.payload, i.to_string(), "in order, none lost, none twice");
        }
        publish_numbered(&other, 210, 1).await;
        assert_eq!(next(&mut rx, WAIT).await.payload, "210");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err(),
            "nothing more"
        );
        assert_eq!(node.queue_losses(), 0);
        for i in 0..211 {
            assert_eq!(next(&mut other_rx, WAIT).await.payload, i.to_string());
        }
        node.close().await;
        other.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn messages_delivered_but_not_acknowledged_are_not_delivered_twice() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        let exchange = unique("dup");
        let name = unique("dup-node");
        // Acknowledgements go every 50 messages (half the prefetch): the broker redelivers the
        // rest after the reconnection.
        let node = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .connection_name(&name)
            .prefetch(100)
            .reconnect_delays(Duration::from_millis(300), Duration::from_millis(300))
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(1024);
        node.subscribe(&[Subscription::Prefix("volley#".into())], tx)
            .await
            .expect("subscribe");
        publish_numbered(&node, 0, 30).await;
        for i in 0..30 {
            assert_eq!(next(&mut rx, WAIT).await.payload, i.to_string());
        }
        assert_eq!(close_connections_named(&name).await, 1);
        wait_disconnected(&node).await;
        // Back: the 30 unacknowledged messages come again and are dropped.
        let deadline = tokio::time::Instant::now() + WAIT;
        while node
            .publish("volley#n", Bytes::from_static(b"after"))
            .await
            .is_err()
        {
            assert!(tokio::time::Instant::now() < deadline, "never reconnected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(next(&mut rx, WAIT).await.payload, "after");
        assert_eq!(node.duplicates_dropped(), 30);
        node.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn a_node_back_after_the_expiry_knows_it_lost_its_queue() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        let exchange = unique("expired");
        let name = unique("gone");
        let (node, mut rx) = away_node(
            &exchange,
            &name,
            Duration::from_secs(3),
            Duration::from_millis(500),
        )
        .await;
        let (other, _other_rx) = away_node(
            &exchange,
            &unique("other"),
            Duration::from_millis(100),
            Duration::from_secs(30),
        )
        .await;
        publish_numbered(&other, 0, 1).await;
        assert_eq!(next(&mut rx, WAIT).await.payload, "0");

        assert_eq!(close_connections_named(&name).await, 1);
        wait_disconnected(&node).await;
        publish_numbered(&other, 1, 5).await; // reaches the queue, which then expires
        tokio::time::sleep(Duration::from_millis(1500)).await;
        publish_numbered(&other, 6, 5).await; // the queue is gone: lost for the node
        let deadline = tokio::time::Instant::now() + WAIT;
        while node.queue_losses() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the loss was never noticed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(node.queue_losses(), 1);
        // From its new queue on, it receives again.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            publish_numbered(&other, 100, 1).await;
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                assert_eq!(m.payload, "100", "nothing from the expired queue arrives");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never received again"
            );
        }
        node.close().await;
        other.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}
