//! `Emitter::redis` against a real Redis: what arrives on which channel, and how an outage
//! looks to the caller. Uses the machine's Redis at 127.0.0.1:6379 (with a key prefix of its
//! own per test) and, for the outage, a `redis-server` it starts on a free port.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::Config;
use fred::types::Builder;
use tokio::time::timeout;
use volley_emitter::{Emitter, EmitterError};
use volley_protocol::classic::{self, Broadcast, Opts, Request};
use volley_protocol::Value;

const REDIS: &str = "redis://127.0.0.1:6379";
const WAIT: Duration = Duration::from_secs(5);

fn unique_key() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("volleytest-{}-{nanos}", std::process::id())
}

async fn connect(url: &str) -> Emitter {
    match timeout(Duration::from_secs(10), Emitter::redis(url)).await {
        Ok(Ok(emitter)) => emitter,
        Ok(Err(e)) => panic!(
            "cannot reach Redis at {url} ({e}); start it with `redis-server --daemonize yes \
             --port 6379 --save \"\" --appendonly no`"
        ),
        Err(_) => panic!("connecting to {url} took more than 10 s"),
    }
}

/// A subscriber on `pattern` of the Redis at `url`, returning (channel, payload) pairs.
struct Subscriber {
    client: fred::clients::SubscriberClient,
    rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
}

impl Subscriber {
    async fn new(url: &str, pattern: &str) -> Self {
        let client = Builder::from_config(Config::from_url(url).unwrap())
            .build_subscriber_client()
            .unwrap();
        timeout(WAIT, client.init()).await.unwrap().unwrap();
        let rx = client.message_rx();
        timeout(WAIT, client.psubscribe(pattern))
            .await
            .unwrap()
            .unwrap();
        Subscriber { client, rx }
    }

    async fn next(&mut self) -> (String, Vec<u8>) {
        let message = timeout(WAIT, self.rx.recv())
            .await
            .expect("no message within 5 s")
            .unwrap();
        let payload = message.value.as_bytes().unwrap_or_default().to_vec();
        (message.channel.to_string(), payload)
    }

    async fn close(self) {
        let _ = self.client.quit().await;
    }
}

#[tokio::test]
async fn publishes_the_classic_format() {
    let key = unique_key();
    let mut sub = Subscriber::new(REDIS, &format!("{key}*")).await;
    let emitter = connect(REDIS).await.with_key(&key);

    emitter
        .emit("hello", &("world", bytes::Bytes::from_static(&[1, 2, 3])))
        .await
        .unwrap();
    let (channel, payload) = sub.next().await;
    assert_eq!(channel, format!("{key}#/#"));
    assert_eq!(
        classic::decode_broadcast(&payload).unwrap(),
        Broadcast {
            uid: "emitter".into(),
            nsp: "/".into(),
            event: "hello".into(),
            args: vec![Value::from("world"), Value::Binary(vec![1, 2, 3])],
            opts: Opts::default(),
        }
    );

    emitter
        .of("/chat")
        .to("r1")
        .except("r2")
        .volatile()
        .emit("ev", &1)
        .await
        .unwrap();
    let (channel, payload) = sub.next().await;
    assert_eq!(channel, format!("{key}#/chat#r1#"));
    let broadcast = classic::decode_broadcast(&payload).unwrap();
    assert_eq!(broadcast.nsp, "/chat");
    assert_eq!(
        broadcast.opts,
        Opts {
            rooms: vec!["r1".into()],
            except: vec!["r2".into()],
            volatile: true,
            compress: None
        }
    );

    emitter.to("r1").join(["a", "b"]).await.unwrap();
    let (channel, payload) = sub.next().await;
    assert_eq!(channel, format!("{key}-request#/#"));
    assert_eq!(
        std::str::from_utf8(&payload).unwrap(),
        r#"{"type":2,"opts":{"rooms":["r1"],"except":[]},"rooms":["a","b"]}"#
    );
    emitter.leave("a").await.unwrap();
    assert!(matches!(
        classic::decode_request(&sub.next().await.1).unwrap(),
        Request::Leave { .. }
    ));
    emitter.disconnect(true).await.unwrap();
    assert!(matches!(
        classic::decode_request(&sub.next().await.1).unwrap(),
        Request::Disconnect { close: true, .. }
    ));
    emitter
        .server_side_emit("ping-server", &("hi", 2))
        .await
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&sub.next().await.1).unwrap(),
        r#"{"uid":"emitter","type":6,"data":["ping-server","hi",2]}"#
    );

    emitter.close().await;
    assert!(matches!(
        emitter.emit("after-close", &()).await,
        Err(EmitterError::Publish(_))
    ));
    sub.close().await;
}

#[tokio::test]
async fn unreachable_or_invalid_urls_fail_to_connect() {
    let port = free_port();
    let started = Instant::now();
    let result = Emitter::redis(&format!("redis://127.0.0.1:{port}")).await;
    assert!(
        matches!(result, Err(EmitterError::Connect(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        Emitter::redis("not a url").await,
        Err(EmitterError::Connect(_))
    ));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of this test's own, killed on drop.
struct OwnRedis(Child);

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server (is Redis installed?)");
        let server = OwnRedis(child);
        let until = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_outage_is_an_error_then_publishing_resumes() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let redis = OwnRedis::start(port);
    let emitter = connect(&url).await.with_key(unique_key());
    emitter.emit("before", &()).await.unwrap();

    redis.stop();
    // Whether the client noticed the loss yet or not, the caller gets an error, in bounded
    // time (the publish timeout is 5 s).
    for _ in 0..3 {
        let started = Instant::now();
        let result = timeout(Duration::from_secs(8), emitter.emit("during", &()))
            .await
            .expect("a publish during the outage hung");
        assert!(
            matches!(result, Err(EmitterError::Publish(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(6));
    }

    let _redis = OwnRedis::start(port);
    let mut sub = Subscriber::new(&url, &format!("{}*", emitter.key())).await;
    // Reconnection backoff is at most 5 s.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match emitter.emit("after", &"back").await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    Instant::now() < until,
                    "still failing after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let (_, payload) = sub.next().await;
    assert_eq!(classic::decode_broadcast(&payload).unwrap().event, "after");
    sub.close().await;
}

/// The nodes' own adapter URL works: its `key` becomes the emitter's, the parameters that say
/// how nodes read change nothing, anything else is refused.
#[tokio::test]
async fn takes_the_nodes_adapter_url() {
    let emitter = Emitter::redis("redis://127.0.0.1:6379?bus=streams&stream=s&maxlen=10&key=app")
        .await
        .expect("the nodes' URL is refused");
    assert_eq!(emitter.key(), "app");
    emitter.emit("ready", &()).await.expect("publish");
    emitter.close().await;
    let refused = Emitter::redis("redis://127.0.0.1:6379?colour=blue").await;
    assert!(
        matches!(&refused, Err(EmitterError::Connect(m)) if m.contains("colour")),
        "{:?}",
        refused.map(|_| ())
    );
}
