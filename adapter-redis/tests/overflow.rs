//! A subscriber that falls behind Redis pub/sub loses messages, says so in the log, and goes on
//! delivering the newest in order (what the bus conformance suite, tests/conformance.rs, declares
//! as `keeps_messages_for_slow_readers: false`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bounded, next, redis_url, unique};
use tokio::sync::mpsc;
use volley_cluster::{PubSub, Subscription};
use volley_redis::RedisBus;

const WAIT: Duration = Duration::from_secs(5);

/// Collects what the tests log, on the current thread.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn overflow_is_logged_and_delivery_continues() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // The current-thread runtime runs the forwarding task on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    bounded(async {
        let bus = RedisBus::builder(&redis_url())
            .message_buffer(16)
            .build()
            .expect("valid URL");
        let channel = unique("overflow");
        // A sink of one that nobody reads while 200 messages arrive.
        let (tx, mut rx) = mpsc::channel(1);
        bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe");
        const N: u32 = 200;
        for i in 0..N {
            bus.publish(&channel, Bytes::from(i.to_be_bytes().to_vec()))
                .await
                .expect("publish");
        }
        // Make sure the subscriber connection has read them all before draining.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut received = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            let n = u32::from_be_bytes(m.payload[..].try_into().expect("4 bytes"));
            received.push(n);
            if n == N - 1 {
                break;
            }
        }
        assert_eq!(
            received.last(),
            Some(&(N - 1)),
            "the newest message arrives"
        );
        assert!(
            received.len() < N as usize,
            "some were lost: {}",
            received.len()
        );
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "in order: {received:?}"
        );

        // The task goes on.
        bus.publish(&channel, Bytes::from_static(b"after"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"after");
        bus.close().await;
    })
    .await;

    let logs = String::from_utf8_lossy(
        &captured
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("volley::cluster"), "{logs}");
    assert!(logs.contains("lost="), "{logs}");
}
