//! The seam between the cluster logic and a message broker: publish bytes on a channel, and
//! subscribe to channels. Each adapter crate (Redis, AMQP, Kafka) implements [`PubSub`] and
//! nothing else.

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

/// A message received from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// The channel it was published on.
    pub channel: String,
    /// Its bytes, untrusted: they may come from any node or emitter.
    pub payload: Bytes,
}

/// What a node listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// One channel, by its exact name.
    Channel(String),
    /// Every channel whose name starts with this prefix.
    Prefix(String),
}

impl Subscription {
    /// Whether a message published on `channel` belongs to this subscription.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            Subscription::Channel(c) => c == channel,
            Subscription::Prefix(p) => channel.starts_with(p.as_str()),
        }
    }
}

/// Why the bus refused a publish or a subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The broker cannot be reached now (the transport keeps reconnecting).
    #[error("the message bus is unavailable: {0}")]
    Unavailable(String),
    /// The message is larger than the transport accepts.
    #[error("the message is too large for the bus ({0} bytes)")]
    TooLarge(usize),
    /// Anything else the broker said.
    #[error("the message bus failed: {0}")]
    Other(String),
    /// The broker took the message but handed it to fewer subscribers than the nodes that should
    /// have received it (see [`PubSub::publish_counted`]): some node may have missed it.
    #[error("the message reached {reached} of the {expected} nodes expected to receive it")]
    Undelivered {
        /// How many subscribers the broker handed it to.
        reached: usize,
        /// How many nodes should have received it.
        expected: usize,
    },
}

/// A disconnected socket as a transport that keeps sessions stores it (connection state
/// recovery, see [`PubSub::keeps_sessions`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    /// Its socket id.
    pub sid: String,
    /// Its private id.
    pub pid: String,
    /// Its rooms, its own id first.
    pub rooms: Vec<String>,
    /// Its session data (`Nil` when it cannot travel).
    pub data: volley_protocol::Value,
}

/// A broadcast a returning socket missed, as a transport that keeps sessions read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct MissedBroadcast {
    /// Event name.
    pub event: String,
    /// Its arguments, without the offset.
    pub args: Vec<volley_protocol::Value>,
    /// Its offset.
    pub offset: String,
}

/// What a transport that keeps sessions gives back for a returning socket.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The socket as it was stored.
    pub session: StoredSession,
    /// What it missed, oldest first.
    pub missed: Vec<MissedBroadcast>,
    /// The offset the missed broadcasts go up to (the client's own offset when it missed
    /// nothing): broadcasts after it reach the socket live.
    pub last: String,
}

/// A publish/subscribe transport. Implementations:
///
/// - publish at most once per call, and return an error (rather than queue without bound) when
///   the broker is unreachable, so the caller sees the failure;
/// - keep their subscriptions across broker restarts: reconnect with backoff and subscribe again;
/// - hand every received message to the sink in order, waiting when it is full (the sink is
///   drained by one task that only decodes and dispatches).
///
/// ```
/// use volley_cluster::{BusError, BusMessage, PubSub, Subscription};
/// use bytes::Bytes;
/// use tokio::sync::mpsc;
///
/// /// Drops everything: the smallest transport there is.
/// struct Void;
///
/// #[async_trait::async_trait]
/// impl PubSub for Void {
///     async fn publish(&self, _channel: &str, _payload: Bytes) -> Result<(), BusError> {
///         Ok(())
///     }
///     async fn subscribe(
///         &self,
///         _subscriptions: &[Subscription],
///         _sink: mpsc::Sender<BusMessage>,
///     ) -> Result<(), BusError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait PubSub: Send + Sync + 'static {
    /// Publishes `payload` on `channel`.
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError>;

    /// Publishes like [`publish`](PubSub::publish) and, when the transport can tell, says how
    /// many subscribers the broker handed the message to: `Ok(Some(n))`. `Ok(None)` means the
    /// transport cannot tell (the default, which calls `publish`).
    ///
    /// The cluster manager publishes through this method. When it answers `Some(n)` with `n`
    /// below the number of nodes that should have received the message (on the channel of every
    /// node: this node and each other node it believes alive, once any other is; on a node's own
    /// channel: that node), the publish fails with [`BusError::Undelivered`]. A transport that
    /// stores nothing for absent subscribers (Redis pub/sub) reports it, so that an emit never
    /// claims a delivery to a node that was not listening, as one re-subscribing after a broker
    /// restart. Each node must count once per message, whichever of its subscriptions matched.
    async fn publish_counted(
        &self,
        channel: &str,
        payload: Bytes,
    ) -> Result<Option<usize>, BusError> {
        self.publish(channel, payload).await.map(|()| None)
    }

    /// Publishes several messages, each as [`publish_counted`](PubSub::publish_counted) would,
    /// in the order given; one outcome per message, in that order. The cluster manager calls it
    /// on a bus whose rooms have channels ([`rooms_have_channels`](PubSub::rooms_have_channels)),
    /// where messages queued one after the other are often for different channels and cannot
    /// share one batch. The default publishes them one after the other
    /// ([`publish_counted_each`]); a transport that can send them in one round trip (Redis: one
    /// script, or a pipeline) and keep their order overrides it.
    async fn publish_counted_many(
        &self,
        messages: Vec<(std::sync::Arc<str>, Bytes)>,
    ) -> Vec<Result<Option<usize>, BusError>> {
        publish_counted_each(self, messages).await
    }

    /// The largest payload [`publish`](PubSub::publish) takes: the cluster manager never batches
    /// messages beyond it. Unlimited unless the transport says otherwise.
    fn max_message_size(&self) -> usize {
        usize::MAX
    }

    /// How many other nodes serve namespace `nsp`, when the transport counts them itself:
    /// Node's cluster protocols count the subscribers of a channel, and nodes that never send
    /// heartbeats (Node's streams adapter) are known only that way. Then requests to other nodes
    /// wait for that many answers, from whichever nodes send them. `None` (the default): the
    /// manager counts the nodes it hears heartbeats from.
    async fn peers(&self, nsp: &str) -> Option<usize> {
        let _ = nsp;
        None
    }

    /// Whether the transport gives every broadcast its offset itself (the id of a stream entry)
    /// and hands a node's own broadcasts back to it. With connection state recovery on, the
    /// manager then delivers its own broadcasts to its sockets when they come back, under that
    /// offset, so that every node and client knows a broadcast by one offset. `false` by default.
    fn numbers_broadcasts(&self) -> bool {
        false
    }

    /// Whether each node's messages reach every other node in the order that node published
    /// them, on whatever channels (one channel for all of a node's broadcasts, or one connection
    /// that reads them all in order). Connection state recovery across nodes counts on it to
    /// tell a broadcast the socket's old node had already handed over from one it had not, when
    /// the handover and the broadcasts take different routes. `true` by default; a transport
    /// whose channels live on different servers (Redis Cluster) and whose broadcasts use several
    /// channels says `false`.
    fn keeps_each_nodes_order(&self) -> bool {
        true
    }

    /// Whether the transport keeps disconnected sockets for connection state recovery itself
    /// (where every node, Node's too, finds them), instead of each node keeping its own.
    /// `false` by default; a transport that says `true` implements
    /// [`persist_session`](PubSub::persist_session) and
    /// [`restore_session`](PubSub::restore_session).
    fn keeps_sessions(&self) -> bool {
        false
    }

    /// Stores a disconnected socket of namespace `nsp` for `ttl`.
    async fn persist_session(
        &self,
        nsp: &str,
        session: StoredSession,
        ttl: std::time::Duration,
    ) -> Result<(), BusError> {
        let _ = (nsp, session, ttl);
        Err(BusError::Other("this transport keeps no sessions".into()))
    }

    /// Takes back the socket of namespace `nsp` stored under private id `pid`, with the
    /// broadcasts after `offset` that reached its rooms, at most `max_missed` of them; `None`
    /// when it is not stored, has expired, `offset` is unknown, or it missed more than that.
    async fn restore_session(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
        max_missed: usize,
    ) -> Result<Option<RestoredSession>, BusError> {
        let _ = (nsp, pid, offset, max_missed);
        Ok(None)
    }

    /// This node has sockets in namespace `nsp` (called once per namespace, on its first
    /// socket): a transport that listens per namespace starts listening to it. Does nothing by
    /// default.
    async fn serve(&self, nsp: &str) {
        let _ = nsp;
    }

    /// Whether the transport gives rooms channels of their own (Redis sharded pub/sub): then
    /// the manager publishes a broadcast to one room on [`room_channel`](PubSub::room_channel)
    /// and tells the transport when a room gains its first member on this node
    /// ([`room_opened`](PubSub::room_opened)) and loses its last
    /// ([`room_closed`](PubSub::room_closed)), so that a node receives the broadcasts of the
    /// rooms it has members in, not every room's. `false` by default.
    fn rooms_have_channels(&self) -> bool {
        false
    }

    /// The channel a broadcast to room `room` of namespace `nsp` alone (without acks) goes
    /// on, when the transport gives that room a channel; `None` (the default): the channel of
    /// every node. What arrives there is handed to the sink as if it came on that channel.
    fn room_channel(&self, nsp: &str, room: &str) -> Option<String> {
        let _ = (nsp, room);
        None
    }

    /// Room `room` of namespace `nsp` has its first member on this node: a transport whose
    /// rooms have channels starts listening to its channel. Called in order with
    /// [`room_closed`](PubSub::room_closed) for the same room, only when
    /// [`rooms_have_channels`](PubSub::rooms_have_channels) says so. Does nothing by default.
    async fn room_opened(&self, nsp: &str, room: &str) {
        let _ = (nsp, room);
    }

    /// Room `room` of namespace `nsp` has no member left on this node: the transport stops
    /// listening to its channel. Does nothing by default.
    async fn room_closed(&self, nsp: &str, room: &str) {
        let _ = (nsp, room);
    }

    /// Starts delivering the messages of `subscriptions` to `sink`, for as long as the sink is
    /// open. Called once per node, before the first publish.
    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError>;
}

/// Publishes `messages` one after the other, each with [`PubSub::publish_counted`], and returns
/// their outcomes in order: what [`PubSub::publish_counted_many`] does unless a transport
/// overrides it, for an override to fall back to.
///
/// ```
/// use bytes::Bytes;
/// use volley_cluster::{publish_counted_each, MemoryBus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let bus = MemoryBus::new();
/// let outcomes = publish_counted_each(
///     &bus,
///     vec![("a".into(), Bytes::from_static(b"1")), ("b".into(), Bytes::from_static(b"2"))],
/// )
/// .await;
/// assert_eq!(outcomes.len(), 2);
/// assert!(outcomes.iter().all(Result::is_ok));
/// # }
/// ```
pub async fn publish_counted_each<B: PubSub + ?Sized>(
    bus: &B,
    messages: Vec<(std::sync::Arc<str>, Bytes)>,
) -> Vec<Result<Option<usize>, BusError>> {
    let mut outcomes = Vec::with_capacity(messages.len());
    for (channel, payload) in messages {
        outcomes.push(bus.publish_counted(&channel, payload).await);
    }
    outcomes
}
