//! `Emitter::amqp` against the machine's RabbitMQ (127.0.0.1:5672, guest/guest, or
//! `VOLLEY_AMQP_URL`): what arrives on the exchange under which routing key, and how failures
//! look to the caller (a message no node's queue takes included). Every test holds the
//! machine-wide RabbitMQ lock shared (a broker restart test elsewhere takes it exclusive).
#![cfg(feature = "amqp")]
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use tokio::time::timeout;
use volley_emitter::{Emitter, EmitterError};
use volley_protocol::classic::{self, Broadcast, Opts, Request};
use volley_protocol::Value;

const WAIT: Duration = Duration::from_secs(5);

fn amqp_url() -> String {
    std::env::var("VOLLEY_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The lock shared with every other RabbitMQ test of the workspace (see
/// adapter-amqp/tests/common).
struct BrokerLock(#[allow(dead_code)] File);

async fn shared_lock() -> BrokerLock {
    tokio::task::spawn_blocking(|| {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open("/tmp/volley-rabbitmq.lock")
            .unwrap();
        fs4::FileExt::lock_shared(&file).unwrap();
        BrokerLock(file)
    })
    .await
    .unwrap()
}

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("volleytest-{name}-{}-{nanos:x}", std::process::id())
}

/// Declares `exchange` durable, as Volley's nodes do, or not durable if a broker used by older
/// versions has it so (a shared broker keeps what earlier runs declared); returns a channel that
/// is still open.
async fn declare_as_found(connection: &Connection, exchange: &str) -> Channel {
    for durable in [true, false] {
        let channel = connection.create_channel().await.unwrap();
        let declared = channel
            .exchange_declare(
                exchange,
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        if declared.is_ok() {
            return channel;
        }
    }
    panic!("cannot declare the exchange {exchange} durable or not");
}

/// A queue of the test's own bound to an exchange, as a Volley node's queue is.
struct Listener {
    connection: Connection,
    channel: Channel,
    consumer: Consumer,
}

impl Listener {
    async fn new(exchange: &str) -> Listener {
        let connection = connect().await;
        let channel = declare_as_found(&connection, exchange).await;
        let queue = channel
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = queue.name().as_str().to_owned();
        channel
            .queue_bind(
                &queue,
                exchange,
                "",
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                &queue,
                "",
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        Listener {
            connection,
            channel,
            consumer,
        }
    }

    /// The next (routing key, body) whose routing key starts with `prefix` (the exchange may
    /// carry other tests' messages).
    async fn next(&mut self, prefix: &str) -> (String, Vec<u8>) {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let delivery = timeout(left, self.consumer.next())
                .await
                .expect("no message within 5 s")
                .expect("the consumer ended")
                .unwrap();
            let key = delivery.routing_key.as_str().to_owned();
            if key.starts_with(prefix) {
                return (key, delivery.data);
            }
        }
    }

    async fn close(self) {
        let _ = self.channel.close(200, "done").await;
        let _ = self.connection.close(200, "done").await;
    }
}

async fn connect() -> Connection {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    timeout(
        Duration::from_secs(10),
        Connection::connect(&amqp_url(), properties),
    )
    .await
    .expect("RabbitMQ answers in time")
    .expect("RabbitMQ runs at 127.0.0.1:5672 (or VOLLEY_AMQP_URL)")
}

async fn delete_exchange(exchange: &str) {
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .exchange_delete(exchange, ExchangeDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done").await;
}

#[tokio::test]
async fn publishes_the_classic_format_on_the_fanout_exchange() {
    let _lock = shared_lock().await;
    let exchange = unique("emitter");
    let key = unique("key");
    let mut listener = Listener::new(&exchange).await;
    let emitter = Emitter::amqp_with_exchange(&amqp_url(), &exchange)
        .await
        .unwrap()
        .with_key(&key);

    emitter
        .emit("hello", &("world", bytes::Bytes::from_static(&[1, 2, 3])))
        .await
        .unwrap();
    let (routing_key, body) = listener.next(&key).await;
    assert_eq!(routing_key, format!("{key}#/#"));
    assert_eq!(
        classic::decode_broadcast(&body).unwrap(),
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
    let (routing_key, body) = listener.next(&key).await;
    assert_eq!(routing_key, format!("{key}#/chat#r1#"));
    assert_eq!(
        classic::decode_broadcast(&body).unwrap().opts,
        Opts {
            rooms: vec!["r1".into()],
            except: vec!["r2".into()],
            volatile: true,
            compress: None
        }
    );

    emitter.to("r1").join(["a", "b"]).await.unwrap();
    let (routing_key, body) = listener.next(&key).await;
    assert_eq!(routing_key, format!("{key}-request#/#"));
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
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

    // A routing key is at most 255 bytes: refused before anything is sent.
    let long = "x".repeat(300);
    assert!(matches!(
        emitter.to(long.as_str()).emit("ev", &()).await,
        Err(EmitterError::Publish(_))
    ));

    emitter.close().await;
    assert!(matches!(
        emitter.emit("after-close", &()).await,
        Err(EmitterError::Publish(_))
    ));
    listener.close().await;
    delete_exchange(&exchange).await;
}

#[tokio::test]
async fn the_default_exchange_is_volleys() {
    let _lock = shared_lock().await;
    let key = unique("key");
    let mut listener = Listener::new("volley").await;
    let emitter = Emitter::amqp(&amqp_url()).await.unwrap().with_key(&key);
    emitter.to("room").emit("ev", &()).await.unwrap();
    assert_eq!(listener.next(&key).await.0, format!("{key}#/#room#"));
    listener.close().await;
}

#[tokio::test]
async fn a_message_no_node_takes_is_an_error() {
    let _lock = shared_lock().await;
    let exchange = unique("nobody");
    let emitter = Emitter::amqp_with_exchange(&amqp_url(), &exchange)
        .await
        .unwrap();
    // No queue is bound to the exchange: the broker returns the message (`mandatory`).
    let result = emitter.emit("ev", &()).await;
    assert!(
        matches!(&result, Err(EmitterError::Publish(reason)) if reason.contains("returned")),
        "{result:?}"
    );
    // Once a node's queue is bound, the same emitter reaches it.
    let mut listener = Listener::new(&exchange).await;
    emitter.emit("ev", &()).await.unwrap();
    assert_eq!(listener.next("socket.io").await.0, "socket.io#/#");
    emitter.close().await;
    listener.close().await;
    delete_exchange(&exchange).await;
}

#[tokio::test]
async fn connecting_fails_in_bounded_time() {
    let _lock = shared_lock().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let result = Emitter::amqp(&format!("amqp://127.0.0.1:{port}")).await;
    assert!(
        matches!(result, Err(EmitterError::Connect(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    for bad in [
        "not a url",
        "amqps://h",
        "redis://h",
        "amqp://u:hunter2@h/a/b",
    ] {
        match Emitter::amqp(bad).await {
            Err(EmitterError::Connect(reason)) => assert!(!reason.contains("hunter2"), "{reason}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Wrong credentials.
    let result = Emitter::amqp("amqp://guest:wrong@127.0.0.1:5672/%2f").await;
    assert!(
        matches!(result, Err(EmitterError::Connect(_))),
        "{result:?}"
    );
    // An exchange of that name of another type than the nodes use (a non-durable one of the
    // right type, declared by an older version, is used as it is).
    let exchange = unique("direct");
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .exchange_declare(
            &exchange,
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let result = Emitter::amqp_with_exchange(&amqp_url(), &exchange).await;
    assert!(
        matches!(&result, Err(EmitterError::Connect(reason)) if reason.contains("PRECONDITION")),
        "{result:?}"
    );
    let _ = channel
        .exchange_delete(&exchange, ExchangeDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done").await;
    assert!(matches!(
        Emitter::amqp_with_exchange(&amqp_url(), "amq.fanout").await,
        Err(EmitterError::Connect(_))
    ));
}
