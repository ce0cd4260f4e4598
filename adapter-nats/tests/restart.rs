//! A private `nats-server` killed (`SIGKILL`) and restarted on the same port and storage under
//! a subscribed bus: publishes fail while it is down, and delivery resumes by itself once it is
//! back, on core NATS (the client subscribes again) and on JetStream (the reader makes a new
//! consumer after the last message it read: nothing it delivered comes again). That no `Ok`
//! publish is lost across kills is the fault test's (`tests/tests/fault_nats.rs`). A server
//! that comes back without its storage has lost the stream: the bus makes it again and reads the
//! new one from its start.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::NatsServer;
use tokio::sync::mpsc;
use volley_cluster::conformance::{next, until_delivered};
use volley_cluster::{BusError, PubSub, Subscription};
use volley_nats::NatsBus;

async fn restart(jetstream: bool) {
    let mut server = NatsServer::start();
    let bus = NatsBus::builder(&server.url())
        .jetstream(jetstream)
        .reconnect_delays(Duration::from_millis(50), Duration::from_millis(500))
        .build()
        .expect("valid settings");
    let (tx, mut rx) = mpsc::channel(64);
    bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
        .await
        .expect("subscribe");
    bus.publish("volley#", Bytes::from_static(b"before"))
        .await
        .expect("publish");
    assert_eq!(
        &next(&mut rx, Duration::from_secs(5)).await.payload[..],
        b"before"
    );

    server.kill();
    // the client notices the closed connection at once; then publishes fail without waiting
    let mut refused = false;
    for _ in 0..50 {
        match bus.publish("volley#", Bytes::from_static(b"down")).await {
            Err(BusError::Unavailable(_)) => {
                refused = true;
                break;
            }
            other => {
                assert!(other.is_ok(), "{other:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(refused, "publishes kept succeeding with the server down");
    assert!(!bus.is_connected());

    server.restart();
    let took = until_delivered(&bus, &mut rx, "volley#", Duration::from_secs(20)).await;
    eprintln!("jetstream={jetstream}: delivery resumed {took:?} after the restart");
    // nothing twice: each message that arrives from here on is new
    bus.publish("volley#", Bytes::from_static(b"last"))
        .await
        .expect("publish");
    loop {
        let m = next(&mut rx, Duration::from_secs(5)).await;
        assert_ne!(&m.payload[..], b"before", "delivered twice");
        if &m.payload[..] == b"last" {
            break;
        }
    }
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_delivers_again_after_a_server_restart() {
    restart(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_delivers_again_after_a_server_restart() {
    restart(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_reads_a_stream_made_again_from_its_start() {
    let mut server = NatsServer::start();
    let bus = NatsBus::builder(&server.url())
        .jetstream(true)
        .reconnect_delays(Duration::from_millis(50), Duration::from_millis(500))
        .build()
        .expect("valid settings");
    let (tx, mut rx) = mpsc::channel(256);
    bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
        .await
        .expect("subscribe");
    // the old stream gets well ahead of where the new one will be
    for i in 0..50u32 {
        bus.publish("volley#", Bytes::from(format!("old {i}")))
            .await
            .expect("publish");
    }
    for i in 0..50u32 {
        let m = next(&mut rx, Duration::from_secs(5)).await;
        assert_eq!(m.payload, Bytes::from(format!("old {i}")));
    }

    server.kill();
    server.wipe();
    server.restart();
    // the first publishes find no stream (or no connection yet) and fail; the bus then makes
    // the stream again, and the reader reads the new stream from its first message
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = Vec::new();
    while sent.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no publish succeeded"
        );
        let payload = Bytes::from(format!("new {}", sent.len()));
        if bus.publish("volley#", payload.clone()).await.is_ok() {
            sent.push(payload);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for payload in sent {
        assert_eq!(
            next(&mut rx, Duration::from_secs(10)).await.payload,
            payload
        );
    }
    bus.close().await;
}
