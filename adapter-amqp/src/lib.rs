//! RabbitMQ (AMQP 0.9.1) transport of the Volley cluster manager.
//!
//! [`AmqpBus`] implements [`PubSub`] over one RabbitMQ broker, on the [`lapin`] client running
//! on the tokio runtime. Every node of a cluster declares the same fanout exchange and binds its
//! own named queue to it; a publish sends the payload to the exchange with the bus channel as
//! routing key, so every node receives every message and keeps those its subscriptions match (the
//! mapping, for publishers without this crate, is in [`wire`]).
//!
//! One connection per bus carries two channels: one that publishes, in confirm mode (a publish
//! returns once the broker has put the message in every node's queue, or fails), and one that
//! consumes the node's queue with a bounded prefetch. When the connection or a channel is lost
//! (broker restart, network, a channel closed by an error), it is opened again in the background
//! with exponential backoff, forever; the exchange, the queue, its binding and the consumer are
//! declared again and delivery goes on into the same sinks. While the connection is down, a
//! publish fails at once with [`BusError::Unavailable`] rather than waiting or queueing.
//!
//! # Nothing lost across a reconnection
//!
//! The node's queue is not tied to its connection: it has a name of its own (random, one per
//! bus, see [`AmqpBus::queue_name`]) and outlives the connection for the
//! [`queue_expiry`](AmqpBusBuilder::queue_expiry) (60 s by default, the queue's `x-expires`).
//! What the other nodes publish while this node reconnects waits in it, and the node receives
//! it, in order, once back. Messages the broker had sent the node but not seen acknowledged
//! come again after a reconnection: each carries its publisher's id and sequence number
//! ([`wire::message_id`]), and the node drops those it delivered already.
//!
//! By default the queue is durable and the messages persistent ([`durable`](AmqpBusBuilder::durable)),
//! and the exchange is durable: a broker that restarts, even killed, still holds every queue,
//! its binding, and every message it confirmed, so a publish that returned `Ok` reaches every
//! node whose queue existed, also when the broker died before delivering it.
//!
//! What is lost, and how a node knows:
//!
//! - a node away longer than the queue expiry: the broker deleted its queue and what it held,
//!   and what was published until the node declared it again never reached it. The node finds
//!   out on reconnection (its queue is missing), logs a warning and counts it
//!   ([`AmqpBus::queue_losses`]);
//! - a node whose queue holds more than [`max_queue_length`](AmqpBusBuilder::max_queue_length)
//!   messages or [`max_queue_bytes`](AmqpBusBuilder::max_queue_bytes) bytes (it stalls, or is
//!   away long under heavy traffic): the broker drops the oldest (`x-overflow: drop-head`);
//!   nobody is told, and the publishers are not held back;
//! - with `durable(false)`, a broker restart loses every queue and what it held, as above;
//! - a publish that fails (broker down, not confirmed in time, or returned because no queue at
//!   all is bound: `mandatory`) reached nobody, or, after a confirm timeout, may have: the
//!   caller sees the error either way.
//!
//! ```no_run
//! use bytes::Bytes;
//! use tokio::sync::mpsc;
//! use volley_cluster::{PubSub, Subscription};
//! use volley_amqp::AmqpBus;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = AmqpBus::new("amqp://guest:guest@127.0.0.1:5672/%2f")?;
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
//! A Socket.IO server on RabbitMQ:
//!
//! ```no_run
//! use volley::manager::AmqpManager;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let io = volley::Server::builder()
//!     .client_manager(AmqpManager::new("amqp://guest:guest@127.0.0.1:5672/%2f?key=chat"))
//!     .build();
//! # let _ = io;
//! # }
//! ```

mod config;
mod dedup;
mod error;
mod link;
mod supervisor;
mod tasks;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch, Notify, OnceCell};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use volley_cluster::{BusError, BusMessage, PubSub, Subscription};

pub use config::{
    AmqpBusBuilder, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_MAX_QUEUE_LENGTH,
    DEFAULT_QUEUE_EXPIRY,
};
pub use error::AmqpError;

use config::Settings;
use link::Link;

/// The `tracing` target of this crate's log events, shared with the cluster manager.
const LOG_TARGET: &str = "volley::cluster";

/// A [`PubSub`] transport over one RabbitMQ broker.
///
/// Cloning is cheap and shares the connection. When the last clone is dropped the connection is
/// closed in the background (if a tokio runtime is still running); call
/// [`close`](AmqpBus::close) to close it and wait.
///
/// # Connecting
///
/// [`new`](AmqpBus::new) only checks the URL. The connection opens on the first
/// [`connect`](AmqpBus::connect), [`publish`](PubSub::publish) or
/// [`subscribe`](PubSub::subscribe), whichever comes first; call `connect` at start-up to see a
/// wrong address, password or vhost there rather than on the first emit. If that first
/// connection fails the error is returned and the next call tries again. Once connected, a lost
/// connection is re-established in the background (100 ms doubling to 5 s between attempts, by
/// default, without end), and the exchange, the queue, its binding and the consumer are
/// declared again. All of this must run inside a tokio runtime.
///
/// # Publishing
///
/// A publish is one `basic.publish` of the payload to the exchange, with the channel as routing
/// key, `mandatory`, sent at most once; it returns when the broker confirms it: the message is
/// then in the queue of every node (on disk, for a [`durable`](AmqpBusBuilder::durable) bus,
/// unless already delivered). A message that no queue at all takes is returned by the broker
/// and the publish fails with [`BusError::Unavailable`]. It fails with
/// [`BusError::TooLarge`] above [`max_message_size`](AmqpBusBuilder::max_message_size), with
/// [`BusError::Other`] for a channel name longer than [`wire::MAX_NAME_LEN`] bytes or a
/// message the broker refuses (`nack`), and with [`BusError::Unavailable`] at once while the
/// connection is down or the broker blocks publishers (resource alarm), or when the confirm does
/// not come within the [`operation_timeout`](AmqpBusBuilder::operation_timeout). Publishes of
/// one task are delivered in the order they were made.
///
/// # Subscribing
///
/// The first `subscribe` declares this bus's queue and starts consuming it; it returns once the
/// queue is bound, so a message published afterwards is delivered. Each message whose channel
/// matches one of the call's [`Subscription`]s (exact, or prefix) is handed to that call's sink
/// once, in order and byte for byte, waiting while the sink is full: the broker then holds
/// further messages in the queue (up to [`max_queue_length`](AmqpBusBuilder::max_queue_length)).
/// A sink that is closed is forgotten. Messages published while the connection is down wait in
/// the node's queue and are delivered once it is back, if that is within the
/// [`queue_expiry`](AmqpBusBuilder::queue_expiry) (see the crate's documentation).
///
/// ```no_run
/// use bytes::Bytes;
/// use volley_cluster::{BusError, PubSub};
/// use volley_amqp::AmqpBus;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let bus = AmqpBus::builder("amqp://127.0.0.1")
///     .max_message_size(1024)
///     .build()?;
/// let big = Bytes::from(vec![0u8; 2048]);
/// assert_eq!(bus.publish("ch", big).await, Err(BusError::TooLarge(2048)));
/// bus.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AmqpBus {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Set once the first connection is up and the supervisor runs.
    started: OnceCell<()>,
    /// Stops the supervisor, on close or when the last clone is dropped.
    stop: CancellationToken,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

/// What the bus and its supervisor task share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// The live connection, `None` while reconnecting.
    pub(crate) link: watch::Sender<Option<Arc<Link>>>,
    /// Whether the node's queue is bound and consumed on the live connection.
    pub(crate) consuming: watch::Sender<bool>,
    /// Copied on write: the consumer reads a snapshot without holding the lock.
    subscribers: Mutex<Arc<Vec<Subscriber>>>,
    next_id: AtomicU64,
    /// Wakes the supervisor: a subscriber arrived, or a publish found the connection broken.
    pub(crate) wake: Notify,
    /// The sequence number of the next message this bus publishes (see [`wire::message_id`]).
    next_seq: AtomicU64,
    /// Whether this bus has declared its queue (on some connection).
    pub(crate) queue_declared: AtomicBool,
    /// How many times the queue was found gone on a reconnection.
    pub(crate) queue_losses: AtomicU64,
    /// How many redelivered messages were dropped as already delivered.
    pub(crate) duplicates: AtomicU64,
}

/// The sink of one `subscribe` call and what it asked for.
pub(crate) struct Subscriber {
    id: u64,
    subscriptions: Vec<Subscription>,
    pub(crate) sink: mpsc::Sender<BusMessage>,
}

impl Subscriber {
    pub(crate) fn wants(&self, channel: &str) -> bool {
        self.subscriptions.iter().any(|s| s.matches(channel))
    }
}

impl Shared {
    pub(crate) fn subscribers(&self) -> Arc<Vec<Subscriber>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        !self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    fn edit_subscribers(&self, edit: impl FnOnce(&mut Vec<Subscriber>)) {
        let mut guard = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<Subscriber> = guard
            .iter()
            .map(|s| Subscriber {
                id: s.id,
                subscriptions: s.subscriptions.clone(),
                sink: s.sink.clone(),
            })
            .collect();
        edit(&mut list);
        *guard = Arc::new(list);
    }

    fn add_subscriber(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let subscriber = Subscriber {
            id,
            subscriptions: subscriptions.to_vec(),
            sink,
        };
        self.edit_subscribers(|list| list.push(subscriber));
        id
    }

    fn remove_subscriber(&self, id: u64) {
        self.edit_subscribers(|list| list.retain(|s| s.id != id));
    }

    /// Forgets the subscribers whose sink is closed.
    pub(crate) fn prune_subscribers(&self) {
        self.edit_subscribers(|list| list.retain(|s| !s.sink.is_closed()));
    }

    /// Forgets every subscriber: their sinks close once nothing else holds them.
    pub(crate) fn clear_subscribers(&self) {
        *self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Vec::new());
    }

    fn current_link(&self) -> Option<Arc<Link>> {
        self.link.borrow().clone()
    }
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.inner.shared.settings;
        f.debug_struct("AmqpBus")
            .field("address", &settings.address)
            .field("exchange", &settings.exchange)
            .field("connected", &self.is_connected())
            .field("max_message_size", &settings.max_message_size)
            .finish_non_exhaustive()
    }
}

impl AmqpBus {
    /// A bus for the broker at `url` (`amqp://[user[:password]@]host[:port][/vhost]`), with the
    /// default settings of [`AmqpBusBuilder`]. Does not connect: see
    /// [`connect`](AmqpBus::connect).
    ///
    /// ```
    /// use volley_amqp::AmqpBus;
    ///
    /// assert!(AmqpBus::new("amqp://guest:guest@127.0.0.1:5672/%2f").is_ok());
    /// assert!(AmqpBus::new("not a url").is_err());
    /// ```
    pub fn new(url: &str) -> Result<AmqpBus, AmqpError> {
        AmqpBus::builder(url).build()
    }

    /// Starts configuring a bus for the broker at `url`; see [`AmqpBusBuilder`].
    pub fn builder(url: &str) -> AmqpBusBuilder {
        AmqpBusBuilder::new(url)
    }

    pub(crate) fn from_settings(settings: Settings) -> AmqpBus {
        let (link, _) = watch::channel(None);
        let (consuming, _) = watch::channel(false);
        AmqpBus {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    settings,
                    link,
                    consuming,
                    subscribers: Mutex::new(Arc::new(Vec::new())),
                    next_id: AtomicU64::new(0),
                    wake: Notify::new(),
                    next_seq: AtomicU64::new(0),
                    queue_declared: AtomicBool::new(false),
                    queue_losses: AtomicU64::new(0),
                    duplicates: AtomicU64::new(0),
                }),
                started: OnceCell::new(),
                stop: CancellationToken::new(),
                supervisor: Mutex::new(None),
            }),
        }
    }

    /// Opens the connection, its publishing channel, and declares the exchange; or returns why
    /// the first attempt failed: refused, [timed out](AmqpBusBuilder::connect_timeout), wrong
    /// credentials or vhost, an exchange of that name declared differently. Calling it again
    /// after a success does nothing; after a failure, it tries again.
    ///
    /// ```no_run
    /// use volley_amqp::AmqpBus;
    ///
    /// # async fn run() -> Result<(), volley_amqp::AmqpError> {
    /// let bus = AmqpBus::new("amqp://127.0.0.1")?;
    /// bus.connect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self) -> Result<(), AmqpError> {
        if self.inner.stop.is_cancelled() {
            return Err(AmqpError::Closed);
        }
        self.inner
            .started
            .get_or_try_init(|| self.inner.start())
            .await
            .map(|_| ())
    }

    /// Closes the connection and stops the bus's task: the sinks given to
    /// [`subscribe`](PubSub::subscribe) receive nothing more (they close once the bus no longer
    /// holds them), and later publishes fail with [`BusError::Unavailable`]. Shared by every
    /// clone.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        self.inner.shared.clear_subscribers();
        let task = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                tracing::warn!(target: LOG_TARGET, "the AMQP bus did not stop within 3 s");
            }
        }
    }

    /// The name of this bus's queue on the broker: `<exchange>.node.<32 random hex digits>`,
    /// chosen when the bus is built and kept across reconnections (see [`wire`]).
    pub fn queue_name(&self) -> &str {
        &self.inner.shared.settings.queue
    }

    /// How many times, on a reconnection, this bus found its queue gone: the connection was
    /// down longer than the [`queue_expiry`](AmqpBusBuilder::queue_expiry) (or the broker lost
    /// a non-[`durable`](AmqpBusBuilder::durable) queue in a restart), and what the others
    /// published between the queue's deletion and its new declaration never reached this node.
    /// Each time is also logged as a warning.
    pub fn queue_losses(&self) -> u64 {
        self.inner.shared.queue_losses.load(Ordering::Relaxed)
    }

    /// How many messages the broker delivered to this bus a second time (after a reconnection,
    /// the messages it had sent but not seen acknowledged) that were dropped because they had
    /// been delivered already.
    pub fn duplicates_dropped(&self) -> u64 {
        self.inner.shared.duplicates.load(Ordering::Relaxed)
    }

    /// Whether the connection and its channels are up right now.
    pub fn is_connected(&self) -> bool {
        self.inner
            .shared
            .current_link()
            .is_some_and(|link| link.healthy())
    }

    async fn ensure_connected(&self) -> Result<(), BusError> {
        if self.inner.stop.is_cancelled() {
            return Err(AmqpError::Closed.into());
        }
        if self.inner.started.initialized() {
            return Ok(());
        }
        self.connect().await.map_err(BusError::from)
    }
}

impl Inner {
    /// Opens the first connection and starts the supervisor with it.
    async fn start(&self) -> Result<(), AmqpError> {
        let shared = &self.shared;
        let link = Arc::new(Link::open(&shared.settings).await?);
        if self.stop.is_cancelled() {
            link.close().await;
            return Err(AmqpError::Closed);
        }
        // Visible to publishers before this returns.
        shared.link.send_replace(Some(link.clone()));
        let task = tokio::spawn(supervisor::run(shared.clone(), self.stop.clone(), link));
        *self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task);
        tracing::debug!(
            target: LOG_TARGET,
            address = %shared.settings.address,
            exchange = %shared.settings.exchange,
            "connected to RabbitMQ"
        );
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The supervisor closes the connection and ends.
        self.stop.cancel();
    }
}

#[async_trait]
impl PubSub for AmqpBus {
    fn max_message_size(&self) -> usize {
        self.inner.shared.settings.max_message_size
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        let shared = &self.inner.shared;
        if payload.len() > shared.settings.max_message_size {
            return Err(BusError::TooLarge(payload.len()));
        }
        let Some(routing_key) = wire::routing_key(channel) else {
            return Err(BusError::Other(format!(
                "the channel name is longer than {} bytes",
                wire::MAX_NAME_LEN
            )));
        };
        self.ensure_connected().await?;
        let Some(link) = shared.current_link() else {
            return Err(BusError::Unavailable(
                "the connection to RabbitMQ is down (reconnecting)".into(),
            ));
        };
        if !link.healthy() {
            shared.wake.notify_one();
            return Err(BusError::Unavailable(
                "the connection to RabbitMQ is closed (reconnecting)".into(),
            ));
        }
        if link.blocked() {
            return Err(BusError::Unavailable(
                "RabbitMQ blocks publishers (a resource alarm is on)".into(),
            ));
        }
        let timeout = shared.settings.operation_timeout;
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let id = wire::message_id(shared.settings.publisher_id, seq);
        match tokio::time::timeout(timeout, link.publish(routing_key, &payload, id)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // A broken channel or connection: let the supervisor notice now.
                shared.wake.notify_one();
                Err(e)
            }
            Err(_) => {
                shared.wake.notify_one();
                Err(BusError::Unavailable(format!(
                    "RabbitMQ did not confirm the message within {timeout:?}"
                )))
            }
        }
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        self.ensure_connected().await?;
        let shared = &self.inner.shared;
        let mut consuming = shared.consuming.subscribe();
        let id = shared.add_subscriber(subscriptions, sink);
        shared.wake.notify_one();
        let timeout = shared.settings.connect_timeout;
        let ready = tokio::time::timeout(timeout, consuming.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok());
        if ready && !self.inner.stop.is_cancelled() {
            Ok(())
        } else {
            shared.remove_subscriber(id);
            Err(BusError::Unavailable(
                "this node's queue is not in place: the connection to RabbitMQ is down".into(),
            ))
        }
    }
}
