//! Kafka transport of the Volley cluster manager.
//!
//! [`KafkaBus`] implements [`PubSub`] over one Kafka topic
//! (any broker speaking the Kafka protocol), on [`rdkafka`] (librdkafka), fully async:
//!
//! - **one topic** for the whole cluster ([`DEFAULT_TOPIC`] unless
//!   [configured](KafkaBusBuilder::topic)), created by the bus when it is missing, with
//!   [one partition](TOPIC_PARTITIONS) so that every node sees every message in the same order;
//! - **a publish is one record**: key = the channel name, value = the payload, on partition
//!   [`PUBLISH_PARTITION`], acknowledged by the partition leader within a
//!   [bounded time](KafkaBusBuilder::operation_timeout), sent at most once;
//! - **every node receives every message**: each [`subscribe`](volley_cluster::PubSub::subscribe)
//!   has a consumer of its own (its own group, nothing committed), assigned every partition of
//!   the topic at its current end, and keeps the records whose key matches one of its
//!   [`Subscription`]s (a record without a key, from a foreign producer, is on channel `""`,
//!   which only `Subscription::Prefix("")` takes);
//! - **reconnects ride on librdkafka**: lost broker connections are re-established in the
//!   background, the consumers resume where they were, and a topic that disappeared (a broker
//!   that lost its data) is created again.
//!
//! ```no_run
//! use bytes::Bytes;
//! use tokio::sync::mpsc;
//! use volley_cluster::{PubSub, Subscription};
//! use volley_kafka::KafkaBus;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = KafkaBus::new("kafka://127.0.0.1:9092")?;
//! bus.connect().await?; // optional: the first publish or subscribe connects too
//!
//! let (tx, mut rx) = mpsc::channel(1024);
//! bus.subscribe(&[Subscription::Prefix("socket.io#/#".into())], tx).await?;
//! bus.publish("socket.io#/#room#", Bytes::from_static(b"\x93\x00\x01")).await?;
//!
//! let message = rx.recv().await.expect("the bus is open");
//! assert_eq!(message.channel, "socket.io#/#room#");
//! # Ok(())
//! # }
//! ```
//!
//! With the cluster manager:
//!
//! ```no_run
//! use volley::manager::KafkaManager;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let manager = KafkaManager::new("kafka://kafka-1:9092,kafka-2:9092?key=chat");
//! let io = volley::Server::builder().client_manager(manager).build();
//! # let _ = io;
//! # }
//! ```
//!
//! # Building
//!
//! librdkafka is compiled from the sources bundled in `rdkafka-sys` by its own `configure` and
//! `make`: a C compiler and `make` are needed, nothing else (no cmake, no system librdkafka).

mod config;
mod consumer;
mod context;
mod error;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::{mpsc, OnceCell};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use volley_cluster::{BusError, BusMessage, PubSub, Subscription};

pub use config::{
    KafkaBusBuilder, DEFAULT_MAX_AGE, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PARTITION_CHECK,
    DEFAULT_PORT, DEFAULT_TOPIC, PUBLISH_PARTITION, TOPIC_PARTITIONS,
};
pub use error::KafkaError;

use config::Settings;
use context::BusContext;

/// The `tracing` target of this crate's log events, shared with the cluster manager.
const LOG_TARGET: &str = "volley::cluster";

/// How long past its own timeout a librdkafka operation may take before the bus stops waiting
/// for it (librdkafka normally answers first).
const GRACE: Duration = Duration::from_secs(1);

/// A [`PubSub`] transport over a Kafka topic.
///
/// Cloning is cheap and shares the clients. When the last clone is dropped the clients are
/// closed (on a blocking thread, if a tokio runtime is still running); call
/// [`close`](KafkaBus::close) to stop the subscriptions at once.
///
/// # Connecting
///
/// [`new`](KafkaBus::new) only checks the settings. The clients are created on the first
/// [`connect`](KafkaBus::connect), [`publish`](PubSub::publish) or
/// [`subscribe`](PubSub::subscribe), which also make sure that the topic exists (creating it
/// when missing); call `connect` at start-up to see a wrong address there rather than on the
/// first emit. Afterwards librdkafka keeps reconnecting to the brokers in the background
/// ([`reconnect_delays`](KafkaBusBuilder::reconnect_delays)), forever.
///
/// # Publishing
///
/// A publish is one record, sent at most once (no retry), and waits for the partition leader's
/// acknowledgement (`acks=1`). It fails with [`BusError::TooLarge`] above
/// [`max_message_size`](KafkaBusBuilder::max_message_size); with [`BusError::Unavailable`] at
/// once while librdkafka reports every broker down, and after
/// [`operation_timeout`](KafkaBusBuilder::operation_timeout) without an acknowledgement (the
/// record is then dropped from the producer's queue, never delivered later). When the broker
/// says the topic does not exist (it lost its data), the bus creates it again and sends the
/// record once more. Checking or creating the topic is bounded by the same timeout, so a publish
/// returns within twice the timeout, four times when the topic had to be created again.
/// Concurrent publishes are batched by librdkafka; sequential publishes from one task arrive in
/// order.
///
/// # Subscribing
///
/// Each `subscribe` call creates a consumer of its own (group `volley-<random>`, no offsets
/// committed) and assigns it every partition of the topic at its end offset, read before the
/// call returns: every message published after `subscribe` returns is delivered, none published
/// before. One task forwards the records whose key matches one of the subscriptions to the sink,
/// in order and byte for byte, waiting while the sink is full (the consumer then stops fetching
/// once its bounded read-ahead, 16 MiB, is full); it ends when the sink is closed. A record
/// matching several subscriptions is delivered once. Records without a key, or whose key is not
/// UTF-8, are skipped.
///
/// When every broker connection of a consumer is lost, the consumer is replaced, once a broker
/// answers again, by one that continues at the next offset it had not read (kept in memory for
/// the life of the bus): nothing the brokers kept is lost. If the brokers lost the topic
/// meanwhile, or truncated it past that offset, the new consumer starts at the first record
/// younger than the [`max_age`](KafkaBusBuilder::max_age) (asked of the brokers by timestamp;
/// at the start of the log if they cannot tell), never replaying everything they retain.
///
/// # Old records
///
/// A record older than the [`max_age`](KafkaBusBuilder::max_age) (30 s by default), by its
/// timestamp, is skipped, not delivered: after an outage longer than that, the broadcasts of
/// the outage's start are no longer news, and requests that old have timed out. Skipped records
/// are counted ([`KafkaBus::stale_skipped`]) and logged as a warning (at most every 5 s, with
/// the running total).
///
/// # New partitions
///
/// Every [`partition_check`](KafkaBusBuilder::partition_check) (5 s by default) each consumer
/// lists the topic's partitions and reads those added since, from their beginning (older
/// records skipped by age). The bus itself publishes to partition [`PUBLISH_PARTITION`] only;
/// another producer may use the others (their records are ordered per partition only).
///
/// Tested against tansu, the tests' broker, whose storage the test grows (tansu has no
/// `CreatePartitions` request). Deleting the topic under a running consumer and creating it again
/// with more partitions made librdkafka crash (a segmentation fault in its metadata cache) with
/// tansu 0.6.0: do not delete a topic that nodes are reading.
///
/// # Limits
///
/// - Gzip-compressed records (from a foreign producer) cannot be read: librdkafka is built
///   without zlib; lz4, snappy and uncompressed records can.
/// - librdkafka 2.12 can crash the process on a fetch for a topic the broker no longer knows
///   when the broker answers with a zero topic id and a leader hint, as tansu 0.6 does (the
///   leader hint becomes a metadata update without a topic name). With such brokers, deleting
///   the topic while nodes run is not supported, and a broker restart is supported only when the
///   consumers see every broker down before the broker is back (see above: they are then
///   replaced before they fetch again). A consumer that keeps fetching across a restart faster
///   than that (its task blocked, or waiting for room in a full sink, which is when it reads the
///   error) reaches the broker without the topic and crashes the process.
///
/// ```no_run
/// use bytes::Bytes;
/// use volley_cluster::{BusError, PubSub};
/// use volley_kafka::KafkaBus;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let bus = KafkaBus::builder("127.0.0.1:9092")
///     .max_message_size(1024)
///     .build()?;
/// let big = Bytes::from(vec![0u8; 2048]);
/// assert_eq!(bus.publish("ch", big).await, Err(BusError::TooLarge(2048)));
/// bus.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    /// Created on first use.
    clients: OnceCell<Clients>,
    /// Shared with the clients' callbacks.
    context: BusContext,
    /// Whether the topic is known to exist; reset when a broker says it does not.
    topic_ready: AtomicBool,
    /// One topic creation at a time.
    topic_lock: tokio::sync::Mutex<()>,
    /// Stops the forwarding tasks.
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Records skipped for being older than the max age.
    pub(crate) stale: AtomicU64,
}

struct Clients {
    producer: FutureProducer<BusContext>,
    admin: AdminClient<BusContext>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus")
            .field("brokers", &self.inner.settings.brokers)
            .field("topic", &self.inner.settings.topic)
            .field("max_message_size", &self.inner.settings.max_message_size)
            .finish_non_exhaustive()
    }
}

impl KafkaBus {
    /// A bus for the brokers `brokers` (`[kafka://]host[:port][,host[:port]…][?settings]`, port
    /// 9092 by default; see [`KafkaBusBuilder::build`] for the settings), with the default
    /// settings of [`KafkaBusBuilder`] otherwise. Does not connect: see
    /// [`connect`](KafkaBus::connect).
    ///
    /// ```
    /// use volley_kafka::KafkaBus;
    ///
    /// assert!(KafkaBus::new("127.0.0.1:9092").is_ok());
    /// assert!(KafkaBus::new("kafka://k1:9092,k2:9092").is_ok());
    /// assert_eq!(KafkaBus::new("kafka://k1?topic=chat").unwrap().topic(), "chat");
    /// assert!(KafkaBus::new("not a broker list").is_err());
    /// ```
    pub fn new(brokers: &str) -> Result<KafkaBus, KafkaError> {
        KafkaBus::builder(brokers).build()
    }

    /// Starts configuring a bus for the brokers `brokers`; see [`KafkaBusBuilder`].
    pub fn builder(brokers: &str) -> KafkaBusBuilder {
        KafkaBusBuilder::new(brokers)
    }

    pub(crate) fn from_settings(settings: Settings) -> KafkaBus {
        KafkaBus {
            inner: Arc::new(Inner {
                settings,
                clients: OnceCell::new(),
                context: BusContext::default(),
                topic_ready: AtomicBool::new(false),
                topic_lock: tokio::sync::Mutex::new(()),
                stop: CancellationToken::new(),
                tasks: Mutex::new(Vec::new()),
                stale: AtomicU64::new(0),
            }),
        }
    }

    /// The topic this bus publishes to and reads from.
    pub fn topic(&self) -> &str {
        &self.inner.settings.topic
    }

    /// The brokers this bus bootstraps from, as `host:port,host:port`.
    pub fn brokers(&self) -> &str {
        &self.inner.settings.brokers
    }

    /// How many records the consumers of this bus skipped because they were older than the
    /// [`max_age`](KafkaBusBuilder::max_age) (each skip is also logged, at most every few
    /// seconds, as a warning with the running total).
    pub fn stale_skipped(&self) -> u64 {
        self.inner.stale.load(Ordering::Relaxed)
    }

    /// Creates the clients, reaches the brokers and makes sure the topic exists (creating it
    /// when missing), or returns why that failed within
    /// [`connect_timeout`](KafkaBusBuilder::connect_timeout): brokers unreachable, topic
    /// creation refused. Calling it again after a success returns at once; after a failure, it
    /// tries again.
    ///
    /// ```no_run
    /// use volley_kafka::KafkaBus;
    ///
    /// # async fn run() -> Result<(), volley_kafka::KafkaError> {
    /// let bus = KafkaBus::new("127.0.0.1:9092")?;
    /// bus.connect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self) -> Result<(), KafkaError> {
        let deadline = Instant::now() + self.inner.settings.connect_timeout;
        self.inner
            .ensure_topic(deadline)
            .await
            .map_err(|e| match e {
                BusError::Unavailable(reason) | BusError::Other(reason) => {
                    KafkaError::Connect(reason)
                }
                other => KafkaError::Connect(other.to_string()),
            })
    }

    /// Stops every subscription (the sinks given to [`subscribe`](PubSub::subscribe) receive
    /// nothing more) and makes later publishes and subscriptions fail with
    /// [`BusError::Unavailable`]. Shared by every clone. The clients themselves are closed when
    /// the last clone is dropped.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for task in tasks {
            // The tasks end at once when cancelled; do not hang on a misbehaving one.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Inner {
    fn closed_error() -> BusError {
        BusError::Unavailable("the Kafka bus is closed".into())
    }

    /// The producer and admin client, created on first use (with the task that watches for
    /// the brokers to come back after an outage).
    async fn clients(self: &Arc<Self>) -> Result<&Clients, BusError> {
        if self.stop.is_cancelled() {
            return Err(Inner::closed_error());
        }
        self.clients
            .get_or_try_init(|| async {
                let producer: FutureProducer<BusContext> = self
                    .settings
                    .producer
                    .create_with_context(self.context.clone())
                    .map_err(|e| KafkaError::Config(e.to_string()))?;
                let admin: AdminClient<BusContext> = self
                    .settings
                    .admin
                    .create_with_context(self.context.ignoring_down())
                    .map_err(|e| KafkaError::Config(e.to_string()))?;
                self.track(tokio::spawn(watch_brokers(
                    Arc::downgrade(self),
                    self.stop.clone(),
                )));
                tracing::debug!(target: LOG_TARGET, brokers = %self.settings.brokers, "Kafka clients created");
                Ok::<_, KafkaError>(Clients { producer, admin })
            })
            .await
            .map_err(BusError::from)
    }

    /// Makes sure the topic exists, creating it when missing, before `deadline`.
    async fn ensure_topic(self: &Arc<Self>, deadline: Instant) -> Result<(), BusError> {
        if self.topic_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let clients = self.clients().await?;
        let unavailable =
            || BusError::Unavailable("timed out creating or checking the Kafka topic".into());
        let _guard = tokio::time::timeout_at(deadline, self.topic_lock.lock())
            .await
            .map_err(|_| unavailable())?;
        if self.topic_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let settings = &self.settings;
        let max_message_bytes = settings.max_message_bytes.map(|b| b.to_string());
        let mut topic = NewTopic::new(
            &settings.topic,
            TOPIC_PARTITIONS,
            TopicReplication::Fixed(settings.replication_factor),
        )
        .set("retention.ms", &settings.retention_ms);
        if let Some(bytes) = &max_message_bytes {
            topic = topic.set("max.message.bytes", bytes);
        }
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
        .map_err(|_| unavailable())?;
        let outcome = match created {
            Err(e) => Err(e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)),
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) => {
                    tracing::info!(target: LOG_TARGET, topic = %settings.topic, "created the Kafka topic");
                    Ok(())
                }
                Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
                Some(Err((_, code))) => Err(code),
                None => Err(RDKafkaErrorCode::Fail),
            },
        };
        match outcome {
            Ok(()) => {
                self.topic_ready.store(true, Ordering::Release);
                Ok(())
            }
            // Creation refused (no right to create topics, a creation policy…): fine if the
            // topic exists anyway.
            Err(code) if !is_transport(code) && self.topic_exists(deadline).await => {
                self.topic_ready.store(true, Ordering::Release);
                Ok(())
            }
            Err(code) if is_transport(code) => Err(BusError::Unavailable(format!(
                "cannot reach the Kafka brokers to check the topic: {code}"
            ))),
            Err(code) => Err(BusError::Other(format!(
                "cannot create the Kafka topic {:?}: {code}",
                settings.topic
            ))),
        }
    }

    /// Whether the brokers' metadata lists the topic with its partitions.
    async fn topic_exists(&self, deadline: Instant) -> bool {
        let Some(clients) = self.clients.get() else {
            return false;
        };
        let producer = clients.producer.clone();
        let topic = self.settings.topic.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let asked = tokio::task::spawn_blocking(move || {
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

    /// Forgets that the topic exists: the next publish or a consumer creates it again.
    fn topic_lost(&self) {
        if self.topic_ready.swap(false, Ordering::AcqRel) {
            tracing::warn!(target: LOG_TARGET, topic = %self.settings.topic, "the Kafka topic is gone: creating it again");
        }
    }

    /// Makes the next publish or subscription check that the topic exists (after an outage,
    /// the brokers may have lost it).
    fn recheck_topic(&self) {
        self.topic_ready.store(false, Ordering::Release);
    }

    /// Whether a broker answers a metadata request within a second.
    async fn brokers_answer(&self) -> bool {
        let Some(clients) = self.clients.get() else {
            return false;
        };
        let producer = clients.producer.clone();
        let topic = self.settings.topic.clone();
        let asked = tokio::task::spawn_blocking(move || {
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

    fn track(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Sends one record and waits for its acknowledgement.
    async fn send_once(
        &self,
        clients: &Clients,
        channel: &str,
        payload: &[u8],
        deadline: Instant,
    ) -> Result<(), rdkafka::error::KafkaError> {
        let record = FutureRecord::to(&self.settings.topic)
            .partition(PUBLISH_PARTITION)
            .key(channel.as_bytes())
            .payload(payload);
        let delivery = clients
            .producer
            .send_result(record)
            .map_err(|(e, _record)| e)?;
        match tokio::time::timeout_at(deadline + GRACE, delivery).await {
            Ok(Ok(Ok(_delivered))) => Ok(()),
            Ok(Ok(Err((e, _message)))) => Err(e),
            Ok(Err(_canceled)) => Err(rdkafka::error::KafkaError::Canceled),
            Err(_) => Err(rdkafka::error::KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            )),
        }
    }
}

/// Errors that mean "the brokers could not be asked", as opposed to "the brokers said no".
fn is_transport(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::TimedOutQueue
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::Fail
    )
}

/// Once librdkafka reports every broker down, checks every 250 ms whether one answers again,
/// then lets publishes through again and has the topic checked.
async fn watch_brokers(inner: Weak<Inner>, stop: CancellationToken) {
    let Some(down) = inner.upgrade().map(|inner| inner.context.down_events()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = down.notified() => {}
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            let Some(inner) = inner.upgrade() else { return };
            if inner.brokers_answer().await {
                if inner.context.set_down(false) {
                    inner.recheck_topic();
                    tracing::info!(target: LOG_TARGET, "a Kafka broker answers again");
                }
                break;
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
        let Some(clients) = self.clients.take() else {
            return;
        };
        // Destroying librdkafka clients joins their threads (and flushes the producer for up to
        // 500 ms): not on a runtime thread.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(clients));
            }
            Err(_) => drop(clients),
        }
    }
}

#[async_trait]
impl PubSub for KafkaBus {
    fn max_message_size(&self) -> usize {
        self.inner.settings.max_message_size
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        let inner = &self.inner;
        if payload.len() > inner.settings.max_message_size {
            return Err(BusError::TooLarge(payload.len()));
        }
        let clients = inner.clients().await?;
        if inner.context.is_down() {
            return Err(BusError::Unavailable(
                "every Kafka broker is down (librdkafka keeps reconnecting)".into(),
            ));
        }
        let start = Instant::now();
        inner
            .ensure_topic(start + inner.settings.operation_timeout)
            .await?;
        let deadline = Instant::now() + inner.settings.operation_timeout;
        let result = match inner.send_once(clients, channel, &payload, deadline).await {
            Err(e) if e.rdkafka_error_code().is_some_and(error::is_unknown_topic) => {
                // The record was refused, not written: create the topic and send it once more.
                inner.topic_lost();
                let deadline = Instant::now() + inner.settings.operation_timeout;
                inner.ensure_topic(deadline).await?;
                inner.send_once(clients, channel, &payload, deadline).await
            }
            other => other,
        };
        result.map_err(|e| {
            match e.rdkafka_error_code() {
                Some(code) if error::is_unknown_topic(code) => inner.topic_lost(),
                // Perhaps the brokers lost the topic and librdkafka waits for it to appear:
                // check on the next publish.
                Some(RDKafkaErrorCode::MessageTimedOut) => inner.recheck_topic(),
                _ => {}
            }
            let err = error::publish_error(&e, payload.len());
            tracing::debug!(target: LOG_TARGET, %channel, error = %err, "publish failed");
            err
        })
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let inner = &self.inner;
        inner.clients().await?;
        let deadline = Instant::now() + inner.settings.connect_timeout;
        inner.ensure_topic(deadline).await?;
        let assigned =
            consumer::start(&inner.settings, inner.context.ignoring_down(), deadline).await?;
        let filter = consumer::Filter::new(subscriptions);
        let task = tokio::spawn(consumer::forward(
            assigned,
            filter,
            sink,
            inner.stop.clone(),
            Arc::downgrade(&self.inner),
        ));
        inner.track(task);
        Ok(())
    }
}
