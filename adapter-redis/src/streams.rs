//! The cluster transport over one Redis stream: [`StreamsBus`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fred::clients::Client;
use fred::prelude::{ClientLike, Options, StreamsInterface, Value};
use tokio::sync::{mpsc, OnceCell};
use tokio::task::JoinHandle;
use volley_cluster::{BusError, BusMessage, PubSub, RestoredSession, StoredSession, Subscription};

use crate::config::FredSettings;
use crate::{error, RedisBus, RedisBusBuilder, RedisError, LOG_TARGET};

mod entry;
mod node_wire;

pub use entry::{CHANNEL_FIELD, DATA_FIELD};
pub use node_wire::{DEFAULT_CHANNEL_PREFIX, SESSION_KEY_PREFIX};

/// Default of [`StreamsBusBuilder::stream`]: `socket.io`, the stream of Node's
/// `@socket.io/redis-streams-adapter`.
pub const DEFAULT_STREAM: &str = "socket.io";
/// Default of [`StreamsBusBuilder::max_len`]: 10 000 entries, as Node's streams adapter.
pub const DEFAULT_MAX_LEN: u64 = 10_000;
/// Default of [`StreamsBusBuilder::read_count`]: 100 entries per read, as Node's streams adapter.
pub const DEFAULT_READ_COUNT: u64 = 100;

/// A [`PubSub`] transport over one Redis stream: messages are kept in Redis, so a node that
/// loses its connection (or a Redis that restarts with its data) misses nothing.
///
/// # Publishing
///
/// A publish is one `XADD <stream> MAXLEN ~ <max_len> * channel <channel> data <payload>`,
/// sent at most once. It returns `Ok` once Redis has appended the entry; it fails with
/// [`BusError::Unavailable`] at once while the connection is down, or after the command
/// timeout without an answer, and with [`BusError::TooLarge`] above the
/// [`max_message_size`](RedisBusBuilder::max_message_size).
///
/// # Receiving
///
/// Each [`subscribe`](PubSub::subscribe) call reads the stream on a connection of its own with
/// `XREAD COUNT <read_count> BLOCK <block> STREAMS <stream> <id>`, from the last entry that was
/// in the stream when it was called, and always from the last entry it has read: after a lost
/// connection (or a Redis restart) it reads on from there, so it misses nothing still in the
/// stream, and delivers nothing twice. Entries whose `channel` field matches one of its
/// subscriptions go to the sink, in the stream's order; the reading waits while the sink is full,
/// so memory stays bounded by `read_count` entries. Entries it does not understand (another
/// program's, such as Node's streams adapter's) are skipped.
///
/// [`Subscription::Prefix`] subscriptions also listen on Redis pub/sub (`PSUBSCRIBE`, through a
/// [`RedisBus`]): that is where Node's and Volley's emitters publish. What arrives that way is
/// as lasting as pub/sub: lost for a node not subscribed at that moment.
///
/// # Durability
///
/// An `Ok` publish is in Redis; it reaches every node that reads the stream before
/// [`max_len`](StreamsBusBuilder::max_len) later entries push it out (a node that falls further
/// behind than that loses the oldest). It survives a Redis restart if
/// Redis persisted it: with `appendonly yes` and `appendfsync always` even a `SIGKILL` loses
/// nothing Redis acknowledged; with the default `everysec`, up to a second of writes.
///
/// # Node's `@socket.io/redis-streams-adapter`
///
/// The stream name, the trimming (`MAXLEN ~ 10000`) and the read size are Node's defaults. In
/// its own format (the default) the bus writes Volley's cluster messages, or batches of them, in
/// the fields `channel` and `data`; Node's nodes skip those entries (they have no `nsp`), so a
/// Node cluster and a Volley cluster can share a stream, but not one cluster.
///
/// With [`node_protocol`](StreamsBusBuilder::node_protocol) (`?protocol=node` in an adapter URL)
/// the bus speaks Node's adapter 0.3 instead, and Node nodes and Volley nodes form one cluster:
///
/// - one entry per message in Node's fields `uid`, `nsp`, `type` and `data` (JSON, or base64
///   MessagePack when it holds binary) for broadcasts, joins, leaves and disconnects; requests,
///   answers and broadcasts with acks on Node's pub/sub channels `{key}#{nsp}#` and
///   `{key}#{nsp}#{uid}#` (see `volley_protocol::cluster::node` for the shapes);
/// - servers counted as Node counts them, by the subscribers of `{key}#{nsp}#` (a Volley node
///   subscribes for `/` at once, for another namespace at its first socket there), so requests
///   wait for every node, Node's too, which send no heartbeats;
/// - connection state recovery Node's way: a disconnected socket is kept in Redis under
///   `sio:session:<pid>` ([`SESSION_KEY_PREFIX`]) for the recovery window, and a broadcast's
///   offset is its entry id, so a client recovers on any node, Node's or Volley's. A Volley node
///   delivers its own broadcasts to its sockets when it reads them back from the stream, so its
///   clients receive every broadcast in the stream's order and their offsets skip nothing.
///
/// What Node's nodes do not send: which socket sent an ack to a broadcast (an ack from a client
/// of a Node node comes under `volley::Sid::UNNAMED`) and more than the first argument of an
/// ack or of a server-side answer; Volley nodes add both, which Node ignores. And Node's streams
/// adapter has no emitter: `volley-emitter` publishes only through Redis pub/sub.
#[derive(Clone)]
pub struct StreamsBus {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    /// Set when the bus speaks Node's protocol.
    node: Option<node_wire::NodeWire>,
    writer: Client,
    /// For [`Subscription::Prefix`]: emitters publish with `PUBLISH`.
    pubsub: RedisBus,
    connected: OnceCell<()>,
    /// Set by [`StreamsBus::close`]: publishes and subscribes fail from then on.
    closed: AtomicBool,
    /// The readers' tasks and connections, stopped with the bus.
    tasks: Mutex<Vec<(JoinHandle<()>, Client)>>,
}

/// What the readers need, cloned into each.
#[derive(Clone)]
struct Settings {
    fred: Arc<FredSettings>,
    stream: String,
    max_len: u64,
    read_count: u64,
    block: Duration,
}

impl std::fmt::Debug for StreamsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsBus")
            .field("address", &self.inner.settings.fred.address)
            .field("stream", &self.inner.settings.stream)
            .field("max_len", &self.inner.settings.max_len)
            .finish_non_exhaustive()
    }
}

/// Configures a [`StreamsBus`]: the stream and its length, plus the connection settings of
/// [`RedisBusBuilder`].
///
/// ```
/// use volley_redis::StreamsBus;
///
/// let bus = StreamsBus::builder("redis://127.0.0.1:6379")
///     .stream("my-app")
///     .max_len(100_000)
///     .build()
///     .expect("a valid URL");
/// # drop(bus);
/// ```
#[derive(Debug, Clone)]
pub struct StreamsBusBuilder {
    redis: RedisBusBuilder,
    stream: String,
    max_len: u64,
    read_count: u64,
    block: Duration,
    node_protocol: Option<String>,
}

impl StreamsBusBuilder {
    /// Speaks the protocol of Node's `@socket.io/redis-streams-adapter` 0.3 instead of
    /// Volley's own, so that Node nodes using that adapter and Volley nodes form one cluster
    /// (see [Node's adapter](StreamsBus#nodes-socketioredis-streams-adapter)). `channel_prefix`
    /// is Node's `channelPrefix` option ([`DEFAULT_CHANNEL_PREFIX`] unless the Node nodes set
    /// another); the stream is [`stream`](StreamsBusBuilder::stream), Node's `streamName`.
    ///
    /// ```
    /// use volley_redis::{StreamsBus, DEFAULT_CHANNEL_PREFIX};
    ///
    /// let bus = StreamsBus::builder("redis://127.0.0.1:6379")
    ///     .node_protocol(DEFAULT_CHANNEL_PREFIX)
    ///     .build()
    ///     .expect("a valid URL");
    /// assert!(bus.speaks_node());
    /// ```
    pub fn node_protocol(mut self, channel_prefix: impl Into<String>) -> Self {
        self.node_protocol = Some(channel_prefix.into());
        self
    }

    /// The stream's key (default [`DEFAULT_STREAM`]). Clusters sharing a Redis server need
    /// different prefixes ([`ClusterConfig::prefix`](volley_cluster::ClusterConfig));
    /// with their own streams they also stop reading each other's entries.
    pub fn stream(mut self, key: impl Into<String>) -> Self {
        self.stream = key.into();
        self
    }

    /// About how many entries the stream keeps (`MAXLEN ~`, default [`DEFAULT_MAX_LEN`]): how
    /// far behind a node may fall (for instance while it reconnects) without losing messages,
    /// and what the stream costs in Redis memory.
    pub fn max_len(mut self, entries: u64) -> Self {
        self.max_len = entries.max(1);
        self
    }

    /// How many entries one read takes at most (default [`DEFAULT_READ_COUNT`]).
    pub fn read_count(mut self, entries: u64) -> Self {
        self.read_count = entries.max(1);
        self
    }

    /// The connection settings, as for a [`RedisBus`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use volley_redis::StreamsBus;
    ///
    /// let bus = StreamsBus::builder("redis://127.0.0.1:6379")
    ///     .redis(|r| r.operation_timeout(Duration::from_millis(500)))
    ///     .build()
    ///     .expect("a valid URL");
    /// # drop(bus);
    /// ```
    pub fn redis(mut self, configure: impl FnOnce(RedisBusBuilder) -> RedisBusBuilder) -> Self {
        self.redis = configure(self.redis);
        self
    }

    /// Checks the URL and builds the bus. Nothing is connected yet: see
    /// [`StreamsBus::connect`].
    pub fn build(self) -> Result<StreamsBus, RedisError> {
        if self.stream.is_empty() {
            return Err(RedisError::InvalidUrl("the stream name is empty".into()));
        }
        let fred = self.redis.fred_settings()?;
        // the streams bus speaks Node's streams protocol itself (`node_protocol` above): its
        // pub/sub side carries that protocol's messages as they are
        let mut redis = self.redis;
        redis.node_protocol = None;
        redis.classic_channels = true;
        let pubsub = redis.build()?;
        let writer = fred.client(fred.publisher_perf.clone());
        Ok(StreamsBus {
            inner: Arc::new(Inner {
                node: self.node_protocol.map(node_wire::NodeWire::new),
                settings: Settings {
                    fred: Arc::new(fred),
                    stream: self.stream,
                    max_len: self.max_len,
                    read_count: self.read_count,
                    block: self.block,
                },
                writer,
                pubsub,
                connected: OnceCell::new(),
                closed: AtomicBool::new(false),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl StreamsBus {
    /// A bus on the stream [`DEFAULT_STREAM`] of the Redis server at `url`
    /// (`redis://[[user]:password@]host[:port][/db]`). Does not connect.
    ///
    /// ```
    /// use volley_redis::StreamsBus;
    ///
    /// assert!(StreamsBus::new("redis://127.0.0.1:6379/0").is_ok());
    /// assert!(StreamsBus::new("not a url").is_err());
    /// ```
    pub fn new(url: &str) -> Result<StreamsBus, RedisError> {
        StreamsBus::builder(url).build()
    }

    /// Starts configuring a bus for the Redis server at `url`; see [`StreamsBusBuilder`].
    pub fn builder(url: &str) -> StreamsBusBuilder {
        StreamsBusBuilder {
            redis: RedisBusBuilder::new(url),
            stream: DEFAULT_STREAM.to_owned(),
            max_len: DEFAULT_MAX_LEN,
            read_count: DEFAULT_READ_COUNT,
            block: Duration::from_millis(500),
            node_protocol: None,
        }
    }

    /// Whether the bus speaks Node's protocol (see [`StreamsBusBuilder::node_protocol`]).
    pub fn speaks_node(&self) -> bool {
        self.inner.node.is_some()
    }

    /// The stream's key.
    pub fn stream(&self) -> &str {
        &self.inner.settings.stream
    }

    /// Opens the connection that writes and waits until it is ready, or returns why the first
    /// attempt failed. Calling it again after a success does nothing.
    pub async fn connect(&self) -> Result<(), RedisError> {
        self.inner
            .connected
            .get_or_try_init(|| async {
                self.inner
                    .writer
                    .init()
                    .await
                    .map(|_| ())
                    .map_err(|e| RedisError::Connect(error::describe(&e)))
            })
            .await
            .map(|_| ())
    }

    /// Closes the connections and stops the readers: the sinks given to
    /// [`subscribe`](PubSub::subscribe) are closed, and later publishes and subscribes fail with
    /// [`BusError::Unavailable`]. A closed bus stays closed, for every clone.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.stop_tasks();
        self.inner.pubsub.close().await;
        if self.inner.connected.initialized() {
            let _ = self.inner.writer.quit().await;
        }
    }

    async fn ensure_connected(&self) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        if self.inner.connected.initialized() {
            return Ok(());
        }
        self.connect().await.map_err(BusError::from)
    }
}

impl Inner {
    /// Appends one entry (`XADD <stream> MAXLEN ~ <max_len> * <fields>`), sent at most once;
    /// returns its id.
    async fn xadd(&self, fields: Vec<(&str, Value)>) -> Result<String, BusError> {
        let settings = &self.settings;
        let writer = self.writer.with_options(&settings.fred.publish_options);
        writer
            .xadd(
                settings.stream.as_str(),
                false,
                (
                    "MAXLEN",
                    "~",
                    i64::try_from(settings.max_len).unwrap_or(i64::MAX),
                ),
                "*",
                fields,
            )
            .await
            .map_err(|e| error::bus_error(e, &settings.fred.address))
    }

    /// Stops the readers; their connections are closed in the background (fred's connection
    /// tasks reconnect forever unless told to quit).
    fn stop_tasks(&self) {
        let readers: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        let runtime = tokio::runtime::Handle::try_current().ok();
        for (task, reader) in readers {
            task.abort();
            if let Some(runtime) = &runtime {
                runtime.spawn(async move {
                    let _ = reader.quit().await;
                });
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_tasks();
        if !self.connected.initialized() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = self.writer.clone();
            runtime.spawn(async move {
                let _ = writer.quit().await;
            });
        }
    }
}

impl FredSettings {
    /// A new client with these settings and `perf`.
    fn client(&self, perf: fred::prelude::PerformanceConfig) -> Client {
        Client::new(
            self.config.clone(),
            Some(perf),
            Some(self.connection.clone()),
            Some(self.policy.clone()),
        )
    }
}

#[async_trait]
impl PubSub for StreamsBus {
    fn max_message_size(&self) -> usize {
        self.inner.settings.fred.max_message_size
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        let settings = &self.inner.settings;
        if payload.len() > settings.fred.max_message_size {
            return Err(BusError::TooLarge(payload.len()));
        }
        self.ensure_connected().await?;
        if self.inner.node.is_some() {
            return self.inner.publish_node(channel, &payload).await;
        }
        let fields = vec![
            (CHANNEL_FIELD, Value::from(channel)),
            (DATA_FIELD, Value::Bytes(payload)),
        ];
        self.inner.xadd(fields).await.map(|_| ())
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        self.ensure_connected().await?;
        let wire = match self.inner.node {
            Some(_) => {
                let deliver_on = self.inner.link_node(subscriptions, sink.clone())?;
                self.inner.serve_namespace("/").await;
                Wire::Node { deliver_on }
            }
            None => Wire::Volley,
        };
        let prefixes: Vec<Subscription> = subscriptions
            .iter()
            .filter(|s| matches!(s, Subscription::Prefix(_)))
            .cloned()
            .collect();
        if !prefixes.is_empty() {
            self.inner.pubsub.subscribe(&prefixes, sink.clone()).await?;
        }
        let settings = self.inner.settings.clone();
        let reader = settings.fred.client(settings.fred.publisher_perf.clone());
        reader
            .init()
            .await
            .map_err(|e| error::bus_error(e, &settings.fred.address))?;
        // Start after what is in the stream now: every entry added once this returns is read.
        let start = match last_id(&reader, &settings).await {
            Ok(id) => id,
            Err(e) => {
                let _ = reader.quit().await;
                return Err(e);
            }
        };
        let task = tokio::spawn(read(
            reader.clone(),
            settings,
            (subscriptions.to_vec(), wire),
            start,
            sink,
        ));
        let mut tasks = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|(t, _)| !t.is_finished());
        tasks.push((task, reader));
        Ok(())
    }

    async fn peers(&self, nsp: &str) -> Option<usize> {
        if self.inner.node.is_none() || self.ensure_connected().await.is_err() {
            return None;
        }
        self.inner.node_peers(nsp).await
    }

    async fn serve(&self, nsp: &str) {
        if self.inner.node.is_some() {
            self.inner.serve_namespace(nsp).await;
        }
    }

    fn numbers_broadcasts(&self) -> bool {
        self.inner.node.is_some()
    }

    fn keeps_sessions(&self) -> bool {
        self.inner.node.is_some()
    }

    async fn persist_session(
        &self,
        _nsp: &str,
        session: StoredSession,
        ttl: Duration,
    ) -> Result<(), BusError> {
        self.ensure_connected().await?;
        self.inner.persist_node_session(session, ttl).await
    }

    async fn restore_session(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
        max_missed: usize,
    ) -> Result<Option<RestoredSession>, BusError> {
        if self.inner.node.is_none() {
            return Ok(None);
        }
        self.ensure_connected().await?;
        self.inner
            .restore_node_session(nsp, pid, offset, max_missed)
            .await
    }
}

/// How the entries of the stream read.
enum Wire {
    /// Volley's: `channel` and `data`.
    Volley,
    /// Node's: `uid`, `nsp`, `type`, `data`, delivered on the manager's channel for every node.
    Node { deliver_on: String },
}

/// The id of the stream's last entry, `0-0` when there is none.
async fn last_id(reader: &Client, settings: &Settings) -> Result<String, BusError> {
    let options = Options {
        timeout: Some(settings.fred.operation_timeout),
        ..Options::default()
    };
    let last: Value = reader
        .with_options(&options)
        .xrevrange(settings.stream.as_str(), "+", "-", Some(1))
        .await
        .map_err(|e| error::bus_error(e, &settings.fred.address))?;
    Ok(entry::last_id(&last).unwrap_or_else(|| "0-0".to_owned()))
}

/// Reads the stream from `after` on, forever, handing what `subscriptions` want to `sink`, until
/// the sink closes.
async fn read(
    reader: Client,
    settings: Settings,
    (subscriptions, wire): (Vec<Subscription>, Wire),
    mut after: String,
    sink: mpsc::Sender<BusMessage>,
) {
    let block_ms = u64::try_from(settings.block.as_millis()).unwrap_or(u64::MAX);
    let options = Options {
        // wait for a reconnection rather than fail at once: the backoff below is for errors
        fail_fast: false,
        max_attempts: Some(1),
        timeout: Some(settings.block + settings.fred.operation_timeout),
        ..Options::default()
    };
    let reading = reader.with_options(&options);
    let mut backoff = Duration::from_millis(50);
    let mut failing = false;
    loop {
        if sink.is_closed() {
            break;
        }
        let reply: Result<Value, _> = tokio::select! {
            biased;
            _ = sink.closed() => break,
            reply = reading.xread(
                Some(settings.read_count),
                Some(block_ms),
                settings.stream.as_str(),
                after.as_str(),
            ) => reply,
        };
        let reply = match reply {
            Ok(reply) => {
                if failing {
                    tracing::info!(target: LOG_TARGET, stream = %settings.stream, after = %after, "reading the Redis stream again");
                    failing = false;
                }
                backoff = Duration::from_millis(50);
                reply
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(target: LOG_TARGET, stream = %settings.stream, error = %error::describe(&e), "cannot read the Redis stream, retrying");
                    failing = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let entries = match entry::parse_read(&reply) {
            Ok(entries) => entries,
            Err(why) => {
                tracing::warn!(target: LOG_TARGET, stream = %settings.stream, why, "unreadable XREAD reply, skipped");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        for e in entries {
            if !entry::after(&e.id, &after) {
                // never go back: an id not past the last one read is a server's oddity
                continue;
            }
            after.clone_from(&e.id);
            if let Wire::Node { deliver_on } = &wire {
                let Some(payload) = node_wire::translate_entry(&e) else {
                    continue;
                };
                let message = BusMessage {
                    channel: deliver_on.clone(),
                    payload,
                };
                if sink.send(message).await.is_err() {
                    let _ = reader.quit().await;
                    return;
                }
                continue;
            }
            let (Some(channel), Some(payload)) = (e.channel, e.data) else {
                tracing::debug!(target: LOG_TARGET, id = %after, "stream entry without channel or data, skipped");
                continue;
            };
            if !subscriptions.iter().any(|s| s.matches(&channel)) {
                continue;
            }
            if sink.send(BusMessage { channel, payload }).await.is_err() {
                let _ = reader.quit().await;
                return;
            }
        }
    }
    let _ = reader.quit().await;
}
