//! Measures how many publishes per second one `RedisBus` connection does, and how many of them
//! a subscribing bus receives. Not a test: a number for capacity planning.
//!
//! ```text
//! cargo run --release -p volley-redis --example redis_publish_throughput -- [redis://127.0.0.1:6379] [tasks] [seconds] [bytes]
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use volley::manager::cluster::{PubSub, Subscription};
use volley_redis::RedisBus;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let tasks: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let size: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);

    let publisher = RedisBus::new(&url)?;
    // The subscriber's buffer between the connection and the sink (see
    // RedisBusBuilder::message_buffer); VOLLEY_MESSAGE_BUFFER overrides the default.
    let mut subscriber = RedisBus::builder(&url);
    if let Ok(buffer) = std::env::var("VOLLEY_MESSAGE_BUFFER") {
        subscriber = subscriber.message_buffer(buffer.parse()?);
    }
    let subscriber = subscriber.build()?;
    publisher.connect().await?;
    subscriber.connect().await?;

    let channel = format!("volley-bench#{}#", std::process::id());
    let (tx, mut rx) = mpsc::channel(1024);
    subscriber
        .subscribe(&[Subscription::Prefix(channel.clone())], tx)
        .await?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    let payload = Bytes::from(vec![0xa5u8; size]);
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (bus, channel, payload) = (publisher.clone(), channel.clone(), payload.clone());
        let (stop, published, failed) = (stop.clone(), published.clone(), failed.clone());
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match bus.publish(&channel, payload.clone()).await {
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
    // Let the subscriber drain.
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = received.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    println!(
        "{tasks} tasks, {size}-byte payloads, {seconds} s: {published} published ({:.0}/s), \
         {} failed, {} received by the subscriber",
        published as f64 / elapsed,
        failed.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    publisher.close().await;
    subscriber.close().await;
    Ok(())
}
