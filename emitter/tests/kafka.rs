//! `Emitter::kafka` against a Kafka-protocol broker (127.0.0.1:9092, started by
//! `scripts/kafka.sh`, or `VOLLEY_KAFKA_BROKERS`): which record arrives on which topic, under
//! which key, and how failures look to the caller. Every test holds the Kafka tests' lock shared
//! (the broker restart tests take it exclusive).
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::time::timeout;
use volley_emitter::{Emitter, EmitterError};
use volley_protocol::classic::{self, Broadcast, Opts, Request};
use volley_protocol::Value;

const WAIT: Duration = Duration::from_secs(10);

fn brokers() -> String {
    std::env::var("VOLLEY_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// The lock of the Kafka tests (see adapter-kafka/tests/common), held shared; fails the test
/// when no broker listens (never skips).
struct BrokerLock(#[allow(dead_code)] File);

async fn setup() -> BrokerLock {
    let lock = tokio::task::spawn_blocking(|| {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(std::env::temp_dir().join("volley-kafka-tests.lock"))
            .unwrap();
        fs4::FileExt::lock_shared(&file).unwrap();
        BrokerLock(file)
    })
    .await
    .unwrap();
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    let reachable = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no Kafka broker at {brokers}: run scripts/kafka.sh (or set VOLLEY_KAFKA_BROKERS)"
    );
    lock
}

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("volleytest-{name}-{}-{nanos:x}", std::process::id())
}

/// A consumer of partition 0 of `topic`, from `offset`.
struct Listener(StreamConsumer);

impl Listener {
    fn new(topic: &str, offset: Offset) -> Listener {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", unique("group"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .unwrap();
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition_offset(topic, 0, offset).unwrap();
        consumer.assign(&partitions).unwrap();
        Listener(consumer)
    }

    /// A consumer of the end of `topic` (as it is now).
    async fn at_end(topic: &str) -> Listener {
        let probe = Listener::new(topic, Offset::Beginning);
        let topic_name = topic.to_owned();
        let (probe, (_, high)) = tokio::task::spawn_blocking(move || {
            let watermarks = probe
                .0
                .fetch_watermarks(&topic_name, 0, Duration::from_secs(5))
                .unwrap();
            (probe, watermarks)
        })
        .await
        .unwrap();
        drop(probe);
        Listener::new(topic, Offset::Offset(high))
    }

    /// The next (key, value) whose key starts with `prefix`.
    async fn next(&mut self, prefix: &str) -> (String, Vec<u8>) {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let message = timeout(left, self.0.recv())
                .await
                .expect("no record within 10 s")
                .unwrap();
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            if key.starts_with(prefix) {
                assert_eq!(message.partition(), 0);
                return (key, message.payload().unwrap_or_default().to_vec());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_the_classic_format_as_keyed_records() {
    let _lock = setup().await;
    let topic = unique("emitter");
    let key = unique("key");
    // Creates the topic (it does not exist yet).
    let emitter = Emitter::kafka_with_topic(&format!("kafka://{}", brokers()), &topic)
        .await
        .unwrap()
        .with_key(&key);
    let mut listener = Listener::new(&topic, Offset::Beginning);

    emitter
        .emit("hello", &("world", bytes::Bytes::from_static(&[1, 2, 3])))
        .await
        .unwrap();
    let (record_key, value) = listener.next(&key).await;
    assert_eq!(record_key, format!("{key}#/#"));
    assert_eq!(
        classic::decode_broadcast(&value).unwrap(),
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
    let (record_key, value) = listener.next(&key).await;
    assert_eq!(record_key, format!("{key}#/chat#r1#"));
    assert_eq!(
        classic::decode_broadcast(&value).unwrap().opts,
        Opts {
            rooms: vec!["r1".into()],
            except: vec!["r2".into()],
            volatile: true,
            compress: None
        }
    );

    emitter.to("r1").join(["a", "b"]).await.unwrap();
    let (record_key, value) = listener.next(&key).await;
    assert_eq!(record_key, format!("{key}-request#/#"));
    assert_eq!(
        std::str::from_utf8(&value).unwrap(),
        r#"{"type":2,"opts":{"rooms":["r1"],"except":[]},"rooms":["a","b"]}"#
    );
    emitter.leave("a").await.unwrap();
    assert!(matches!(
        classic::decode_request(&listener.next(&key).await.1).unwrap(),
        Request::Leave { .. }
    ));
    emitter.disconnect(true).await.unwrap();
    assert!(matches!(
        classic::decode_request(&listener.next(&key).await.1).unwrap(),
        Request::Disconnect { close: true, .. }
    ));
    emitter
        .server_side_emit("ping-server", &("hi", 2))
        .await
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&listener.next(&key).await.1).unwrap(),
        r#"{"uid":"emitter","type":6,"data":["ping-server","hi",2]}"#
    );

    emitter.close().await;
    assert!(matches!(
        emitter.emit("after-close", &()).await,
        Err(EmitterError::Publish(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_topic_is_volleys() {
    let _lock = setup().await;
    let key = unique("key");
    let emitter = Emitter::kafka(&brokers()).await.unwrap().with_key(&key);
    let mut listener = Listener::at_end("volley").await;
    emitter.to("room").emit("ev", &()).await.unwrap();
    assert_eq!(listener.next(&key).await.0, format!("{key}#/#room#"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_fails_in_bounded_time() {
    let _lock = setup().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let result = Emitter::kafka(&format!("127.0.0.1:{port}")).await;
    assert!(
        matches!(result, Err(EmitterError::Connect(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for bad in ["", "http://h:9092", "h:0", "u:p@h:9092"] {
        assert!(
            matches!(Emitter::kafka(bad).await, Err(EmitterError::Connect(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        Emitter::kafka_with_topic(&brokers(), "no spaces").await,
        Err(EmitterError::Connect(_))
    ));
}
