//! Measures publish → receive latency between two `KafkaBus`es (two nodes), then how many
//! publishes per second one bus does and how many of them the other receives. Not a test:
//! numbers for capacity planning.
//!
//! ```text
//! cargo run --release -p volley-kafka --example latency -- [brokers] [round trips] [tasks] [seconds] [bytes]
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use volley::manager::cluster::{PubSub, Subscription};
use volley_kafka::KafkaBus;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let round_trips: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let tasks: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let size: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);

    let topic = format!("volley-bench-{}", std::process::id());
    // VOLLEY_KAFKA_FETCH_WAIT_MS and VOLLEY_KAFKA_LINGER_MS override the bus defaults.
    let millis = |name: &str| -> Result<Option<Duration>, Box<dyn std::error::Error>> {
        match std::env::var(name) {
            Ok(v) => Ok(Some(Duration::from_millis(v.parse()?))),
            Err(_) => Ok(None),
        }
    };
    let mut builder = KafkaBus::builder(&brokers).topic(&topic);
    if let Some(wait) = millis("VOLLEY_KAFKA_FETCH_WAIT_MS")? {
        builder = builder.fetch_wait(wait);
    }
    if let Some(linger) = millis("VOLLEY_KAFKA_LINGER_MS")? {
        builder = builder.linger(linger);
    }
    let publisher = builder.clone().build()?;
    let subscriber = builder.build()?;
    publisher.connect().await?;
    subscriber.connect().await?;
    let (tx, mut rx) = mpsc::channel(4096);
    subscriber
        .subscribe(&[Subscription::Prefix("bench#".into())], tx)
        .await?;

    // 1. One message at a time: publish, wait until the other bus receives it.
    let payload = Bytes::from(vec![0xa5u8; size]);
    let mut acked = Vec::with_capacity(round_trips);
    let mut received = Vec::with_capacity(round_trips);
    for _ in 0..round_trips {
        let start = Instant::now();
        publisher.publish("bench#rt", payload.clone()).await?;
        acked.push(start.elapsed());
        rx.recv().await.ok_or("the sink closed")?;
        received.push(start.elapsed());
    }
    println!(
        "{round_trips} round trips of {size} bytes: publish acknowledged {}; received {}",
        summary(&mut acked),
        summary(&mut received)
    );

    // 2. Throughput: `tasks` concurrent publishers for `seconds`.
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let receiver = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (bus, payload) = (publisher.clone(), payload.clone());
        let (stop, published, failed) = (stop.clone(), published.clone(), failed.clone());
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match bus.publish("bench#load", payload.clone()).await {
                    Ok(()) => published.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let published = published.load(Ordering::Relaxed);
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = count.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    println!(
        "{tasks} tasks, {size}-byte payloads, {seconds} s: {published} published ({:.0}/s), {} \
         failed, {} received by the other bus",
        published as f64 / elapsed,
        failed.load(Ordering::Relaxed),
        count.load(Ordering::Relaxed),
    );
    publisher.close().await;
    subscriber.close().await;
    receiver.abort();
    Ok(())
}

/// `p50 / p99 / max` of the durations.
fn summary(durations: &mut [Duration]) -> String {
    durations.sort_unstable();
    let at = |q: f64| durations[((durations.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:?} / p99 {:?} / max {:?}",
        at(0.5),
        at(0.99),
        durations[durations.len() - 1]
    )
}
