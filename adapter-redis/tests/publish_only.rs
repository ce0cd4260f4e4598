//! A publish-only `RedisBus` (`publish_only(true)`, for write-only publishers such as the
//! emitter): one connection to its server, and no subscriptions.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bounded, next, unique, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use volley_cluster::{BusError, PubSub, Subscription};
use volley_redis::RedisBus;

const WAIT: Duration = Duration::from_secs(5);

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
