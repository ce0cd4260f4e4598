//! Publish and subscribe through the machine's Redis server.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{next, nothing_more, redis_url, unique, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use volley_cluster::BusError;
use volley_cluster::{PubSub, Subscription};
use volley_redis::RedisBus;

const WAIT: Duration = Duration::from_secs(5);
const TEST_LIMIT: Duration = Duration::from_secs(60);

async fn bus() -> RedisBus {
    let bus = RedisBus::new(&redis_url()).expect("valid URL");
    bus.connect()
        .await
        .expect("Redis runs at VOLLEY_REDIS_URL or 127.0.0.1:6379");
    bus
}

/// Runs a test body with an upper bound, so that nothing hangs.
async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("the test finished in time");
}

#[tokio::test]
async fn exact_channel_and_prefix_deliver_to_their_subscribers() {
    bounded(async {
        let bus = bus().await;
        let base = unique("exact");
        let exact = format!("{base}#exact");
        let prefix = format!("{base}#room#");

        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(
            &[
                Subscription::Channel(exact.clone()),
                Subscription::Prefix(prefix.clone()),
            ],
            tx,
        )
        .await
        .expect("subscribe");

        // A second bus (another node) publishes.
        let other = bus_clone_free().await;
        other
            .publish(&exact, Bytes::from_static(b"one"))
            .await
            .expect("publish");
        other
            .publish(&format!("{prefix}a#"), Bytes::from_static(b"two"))
            .await
            .expect("publish");
        other
            .publish(&format!("{base}#exactly-not"), Bytes::from_static(b"no"))
            .await
            .expect("publish");
        other
            .publish(&format!("{base}#room"), Bytes::from_static(b"no"))
            .await
            .expect("publish");
        other
            .publish(&prefix, Bytes::from_static(b"three"))
            .await
            .expect("publish");

        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            (exact.as_str(), &b"one"[..])
        );
        let m = next(&mut rx, WAIT).await;
        assert_eq!(m.channel, format!("{prefix}a#"));
        assert_eq!(&m.payload[..], b"two");
        let m = next(&mut rx, WAIT).await;
        assert_eq!(
            (m.channel.as_str(), &m.payload[..]),
            (prefix.as_str(), &b"three"[..])
        );
        nothing_more(&mut rx).await;
        bus.close().await;
        other.close().await;
    })
    .await;
}

/// Another bus with its own connections, standing for another node.
async fn bus_clone_free() -> RedisBus {
    bus().await
}

#[tokio::test]
async fn payloads_are_byte_exact() {
    bounded(async {
        let bus = bus().await;
        let channel = unique("binary");
        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe");

        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let payloads: Vec<Bytes> = vec![
            Bytes::new(),
            Bytes::from_static(b"\x00"),
            Bytes::from_static(b"\x00\x00\x00"),
            Bytes::from_static(b"\xff\xfe\x00\xc3\x28"), // invalid UTF-8
            Bytes::from_static(b"\xc0\x80"),             // overlong NUL, invalid UTF-8
            Bytes::from_static("plain text, é ü 中".as_bytes()),
            Bytes::from_static(b"123"), // looks like an integer
            Bytes::from_static(b"\r\n$3\r\nfoo\r\n"), // looks like RESP
            Bytes::from(all_bytes),
            Bytes::from(vec![0x93u8; 1024 * 1024]), // 1 MiB, msgpack-ish
        ];
        for payload in &payloads {
            bus.publish(&channel, payload.clone())
                .await
                .expect("publish");
        }
        for payload in &payloads {
            let m = next(&mut rx, WAIT).await;
            assert_eq!(m.channel, channel);
            assert_eq!(m.payload, *payload);
        }
        nothing_more(&mut rx).await;
        bus.close().await;
    })
    .await;
}

#[tokio::test]
async fn order_is_kept_for_ten_thousand_messages() {
    bounded(async {
        let bus = bus().await;
        let base = unique("order");
        let channel = format!("{base}#all");
        // A small sink: the forwarding task must wait for the reader, not lose messages.
        let (tx, mut rx) = mpsc::channel(64);
        bus.subscribe(&[Subscription::Prefix(format!("{base}#"))], tx)
            .await
            .expect("subscribe");

        const N: u32 = 10_000;
        let publisher = bus.clone();
        let channel_p = channel.clone();
        // One publisher in sequence (the order of concurrent publishes is not defined), while
        // the test reads concurrently.
        let publishing = tokio::spawn(async move {
            for i in 0..N {
                publisher
                    .publish(&channel_p, Bytes::from(i.to_be_bytes().to_vec()))
                    .await
                    .expect("publish");
            }
        });

        for i in 0..N {
            let m = next(&mut rx, WAIT).await;
            assert_eq!(m.channel, channel);
            assert_eq!(m.payload[..], i.to_be_bytes(), "message {i}");
        }
        publishing.await.expect("publisher task");
        nothing_more(&mut rx).await;
        bus.close().await;
    })
    .await;
}

#[tokio::test]
async fn prefix_with_glob_characters_matches_literally() {
    bounded(async {
        let bus = bus().await;
        let base = unique("glob");
        let prefix = format!(r"{base}#a*b?c[xy]\d#");
        let (tx, mut rx) = mpsc::channel(16);
        bus.subscribe(&[Subscription::Prefix(prefix.clone())], tx)
            .await
            .expect("subscribe");

        // Each of these would match if the prefix were taken as a glob pattern.
        for would_match_a_glob in [
            format!(r"{base}#aXXbZcx\d#"),
            format!(r"{base}#a*b?cx\d#"),
            format!(r"{base}#a*b?c[xy]d#"),
            format!(r"{base}#ab?c[xy]\d#"),
        ] {
            bus.publish(&would_match_a_glob, Bytes::from_static(b"no"))
                .await
                .expect("publish");
        }
        let literal = format!("{prefix}room");
        bus.publish(&literal, Bytes::from_static(b"yes"))
            .await
            .expect("publish");

        let m = next(&mut rx, WAIT).await;
        assert_eq!(m.channel, literal);
        assert_eq!(&m.payload[..], b"yes");
        nothing_more(&mut rx).await;
        bus.close().await;
    })
    .await;
}

#[tokio::test]
async fn each_subscribe_call_gets_only_its_own_messages_once() {
    bounded(async {
        let bus = bus().await;
        let base = unique("calls");
        let (tx_a, mut rx_a) = mpsc::channel(16);
        let (tx_b, mut rx_b) = mpsc::channel(16);
        // A: a prefix and an exact channel it covers (delivered once).
        bus.subscribe(
            &[
                Subscription::Prefix(format!("{base}#")),
                Subscription::Channel(format!("{base}#x")),
            ],
            tx_a,
        )
        .await
        .expect("subscribe a");
        // B: only the exact channel.
        bus.subscribe(&[Subscription::Channel(format!("{base}#x"))], tx_b)
            .await
            .expect("subscribe b");

        bus.publish(&format!("{base}#x"), Bytes::from_static(b"x"))
            .await
            .expect("publish");
        bus.publish(&format!("{base}#y"), Bytes::from_static(b"y"))
            .await
            .expect("publish");

        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"x");
        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"y");
        assert_eq!(&next(&mut rx_b, WAIT).await.payload[..], b"x");
        nothing_more(&mut rx_a).await;
        nothing_more(&mut rx_b).await;

        // Closing B's sink ends B's task; A keeps receiving.
        drop(rx_b);
        bus.publish(&format!("{base}#x"), Bytes::from_static(b"x2"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx_a, WAIT).await.payload[..], b"x2");
        bus.close().await;
    })
    .await;
}

#[tokio::test]
async fn publish_and_subscribe_connect_lazily() {
    bounded(async {
        let bus = RedisBus::new(&redis_url()).expect("valid URL");
        assert!(!bus.is_connected());
        let channel = unique("lazy");
        let (tx, mut rx) = mpsc::channel(4);
        bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe connects");
        assert!(bus.is_connected());
        bus.publish(&channel, Bytes::from_static(b"hi"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"hi");

        // After close, the sink is closed and publishing fails.
        bus.close().await;
        assert!(tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("closed in time")
            .is_none());
        assert!(bus
            .publish(&channel, Bytes::from_static(b"x"))
            .await
            .is_err());
    })
    .await;
}

/// `connected_clients` of a Redis server, asked on one connection of the test's own (counted).
async fn connected_clients(stream: &mut tokio::net::TcpStream) -> usize {
    stream.write_all(b"INFO clients\r\n").await.expect("write");
    // A bulk string: `$<length>\r\n<text>\r\n`.
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(header_end) = reply.windows(2).position(|w| w == b"\r\n") {
            let length: usize = std::str::from_utf8(&reply[1..header_end])
                .expect("a bulk string header")
                .parse()
                .expect("a bulk string length");
            if reply.len() >= header_end + 2 + length + 2 {
                break;
            }
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("INFO answered in time")
            .expect("read");
        assert!(n > 0, "the server closed the connection");
        reply.extend_from_slice(&buf[..n]);
    }
    let reply = String::from_utf8_lossy(&reply);
    let line = reply
        .lines()
        .find_map(|line| line.strip_prefix("connected_clients:"))
        .expect("a connected_clients line");
    line.trim().parse().expect("a number")
}

#[tokio::test]
async fn a_publish_only_bus_opens_one_connection_and_refuses_to_subscribe() {
    bounded(async {
        let server = RedisServer::start().await;
        let mut info = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .expect("connect");
        let listener = RedisBus::new(&server.url()).expect("valid URL");
        let channel = unique("publish-only");
        let (tx, mut rx) = mpsc::channel(4);
        listener
            .subscribe(&[Subscription::Channel(channel.clone())], tx)
            .await
            .expect("subscribe");
        // The listener's two connections and this question's.
        assert_eq!(connected_clients(&mut info).await, 3);

        let bus = RedisBus::builder(&server.url())
            .publish_only(true)
            .build()
            .expect("valid URL");
        bus.connect().await.expect("connect");
        assert!(bus.is_connected());
        assert_eq!(connected_clients(&mut info).await, 4);
        bus.publish(&channel, Bytes::from_static(b"hi"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, WAIT).await.payload[..], b"hi");
        let (tx, _rx) = mpsc::channel(4);
        assert!(matches!(
            bus.subscribe(&[Subscription::Channel(channel.clone())], tx)
                .await,
            Err(BusError::Other(_))
        ));
        assert_eq!(connected_clients(&mut info).await, 4);

        bus.close().await;
        assert!(bus
            .publish(&channel, Bytes::from_static(b"x"))
            .await
            .is_err());
        listener.close().await;
    })
    .await;
}

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
