//! Managers made from a URL (`RedisManager::new(url)`, `AmqpManager`, `KafkaManager`,
//! `NatsManager`): a good
//! URL serves, a bad one or an unreachable broker is reported by `Server::ready` and never
//! panics, and `?key=` keeps two deployments on one broker apart. Real brokers: Redis and
//! RabbitMQ and NATS of the machine, the tests' Kafka (scripts/kafka.sh).

use std::time::Duration;

use serde_json::json;
use volley::manager::IntoClientManager;
use volley::manager::{
    AdapterError, AmqpManager, KafkaManager, NatsManager, ReadyError, RedisManager,
};
use volley::{EmitError, Server};
use volley_tests::puppet::Puppet;
use volley_tests::server::TestServer;
use volley_tests::TestResult;

const READY: Duration = Duration::from_secs(10);
/// How long a message that should not arrive is waited for.
const QUIET: Duration = Duration::from_millis(700);

#[tokio::test]
async fn the_spelling_of_the_readme_serves() -> TestResult {
    let io = Server::builder()
        .client_manager(RedisManager::new("redis://127.0.0.1:6379"))
        .build();
    io.ready(READY).await?;
    io.of("/").emit("hello", &"world").await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_url_is_reported_by_ready_and_fails_emits() -> TestResult {
    for (io, expected) in [
        (
            Server::builder()
                .client_manager(RedisManager::new("redis://127.0.0.1:6379?colour=blue"))
                .build(),
            "unknown parameter \"colour\"",
        ),
        (
            Server::builder()
                .client_manager(RedisManager::new("amqp://127.0.0.1"))
                .build(),
            "RedisManager takes redis:// or rediss:// or redis-cluster:// or valkey-cluster:// URLs",
        ),
        (
            Server::builder()
                .client_manager(AmqpManager::new("amqps://guest:secret@127.0.0.1"))
                .build(),
            "TLS (amqps://) is not supported",
        ),
        (
            Server::builder()
                .client_manager(NatsManager::new("nats://u:secret@127.0.0.1?stream=chat"))
                .build(),
            "stream and maxlen need bus=jetstream",
        ),
    ] {
        let Err(ReadyError::Adapter(AdapterError::Invalid { reason, url })) = io.ready(READY).await
        else {
            panic!("a bad URL was not reported by ready");
        };
        assert!(reason.contains(expected), "{reason}");
        assert!(
            !url.contains("secret"),
            "the password is in the error: {url}"
        );
        let emit = io.of("/").emit("hello", &()).await;
        assert!(
            matches!(&emit, Err(EmitError::Manager(m)) if m.contains(expected)),
            "{emit:?}"
        );
    }
    // checked at once when asked
    assert!(RedisManager::new("redis://[::1").build().is_err());
    Ok(())
}

#[tokio::test]
async fn an_unreachable_broker_is_reported_by_ready() -> TestResult {
    // nothing listens on port 1
    let io = Server::builder()
        .client_manager(RedisManager::new("redis://127.0.0.1:1"))
        .build();
    let ready = io.ready(Duration::from_secs(2)).await;
    assert!(
        matches!(ready, Err(ReadyError::Unreachable(_))),
        "{ready:?}"
    );
    Ok(())
}

/// A node of a deployment: a server on `manager`, served, with one client connected.
async fn node(manager: impl IntoClientManager) -> TestResult<(Server, TestServer, Puppet)> {
    let io = Server::builder().client_manager(manager).build();
    io.ready(READY).await?;
    io.of("/");
    let srv = TestServer::spawn(io.router()).await?;
    let mut client = Puppet::spawn(srv.url(), "websocket").await?;
    client.connect("/", None).await?;
    Ok((io, srv, client))
}

#[tokio::test]
async fn redis_keys_keep_deployments_apart() -> TestResult {
    apart(|key| RedisManager::new(format!("redis://127.0.0.1:6379?key={key}"))).await
}

#[tokio::test]
async fn amqp_keys_keep_deployments_apart() -> TestResult {
    apart(|key| AmqpManager::new(format!("amqp://guest:guest@127.0.0.1:5672/%2f?key={key}"))).await
}

#[tokio::test]
async fn kafka_keys_keep_deployments_apart() -> TestResult {
    apart(|key| KafkaManager::new(format!("kafka://127.0.0.1:9092?key={key}"))).await
}

#[tokio::test]
async fn nats_keys_keep_deployments_apart() -> TestResult {
    apart(|key| NatsManager::new(format!("nats://127.0.0.1:4222?key={key}"))).await
}

#[tokio::test]
async fn nats_jetstream_keys_keep_deployments_apart() -> TestResult {
    // Fixed roots (each its own stream on the machine's server, whatever the number of runs):
    // a concurrent run's emits only reach the clients that hear this run's too.
    apart(|key| {
        let root = if key.starts_with('a') {
            "volley-test-a"
        } else {
            "volley-test-c"
        };
        NatsManager::new(format!("nats://127.0.0.1:4222?bus=jetstream&key={root}"))
    })
    .await
}

/// Three nodes on one broker, two with one key and one with another: an emit to all of the
/// first reaches the client of the second, not that of the third.
async fn apart<M: IntoClientManager>(manager: impl Fn(String) -> M) -> TestResult {
    let suffix = std::process::id();
    let (a, _sa, _ca) = node(manager(format!("a{suffix}"))).await?;
    let (_b, _sb, mut same) = node(manager(format!("a{suffix}"))).await?;
    let (_c, _sc, mut other) = node(manager(format!("c{suffix}"))).await?;
    a.of("/").emit("news", &"from a").await?;
    assert_eq!(same.next_event("/", "news").await?, json!(["from a"]));
    // (a node with another key must not hear it)
    other.no_event("/", "news", QUIET).await?;
    Ok(())
}
