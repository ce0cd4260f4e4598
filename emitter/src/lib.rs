//! Publish Socket.IO events into a cluster from processes that serve no clients (job workers,
//! cron jobs, other services): the emitter only ever publishes on the cluster's message bus,
//! and every node of the cluster delivers to its own clients.
//!
//! ```no_run
//! use volley_emitter::Emitter;
//!
//! # async fn run() -> Result<(), volley_emitter::EmitterError> {
//! // Connects (key "socket.io", namespace "/").
//! let emitter = Emitter::redis("redis://127.0.0.1:6379").await?;
//!
//! // To every client of "/": a tuple is several arguments, bytes travel as binary.
//! emitter.emit("news", &("hello", 1)).await?;
//! emitter.emit("file", &bytes::Bytes::from_static(b"\x00\x01")).await?;
//!
//! // To rooms of another namespace, leaving some sockets out, droppable for slow clients.
//! let data = serde_json::json!({ "id": 7 });
//! emitter.of("/chat").to("room1").to("room2").except("room3").emit("message", &data).await?;
//! emitter.of("/chat").volatile().emit("typing", &"alice").await?;
//!
//! // Room membership and disconnections, on every node.
//! emitter.to("room1").join(["a", "b"]).await?;
//! emitter.to("a").leave("room1").await?;
//! emitter.to("banned").disconnect(true).await?;
//!
//! // To the servers' own listeners (no acknowledgements).
//! emitter.server_side_emit("reload-config", &("v2",)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Wire format
//!
//! The emitter writes the classic format of Node's `@socket.io/redis-emitter` 5 (the same
//! bytes, see [`volley_protocol::classic`]): the broadcast channels are `{key}#{nsp}#` and
//! `{key}#{nsp}#{room}#` (msgpack `[uid, packet, opts]`), the request channel
//! `{key}-request#{nsp}#` (JSON). Use the same key (channel prefix) as the servers:
//! [`Emitter::with_key`].
//!
//! It publishes through the bus of the cluster's own transport, [`PubSub::publish`] of the
//! adapter crates, so a channel travels exactly as the nodes carry it:
//!
//! | constructor | bus | channel | payload |
//! | --- | --- | --- | --- |
//! | `Emitter::redis` | `volley_redis::RedisBus` | `PUBLISH` channel | message |
//! | `Emitter::amqp` | `volley_amqp::AmqpBus` | routing key, on the fanout exchange `volley` | body |
//! | `Emitter::kafka` | `volley_kafka::KafkaBus` | record key, on partition 0 of the topic `volley` | record value |
//! | `Emitter::nats` | `volley_nats::NatsBus` | subject under the root `volley` (in the stream, with `?bus=jetstream`) | message |
//! | [`Emitter::new`] | any [`PubSub`] | its channel | its payload |
//!
//! On Redis, a Volley cluster reads it, and so does a Node `socket.io` server with
//! `@socket.io/redis-adapter` (`createAdapter`). On RabbitMQ and Kafka (features `amqp` and
//! `kafka`) it reaches Volley clusters; the bus declares the exchange, or creates the topic,
//! when missing, with the settings the nodes use, and `Emitter::amqp_with_exchange` and
//! `Emitter::kafka_with_topic` name another one, as the nodes' transports can be configured to.
//! On NATS (feature `nats`) it takes the nodes' own adapter URL, and so publishes on their
//! subjects (`?key=ROOT`), and into their JetStream stream when they use one.
//!
//! # Failures
//!
//! One connection to the bus per [`Emitter`] (clones share it), made by the constructor: the
//! first connection must succeed, else [`EmitterError::Connect`]. Later losses are reconnected
//! in the background by the bus, forever. A publish while the bus is unreachable fails at once
//! with [`EmitterError::Publish`]; one whose answer (Redis's reply, RabbitMQ's publisher confirm,
//! Kafka's acknowledgement) does not come within 5 seconds fails too. Nothing is queued for
//! later: an error means the message was not published (or, after such a timeout, perhaps was:
//! it is never sent again), and `Ok` means the broker took it. On RabbitMQ the broker must also
//! have put it in at least one node's queue (the nodes publish `mandatory`): with no node
//! running, publishes fail.
//!
//! # Light
//!
//! No HTTP stack: `cargo tree -p volley-emitter -e normal --all-features` has the bus seam
//! `volley-cluster` and the adapter crates `volley-redis`, `volley-amqp`, `volley-kafka`, but no
//! axum, hyper or tower, nor the server crate (a test checks it). Each broker is a feature:
//! `redis` (on by default) brings `volley-redis` and its client `fred`, `amqp` `volley-amqp`
//! and `lapin`, `kafka` `volley-kafka` and `rdkafka` (librdkafka, built from its bundled
//! sources: it needs a C compiler and `make`), `nats` `volley-nats` and `async-nats`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use volley_cluster::PubSub;
use volley_protocol::args::to_args;
use volley_protocol::classic::{self, BroadcastRef, Opts, Request, EMITTER_UID};
use volley_protocol::{EncodeError, Value};

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

/// Why an emit could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The first connection to the bus failed (bad URL, unreachable, refused, auth).
    #[error("cannot connect to the message bus: {0}")]
    Connect(String),
    /// The bus did not take the message: unavailable, closed, no answer in time, or it refused
    /// it (too large, a channel name it cannot carry).
    #[error("the message bus did not take the message: {0}")]
    Publish(String),
    /// The arguments cannot be encoded (a failing `Serialize`, nesting too deep, ...).
    #[error("cannot encode the message: {0}")]
    Encode(#[from] EncodeError),
    /// Socket.IO reserves this event name (`connect`, `connect_error`, `disconnect`,
    /// `disconnecting`, `newListener`, `removeListener`).
    #[error("{0:?} is a reserved event name")]
    ReservedEvent(String),
}

pub use volley_protocol::RESERVED_EVENTS;

/// How long a publish may wait for the broker's answer (the buses' `operation_timeout`).
#[cfg(any(
    feature = "redis",
    feature = "amqp",
    feature = "kafka",
    feature = "nats"
))]
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How the emitters of one constructor show in the brokers' client lists.
#[cfg(any(feature = "amqp", feature = "kafka"))]
const CLIENT_NAME: &str = "volley-emitter";

/// Closes the bus of an emitter made by a broker's constructor.
type Close = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The bus every clone of an emitter publishes on.
struct Bus {
    bus: Arc<dyn PubSub>,
    /// The bus's type, for `Debug`.
    name: &'static str,
    /// Closes the connection, for the buses the emitter connected itself.
    close: Option<Close>,
    closed: AtomicBool,
}

/// Publishes events and requests into a Socket.IO cluster, for one namespace (`/` unless
/// chosen with [`Emitter::of`]). Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct Emitter {
    bus: Arc<Bus>,
    key: Arc<str>,
    nsp: Arc<str>,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("bus", &self.bus.name)
            .field("key", &self.key)
            .field("nsp", &self.nsp)
            .finish()
    }
}

/// The error of a failed first connection.
#[cfg(any(
    feature = "redis",
    feature = "amqp",
    feature = "kafka",
    feature = "nats"
))]
fn connect_error(err: impl fmt::Display) -> EmitterError {
    EmitterError::Connect(err.to_string())
}

/// The bus of [`Emitter::amqp_with_exchange`] (and of the fuzz targets), not connected yet.
#[cfg(feature = "amqp")]
pub(crate) fn amqp_bus(url: &str, exchange: &str) -> Result<volley_amqp::AmqpBus, EmitterError> {
    volley_amqp::AmqpBus::builder(url)
        .exchange(exchange)
        .operation_timeout(TIMEOUT)
        .connection_name(CLIENT_NAME)
        .build()
        .map_err(connect_error)
}

/// The bus of [`Emitter::kafka`] and [`Emitter::kafka_with_topic`] (and of the fuzz targets),
/// not connected yet.
#[cfg(feature = "kafka")]
pub(crate) fn kafka_bus(
    brokers: &str,
    topic: Option<&str>,
) -> Result<volley_kafka::KafkaBus, EmitterError> {
    let mut builder = volley_kafka::KafkaBus::builder(brokers)
        .operation_timeout(TIMEOUT)
        .option("client.id", CLIENT_NAME);
    if let Some(topic) = topic {
        builder = builder.topic(topic);
    }
    builder.build().map_err(connect_error)
}

impl Emitter {
    /// An emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`) that publishes on
    /// `bus`: any [`PubSub`] (an adapter's bus built with settings of your own, a bus of your
    /// own, or a `volley_cluster::MemoryBus` in tests). It connects nothing: a bus that
    /// connects lazily does so on the first emit; connect it first to see a wrong address at
    /// start-up. Publish errors are the bus's, as [`EmitterError::Publish`];
    /// [`close`](Emitter::close) stops this emitter's publishes but leaves the bus open (it is
    /// yours: keep a clone to close it).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use volley_cluster::{MemoryBus, PubSub, Subscription};
    ///
    /// let bus = MemoryBus::new();
    /// let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    /// bus.subscribe(&[Subscription::Prefix("socket.io#".into())], tx).await.unwrap();
    ///
    /// let emitter = volley_emitter::Emitter::new(bus);
    /// emitter.to("room1").emit("hello", &"world").await.unwrap();
    /// assert_eq!(rx.recv().await.unwrap().channel, "socket.io#/#room1#");
    /// # });
    /// ```
    pub fn new(bus: impl PubSub) -> Emitter {
        Emitter::with_bus(Arc::new(bus), None)
    }

    fn with_bus<B: PubSub>(bus: Arc<B>, close: Option<Close>) -> Emitter {
        Emitter {
            bus: Arc::new(Bus {
                bus,
                name: std::any::type_name::<B>(),
                close,
                closed: AtomicBool::new(false),
            }),
            key: Arc::from(classic::DEFAULT_KEY),
            nsp: Arc::from("/"),
        }
    }

    /// An emitter on a bus the constructor connected: [`close`](Emitter::close) closes it.
    #[cfg(any(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "nats"
    ))]
    fn connected<B, F>(bus: B, close: fn(B) -> F) -> Emitter
    where
        B: PubSub + Clone,
        F: Future<Output = ()> + Send + 'static,
    {
        let bus = Arc::new(bus);
        let closing = bus.clone();
        let close: Close = Box::new(move || Box::pin(close(B::clone(&closing))));
        Emitter::with_bus(bus, Some(close))
    }

    /// Connects to Redis and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`), publishing with
    /// `PUBLISH` through a publish-only `volley_redis::RedisBus` (one connection).
    ///
    /// `url` is `redis://[[user]:password@]host[:port][/db]` (or `valkey://`), port 6379 by
    /// default, or `redis-cluster://host:port[,host:port…]` for Redis Cluster (where a
    /// `PUBLISH` reaches the subscribers of every shard); TLS, Sentinel and Unix sockets are
    /// not supported. The nodes' own
    /// adapter URL is taken too: its `key=NAME` sets the emitter's key (as it sets the key the
    /// nodes accept emitters on), and `bus`, `stream`, `maxlen`, `protocol`, which say how the
    /// nodes read, change nothing here (nodes on every Redis bus accept `PUBLISH`ed emitter
    /// input); any other parameter is refused. The first
    /// connection must succeed (else [`EmitterError::Connect`], within about 5 seconds); later
    /// losses are reconnected in the background (100 ms doubling up to 5 s between attempts,
    /// forever), meanwhile publishes fail at once. Each publish waits at most 5 seconds for
    /// Redis's answer.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), volley_emitter::EmitterError> {
    /// let emitter = volley_emitter::Emitter::redis("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_key("my-app");
    /// emitter.emit("ready", &()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str) -> Result<Self, EmitterError> {
        let (url, query) = url.split_once('?').unwrap_or((url, ""));
        let mut key = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("key", value) if !value.is_empty() => key = Some(value.to_owned()),
                ("bus" | "stream" | "maxlen" | "protocol", _) => {}
                (name, _) => {
                    return Err(EmitterError::Connect(format!(
                        "invalid Redis URL: unknown parameter {name:?} (the nodes' adapter URL takes key, bus, stream, maxlen and protocol)"
                    )))
                }
            }
        }
        let bus = volley_redis::RedisBus::builder(url)
            .publish_only(true)
            .operation_timeout(TIMEOUT)
            .build()
            .map_err(connect_error)?;
        bus.connect().await.map_err(connect_error)?;
        let emitter = Emitter::connected(bus, |bus| async move { bus.close().await });
        Ok(match key {
            Some(key) => emitter.with_key(key),
            None => emitter,
        })
    }

    /// Connects to RabbitMQ and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`), publishing on the
    /// exchange `volley` (the default of Volley's AMQP transport) through a
    /// `volley_amqp::AmqpBus`.
    ///
    /// `url` is `amqp://[user[:password]@]host[:port][/vhost][?query]`: port 5672 and user
    /// `guest:guest` by default, the vhost percent-encoded (`%2f` is `/`, the default when the
    /// URL has no path); the query may set `heartbeat` (10 s unless set), `frame_max`,
    /// `channel_max`, `connection_timeout` (milliseconds) and `auth_mechanism`. TLS (`amqps://`)
    /// is not supported.
    ///
    /// The first connection must succeed within 5 seconds (else [`EmitterError::Connect`]: bad
    /// URL, unreachable, refused, wrong credentials or vhost, or an exchange of that name
    /// declared with other flags); it opens one publishing channel in confirm mode and declares
    /// the fanout exchange as the nodes do, and no queue. A lost connection is opened again in
    /// the background (100 ms doubling up to 5 s between attempts, forever); meanwhile publishes
    /// fail at once. Each publish is `mandatory` and waits for the broker's confirm, at most 5
    /// seconds: it fails when no node's queue is bound to the exchange. A channel name (key,
    /// namespace and room) longer than 255 bytes cannot be a routing key: its publish fails.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), volley_emitter::EmitterError> {
    /// let emitter = volley_emitter::Emitter::amqp("amqp://guest:guest@127.0.0.1:5672/%2f")
    ///     .await?
    ///     .with_key("my-app");
    /// emitter.to("room1").emit("ready", &()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "amqp")]
    pub async fn amqp(url: &str) -> Result<Self, EmitterError> {
        Self::amqp_with_exchange(url, volley_amqp::wire::DEFAULT_EXCHANGE).await
    }

    /// [`Emitter::amqp`] for a cluster whose nodes use another exchange than `volley`
    /// (names starting with `amq.` are the broker's, and at most 255 bytes are allowed).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), volley_emitter::EmitterError> {
    /// let emitter = volley_emitter::Emitter::amqp_with_exchange("amqp://127.0.0.1", "chat").await?;
    /// emitter.emit("ready", &()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "amqp")]
    pub async fn amqp_with_exchange(url: &str, exchange: &str) -> Result<Self, EmitterError> {
        let bus = amqp_bus(url, exchange)?;
        bus.connect().await.map_err(connect_error)?;
        Ok(Emitter::connected(
            bus,
            |bus| async move { bus.close().await },
        ))
    }

    /// Connects to Kafka and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`), publishing on the
    /// topic `volley` (the default of Volley's Kafka transport) through a
    /// `volley_kafka::KafkaBus`.
    ///
    /// `brokers` is `[kafka://]host[:port][,host[:port]…][?settings]`, port 9092 by default
    /// (IPv6 in brackets), with the nodes' settings (`?topic=chat`, see
    /// `volley_kafka::KafkaBusBuilder::build`); TLS and SASL are not supported.
    ///
    /// A broker must answer within 5 seconds, and the topic exist or be created (one
    /// partition, replication factor 1, one hour of retention: as the nodes create it), else
    /// [`EmitterError::Connect`]. No consumer is created. librdkafka reconnects to lost brokers
    /// in the background, forever; while every broker is known to be down, publishes fail at
    /// once. Each publish is one record (key: the channel name, value: the payload, partition 0)
    /// sent at most once and acknowledged by the partition leader within 5 seconds, or it fails;
    /// a topic the brokers lost (a restart without storage) is created again first, which may
    /// double that time.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), volley_emitter::EmitterError> {
    /// let emitter = volley_emitter::Emitter::kafka("kafka://127.0.0.1:9092")
    ///     .await?
    ///     .with_key("my-app");
    /// emitter.of("/chat").emit("ready", &()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "kafka")]
    pub async fn kafka(brokers: &str) -> Result<Self, EmitterError> {
        Self::connect_kafka(kafka_bus(brokers, None)?).await
    }

    /// [`Emitter::kafka`] for a cluster whose nodes use another topic than `volley` (1 to 249
    /// of `[a-zA-Z0-9._-]`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), volley_emitter::EmitterError> {
    /// let emitter = volley_emitter::Emitter::kafka_with_topic("k1:9092,k2:9092", "chat").await?;
    /// emitter.emit("ready", &()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "kafka")]
    pub async fn kafka_with_topic(brokers: &str, topic: &str) -> Result<Self, EmitterError> {
        Self::connect_kafka(kafka_bus(brokers, Some(topic))?).await
    }

    #[cfg(feature = "kafka")]
    async fn connect_kafka(bus: volley_kafka::KafkaBus) -> Result<Self, EmitterError> {
        bus.connect().await.map_err(connect_error)?;
        Ok(Emitter::connected(
            bus,
            |bus| async move { bus.close().await },
        ))
    }

    /// Connects to NATS and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`), publishing through
    /// a `volley_nats::NatsBus` made from the nodes' own adapter URL.
    ///
    /// `url` is `nats://[user:password@]host[:port][?settings]`, port 4222 by default, with the
    /// nodes' settings: `key=ROOT` (the subject root the nodes share, `volley` by default), and
    /// `bus=jetstream` (with `stream` and `maxlen`) to publish into their stream, each emit then
    /// waiting for the stream's acknowledgement. The server must answer within 5 seconds (else
    /// [`EmitterError::Connect`]; with JetStream the stream is created when missing, as the nodes
    /// create it). The connection is re-established in the background after a loss, forever;
    /// meanwhile publishes fail at once. Each publish waits at most 5 seconds; on core NATS,
    /// `Ok` means the server took the message, not that a node was listening.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), volley_emitter::EmitterError> {
    /// let emitter = volley_emitter::Emitter::nats("nats://127.0.0.1:4222?bus=jetstream").await?;
    /// emitter.to("room1").emit("ready", &()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "nats")]
    pub async fn nats(url: &str) -> Result<Self, EmitterError> {
        let bus = volley_nats::NatsBus::builder(url)
            .operation_timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .map_err(connect_error)?;
        bus.connect().await.map_err(connect_error)?;
        Ok(Emitter::connected(
            bus,
            |bus| async move { bus.close().await },
        ))
    }

    /// The same emitter with another key (the channel prefix: the `key` option of Node's
    /// adapter and emitter, or the prefix the Volley Redis adapter was given).
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Arc::from(key.into());
        self
    }

    /// The key (channel prefix).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The namespace this emitter publishes to.
    pub fn namespace(&self) -> &str {
        &self.nsp
    }

    /// An emitter for another namespace (a missing leading `/` is added, as Node's emitter
    /// does).
    ///
    /// ```no_run
    /// # async fn run(emitter: volley_emitter::Emitter) -> Result<(), volley_emitter::EmitterError> {
    /// emitter.of("/admin").emit("stats", &42).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn of(&self, nsp: &str) -> Emitter {
        let nsp = if nsp.starts_with('/') {
            Arc::from(nsp)
        } else {
            Arc::from(format!("/{nsp}"))
        };
        Emitter {
            bus: self.bus.clone(),
            key: self.key.clone(),
            nsp,
        }
    }

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator {
            emitter: self.clone(),
            opts: Opts::default(),
        }
    }

    /// Targets a room (or several: any [`IntoRooms`]); chain to add more.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// Leaves out the sockets in a room (or several); socket ids are rooms too.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().except(rooms)
    }

    /// Lets servers drop the event for clients that are not ready to receive it.
    pub fn volatile(&self) -> BroadcastOperator {
        self.operator().volatile()
    }

    /// Sets the `compress` flag (WebSocket per-message compression, where enabled).
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.operator().compress(compress)
    }

    /// Emits an event to every client of the namespace.
    ///
    /// `args` follows [`to_args`]: `()` is no argument, a tuple one argument per element,
    /// anything else one argument; bytes (`bytes::Bytes`, `serde_bytes`) arrive as binary.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitterError> {
        self.operator().emit(event, args).await
    }

    /// Makes every socket of the namespace join rooms.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        self.operator().join(rooms).await
    }

    /// Makes every socket of the namespace leave rooms.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        self.operator().leave(rooms).await
    }

    /// Disconnects every socket of the namespace (clients see `io server disconnect`); with
    /// `close`, their whole connection is closed.
    pub async fn disconnect(&self, close: bool) -> Result<(), EmitterError> {
        self.operator().disconnect(close).await
    }

    /// Emits an event to the listeners of the servers themselves (every node of the
    /// namespace), not to clients. No acknowledgements. Arguments as for [`Emitter::emit`],
    /// but they travel as JSON: binary arrives as a Node `Buffer`'s JSON,
    /// `{"type":"Buffer","data":[...]}`, like with Node's emitter.
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitterError> {
        let request = Request::ServerSideEmit {
            uid: Some(EMITTER_UID.to_owned()),
            event: event.to_owned(),
            args: to_args(args)?,
        };
        self.request(&request).await
    }

    async fn request(&self, request: &Request) -> Result<(), EmitterError> {
        let payload = classic::encode_request(request)?;
        self.publish(&classic::request_channel(&self.key, &self.nsp), payload)
            .await
    }

    /// Publishes one encoded message; nothing is sent once the emitter is closed.
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), EmitterError> {
        if self.bus.closed.load(Ordering::Acquire) {
            return Err(EmitterError::Publish("the emitter is closed".into()));
        }
        self.bus
            .bus
            .publish(channel, payload)
            .await
            .map_err(|e| EmitterError::Publish(e.to_string()))
    }

    /// Closes the emitter (every clone of it): later emits fail with
    /// [`EmitterError::Publish`]. The connection of an emitter made by `redis`, `amqp` or
    /// `kafka` is closed too (dropping the last clone closes it as well); the bus given to
    /// [`Emitter::new`] is left open.
    pub async fn close(&self) {
        self.bus.closed.store(true, Ordering::Release);
        if let Some(close) = &self.bus.close {
            close().await;
        }
    }
}

/// An emit, room change or disconnection being prepared: targets and flags, built by
/// chaining from [`Emitter::to`], [`Emitter::except`], [`Emitter::volatile`] or
/// [`Emitter::compress`].
#[derive(Debug, Clone)]
#[must_use = "nothing is published until emit, join, leave or disconnect is awaited"]
pub struct BroadcastOperator {
    emitter: Emitter,
    opts: Opts,
}

fn add_rooms(list: &mut Vec<String>, rooms: impl IntoRooms) {
    // A set, as in Node: each room once, in the order first given.
    for room in rooms.into_rooms() {
        if !list.contains(&room) {
            list.push(room);
        }
    }
}

impl BroadcastOperator {
    /// Also targets these rooms.
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        add_rooms(&mut self.opts.rooms, rooms);
        self
    }

    /// Also leaves out the sockets of these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        add_rooms(&mut self.opts.except, rooms);
        self
    }

    /// Lets servers drop the event for clients that are not ready to receive it.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Sets the `compress` flag.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.compress = Some(compress);
        self
    }

    /// Emits an event to the targeted clients (all of the namespace when no room is given).
    /// See [`Emitter::emit`] for `args`.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitterError> {
        if volley_protocol::is_reserved_event(event) {
            return Err(EmitterError::ReservedEvent(event.to_owned()));
        }
        let args: Vec<Value> = to_args(args)?;
        let message = BroadcastRef {
            uid: EMITTER_UID,
            nsp: &self.emitter.nsp,
            event,
            args: &args,
            opts: &self.opts,
        };
        let payload = classic::encode_broadcast(&message)?;
        self.emitter
            .publish(&message.channel(&self.emitter.key), payload)
            .await
    }

    /// Makes the targeted sockets join rooms.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        let request = Request::Join {
            opts: self.target(),
            rooms: rooms.into_rooms(),
        };
        self.emitter.request(&request).await
    }

    /// Makes the targeted sockets leave rooms.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        let request = Request::Leave {
            opts: self.target(),
            rooms: rooms.into_rooms(),
        };
        self.emitter.request(&request).await
    }

    /// Disconnects the targeted sockets; with `close`, their whole connection is closed.
    pub async fn disconnect(&self, close: bool) -> Result<(), EmitterError> {
        let request = Request::Disconnect {
            opts: self.target(),
            close,
        };
        self.emitter.request(&request).await
    }

    /// Rooms and except (requests carry no flags).
    fn target(&self) -> Opts {
        Opts {
            rooms: self.opts.rooms.clone(),
            except: self.opts.except.clone(),
            ..Opts::default()
        }
    }
}

/// One room or several: `"room"`, `String`, `["a", "b"]`, `vec![..]`, `&[..]`.
pub trait IntoRooms {
    /// The rooms, in order.
    fn into_rooms(self) -> Vec<String>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<String> {
        vec![self]
    }
}

impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<S: Into<String>> IntoRooms for Vec<S> {
    fn into_rooms(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<S: Into<String>, const N: usize> IntoRooms for [S; N] {
    fn into_rooms(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<S: AsRef<str>> IntoRooms for &[S] {
    fn into_rooms(self) -> Vec<String> {
        self.iter().map(|room| room.as_ref().to_owned()).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use volley_protocol::classic::{decode_broadcast, decode_request, Broadcast};

    use super::*;

    fn emitter() -> (Emitter, fuzzing::Recorder) {
        fuzzing::recording()
    }

    fn last(recorder: &fuzzing::Recorder) -> (String, Vec<u8>) {
        let (channel, bytes) = recorder.sent().last().cloned().unwrap();
        (channel, bytes.to_vec())
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn builds_what_node_builds() {
        block_on(async {
            let (emitter, recorder) = emitter();
            emitter.emit("hello", &("world", 1)).await.unwrap();
            let (channel, bytes) = last(&recorder);
            assert_eq!(channel, "socket.io#/#");
            assert_eq!(
                decode_broadcast(&bytes).unwrap(),
                Broadcast {
                    uid: "emitter".into(),
                    nsp: "/".into(),
                    event: "hello".into(),
                    args: vec![Value::from("world"), Value::from(1)],
                    opts: Opts::default(),
                }
            );

            let chat = emitter.of("chat").with_key("k");
            assert_eq!((chat.namespace(), chat.key()), ("/chat", "k"));
            chat.to("r1")
                .to(["r1", "r2"])
                .except("x")
                .except(vec!["x", "y"])
                .volatile()
                .compress(false)
                .emit("ev", &bytes::Bytes::from_static(&[1, 2]))
                .await
                .unwrap();
            let (channel, bytes) = last(&recorder);
            assert_eq!(channel, "k#/chat#");
            let b = decode_broadcast(&bytes).unwrap();
            assert_eq!(b.args, vec![Value::Binary(vec![1, 2])]);
            assert_eq!(
                b.opts,
                Opts {
                    rooms: vec!["r1".into(), "r2".into()],
                    except: vec!["x".into(), "y".into()],
                    volatile: true,
                    compress: Some(false),
                }
            );
            chat.to(&["solo".to_owned()][..])
                .emit("ev", &())
                .await
                .unwrap();
            assert_eq!(last(&recorder).0, "k#/chat#solo#");

            emitter.to("r").join("a").await.unwrap();
            let (channel, bytes) = last(&recorder);
            assert_eq!(channel, "socket.io-request#/#");
            assert_eq!(
                std::str::from_utf8(&bytes).unwrap(),
                r#"{"type":2,"opts":{"rooms":["r"],"except":[]},"rooms":["a"]}"#
            );
            emitter.leave(["a", "b"]).await.unwrap();
            assert!(matches!(
                decode_request(&last(&recorder).1).unwrap(),
                Request::Leave { rooms, .. } if rooms == ["a", "b"]
            ));
            emitter
                .except("r")
                .volatile()
                .disconnect(true)
                .await
                .unwrap();
            assert_eq!(
                std::str::from_utf8(&last(&recorder).1).unwrap(),
                r#"{"type":4,"opts":{"rooms":[],"except":["r"]},"close":true}"#
            );
            emitter
                .of("/a")
                .server_side_emit("ping", &("x",))
                .await
                .unwrap();
            let (channel, bytes) = last(&recorder);
            assert_eq!(channel, "socket.io-request#/a#");
            assert_eq!(
                std::str::from_utf8(&bytes).unwrap(),
                r#"{"uid":"emitter","type":6,"data":["ping","x"]}"#
            );
        });
    }

    #[test]
    fn refuses_reserved_events_and_bad_args() {
        block_on(async {
            let (emitter, recorder) = emitter();
            for event in RESERVED_EVENTS {
                assert!(matches!(
                    emitter.emit(event, &()).await,
                    Err(EmitterError::ReservedEvent(_))
                ));
            }
            let mut deep = serde_json::json!(null);
            for _ in 0..200 {
                deep = serde_json::json!([deep]);
            }
            assert!(matches!(
                emitter.emit("deep", &deep).await,
                Err(EmitterError::Encode(_))
            ));
            assert!(recorder.sent().is_empty());
        });
    }

    #[test]
    fn bus_errors_and_close() {
        block_on(async {
            let bus = volley_cluster::MemoryBus::new();
            let (tx, mut rx) = tokio::sync::mpsc::channel(8);
            bus.subscribe(&[volley_cluster::Subscription::Prefix("k#".into())], tx)
                .await
                .unwrap();
            let emitter = Emitter::new(bus.clone()).with_key("k");
            assert!(format!("{emitter:?}").contains("MemoryBus"), "{emitter:?}");

            bus.set_down(true);
            assert!(matches!(
                emitter.emit("ev", &()).await,
                Err(EmitterError::Publish(reason)) if reason.contains("down")
            ));
            bus.set_down(false);
            emitter.to("r").emit("ev", &()).await.unwrap();
            assert_eq!(rx.recv().await.unwrap().channel, "k#/#r#");

            // Closing stops every clone, and leaves the caller's bus open.
            let other = emitter.of("/other");
            emitter.close().await;
            assert!(matches!(
                other.emit("ev", &()).await,
                Err(EmitterError::Publish(_))
            ));
            bus.publish("k#/#", Bytes::from_static(b"still open"))
                .await
                .unwrap();
            assert_eq!(rx.recv().await.unwrap().payload, "still open");
            assert!(rx.try_recv().is_err());
        });
    }

    /// The settings the constructors give the adapters' builders are accepted (librdkafka's
    /// check of the configuration included), and bad addresses refused before connecting.
    #[cfg(feature = "kafka")]
    #[test]
    fn kafka_settings() {
        assert_eq!(
            fuzzing::kafka_target("kafka://h1, h2:9093", "volley").unwrap(),
            "h1:9092,h2:9093"
        );
        for (brokers, topic) in [("h", "no spaces"), ("u:p@h", "t"), ("h?x=1", "t")] {
            assert!(matches!(
                fuzzing::kafka_target(brokers, topic),
                Err(EmitterError::Connect(_))
            ));
        }
    }

    #[cfg(feature = "amqp")]
    #[test]
    fn amqp_settings() {
        fuzzing::amqp_target("amqp://u:p@127.0.0.1:5672/%2f?heartbeat=3", "chat").unwrap();
        for (url, exchange) in [("amqp://h", "amq.x"), ("amqps://h", "x"), ("h", "x")] {
            assert!(matches!(
                fuzzing::amqp_target(url, exchange),
                Err(EmitterError::Connect(_))
            ));
        }
    }
}
