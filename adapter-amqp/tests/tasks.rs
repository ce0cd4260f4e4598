//! No tokio task outlives its connection: connecting to a port where nothing listens, over and
//! over, and opening and closing buses on a live broker leave the runtime's task count where it
//! was. (lapin, given the plain tokio executor, leaves a task behind for each failed connect and
//! a heartbeat task for up to half the heartbeat interval after each close.)

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{amqp_url, delete_exchange, shared_lock, unique};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::Instant;
use volley_amqp::AmqpBus;
use volley_cluster::{PubSub, Subscription};

fn alive() -> usize {
    Handle::current().metrics().num_alive_tasks()
}

/// Waits up to `within` for the task count to come down to `at_most`; returns the last count.
async fn settle(at_most: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let now = alive();
        if now <= at_most || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connects_leave_no_task_behind() {
    // A port that was free a moment ago: connects are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let baseline = alive();
    const ATTEMPTS: usize = 30;
    for _ in 0..ATTEMPTS {
        let bus = AmqpBus::builder(&url)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("valid URL");
        assert!(bus.connect().await.is_err(), "nothing listens on {port}");
        assert!(bus.connect().await.is_err(), "nothing listens on {port}");
        drop(bus);
    }
    let after = settle(baseline, Duration::from_secs(2)).await;
    assert!(
        after <= baseline,
        "{} failed connects left {} tokio tasks running (baseline {baseline})",
        ATTEMPTS * 2,
        after - baseline
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_buses_leave_no_task_behind() {
    let _lock = shared_lock().await;
    let exchange = unique("tasks");
    let baseline = alive();
    const BUSES: usize = 10;
    for round in 0..BUSES {
        // A long heartbeat: lapin's heartbeat task would sleep 30 s past the close.
        let bus = AmqpBus::builder(&amqp_url())
            .exchange(&exchange)
            .heartbeat(Duration::from_secs(60))
            .build()
            .expect("valid URL");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel("volley#".into())], tx)
            .await
            .expect("subscribe");
        bus.publish("volley#", bytes::Bytes::from(format!("round {round}")))
            .await
            .expect("publish");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("delivered in time")
            .expect("the sink is open");
        assert_eq!(&got.payload[..], format!("round {round}").as_bytes());
        bus.close().await;
    }
    let after = settle(baseline, Duration::from_secs(3)).await;
    delete_exchange(&exchange).await;
    assert!(
        after <= baseline,
        "{BUSES} closed buses left {} tokio tasks running (baseline {baseline})",
        after - baseline
    );
}
