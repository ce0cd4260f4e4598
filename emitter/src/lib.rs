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
//! emitter.to("room1").sockets_join(["a", "b"]).await?;
//! emitter.to("a").sockets_leave("room1").await?;
//! emitter.to("banned").disconnect_sockets(true).await?;
//!
//! // To the servers' own listeners (no acknowledgements).
//! emitter.server_side_emit("reload-config", &("v2",)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Wire format
//!
//! [`Emitter::redis`] publishes the classic format of Node's `@socket.io/redis-emitter` 5
//! (the same bytes, see [`volley_protocol::classic`]): a Volley cluster on Redis reads it, and
//! so does a Node `socket.io` server with `@socket.io/redis-adapter` (`createAdapter`). Use the
//! same key (channel prefix) as the servers: [`Emitter::with_key`].
//!
//! `Emitter::amqp` and `Emitter::kafka` (features `amqp` and `kafka`) publish the same
//! payloads on the same channel names into a Volley cluster on RabbitMQ or Kafka, carried the
//! way the cluster's transport carries a channel:
//!
//! | broker | channel | payload |
//! | --- | --- | --- |
//! | Redis | `PUBLISH` channel | message |
//! | RabbitMQ | routing key, on the fanout exchange `volley` | body |
//! | Kafka | record key, on partition 0 of the topic `volley` | record value |
//!
//! The broadcast channels are `{key}#{nsp}#` and `{key}#{nsp}#{room}#` (msgpack
//! `[uid, packet, opts]`), the request channel `{key}-request#{nsp}#` (JSON). The emitter
//! declares the exchange, or creates the topic, when missing, with the settings the nodes use;
//! `Emitter::amqp_with_exchange` and `Emitter::kafka_with_topic` name another one, as the
//! nodes' transports can be configured to.
//!
//! # Failures
//!
//! One connection to the bus per [`Emitter`] (clones share it), reconnected with exponential
//! backoff when it drops. A publish while the bus is unreachable fails at once with
//! [`EmitterError::Publish`]; one whose answer (Redis's reply, RabbitMQ's publisher confirm,
//! Kafka's acknowledgement) does not come within 5 seconds fails too: nothing is queued for
//! later, so a returned error means the message was not sent (and `Ok` means the broker took
//! it, not that any server was listening).
//!
//! # Light
//!
//! No HTTP stack: `cargo tree -p volley-emitter -e normal --all-features` has no axum, hyper
//! or tower, nor the server crate (a test checks it). Each broker is a feature: `redis` (on by
//! default) brings the Redis client `fred`, `amqp` the RabbitMQ client `lapin`, `kafka` the
//! Kafka client `rdkafka` (librdkafka, built from its bundled sources: it needs a C compiler
//! and `make`).

// Without a broker feature (`--no-default-features`) no emitter can be made, so what encodes
// and publishes is unused: that build only checks that the crate compiles without any broker.
#![cfg_attr(
    not(any(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "fuzzing"
    )),
    allow(dead_code)
)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use volley_protocol::args::to_args;
use volley_protocol::classic::{BroadcastRef, Opts, Request, EMITTER_UID};
use volley_protocol::{EncodeError, Value};

#[cfg(feature = "amqp")]
mod amqp;
#[cfg(any(feature = "kafka", feature = "fuzzing"))]
mod brokers;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "redis")]
mod redis;

/// Why an emit could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The first connection to the bus failed (bad URL, unreachable, refused, auth).
    #[error("cannot connect to the message bus: {0}")]
    Connect(String),
    /// The bus is unavailable (or did not answer in time): the message was not published.
    #[error("the message bus is unavailable, nothing was published: {0}")]
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

/// A future the transports return.
type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), EmitterError>> + Send + 'a>>;

/// What an emitter publishes; each transport writes it in its own wire format.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    /// An event for clients.
    Broadcast(BroadcastRef<'a>),
    /// A request for the servers of a namespace.
    Request {
        /// The namespace.
        nsp: &'a str,
        /// The request.
        request: &'a Request,
    },
}

impl Outgoing<'_> {
    /// The channel (under the prefix `key`) and the payload, in the classic format every
    /// transport publishes.
    pub(crate) fn encode(&self, key: &str) -> Result<(String, bytes::Bytes), EncodeError> {
        use volley_protocol::classic;
        match self {
            Outgoing::Broadcast(broadcast) => {
                classic::encode_broadcast(broadcast).map(|bytes| (broadcast.channel(key), bytes))
            }
            Outgoing::Request { nsp, request } => classic::encode_request(request)
                .map(|bytes| (classic::request_channel(key, nsp), bytes)),
        }
    }
}

/// A message bus an emitter publishes on: Redis, RabbitMQ or Kafka, each in its own module.
pub(crate) trait Transport: Send + Sync + fmt::Debug {
    /// Encodes `message` (before returning the future: borrows end here) and publishes it
    /// under the channel prefix `key`.
    fn send(&self, key: &str, message: Outgoing<'_>) -> SendFuture<'_>;

    /// Closes the connection; later sends fail.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Publishes events and requests into a Socket.IO cluster, for one namespace (`/` unless
/// chosen with [`Emitter::of`]). Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct Emitter {
    transport: Arc<dyn Transport>,
    key: Arc<str>,
    nsp: Arc<str>,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("transport", &self.transport)
            .field("key", &self.key)
            .field("nsp", &self.nsp)
            .finish()
    }
}

impl Emitter {
    /// Connects to Redis and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`).
    ///
    /// `url` is a Redis URL as `fred` reads it: `redis://[[user]:password@]host[:port][/db]`,
    /// `redis-cluster://host:port?node=host2:port2`, `redis-sentinel://...`. The first
    /// connection must succeed (else [`EmitterError::Connect`], within about 5 seconds); later
    /// losses are reconnected in the background with exponential backoff (100 ms doubling up
    /// to 5 s, forever).
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
        let transport = redis::RedisTransport::connect(url).await?;
        Ok(Self::with_transport(Arc::new(transport)))
    }

    /// Connects to RabbitMQ and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`), publishing on the
    /// exchange `volley` (the default of Volley's AMQP transport).
    ///
    /// `url` is `amqp://[user[:password]@]host[:port][/vhost][?query]`: port 5672 and user
    /// `guest:guest` by default, the vhost percent-encoded (`%2f` is `/`, the default when the
    /// URL has no path); the query may set `heartbeat` (10 s unless set), `frame_max`,
    /// `channel_max`, `connection_timeout` (milliseconds) and `auth_mechanism`. TLS (`amqps://`)
    /// is not supported.
    ///
    /// The first connection must succeed within 5 seconds (else [`EmitterError::Connect`]: bad
    /// URL, unreachable, refused, wrong credentials or vhost, or an exchange of that name
    /// declared with other flags); it opens one channel in confirm mode and declares the fanout
    /// exchange as the nodes do. A lost connection is opened again in the background (100 ms
    /// doubling up to 5 s between attempts, forever); meanwhile publishes fail at once. Each
    /// publish waits for the broker's confirm, at most 5 seconds. A channel name (key,
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
        Self::amqp_with_exchange(url, amqp::DEFAULT_EXCHANGE).await
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
        let transport = amqp::AmqpTransport::connect(url, exchange).await?;
        Ok(Self::with_transport(Arc::new(transport)))
    }

    /// Connects to Kafka and returns an emitter for namespace `/` with the key
    /// [`DEFAULT_KEY`](volley_protocol::classic::DEFAULT_KEY) (`socket.io`), publishing on the
    /// topic `volley` (the default of Volley's Kafka transport).
    ///
    /// `brokers` is `[kafka://]host[:port][,host[:port]…]`, port 9092 by default (IPv6 in
    /// brackets); TLS and SASL are not supported.
    ///
    /// A broker must answer within 5 seconds, and the topic exist or be created (one
    /// partition, replication factor 1, one hour of retention: as the nodes create it), else
    /// [`EmitterError::Connect`]. librdkafka reconnects to lost brokers in the background
    /// (100 ms doubling up to 5 s, forever); while every broker is known to be down, publishes
    /// fail at once. Each publish is one record (key: the channel name, value: the payload,
    /// partition 0) sent at most once and acknowledged by the partition leader within 5 seconds,
    /// or it fails; a topic the brokers lost (a restart without storage) is created again first,
    /// which may double that time.
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
        Self::kafka_with_topic(brokers, kafka::DEFAULT_TOPIC).await
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
        let transport = kafka::KafkaTransport::connect(brokers, topic).await?;
        Ok(Self::with_transport(Arc::new(transport)))
    }

    fn with_transport(transport: Arc<dyn Transport>) -> Self {
        Emitter {
            transport,
            key: Arc::from(volley_protocol::classic::DEFAULT_KEY),
            nsp: Arc::from("/"),
        }
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
            transport: self.transport.clone(),
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
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        self.operator().sockets_join(rooms).await
    }

    /// Makes every socket of the namespace leave rooms.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        self.operator().sockets_leave(rooms).await
    }

    /// Disconnects every socket of the namespace (clients see `io server disconnect`); with
    /// `close`, their whole connection is closed.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        self.operator().disconnect_sockets(close).await
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
        let message = Outgoing::Request {
            nsp: &self.nsp,
            request,
        };
        self.transport.send(&self.key, message).await
    }

    /// Closes the connection to the bus (shared by every clone of this emitter); later emits
    /// fail with [`EmitterError::Publish`]. Dropping the last clone closes it too.
    pub async fn close(&self) {
        self.transport.close().await;
    }
}

/// An emit, room change or disconnection being prepared: targets and flags, built by
/// chaining from [`Emitter::to`], [`Emitter::except`], [`Emitter::volatile`] or
/// [`Emitter::compress`].
#[derive(Debug, Clone)]
#[must_use = "nothing is published until emit, sockets_join, sockets_leave or disconnect_sockets is awaited"]
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
        self.emitter
            .transport
            .send(&self.emitter.key, Outgoing::Broadcast(message))
            .await
    }

    /// Makes the targeted sockets join rooms.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        let request = Request::Join {
            opts: self.target(),
            rooms: rooms.into_rooms(),
        };
        self.emitter.request(&request).await
    }

    /// Makes the targeted sockets leave rooms.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), EmitterError> {
        let request = Request::Leave {
            opts: self.target(),
            rooms: rooms.into_rooms(),
        };
        self.emitter.request(&request).await
    }

    /// Disconnects the targeted sockets; with `close`, their whole connection is closed.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
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

    fn emitter() -> (Emitter, Arc<fuzzing::Recorder>) {
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

            emitter.to("r").sockets_join("a").await.unwrap();
            let (channel, bytes) = last(&recorder);
            assert_eq!(channel, "socket.io-request#/#");
            assert_eq!(
                std::str::from_utf8(&bytes).unwrap(),
                r#"{"type":2,"opts":{"rooms":["r"],"except":[]},"rooms":["a"]}"#
            );
            emitter.sockets_leave(["a", "b"]).await.unwrap();
            assert!(matches!(
                decode_request(&last(&recorder).1).unwrap(),
                Request::Leave { rooms, .. } if rooms == ["a", "b"]
            ));
            emitter
                .except("r")
                .volatile()
                .disconnect_sockets(true)
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
}
