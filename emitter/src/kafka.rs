//! The Kafka transport: each classic payload is one record of the cluster's topic, keyed by the
//! channel name, as Volley's Kafka transport (`volley-kafka`) carries every bus channel.
//!
//! - topic `volley` unless chosen, partition 0; record key = the channel name (UTF-8:
//!   `{key}#{nsp}#`, `{key}#{nsp}#{room}#`, `{key}-request#{nsp}#`), value = the payload byte
//!   for byte, no headers;
//! - the topic is created when missing with the settings the nodes create it with: one
//!   partition (one total order for every node), replication factor 1, `retention.ms` one hour;
//! - a record is sent at most once (no retries) and acknowledged by the partition leader
//!   (`acks=1`) before the publish returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::brokers::{check_topic, parse_brokers};
use crate::{EmitterError, Outgoing, SendFuture, Transport};

/// The topic of a Volley cluster on Kafka, unless configured otherwise (the default of
/// `volley-kafka`).
pub(crate) const DEFAULT_TOPIC: &str = "volley";
/// The partitions of the topic when it is created: one, as the nodes create it.
const TOPIC_PARTITIONS: i32 = 1;
/// The partition every record goes to.
const PUBLISH_PARTITION: i32 = 0;
/// The replication factor of the topic when it is created, as the nodes create it.
const REPLICATION_FACTOR: i32 = 1;
/// The `retention.ms` of the topic when it is created (one hour), as the nodes create it.
const RETENTION_MS: &str = "3600000";

/// How long connecting (reaching a broker, creating the topic) may take, and a record may wait
/// for its acknowledgement (`message.timeout.ms`).
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long past its own timeout a librdkafka operation may take before the emitter stops
/// waiting for it.
const GRACE: Duration = Duration::from_secs(1);
/// Reconnection backoff of librdkafka: from 100 ms, doubling, up to 5 s, forever.
const RECONNECT_MIN_MS: &str = "100";
const RECONNECT_MAX_MS: &str = "5000";
/// While every broker is down, how often the emitter asks whether one answers again.
const DOWN_POLL: Duration = Duration::from_millis(250);

/// The librdkafka callbacks: notes when every broker is down. The emitter logs nothing.
#[derive(Clone, Default)]
struct Context {
    inner: Arc<ContextInner>,
}

#[derive(Default)]
struct ContextInner {
    down: AtomicBool,
    down_events: Notify,
}

impl Context {
    fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Acquire)
    }
}

impl ClientContext for Context {
    fn log(&self, _level: RDKafkaLogLevel, _facility: &str, _message: &str) {}

    fn error(&self, error: RdError, _reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.inner.down.store(true, Ordering::Release);
            self.inner.down_events.notify_one();
        }
    }
}

/// The librdkafka clients.
struct Clients {
    producer: FutureProducer<Context>,
    admin: AdminClient<Context>,
}

/// What the emitter and its watching task share.
struct Shared {
    /// `None` only while dropping.
    clients: Option<Clients>,
    context: Context,
    brokers: String,
    topic: String,
    /// Whether the topic is known to exist; cleared when a broker says it does not, or after
    /// an outage (a broker that restarts may have lost it).
    topic_ready: AtomicBool,
    /// One topic creation at a time.
    topic_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Destroying librdkafka clients joins their threads and may flush for up to 500 ms: not
        // on a runtime thread.
        if let Some(clients) = self.clients.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn_blocking(move || drop(clients));
                }
                Err(_) => drop(clients),
            }
        }
    }
}

fn unavailable(reason: impl fmt::Display) -> EmitterError {
    EmitterError::Publish(reason.to_string())
}

impl Shared {
    fn clients(&self) -> Result<&Clients, EmitterError> {
        self.clients
            .as_ref()
            .ok_or_else(|| unavailable("the emitter is closed"))
    }

    /// Makes sure the topic exists, creating it when missing, before `deadline`.
    async fn ensure_topic(&self, deadline: Instant) -> Result<(), String> {
        if self.topic_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let clients = self.clients().map_err(|e| e.to_string())?;
        let _guard = tokio::time::timeout_at(deadline, self.topic_lock.lock())
            .await
            .map_err(|_| "timed out creating the Kafka topic".to_owned())?;
        if self.topic_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let topic = NewTopic::new(
            &self.topic,
            TOPIC_PARTITIONS,
            TopicReplication::Fixed(REPLICATION_FACTOR),
        )
        .set("retention.ms", RETENTION_MS);
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        let options = AdminOptions::new()
            .request_timeout(Some(left))
            .operation_timeout(Some(left));
        let created = tokio::time::timeout(
            left + GRACE,
            clients.admin.create_topics([&topic], &options),
        )
        .await
        .map_err(|_| "timed out creating the Kafka topic".to_owned())?;
        let code = match created {
            Err(e) => e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) | Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
                    self.topic_ready.store(true, Ordering::Release);
                    return Ok(());
                }
                Some(Err((_, code))) => code,
                None => RDKafkaErrorCode::Fail,
            },
        };
        // Creation refused (no right to create topics, a policy…): fine if it exists anyway.
        if self.topic_exists(deadline).await {
            self.topic_ready.store(true, Ordering::Release);
            return Ok(());
        }
        Err(format!(
            "cannot create the Kafka topic {:?}: {code}",
            self.topic
        ))
    }

    /// Whether the brokers' metadata lists the topic with its partitions.
    async fn topic_exists(&self, deadline: Instant) -> bool {
        let Ok(clients) = self.clients() else {
            return false;
        };
        let producer = clients.producer.clone();
        let topic = self.topic.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let asked = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            producer
                .client()
                .fetch_metadata(Some(&topic), left)
                .is_ok_and(|metadata| {
                    metadata.topics().iter().any(|t| {
                        t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                    })
                })
        });
        matches!(
            tokio::time::timeout(left + GRACE, asked).await,
            Ok(Ok(true))
        )
    }

    /// Whether a broker answers a metadata request within a second.
    async fn brokers_answer(&self) -> bool {
        let Ok(clients) = self.clients() else {
            return false;
        };
        let producer = clients.producer.clone();
        let topic = self.topic.clone();
        let asked = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(1))
                .is_ok()
        });
        matches!(
            tokio::time::timeout(Duration::from_secs(3), asked).await,
            Ok(Ok(true))
        )
    }

    /// Sends one record and waits for its acknowledgement (librdkafka gives up after
    /// `message.timeout.ms`; the emitter waits a little longer than that at most).
    async fn send_once(&self, channel: &str, payload: &[u8]) -> Result<(), RdError> {
        let clients = self.clients.as_ref().ok_or(RdError::Canceled)?;
        let record = FutureRecord::to(&self.topic)
            .partition(PUBLISH_PARTITION)
            .key(channel.as_bytes())
            .payload(payload);
        let delivery = clients
            .producer
            .send_result(record)
            .map_err(|(e, _record)| e)?;
        match tokio::time::timeout(TIMEOUT + GRACE, delivery).await {
            Ok(Ok(Ok(_delivered))) => Ok(()),
            Ok(Ok(Err((e, _message)))) => Err(e),
            Ok(Err(_canceled)) => Err(RdError::Canceled),
            Err(_) => Err(RdError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            )),
        }
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), EmitterError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(unavailable("the emitter is closed"));
        }
        if self.context.is_down() {
            return Err(unavailable(
                "every Kafka broker is down (librdkafka keeps reconnecting)",
            ));
        }
        self.ensure_topic(Instant::now() + TIMEOUT)
            .await
            .map_err(unavailable)?;
        let result = match self.send_once(channel, payload).await {
            Err(e) if e.rdkafka_error_code().is_some_and(is_unknown_topic) => {
                // Refused, not written: the brokers lost the topic. Create it, send once more.
                self.topic_ready.store(false, Ordering::Release);
                self.ensure_topic(Instant::now() + TIMEOUT)
                    .await
                    .map_err(unavailable)?;
                self.send_once(channel, payload).await
            }
            other => other,
        };
        result.map_err(|e| {
            if e.rdkafka_error_code().is_some_and(|code| {
                is_unknown_topic(code) || code == RDKafkaErrorCode::MessageTimedOut
            }) {
                // Perhaps librdkafka waits for a topic the brokers lost: check next time.
                self.topic_ready.store(false, Ordering::Release);
            }
            unavailable(format!("Kafka did not take the message: {e}"))
        })
    }
}

/// Whether this error says the topic (or its partition) does not exist.
fn is_unknown_topic(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::UnknownTopicId
    )
}

/// A producer and an admin client, with a task that notices when the brokers are back after an
/// outage.
pub(crate) struct KafkaTransport {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("brokers", &self.shared.brokers)
            .field("topic", &self.shared.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaTransport {
    pub(crate) async fn connect(brokers: &str, topic: &str) -> Result<Self, EmitterError> {
        let brokers = parse_brokers(brokers).map_err(|reason| {
            EmitterError::Connect(format!("invalid Kafka broker list: {reason}"))
        })?;
        check_topic(topic).map_err(|reason| {
            EmitterError::Connect(format!("invalid Kafka topic name: {reason}"))
        })?;
        let context = Context::default();
        let config = client_config(&brokers);
        let producer: FutureProducer<Context> = config
            .create_with_context(context.clone())
            .map_err(|e| EmitterError::Connect(format!("cannot create the Kafka producer: {e}")))?;
        // A context of its own: only the producer's connections tell whether publishing can
        // work (the admin client's may be idle and closed by the brokers).
        let admin: AdminClient<Context> = common_config(&brokers)
            .create_with_context(Context::default())
            .map_err(|e| EmitterError::Connect(format!("cannot create the Kafka client: {e}")))?;
        let shared = Arc::new(Shared {
            clients: Some(Clients { producer, admin }),
            context,
            brokers,
            topic: topic.to_owned(),
            topic_ready: AtomicBool::new(false),
            topic_lock: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        });
        if let Err(e) = shared.ensure_topic(Instant::now() + TIMEOUT).await {
            return Err(EmitterError::Connect(format!(
                "Kafka at {}: {e}",
                shared.brokers
            )));
        }
        let task = tokio::spawn(watch_brokers(Arc::downgrade(&shared)));
        Ok(KafkaTransport {
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    fn stop(&self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// Once librdkafka reports every broker down, asks every 250 ms whether one answers again; then
/// lets publishes through and has the topic checked (the broker may have lost it).
async fn watch_brokers(shared: Weak<Shared>) {
    loop {
        let Some(events) = shared.upgrade().map(|s| s.context.clone()) else {
            return;
        };
        events.inner.down_events.notified().await;
        drop(events);
        loop {
            tokio::time::sleep(DOWN_POLL).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if shared.brokers_answer().await {
                shared.topic_ready.store(false, Ordering::Release);
                shared.context.inner.down.store(false, Ordering::Release);
                break;
            }
        }
    }
}

impl Transport for KafkaTransport {
    fn send(&self, key: &str, message: Outgoing<'_>) -> SendFuture<'_> {
        let encoded = message.encode(key);
        Box::pin(async move {
            let (channel, payload) = encoded?;
            self.shared.publish(&channel, &payload).await
        })
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        // Publishes are awaited one by one: nothing is left in the producer's queue to flush.
        // The clients themselves are destroyed when the last emitter clone is dropped.
        Box::pin(async move { self.stop() })
    }
}

impl Drop for KafkaTransport {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Settings of every client: where the brokers are, and how to reach them.
fn common_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "volley-emitter")
        .set("socket.nagle.disable", "true")
        .set(
            "socket.connection.setup.timeout.ms",
            TIMEOUT.as_millis().to_string(),
        )
        .set("reconnect.backoff.ms", RECONNECT_MIN_MS)
        .set("reconnect.backoff.max.ms", RECONNECT_MAX_MS)
        .set("log.connection.close", "false");
    config
}

/// The producer's settings: at most once, acknowledged by the leader, bounded in time.
fn client_config(brokers: &str) -> ClientConfig {
    let mut config = common_config(brokers);
    config
        .set("acks", "1")
        .set("linger.ms", "0")
        .set("message.send.max.retries", "0")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
        // The emitter creates the topic itself, with the nodes' settings.
        .set("allow.auto.create.topics", "false");
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_takes_the_settings() {
        let config = client_config("127.0.0.1:9092");
        assert!(config.create_native_config().is_ok());
        assert_eq!(config.get("message.timeout.ms"), Some("5000"));
    }
}
