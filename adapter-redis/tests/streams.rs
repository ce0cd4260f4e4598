//! The Redis Streams bus against private Redis servers: delivery by channel, foreign entries
//! skipped, and nothing missed or repeated while a reader's connection is down.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{next, nothing_more, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use volley_cluster::{BusMessage, PubSub, Subscription};
use volley_redis::StreamsBus;

const WAIT: Duration = Duration::from_secs(10);

/// Sends one command in RESP and returns the first bytes of the answer.
async fn command(port: u16, args: &[&[u8]]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the test's server");
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    stream.write_all(&out).await.expect("write");
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    buf.truncate(n);
    buf
}

async fn bus(server: &RedisServer) -> StreamsBus {
    let bus = StreamsBus::builder(&server.url())
        .stream("s")
        .redis(|r| r.reconnect_delays(Duration::from_millis(20), Duration::from_millis(200)))
        .build()
        .expect("valid URL");
    bus.connect().await.expect("connect to the test's server");
    bus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_by_channel_and_skips_foreign_entries() {
    let server = RedisServer::start().await;
    let bus = bus(&server).await;
    // published before subscribing: not delivered
    bus.publish("a#", Bytes::from_static(b"old"))
        .await
        .expect("publish");
    let (tx, mut rx) = mpsc::channel(16);
    bus.subscribe(
        &[
            Subscription::Channel("a#".into()),
            Subscription::Prefix("p#".into()),
        ],
        tx,
    )
    .await
    .expect("subscribe");
    bus.publish("b#", Bytes::from_static(b"other"))
        .await
        .expect("publish");
    // an entry of Node's streams adapter, and one without data
    let foreign = command(
        server.port,
        &[
            b"XADD", b"s", b"*", b"uid", b"x", b"nsp", b"/", b"type", b"2",
        ],
    )
    .await;
    assert!(foreign.starts_with(b"$"), "{foreign:?}");
    command(server.port, &[b"XADD", b"s", b"*", b"channel", b"a#"]).await;
    bus.publish("a#", Bytes::from_static(b"\x00\xff binary"))
        .await
        .expect("publish");
    bus.publish("p#x#", Bytes::from_static(b"by prefix"))
        .await
        .expect("publish");
    let first = next(&mut rx, WAIT).await;
    assert_eq!(
        first,
        BusMessage {
            channel: "a#".into(),
            payload: Bytes::from_static(b"\x00\xff binary")
        }
    );
    assert_eq!(next(&mut rx, WAIT).await.payload, "by prefix");
    nothing_more(&mut rx).await;
    bus.close().await;
}

/// Receives until every message of `ok` arrived; fails on a message received twice or out of
/// order (a publish that failed may still have been written: those may arrive too, once).
async fn every_one_once(rx: &mut mpsc::Receiver<BusMessage>, ok: &[usize]) {
    let mut seen: Vec<usize> = Vec::new();
    while seen.len() < ok.len() || !ok.iter().all(|n| seen.contains(n)) {
        let m = next(rx, WAIT).await;
        let n: usize = std::str::from_utf8(&m.payload)
            .ok()
            .and_then(|t| t.parse().ok())
            .expect("a number");
        assert!(
            seen.last().is_none_or(|&last| last < n),
            "{n} after {seen:?}"
        );
        seen.push(n);
    }
    nothing_more(rx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_whose_connection_dies_misses_nothing_and_repeats_nothing() {
    let server = RedisServer::start().await;
    let writer = bus(&server).await;
    let reader = bus(&server).await;
    let (tx, mut rx) = mpsc::channel(1024);
    reader
        .subscribe(&[Subscription::Channel("c#".into())], tx)
        .await
        .expect("subscribe");
    let mut attempt = 0usize;
    let mut ok = Vec::new();
    for _ in 0..10 {
        writer
            .publish("c#", Bytes::from(attempt.to_string()))
            .await
            .expect("publish");
        ok.push(attempt);
        attempt += 1;
    }
    // every client's connection is cut, the reader's blocked XREAD with it
    for round in 0..3 {
        let killed = command(server.port, &[b"CLIENT", b"KILL", b"TYPE", b"normal"]).await;
        assert!(killed.starts_with(b":"), "round {round}: {killed:?}");
        // publish while the reader reconnects; what returned Ok must arrive
        let deadline = tokio::time::Instant::now() + WAIT;
        let before = ok.len();
        while ok.len() < before + 50 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "publishing never recovered"
            );
            let published = writer.publish("c#", Bytes::from(attempt.to_string())).await;
            if published.is_ok() {
                ok.push(attempt);
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            attempt += 1;
        }
    }
    every_one_once(&mut rx, &ok).await;
    writer.close().await;
    reader.close().await;
}
