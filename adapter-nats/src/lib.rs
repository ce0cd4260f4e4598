//! NATS transport of the Volley cluster manager, on [`async_nats`]: [`NatsBus`] implements
//! [`PubSub`] on one NATS server, in one of two ways.
//!
//! - **Core NATS** (`nats://host:port`, the default): each channel is a subject (see
//!   [Subjects](NatsBus#subjects)), a publish is one `PUB`, a subscription one `SUB` per
//!   channel or prefix. Fast; the server stores nothing, so a node that is not subscribed at
//!   that moment (reconnecting) misses the message, and nothing tells the publisher.
//! - **JetStream** (`nats://host:port?bus=jetstream`): every message is stored in one stream
//!   before the publish returns `Ok`, and each node reads the stream in order from where it
//!   stopped, across lost connections and server restarts that keep the server's storage.
//!
//! ```no_run
//! use bytes::Bytes;
//! use tokio::sync::mpsc;
//! use volley_cluster::{PubSub, Subscription};
//! use volley_nats::NatsBus;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = NatsBus::new("nats://127.0.0.1:4222")?;
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
//! A server uses this crate through `volley`'s `nats` feature, by URL (this crate depends only
//! on `volley-cluster`, not on the server):
//!
//! ```no_run
//! use volley::manager::NatsManager;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let io = volley::Server::builder()
//!     .client_manager(NatsManager::new("nats://127.0.0.1:4222?bus=jetstream"))
//!     .build();
//! # let _ = io;
//! # }
//! ```

mod config;
mod core_nats;
mod error;
mod jetstream;
mod subject;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, OnceCell};
use volley_cluster::{BusError, BusMessage, BusTasks, PubSub, Subscription};

pub use config::{
    NatsBusBuilder, DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, DEFAULT_MAX_LEN, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_PORT, DEFAULT_ROOT,
};
pub use error::NatsError;

use config::Settings;

/// The `tracing` target of this crate's log events, shared with the cluster manager.
const LOG_TARGET: &str = "volley::cluster";

/// A [`PubSub`] transport over one NATS server, on core NATS or on JetStream.
///
/// Cloning is cheap and shares the connection. Call [`close`](NatsBus::close) to stop the
/// subscriptions and close the connection.
///
/// # Connecting
///
/// [`new`](NatsBus::new) only checks the URL. The connection opens on the first
/// [`connect`](NatsBus::connect), [`publish`](PubSub::publish) or
/// [`subscribe`](PubSub::subscribe); with JetStream, the stream is created then when missing.
/// If that fails the error is returned and the next call tries again. Once connected, a lost
/// connection is re-established in the background (100 ms doubling to 5 s between attempts, by
/// default, without end), and the client subscribes again to its subjects.
///
/// # Subjects
///
/// A channel becomes a subject under the bus's [root](NatsBusBuilder::root) (`volley`): split at
/// each `#`, each piece one token, with the bytes a subject cannot hold escaped
/// (`socket.io#/#room#` is `volley.socket~2Eio./.room.~`). A prefix subscription that ends at a
/// `#` is a wildcard subscription (`volley.socket~2Eio.>`), so the server sends each node only
/// what it listens to. A message on a subject of the root that is not written this way is
/// skipped.
///
/// # Publishing
///
/// A publish fails with [`BusError::TooLarge`] above
/// [`max_message_size`](NatsBusBuilder::max_message_size) (or the server's `max_payload`), and
/// with [`BusError::Unavailable`] at once while the connection is down, and after
/// [`operation_timeout`](NatsBusBuilder::operation_timeout) without an answer. It is sent at
/// most once.
///
/// - On core NATS, a publish is one `PUB` written to the server's connection: `Ok` means the
///   message left for the server while it was connected, no more.
///   [`publish_counted`](PubSub::publish_counted) cannot say how many nodes got it (NATS does
///   not tell), so the cluster manager does not claim a delivery it cannot check: see
///   [What an `Ok` emit means](NatsBus#what-an-ok-emit-means).
/// - On JetStream, a publish waits for the stream's acknowledgement: `Ok` means the message is
///   stored in the stream (written to the server's files before it answers).
///
/// # Durability
///
/// With JetStream (`?bus=jetstream`), the bus uses one stream (named after the root unless
/// [`stream`](NatsBusBuilder::stream) says otherwise) that holds every subject of the root, file
/// storage, keeping at most [`max_len`](NatsBusBuilder::max_len) messages,
/// [`max_bytes`](NatsBusBuilder::max_bytes) and [`max_age`](NatsBusBuilder::max_age) (the
/// oldest are dropped first). Each [`subscribe`](PubSub::subscribe) reads it through an
/// ephemeral pull consumer of its own (no acknowledgements, nothing kept for it by the server
/// once it is gone), from the message after the last one in the stream when it was called, and
/// always from the last one it has read: after a lost connection or a server restart it makes a
/// new consumer that starts right after it, so it misses nothing still in the stream and
/// delivers nothing twice (a message it already delivered is skipped by its sequence number).
/// If the stream itself was lost (a server restarted without its storage), the bus creates it
/// again and reads the new one from its start.
///
/// # What an `Ok` emit means
///
/// On JetStream: the emit is in the stream, and every node that keeps running reads it, once,
/// unless it falls further behind than the stream's limits (a warning then says how many it
/// lost). A server `SIGKILL`ed and restarted on the same storage loses nothing it acknowledged.
///
/// On core NATS: nothing more than "the server was handed it". A node that is reconnecting, or
/// whose client dropped messages because its sink stayed full (a warning says so), misses it,
/// and neither the publisher nor the emit hears of it. Use JetStream where every emit that
/// returned `Ok` must reach every node.
///
/// Neither keeps disconnected sockets for connection state recovery
/// ([`keeps_sessions`](PubSub::keeps_sessions) is `false`): the nodes hand them over to each
/// other, as on every Volley bus.
///
/// ```no_run
/// use bytes::Bytes;
/// use volley_cluster::{BusError, PubSub};
/// use volley_nats::NatsBus;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let bus = NatsBus::builder("nats://127.0.0.1:4222")
///     .max_message_size(1024)
///     .build()?;
/// let big = Bytes::from(vec![0u8; 2048]);
/// assert_eq!(bus.publish("ch", big).await, Err(BusError::TooLarge(2048)));
/// bus.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NatsBus {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    /// Set once connected; never reset (the client reconnects by itself afterwards).
    client: OnceCell<Connection>,
    /// The JetStream stream, when it is known to exist.
    stream: jetstream::StreamState,
    closed: AtomicBool,
    /// The subscriptions' tasks, stopped with the bus.
    tasks: BusTasks,
}

/// The connection: the client, and its JetStream context.
struct Connection {
    client: Client,
    jetstream: async_nats::jetstream::Context,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("address", &self.inner.settings.address)
            .field("root", &self.inner.settings.root)
            .field("stream", &self.stream())
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    /// A bus for the NATS server at `url` (`nats://[user:password@]host[:port][?settings]`, see
    /// [`NatsBusBuilder::build`]), with the default settings of [`NatsBusBuilder`] otherwise.
    /// Does not connect: see [`connect`](NatsBus::connect).
    ///
    /// ```
    /// use volley_nats::NatsBus;
    ///
    /// assert!(NatsBus::new("nats://127.0.0.1:4222").is_ok());
    /// assert_eq!(NatsBus::new("nats://127.0.0.1?bus=jetstream").unwrap().stream(), Some("volley"));
    /// assert!(NatsBus::new("not a url").is_err());
    /// ```
    pub fn new(url: &str) -> Result<NatsBus, NatsError> {
        NatsBus::builder(url).build()
    }

    /// Starts configuring a bus for the NATS server at `url`; see [`NatsBusBuilder`].
    pub fn builder(url: &str) -> NatsBusBuilder {
        NatsBusBuilder::new(url)
    }

    pub(crate) fn from_settings(settings: Settings) -> NatsBus {
        NatsBus {
            inner: Arc::new(Inner {
                settings,
                client: OnceCell::new(),
                stream: jetstream::StreamState::default(),
                closed: AtomicBool::new(false),
                tasks: BusTasks::new(),
            }),
        }
    }

    /// The JetStream stream's name, `None` on core NATS.
    pub fn stream(&self) -> Option<&str> {
        let settings = &self.inner.settings;
        settings
            .jetstream
            .then(|| settings.stream.as_deref().unwrap_or(&settings.root))
    }

    /// The first token of every subject of the bus.
    pub fn root(&self) -> &str {
        &self.inner.settings.root
    }

    /// Opens the connection and waits until it is ready (with JetStream, until the stream
    /// exists), or returns why the first attempt failed: refused, timed out, authentication,
    /// no JetStream on the server. Calling it again after a success does nothing (but check the
    /// stream again if it was lost); after a failure, it tries again.
    pub async fn connect(&self) -> Result<(), NatsError> {
        self.connection().await?;
        if self.inner.settings.jetstream {
            self.inner
                .ensure_stream()
                .await
                .map_err(|e| NatsError::Connect(e.to_string()))?;
        }
        Ok(())
    }

    /// Stops the subscriptions (their sinks are closed) and closes the connection; later
    /// publishes and subscribes fail with [`BusError::Unavailable`]. A closed bus stays closed,
    /// for every clone.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.tasks.abort_all();
        if let Some(connection) = self.inner.client.get() {
            let _ = connection.client.drain().await;
        }
    }

    /// Whether the connection is up right now.
    pub fn is_connected(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire)
            && self.inner.client.get().is_some_and(|c| {
                c.client.connection_state() == async_nats::connection::State::Connected
            })
    }

    async fn connection(&self) -> Result<&Connection, NatsError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(NatsError::Connect("the bus is closed".into()));
        }
        self.inner
            .client
            .get_or_try_init(|| self.inner.open())
            .await
    }

    /// The connection, up now, or why not.
    async fn connected(&self) -> Result<&Connection, BusError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::Unavailable("the NATS bus is closed".into()));
        }
        let connection = self.connection().await.map_err(BusError::from)?;
        if connection.client.connection_state() != async_nats::connection::State::Connected {
            return Err(BusError::Unavailable(format!(
                "not connected to NATS at {} (reconnecting in the background)",
                self.inner.settings.address
            )));
        }
        Ok(connection)
    }
}

impl Inner {
    async fn open(&self) -> Result<Connection, NatsError> {
        let settings = &self.settings;
        let (min, max) = (settings.reconnect_min, settings.reconnect_max);
        let address = settings.address.clone();
        let options = ConnectOptions::new()
            .name("volley")
            .connection_timeout(settings.connect_timeout)
            .request_timeout(Some(settings.operation_timeout))
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| backoff(attempts, min, max))
            .subscription_capacity(settings.message_buffer)
            .event_callback(move |event| {
                let address = address.clone();
                async move { log_event(&address, event) }
            });
        let client = options
            .connect(settings.server.as_str())
            .await
            .map_err(|e| NatsError::Connect(format!("{}: {e}", settings.address)))?;
        let mut jetstream = async_nats::jetstream::new(client.clone());
        jetstream.set_timeout(settings.operation_timeout);
        tracing::debug!(target: LOG_TARGET, address = %settings.address, "connected to NATS");
        Ok(Connection { client, jetstream })
    }
}

/// The delay before reconnection attempt `attempts` (counted from 1).
fn backoff(attempts: usize, min: Duration, max: Duration) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    min.saturating_mul(1 << doublings).min(max)
}

/// Logs what the client reports about its connection.
fn log_event(address: &str, event: Event) {
    match event {
        Event::Connected => {
            tracing::info!(target: LOG_TARGET, %address, "connected to NATS");
        }
        Event::Disconnected => {
            tracing::warn!(target: LOG_TARGET, %address, "lost the NATS connection, reconnecting");
        }
        Event::SlowConsumer(sid) => {
            tracing::warn!(
                target: LOG_TARGET,
                %address,
                subscription = sid,
                "NATS messages lost: the subscription's buffer overflowed while the sink was \
                 full (raise NatsBusBuilder::message_buffer or drain the sink faster)"
            );
        }
        other => {
            tracing::debug!(target: LOG_TARGET, %address, event = %other, "NATS client event");
        }
    }
}

#[async_trait]
impl PubSub for NatsBus {
    fn max_message_size(&self) -> usize {
        self.inner.settings.max_message_size
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        let settings = &self.inner.settings;
        if payload.len() > settings.max_message_size {
            return Err(BusError::TooLarge(payload.len()));
        }
        let connection = self.connected().await?;
        if payload.len() > connection.client.server_info().max_payload {
            return Err(BusError::TooLarge(payload.len()));
        }
        let subject = subject::subject(&settings.root, channel);
        if settings.jetstream {
            self.inner
                .publish_stored(connection, subject, payload)
                .await
        } else {
            core_nats::publish(connection, settings, subject, payload).await
        }
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let connection = self.connected().await?;
        let task = if self.inner.settings.jetstream {
            self.inner
                .subscribe_stored(connection, subscriptions, sink)
                .await?
        } else {
            core_nats::subscribe(connection, &self.inner.settings, subscriptions, sink).await?
        };
        self.inner.tasks.track(task);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(backoff(1, min, max), min);
        assert_eq!(backoff(2, min, max), Duration::from_millis(200));
        assert_eq!(backoff(7, min, max), max);
        assert_eq!(backoff(usize::MAX, min, max), max);
    }
}
