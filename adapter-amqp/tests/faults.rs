//! Faults short of a broker restart: the broker closes the bus's connection, or its exchange is
//! deleted under it. The bus reconnects, declares everything again, and delivery resumes into
//! the same sink.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    amqp_url, close_connections_named, delete_exchange, delete_queues_bound_to, next, shared_lock,
    unique,
};
use tokio::sync::mpsc;
use volley_amqp::AmqpBus;
use volley_cluster::conformance::until_delivered;
use volley_cluster::{BusMessage, PubSub, Subscription};

const WAIT: Duration = Duration::from_secs(5);

/// A bus on `exchange`, subscribed to `volley#`.
async fn subscribed(exchange: &str) -> (AmqpBus, mpsc::Receiver<BusMessage>) {
    let bus = AmqpBus::builder(&amqp_url())
        .exchange(exchange)
        .build()
        .expect("valid URL");
    let (tx, rx) = mpsc::channel(16);
    bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
        .await
        .expect("subscribe");
    (bus, rx)
}

/// A bus on `exchange`, subscribed to `volley#`, whose first message arrived.
async fn delivering(exchange: &str) -> (AmqpBus, mpsc::Receiver<BusMessage>) {
    let (bus, mut rx) = subscribed(exchange).await;
    bus.publish("volley#", Bytes::from_static(b"before"))
        .await
        .expect("publish");
    assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"before");
    (bus, rx)
}

#[tokio::test]
async fn a_connection_closed_by_the_broker_is_reopened() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        let exchange = unique("closed");
        let name = unique("connection");
        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .connection_name(&name)
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(
            &[
                Subscription::Channel("volley#".into()),
                Subscription::Prefix("socket.io#".into()),
            ],
            tx,
        )
        .await
        .expect("subscribe");
        bus.publish("volley#", Bytes::from_static(b"before"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"before");

        assert_eq!(close_connections_named(&name).await, 1);
        // The bus notices, reconnects and re-subscribes: both subscriptions deliver again.
        let took = until_delivered(&bus, &mut rx, "volley#", Duration::from_secs(20)).await;
        until_delivered(&bus, &mut rx, "socket.io#/#", Duration::from_secs(5)).await;
        eprintln!("delivery resumed {took:?} after the connection was closed");
        assert!(bus.is_connected());
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn a_deleted_exchange_is_declared_again() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        let exchange = unique("deleted");
        let (bus, mut rx) = delivering(&exchange).await;

        // Deleting the exchange also removes the queue's binding. The next publish to the missing
        // exchange fails (NOT_FOUND closes the publishing channel), and the bus starts over.
        delete_exchange(&exchange).await;
        let result =
            tokio::time::timeout(WAIT, bus.publish("volley#", Bytes::from_static(b"lost")))
                .await
                .expect("a publish to a deleted exchange does not hang");
        assert!(result.is_err(), "{result:?}");
        eprintln!("publish to the deleted exchange: {result:?}");

        let took = until_delivered(&bus, &mut rx, "volley#", Duration::from_secs(20)).await;
        eprintln!("delivery resumed {took:?} after the exchange was deleted");
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn a_deleted_queue_is_declared_again() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        let exchange = unique("queue");
        let (bus, mut rx) = delivering(&exchange).await;

        // The broker cancels the consumer of a deleted queue: the bus starts over.
        assert_eq!(delete_queues_bound_to(&exchange).await, 1);
        let took = until_delivered(&bus, &mut rx, "volley#", Duration::from_secs(20)).await;
        eprintln!("delivery resumed {took:?} after the queue was deleted");
        bus.close().await;
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn dropping_the_last_clone_closes_the_sinks() {
    let _lock = shared_lock().await;
    tokio::time::timeout(Duration::from_secs(30), async {
        let exchange = unique("drop");
        let (bus, mut rx) = subscribed(&exchange).await;
        let clone = bus.clone();
        drop(bus);
        clone
            .publish("volley#", Bytes::from_static(b"still here"))
            .await
            .expect("a clone keeps the bus");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"still here");
        drop(clone);
        assert!(tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("the sink closes once the bus is gone")
            .is_none());
        delete_exchange(&exchange).await;
    })
    .await
    .expect("the test finished in time");
}
