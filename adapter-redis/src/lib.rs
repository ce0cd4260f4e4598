//! Redis transports of the Volley cluster manager, on the [`fred`] client:
//!
//! - [`RedisBus`]: Redis pub/sub. Fast, stores nothing: an emit fails when a node was not
//!   subscribed to receive it (see [What an `Ok` emit means](RedisBus#what-an-ok-emit-means)).
//! - [`StreamsBus`]: one Redis stream. Messages stay in Redis, and a node that reconnects reads
//!   on from where it stopped: no loss across connection losses and (persistent) Redis restarts.
//!
//! [`RedisBus`] implements [`PubSub`] with Redis `PUBLISH` / `SUBSCRIBE` / `PSUBSCRIBE`. It keeps two connections to one Redis server: one that publishes (fred
//! pipelines concurrent publishes on it) and one that subscribes. Both reconnect with
//! exponential backoff, forever; the subscriptions are restored after every reconnection.
//! While the server is unreachable, a publish fails quickly with [`BusError::Unavailable`]
//! rather than waiting or queueing.
//!
//! ```no_run
//! use bytes::Bytes;
//! use tokio::sync::mpsc;
//! use volley_cluster::{PubSub, Subscription};
//! use volley_redis::RedisBus;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = RedisBus::new("redis://127.0.0.1:6379")?;
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
//! A server uses this crate through `volley`'s `redis` feature, by URL (this crate depends only
//! on `volley-cluster`, not on the server):
//!
//! ```no_run
//! use volley::manager::RedisManager;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let io = volley::Server::builder()
//!     .client_manager(RedisManager::new("redis://127.0.0.1:6379?bus=streams"))
//!     .build();
//! # let _ = io;
//! # }
//! ```

mod classic;
mod config;
mod error;
mod manager_channels;
mod node_link;
mod sharded;
mod sharded_node;
mod streams;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fred::clients::{Client, SubscriberClient};
use fred::prelude::{ClientLike, EventInterface, LuaInterface, Options, PubsubInterface, Value};
use fred::types::MessageKind;
use tokio::sync::{broadcast, mpsc, OnceCell};
use volley_cluster::{BusError, BusMessage, BusTasks, PubSub, Subscription};

pub use config::{RedisBusBuilder, DEFAULT_MAX_MESSAGE_SIZE};
pub use error::RedisError;
pub use streams::{
    StreamsBus, StreamsBusBuilder, CHANNEL_FIELD, DATA_FIELD, DEFAULT_CHANNEL_PREFIX,
    DEFAULT_MAX_LEN, DEFAULT_READ_COUNT, DEFAULT_STREAM, SESSION_KEY_PREFIX,
};

use config::FredSettings;

/// The `tracing` target of this crate's log events, shared with the cluster manager.
const LOG_TARGET: &str = "volley::cluster";

/// The most bytes of channels and payloads one [`PUBLISH_MANY`] carries: one command is read
/// whole into Redis's query buffer (1 GiB at most by default) and copied into the script, where
/// a pipeline's commands are read one by one; more goes out in a pipeline.
const SCRIPT_MAX_BYTES: usize = 4 * 1024 * 1024;

/// `SPUBLISH`es each `(channel, payload)` pair of its arguments, in order, and answers each
/// one's count of receivers: several room broadcasts in one command on one Redis server.
const PUBLISH_MANY: &str = "local counts = {}
for i = 1, #ARGV, 2 do
  counts[#counts + 1] = redis.call('SPUBLISH', ARGV[i], ARGV[i + 1])
end
return counts";

/// A [`PubSub`] transport over one Redis server.
///
/// Cloning is cheap and shares the connections. When the last clone is dropped the
/// connections are closed (in the background, if a tokio runtime is still running); call
/// [`close`](RedisBus::close) to close them and wait.
///
/// # Connecting
///
/// [`new`](RedisBus::new) only checks the URL. The connections open on the first
/// [`connect`](RedisBus::connect), [`publish`](PubSub::publish) or
/// [`subscribe`](PubSub::subscribe), whichever comes first; call `connect` at start-up to see a
/// wrong address or password there rather than on the first emit. If that first connection
/// fails the error is returned and the next call tries again. Once connected, a lost connection
/// is re-established in the background (100 ms doubling to 5 s between attempts, by default,
/// without end) and the subscriptions are restored.
///
/// # Publishing
///
/// A publish is one `PUBLISH` command (`SPUBLISH` for sharded channels: with
/// [`sharded`](RedisBusBuilder::sharded), and for Volley's own channels on Redis Cluster, see
/// [`build`](RedisBusBuilder::build)), sent at most once. It fails with
/// [`BusError::TooLarge`] above [`max_message_size`](RedisBusBuilder::max_message_size), and
/// with [`BusError::Unavailable`] at once while the connection is down, or after
/// [`operation_timeout`](RedisBusBuilder::operation_timeout) without an answer.
///
/// # What an `Ok` emit means
///
/// Redis pub/sub keeps nothing: a message published while a node is not subscribed (its
/// subscriber connection is re-established and subscribing again after a Redis restart, which
/// takes from milliseconds to the reconnection backoff) is lost for that node. So the bus does
/// not claim what it cannot know: [`publish_counted`](PubSub::publish_counted) reports the
/// number of subscribers `PUBLISH` says it reached, and the cluster manager fails the emit with
/// [`BusError::Undelivered`] when that is fewer
/// than the nodes that should have it (this node and every node it believes alive; a node
/// whose own bus failed keeps believing in the others until they have had the heartbeat timeout
/// to be heard again). An emit that returned `Ok` was handed by Redis to every node's
/// connection; an error means some node may have missed it (it may also have been delivered).
///
/// What this does not cover: a Redis crash in the instant after it counted a subscriber and
/// answered the publisher, before that subscriber read the message (what a connection had not
/// read yet is gone with it); a node's own subscriber lagging behind by
/// more than [`message_buffer`](RedisBusBuilder::message_buffer) messages (logged); and extra
/// subscribers to the cluster's channels (a `PSUBSCRIBE *` debugging session), which Redis
/// counts like nodes and which can so hide a missing one. After a node crashes, emits fail
/// until the others drop it (the heartbeat timeout, 10 s by default, plus at most 1 s): a
/// node that stopped listening cannot be told apart from one re-subscribing. For delivery that
/// survives restarts, use [`StreamsBus`];
/// [`count_receivers(false)`](RedisBusBuilder::count_receivers) restores fire-and-forget.
///
/// # Subscribing
///
/// [`Subscription::Channel`] becomes `SUBSCRIBE`, [`Subscription::Prefix`] a `PSUBSCRIBE` of the
/// prefix with its glob characters escaped, followed by `*`. One task per `subscribe` call
/// forwards each message, in order and byte for byte, to the sink, waiting while the sink is
/// full; it ends when the sink is closed. A channel also covered by a prefix of the same call is
/// delivered once (overlapping prefixes given to *different* calls can deliver a message twice
/// to the call with the shorter one: fred does not say which pattern matched). The Redis
/// subscriptions themselves stay until the bus is closed.
///
/// ```no_run
/// use bytes::Bytes;
/// use volley_cluster::{BusError, PubSub};
/// use volley_redis::RedisBus;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let bus = RedisBus::builder("redis://127.0.0.1:6379")
///     .max_message_size(1024)
///     .build()?;
/// let big = Bytes::from(vec![0u8; 2048]);
/// assert_eq!(bus.publish("ch", big).await, Err(BusError::TooLarge(2048)));
/// bus.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: Client,
    /// `None` for a [publish-only](RedisBusBuilder::publish_only) bus.
    subscriber: Option<SubscriberClient>,
    publish_options: Options,
    max_message_size: usize,
    operation_timeout: Duration,
    count_receivers: bool,
    address: String,
    /// Node's classic protocol, when spoken (see [`RedisBusBuilder::node_protocol`]).
    classic: Option<classic::ClassicWire>,
    /// Sharded pub/sub, when used: with a channel per room (see [`RedisBusBuilder::sharded`]),
    /// or for the manager's channels alone on Redis Cluster (see [`RedisBusBuilder::build`]).
    sharded: Option<sharded::ShardedWire>,
    /// Node's sharded adapter's protocol, when spoken on sharded pub/sub.
    sharded_node: Option<sharded_node::ShardedNodeWire>,
    /// Set once the connections are up; never reset (fred reconnects by itself afterwards).
    connected: OnceCell<()>,
    /// Set when Redis refused [`PUBLISH_MANY`] (scripting off, or not allowed to this user):
    /// several messages go out in a pipeline instead.
    no_scripts: AtomicBool,
    /// The tasks to stop with the bus: resubscription and message forwarding.
    tasks: BusTasks,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("address", &self.inner.address)
            .field("connected", &self.inner.connected.initialized())
            .field("max_message_size", &self.inner.max_message_size)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// A bus for the Redis server at `url` (`redis://[[user]:password@]host[:port][/db]`), with
    /// the default settings of [`RedisBusBuilder`]. Does not connect: see
    /// [`connect`](RedisBus::connect).
    ///
    /// ```
    /// use volley_redis::RedisBus;
    ///
    /// assert!(RedisBus::new("redis://127.0.0.1:6379/0").is_ok());
    /// assert!(RedisBus::new("not a url").is_err());
    /// ```
    pub fn new(url: &str) -> Result<RedisBus, RedisError> {
        RedisBus::builder(url).build()
    }

    /// Starts configuring a bus for the Redis server at `url`; see [`RedisBusBuilder`].
    pub fn builder(url: &str) -> RedisBusBuilder {
        RedisBusBuilder::new(url)
    }

    pub(crate) fn from_settings(settings: FredSettings) -> RedisBus {
        // Creating a client opens nothing: `connect` (or the first use) does.
        let publisher = Client::new(
            settings.config.clone(),
            Some(settings.publisher_perf),
            Some(settings.connection.clone()),
            Some(settings.policy.clone()),
        );
        // A fred subscriber reserves its message buffer when created: not for a publish-only bus.
        let subscriber = (!settings.publish_only).then(|| {
            SubscriberClient::new(
                settings.config,
                Some(settings.subscriber_perf),
                Some(settings.connection),
                Some(settings.policy),
            )
        });
        RedisBus {
            inner: Arc::new(Inner {
                publisher,
                subscriber,
                publish_options: settings.publish_options,
                max_message_size: settings.max_message_size,
                operation_timeout: settings.operation_timeout,
                count_receivers: settings.count_receivers,
                address: settings.address,
                classic: (!settings.room_channels)
                    .then(|| settings.node_protocol.clone())
                    .flatten()
                    .map(classic::ClassicWire::new),
                sharded: settings
                    .shard_channels
                    .then(|| sharded::ShardedWire::new(settings.room_channels)),
                sharded_node: settings
                    .node_protocol
                    .filter(|_| settings.room_channels)
                    .map(sharded_node::ShardedNodeWire::new),
                connected: OnceCell::new(),
                no_scripts: AtomicBool::new(false),
                tasks: BusTasks::new(),
            }),
        }
    }

    /// Opens both connections (publisher and subscriber; the publisher alone for a
    /// [publish-only](RedisBusBuilder::publish_only) bus) and waits until they are ready, or
    /// returns why the first attempt failed: refused, [timed
    /// out](RedisBusBuilder::connect_timeout), wrong password, unknown database. Calling it
    /// again after a success does nothing; after a failure, it tries again.
    ///
    /// ```no_run
    /// use volley_redis::RedisBus;
    ///
    /// # async fn run() -> Result<(), volley_redis::RedisError> {
    /// let bus = RedisBus::new("redis://127.0.0.1:6379")?;
    /// bus.connect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self) -> Result<(), RedisError> {
        self.inner
            .connected
            .get_or_try_init(|| self.inner.open())
            .await
            .map(|_| ())
    }

    /// Closes both connections (`QUIT`) and stops the bus's tasks: the sinks given to
    /// [`subscribe`](PubSub::subscribe) are closed, and later publishes and subscribes fail
    /// with [`BusError::Unavailable`]. A closed bus stays closed, for every clone; build a new
    /// one to connect again.
    pub async fn close(&self) {
        self.inner.tasks.abort_all();
        if self.inner.connected.initialized() {
            if let Some(subscriber) = &self.inner.subscriber {
                let _ = subscriber.quit().await;
            }
            let _ = self.inner.publisher.quit().await;
        }
    }

    /// Whether both connections (the publisher alone for a
    /// [publish-only](RedisBusBuilder::publish_only) bus) are up right now.
    pub fn is_connected(&self) -> bool {
        self.inner.publisher.is_connected()
            && self
                .inner
                .subscriber
                .as_ref()
                .is_none_or(|subscriber| subscriber.is_connected())
    }

    /// `PUBLISH`es `payload` (`SPUBLISH` on a shard channel) and returns how many subscriptions
    /// Redis handed it to.
    async fn publish_to(&self, channel: &str, payload: Bytes) -> Result<usize, BusError> {
        if payload.len() > self.inner.max_message_size {
            return Err(BusError::TooLarge(payload.len()));
        }
        self.ensure_connected().await?;
        let publisher = self
            .inner
            .publisher
            .with_options(&self.inner.publish_options);
        let published = if self.is_shard_channel(channel) {
            publisher.spublish(channel, Value::Bytes(payload)).await
        } else {
            publisher.publish(channel, Value::Bytes(payload)).await
        };
        let receivers: i64 = published.map_err(|e| error::bus_error(e, &self.inner.address))?;
        Ok(usize::try_from(receivers).unwrap_or(0))
    }

    /// Whether `channel` is published and subscribed with sharded pub/sub.
    fn is_shard_channel(&self, channel: &str) -> bool {
        self.sharded().is_some_and(|w| w.is_shard_channel(channel))
    }

    /// `SPUBLISH`es `messages`, every one on a shard channel, with one [`PUBLISH_MANY`] script
    /// (one command for Redis to read and answer, where a pipeline is one per message); each
    /// one's receiver count, in order. `None` when Redis refused the script (it is not tried
    /// again): publish them otherwise.
    async fn publish_scripted(
        &self,
        messages: &[(Arc<str>, Bytes)],
    ) -> Option<Result<Vec<Result<usize, BusError>>, BusError>> {
        if let Err(e) = self.ensure_connected().await {
            return Some(Err(e));
        }
        let mut args = Vec::with_capacity(messages.len() * 2);
        for (channel, payload) in messages {
            args.push(Value::from(&**channel));
            args.push(Value::Bytes(payload.clone()));
        }
        let publisher = self
            .inner
            .publisher
            .with_options(&self.inner.publish_options);
        let answer: Result<Vec<i64>, _> = publisher.eval(PUBLISH_MANY, (), args).await;
        match answer {
            Ok(counts) if counts.len() == messages.len() => Some(Ok(counts
                .into_iter()
                .map(|n| Ok(usize::try_from(n).unwrap_or(0)))
                .collect())),
            Ok(counts) => Some(Err(BusError::Other(format!(
                "Redis answered {} counts for {} messages",
                counts.len(),
                messages.len()
            )))),
            Err(e) => {
                let details = e.details();
                // refused before it ran: nothing was published, the pipeline publishes it all
                let refused = details.starts_with("NOPERM") || details.contains("unknown command");
                // failed while it ran (some may be published: not again), or will not run
                let broken =
                    !details.starts_with("BUSY") && details.to_ascii_lowercase().contains("script");
                if refused || broken {
                    tracing::info!(target: LOG_TARGET, error = %error::describe(&e), "Redis does not run the publishing script: several messages go out in a pipeline from now on");
                    self.inner.no_scripts.store(true, Ordering::Relaxed);
                }
                match refused {
                    true => None,
                    false => Some(Err(error::bus_error(e, &self.inner.address))),
                }
            }
        }
    }

    /// Publishes `messages` in one pipeline (`SPUBLISH` on shard channels); each one's receiver
    /// count, in order.
    async fn publish_pipelined(
        &self,
        messages: &[(Arc<str>, Bytes)],
    ) -> Result<Vec<Result<usize, BusError>>, BusError> {
        self.ensure_connected().await?;
        let address = &self.inner.address;
        let pipeline = self.inner.publisher.pipeline();
        for (channel, payload) in messages {
            let payload = Value::Bytes(payload.clone());
            let queued: Result<(), _> = if self.is_shard_channel(channel) {
                pipeline.spublish(&**channel, payload).await
            } else {
                pipeline.publish(&**channel, payload).await
            };
            queued.map_err(|e| error::bus_error(e, address))?;
        }
        let answers = tokio::time::timeout(self.inner.operation_timeout, pipeline.try_all::<i64>())
            .await
            .map_err(|_| {
                BusError::Unavailable(format!("Redis at {address} did not answer in time"))
            })?;
        Ok(answers
            .into_iter()
            .map(|a| {
                a.map(|n| usize::try_from(n).unwrap_or(0))
                    .map_err(|e| error::bus_error(e, address))
            })
            .collect())
    }

    async fn ensure_connected(&self) -> Result<(), BusError> {
        if self.inner.connected.initialized() {
            return Ok(());
        }
        self.connect().await.map_err(BusError::from)
    }
}

/// How many connections subscribe to `channel` (`PUBSUB NUMSUB`): how Node's adapters count the
/// nodes of a cluster; with `shard`, to shard channel `channel` (`PUBSUB SHARDNUMSUB`, sent to
/// the shard of that channel), as Node's sharded adapter counts them. `None` (logged at debug
/// level) when Redis does not answer in time.
pub(crate) async fn count_subscribers(
    client: &Client,
    timeout: Duration,
    channel: String,
    shard: bool,
) -> Option<usize> {
    let client = client.with_options(&Options {
        timeout: Some(timeout),
        ..Default::default()
    });
    let reply = if shard {
        client.pubsub_shardnumsub(channel).await
    } else {
        client.pubsub_numsub(channel).await
    };
    subscriber_count(reply)
}

/// The count of the one channel a `PUBSUB NUMSUB` or `SHARDNUMSUB` asked about.
fn subscriber_count(reply: Result<Value, fred::error::Error>) -> Option<usize> {
    let reply = reply
        .map_err(|e| {
            tracing::debug!(target: LOG_TARGET, error = %error::describe(&e), "cannot count the nodes");
        })
        .ok()?;
    let count = match reply {
        Value::Array(items) => items.get(1).and_then(Value::as_u64),
        Value::Map(map) => map.values().next().and_then(Value::as_u64),
        _ => None,
    }?;
    Some(usize::try_from(count).unwrap_or(0))
}

impl Inner {
    async fn open(&self) -> Result<(), RedisError> {
        let connect_error = |e: fred::error::Error| RedisError::Connect(error::describe(&e));
        // fail_fast (set in the config) makes `init` report a failed first connection instead
        // of retrying it forever.
        self.publisher.init().await.map_err(connect_error)?;
        if let Some(subscriber) = &self.subscriber {
            if let Err(e) = subscriber.init().await {
                let _ = self.publisher.quit().await;
                return Err(connect_error(e));
            }
            // Re-subscribe to every channel and pattern after each reconnection of the
            // subscriber.
            let resubscribe = match &self.sharded {
                Some(wire) => sharded::manage_subscriptions(subscriber, wire.rooms.clone()),
                None => subscriber.manage_subscriptions(),
            };
            self.tasks.track(resubscribe);
        }
        tracing::debug!(target: LOG_TARGET, address = %self.address, "connected to Redis");
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tasks.abort_all();
        if !self.connected.initialized() {
            return;
        }
        // fred's connection tasks reconnect forever unless told to quit.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let publisher = self.publisher.clone();
            let subscriber = self.subscriber.clone();
            runtime.spawn(async move {
                if let Some(subscriber) = subscriber {
                    let _ = subscriber.quit().await;
                }
                let _ = publisher.quit().await;
            });
        }
    }
}

#[async_trait]
impl PubSub for RedisBus {
    fn max_message_size(&self) -> usize {
        self.inner.max_message_size
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        if self.inner.classic.is_some() {
            return self.publish_classic(channel, &payload).await;
        }
        if self.inner.sharded_node.is_some() {
            return self.publish_sharded_node(channel, &payload).await;
        }
        self.publish_to(channel, payload).await.map(|_| ())
    }

    async fn publish_counted(
        &self,
        channel: &str,
        payload: Bytes,
    ) -> Result<Option<usize>, BusError> {
        if self.inner.classic.is_some() {
            // checked against Node's count of the namespace's nodes, by the wire itself
            return self.publish_classic(channel, &payload).await.map(|()| None);
        }
        if self.inner.sharded_node.is_some() {
            // checked against Node's count of the namespace's nodes, by the wire itself
            return self
                .publish_sharded_node(channel, &payload)
                .await
                .map(|()| None);
        }
        let receivers = self.publish_to(channel, payload).await?;
        // a room's channel reaches the nodes with members there, however many that is
        let room = self.sharded().is_some_and(|w| w.is_room_channel(channel));
        Ok((self.inner.count_receivers && !room).then_some(receivers))
    }

    /// On the sharded bus (Volley's format), one command: a script that `SPUBLISH`es them in
    /// order (or, where Redis does not run scripts, one pipeline: the messages reach Redis in one
    /// write, in order, and their answers come back together). On Redis Cluster, whose channels
    /// live on different shards (and keep each channel's order only), all at once instead.
    async fn publish_counted_many(
        &self,
        messages: Vec<(Arc<str>, Bytes)>,
    ) -> Vec<Result<Option<usize>, BusError>> {
        let plain = self.inner.sharded.is_some() && self.inner.sharded_node.is_none();
        let fits = messages
            .iter()
            .all(|(_, p)| p.len() <= self.inner.max_message_size);
        if !plain || !fits || messages.len() < 2 {
            return volley_cluster::publish_counted_each(self, messages).await;
        }
        if self.inner.publisher.is_clustered() {
            let publishes = messages
                .iter()
                .map(|(channel, payload)| self.publish_counted(channel, payload.clone()));
            return futures_util::future::join_all(publishes).await;
        }
        let fits_a_script = || {
            messages.iter().all(|(c, _)| self.is_shard_channel(c))
                && messages
                    .iter()
                    .map(|(c, p)| c.len() + p.len())
                    .sum::<usize>()
                    <= SCRIPT_MAX_BYTES
        };
        let scripted = if !self.inner.no_scripts.load(Ordering::Relaxed) && fits_a_script() {
            self.publish_scripted(&messages).await
        } else {
            None
        };
        let published = match scripted {
            Some(published) => published,
            None => self.publish_pipelined(&messages).await,
        };
        match published {
            Ok(counts) => messages
                .iter()
                .zip(counts)
                .map(|((channel, _), count)| {
                    let receivers = count?;
                    let room = self.sharded().is_some_and(|w| w.is_room_channel(channel));
                    Ok((self.inner.count_receivers && !room).then_some(receivers))
                })
                .collect(),
            Err(e) => messages.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// On one server yes (one subscriber connection reads everything in order). On Redis
    /// Cluster, where each channel lives on its own shard, only while a node's broadcasts all go
    /// on one channel: Volley's format without room channels, not Node's (a channel per room).
    fn keeps_each_nodes_order(&self) -> bool {
        // Node's sharded protocol has room channels
        !self.inner.publisher.is_clustered()
            || (self.inner.classic.is_none() && !self.rooms_have_channels())
    }

    fn rooms_have_channels(&self) -> bool {
        self.sharded()
            .is_some_and(sharded::ShardedWire::has_room_channels)
    }

    fn room_channel(&self, nsp: &str, room: &str) -> Option<String> {
        self.sharded()?.room_channel(nsp, room)
    }

    async fn room_opened(&self, nsp: &str, room: &str) {
        self.listen_to_room(nsp, room, true).await;
    }

    async fn room_closed(&self, nsp: &str, room: &str) {
        self.listen_to_room(nsp, room, false).await;
    }

    async fn peers(&self, nsp: &str) -> Option<usize> {
        if self.inner.classic.is_some() {
            return self.classic_peers(nsp).await;
        }
        if self.inner.sharded_node.is_some() {
            return self.sharded_node_peers(nsp).await;
        }
        None
    }

    async fn serve(&self, nsp: &str) {
        if self.inner.classic.is_some() {
            self.serve_classic(nsp).await;
        }
        if self.inner.sharded_node.is_some() {
            self.serve_sharded_node(nsp).await;
        }
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        if self.inner.classic.is_some() {
            return self.subscribe_classic(subscriptions, sink).await;
        }
        if self.inner.sharded_node.is_some() {
            return self.subscribe_sharded_node(subscriptions, sink).await;
        }
        if let Some(wire) = self.sharded() {
            wire.link(subscriptions);
        }
        self.subscribe_raw(subscriptions, sink).await
    }
}

impl RedisBus {
    /// `SUBSCRIBE`s and `PSUBSCRIBE`s `subscriptions` and forwards their messages to `sink`, as
    /// they come (see [Subscribing](RedisBus#subscribing)).
    async fn subscribe_raw(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let Some(subscriber) = &self.inner.subscriber else {
            return Err(BusError::Other(
                "this Redis bus is publish-only: it cannot subscribe".into(),
            ));
        };
        self.ensure_connected().await?;
        let mut filter = Filter::new(subscriptions);
        if let Some(wire) = self.sharded() {
            filter.shard(wire);
        }
        if !subscriber.is_connected() {
            return Err(BusError::Unavailable(
                "the Redis subscriber connection is down".into(),
            ));
        }

        // Listen before subscribing, so that no message published after SUBSCRIBE is missed.
        let messages = subscriber.message_rx();
        let channels: Vec<String> = filter.channels.clone();
        let patterns: Vec<String> = filter.prefixes.iter().map(|p| glob_prefix(p)).collect();
        let limit = self.inner.operation_timeout + Duration::from_millis(500);
        let timed_out = || BusError::Unavailable("Redis did not answer the subscription".into());
        // Never call these with an empty list: that would mean "all" to UNSUBSCRIBE and is an
        // error for SUBSCRIBE.
        if !filter.shard_channels.is_empty() {
            tokio::time::timeout(limit, self.ssubscribe_each(&filter.shard_channels))
                .await
                .map_err(|_| timed_out())??;
        }
        if !channels.is_empty() {
            tokio::time::timeout(limit, subscriber.subscribe(channels))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| error::bus_error(e, &self.inner.address))?;
        }
        if !patterns.is_empty() {
            tokio::time::timeout(limit, subscriber.psubscribe(patterns))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| error::bus_error(e, &self.inner.address))?;
        }
        // fred answers SUBSCRIBE and PSUBSCRIBE as soon as they are queued, not when Redis has
        // taken them (their replies come out of band), so a publish right after this call could
        // reach Redis first and find no subscriber. Redis answers a connection's commands in
        // order: once this PING is answered, the subscriptions above are in place.
        tokio::time::timeout(limit, subscriber.ping::<Value>(None))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| error::bus_error(e, &self.inner.address))?;

        let task = tokio::spawn(forward(messages, filter, sink));
        self.inner.tasks.track(task);
        Ok(())
    }
}

/// Which received messages belong to one `subscribe` call.
#[derive(Debug, Clone)]
struct Filter {
    /// Exact channels of classic pub/sub not already covered by one of `prefixes`.
    channels: Vec<String>,
    /// Exact channels of sharded pub/sub (see [`Filter::shard`]).
    shard_channels: Vec<String>,
    /// Prefixes not already covered by a shorter one.
    prefixes: Vec<String>,
    /// On sharded pub/sub with room channels: the room channels listened to are delivered too.
    rooms: Option<Arc<sharded::RoomChannels>>,
}

impl Filter {
    fn new(subscriptions: &[Subscription]) -> Filter {
        let mut prefixes: Vec<String> = Vec::new();
        for s in subscriptions {
            if let Subscription::Prefix(p) = s {
                prefixes.push(p.clone());
            }
        }
        // Drop prefixes that a shorter one covers, so each message arrives once.
        prefixes.sort_by_key(String::len);
        let mut kept: Vec<String> = Vec::new();
        for p in prefixes {
            if !kept.iter().any(|k| p.starts_with(k.as_str())) {
                kept.push(p);
            }
        }
        let mut channels: Vec<String> = Vec::new();
        for s in subscriptions {
            if let Subscription::Channel(c) = s {
                let covered = kept.iter().any(|k| c.starts_with(k.as_str()));
                if !covered && !channels.contains(c) {
                    channels.push(c.clone());
                }
            }
        }
        Filter {
            channels,
            shard_channels: Vec::new(),
            prefixes: kept,
            rooms: None,
        }
    }

    /// Moves the exact channels that `wire` publishes with sharded pub/sub (the manager's, not
    /// python-socketio's) to `shard_channels`, and delivers the room channels `wire` listens to.
    fn shard(&mut self, wire: &sharded::ShardedWire) {
        let (shard, classic) = self
            .channels
            .drain(..)
            .partition(|c| wire.is_shard_channel(c));
        self.shard_channels = shard;
        self.channels = classic;
        self.rooms = wire.has_room_channels().then(|| wire.rooms.clone());
    }

    /// Whether a message of this kind on this channel was asked for by this call. Redis sends
    /// `message` for SUBSCRIBE and `pmessage` for PSUBSCRIBE, so each is matched against its
    /// own kind of subscription (another call's subscriptions share the connection).
    fn wants(&self, kind: &MessageKind, channel: &str) -> bool {
        match kind {
            MessageKind::Message => self.channels.iter().any(|c| c == channel),
            MessageKind::PMessage => self
                .prefixes
                .iter()
                .any(|p| channel.starts_with(p.as_str())),
            MessageKind::SMessage => self.shard_channels.iter().any(|c| c == channel),
        }
    }

    /// The channel a message of this kind on this channel is handed over on, when this call
    /// asked for it: its own, or for a room channel of sharded pub/sub the manager's.
    fn deliver_on(&self, kind: &MessageKind, channel: &str) -> Option<String> {
        if self.wants(kind, channel) {
            return Some(channel.to_owned());
        }
        match (kind, &self.rooms) {
            // only for the call that subscribed the manager's channel
            (MessageKind::SMessage, Some(rooms)) => rooms
                .deliver_on(channel)
                .filter(|main| self.shard_channels.iter().any(|c| c == main))
                .map(str::to_owned),
            _ => None,
        }
    }
}

/// Forwards the messages of one `subscribe` call to its sink until the sink or the bus closes.
async fn forward(
    mut messages: broadcast::Receiver<fred::types::Message>,
    filter: Filter,
    sink: mpsc::Sender<BusMessage>,
) {
    loop {
        let received = tokio::select! {
            biased;
            _ = sink.closed() => break,
            received = messages.recv() => received,
        };
        let message = match received {
            Ok(message) => message,
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                tracing::warn!(
                    target: LOG_TARGET,
                    lost,
                    "Redis messages lost: the subscriber's buffer overflowed while the sink was full \
                     (raise RedisBusBuilder::message_buffer or drain the sink faster)"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let Some(channel) = filter.deliver_on(&message.kind, &message.channel) else {
            continue;
        };
        let payload = match message.value {
            Value::Bytes(bytes) => bytes,
            // fred hands valid UTF-8 over as a string: its bytes are the same buffer, not a copy.
            Value::String(text) => text.into_inner(),
            Value::Null => Bytes::new(),
            other => {
                tracing::warn!(
                    target: LOG_TARGET,
                    channel = %message.channel,
                    kind = ?other.kind(),
                    "dropping a Redis message whose payload is not a string"
                );
                continue;
            }
        };
        let message = BusMessage { channel, payload };
        if sink.send(message).await.is_err() {
            break;
        }
    }
}

/// The `PSUBSCRIBE` pattern that matches every channel starting with `prefix`, literally.
fn glob_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 8);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_prefix_escapes_special_characters() {
        assert_eq!(glob_prefix("socket.io#/#"), "socket.io#/#*");
        assert_eq!(glob_prefix(""), "*");
        assert_eq!(glob_prefix(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f*");
        assert_eq!(glob_prefix("é^-"), "é^-*");
    }

    #[test]
    fn filter_delivers_each_message_once() {
        let filter = Filter::new(&[
            Subscription::Prefix("a#".into()),
            Subscription::Prefix("a#b".into()),
            Subscription::Channel("a#c".into()),
            Subscription::Channel("x".into()),
            Subscription::Channel("x".into()),
        ]);
        assert_eq!(filter.prefixes, vec!["a#".to_string()]);
        assert_eq!(filter.channels, vec!["x".to_string()]);
        assert!(filter.wants(&MessageKind::PMessage, "a#b#"));
        assert!(!filter.wants(&MessageKind::Message, "a#c"));
        assert!(filter.wants(&MessageKind::Message, "x"));
        assert!(!filter.wants(&MessageKind::PMessage, "x"));
        assert!(!filter.wants(&MessageKind::Message, "y"));
    }

    #[test]
    fn filter_keeps_python_socketios_channel_on_classic_pub_sub() {
        let subscriptions = [
            Subscription::Channel("volley#".into()),
            Subscription::Channel("volley#abc#".into()),
            Subscription::Channel("socketio".into()),
            Subscription::Prefix("socket.io#".into()),
        ];
        for rooms in [false, true] {
            let wire = sharded::ShardedWire::new(rooms);
            wire.link(&subscriptions);
            let mut filter = Filter::new(&subscriptions);
            filter.shard(&wire);
            assert_eq!(filter.shard_channels, ["volley#", "volley#abc#"]);
            assert_eq!(filter.channels, ["socketio"]);
            assert_eq!(filter.rooms.is_some(), rooms);
            assert!(filter.wants(&MessageKind::SMessage, "volley#"));
            assert!(!filter.wants(&MessageKind::Message, "volley#"));
            assert!(filter.wants(&MessageKind::Message, "socketio"));
            assert!(!filter.wants(&MessageKind::SMessage, "socketio"));
        }
    }
}
