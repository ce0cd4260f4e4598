//! Describing a server before it starts.

use std::sync::Arc;
use std::time::Duration;

use super::client::Dispatcher;
use super::limits::{self, Limits};
use super::server::{Shared, SocketIoConfig};
use crate::engine::{Engine, EngineConfig, HttpCompression, Transport};
use crate::manager::{ClientManager, ConnectionStateRecovery, MemoryManager};
use crate::service::{Cors, CorsOrigins, StaticFiles};
use crate::{Parser, Server};

/// The per-client bounds as set on the builder; byte bounds left unset follow the max payload.
#[derive(Debug)]
struct Bounds {
    pending_packets: usize,
    handlers_per_connection: usize,
    handlers_per_node: usize,
    handler_stall: Duration,
    attachment_bytes: Option<usize>,
    attachment_timeout: Duration,
    namespaces: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            pending_packets: limits::PENDING_PACKETS,
            handlers_per_connection: limits::HANDLERS_PER_CONNECTION,
            handlers_per_node: limits::HANDLERS_PER_NODE,
            handler_stall: limits::HANDLER_STALL,
            attachment_bytes: None,
            attachment_timeout: limits::ATTACHMENT_TIMEOUT,
            namespaces: limits::NAMESPACES_PER_CONNECTION,
        }
    }
}

impl Bounds {
    fn limits(&self, max_payload: u64) -> Limits {
        let mut limits = Limits::new(max_payload);
        limits.pending_packets = self.pending_packets;
        limits.handlers_per_connection = self.handlers_per_connection;
        limits.node_handlers = Arc::new(tokio::sync::Semaphore::new(self.handlers_per_node));
        limits.handler_stall = self.handler_stall;
        if let Some(bytes) = self.attachment_bytes {
            limits.attachment_bytes = bytes;
        }
        limits.attachment_timeout = self.attachment_timeout;
        limits.namespaces = self.namespaces;
        limits
    }
}

/// Settings of a [`Server`]; every one has a default that suits production.
///
/// ```
/// use std::time::Duration;
/// use volley::{Server, Transport};
/// let io = Server::builder()
///     .path("/socket.io/")
///     .ping_interval(Duration::from_secs(25))
///     .ping_timeout(Duration::from_secs(20))
///     .transports([Transport::Websocket])
///     .cors_allowed_origins(["https://example.com"])
///     .build();
/// ```
#[must_use]
pub struct ServerBuilder {
    engine: EngineConfig,
    connect_timeout: Duration,
    ack_timeout: Duration,
    max_attachments: usize,
    parser: Parser,
    bounds: Bounds,
    cors: CorsOrigins,
    manager: Option<Arc<dyn ClientManager>>,
    static_files: Option<StaticFiles>,
    recovery: Option<ConnectionStateRecovery>,
    states: Vec<(std::any::TypeId, Box<dyn std::any::Any + Send + Sync>)>,
    always_connect: bool,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("cors", &self.cors)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            engine: EngineConfig::default(),
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(60),
            max_attachments: 64,
            parser: Parser::Json,
            bounds: Bounds::default(),
            cors: CorsOrigins::SameOrigin,
            manager: None,
            static_files: None,
            recovery: None,
            states: Vec::new(),
            always_connect: false,
        }
    }
}

impl ServerBuilder {
    /// URL path of the endpoint (default `/socket.io/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if !path.ends_with('/') {
            path.push('/');
        }
        self.engine.path = path;
        self
    }

    /// Time between two server pings (default 25 s). A `socket.io-client` 2.x client (see
    /// [`allow_eio3`](Self::allow_eio3)) pings instead, at this interval, and the server answers;
    /// it is closed when no ping comes within this interval plus the ping timeout.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.engine.ping_interval = interval;
        self
    }

    /// Time a client has to answer a ping (default 20 s).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.engine.ping_timeout = timeout;
        self
    }

    /// Largest message or polling body accepted, in bytes (default 1 000 000).
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.engine.max_payload = bytes;
        self
    }

    /// Accepted transports (default polling and WebSocket).
    pub fn transports(mut self, transports: impl IntoIterator<Item = Transport>) -> Self {
        self.engine.set_transports(transports);
        self
    }

    /// Time a client has to finish an upgrade to WebSocket after its probe (default 10 s); past
    /// it the upgrade is abandoned and the session stays on polling.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.engine.upgrade_timeout = timeout;
        self
    }

    /// Accept `socket.io-client` 2.x (Engine.IO v3, Socket.IO protocol v4) besides current
    /// clients. Off by default, as on Node's server (`allowEIO3`): such a client is refused with
    /// 400 `{"code":5,"message":"Unsupported protocol version"}`.
    ///
    /// Both transports and the upgrade work, with acks and binary, and so do rooms and
    /// broadcasts, shared with current clients. What differs for a v2 client:
    ///
    /// - it is connected to `/` as soon as its session opens (Socket.IO 2 servers did so), and
    ///   its socket id there is its session id, which is what the client takes as `socket.id`;
    /// - it sends no auth: its query stands for it. The connect handler of `/` gets the query of
    ///   the handshake (`io(url, { query: { token: "x" } })`, less Engine.IO's own parameters) as
    ///   a map of strings; that of another namespace the query the client sent with it (the
    ///   same `query` option, unless set per namespace). `None` when there is none;
    /// - a refused connect reaches it as an `error` event with the refusal's data, or else its
    ///   message;
    /// - connection state recovery does not apply, and it needs the default JSON parser.
    ///
    /// ```
    /// use volley::{Server, Socket, Value};
    ///
    /// let io = Server::builder().allow_eio3(true).build();
    /// io.of("/").on_connect(|socket: Socket, auth: Option<Value>| {
    ///     // a v2 client's `query: { token }`, a current client's `auth: { token }`
    ///     let token = auth
    ///         .as_ref()
    ///         .and_then(|a| a.as_map())
    ///         .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("token")))
    ///         .and_then(|(_, v)| v.as_str().map(str::to_owned));
    ///     println!("{} connected, token {token:?}", socket.id());
    /// });
    /// ```
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.engine.allow_eio3 = allow;
        self
    }

    /// How long-polling responses are compressed: on by default, as the reference server's
    /// `httpCompression`. A response body of 1024 bytes or more goes gzip- or deflate-encoded
    /// to a client whose `Accept-Encoding` takes either (by its q-values); `None` turns
    /// compression off. See [`HttpCompression`] for the threshold, the level, and the CPU it
    /// costs.
    ///
    /// WebSocket messages are not compressed: the reference server's `perMessageDeflate` (off
    /// by default there too) has no counterpart. The `permessage-deflate` extension needs
    /// the WebSocket implementation to read and write frames with the RSV1 bit;
    /// `tungstenite` (0.29, under axum 0.8's `ws`, and 0.30, the latest) has no such support
    /// and refuses any frame with a reserved bit set, so no option can negotiate it without
    /// replacing the WebSocket stack.
    ///
    /// ```
    /// use volley::engine::HttpCompression;
    /// let io = volley::Server::builder()
    ///     .http_compression(Some(HttpCompression { threshold: 2048, ..Default::default() }))
    ///     .build();
    /// # let _ = io;
    /// ```
    pub fn http_compression(mut self, compression: Option<HttpCompression>) -> Self {
        self.engine.http_compression = compression;
        self
    }

    /// Time a client has to connect to a namespace after its handshake (default 45 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Default time [`crate::Socket::call`] waits for an ack (default 60 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Frames that may wait in one connection's outgoing queue (default 1024). A client whose queue
    /// is full is disconnected with [`crate::DisconnectReason::SlowClient`], unless the emit was
    /// volatile, which is then dropped for that client.
    pub fn queue_capacity(mut self, frames: usize) -> Self {
        self.engine.queue_capacity = frames;
        self
    }

    /// Bytes that may wait in one connection's outgoing queue (default 8 MiB), counted as they
    /// will be written; like [`ServerBuilder::queue_capacity`], a client past it is disconnected
    /// as a slow client (a volatile emit is dropped instead). A single frame larger than this is
    /// still queued when the queue is empty.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.engine.queue_bytes = bytes;
        self
    }

    /// Most binary attachments one packet may announce (default 64).
    pub fn max_attachments(mut self, count: usize) -> Self {
        self.max_attachments = count;
        self
    }

    /// Bytes of attachments one binary packet may buffer while the rest arrive (default: the max
    /// payload). Past it the client is disconnected with [`crate::Limit::AttachmentBytes`].
    pub fn max_attachment_bytes(mut self, bytes: usize) -> Self {
        self.bounds.attachment_bytes = Some(bytes);
        self
    }

    /// Time the attachments of one binary packet have to arrive (default 30 s). Past it the
    /// client is disconnected with [`crate::Limit::AttachmentTimeout`].
    pub fn attachment_timeout(mut self, timeout: Duration) -> Self {
        self.bounds.attachment_timeout = timeout;
        self
    }

    /// Packets a client may send to a namespace before its connect handler has accepted it
    /// (default 16; their bytes are bounded by the max payload). They are handled in order once
    /// the connect is accepted, dropped if it is refused; past the bound the client is
    /// disconnected with [`crate::Limit::PendingPackets`].
    pub fn max_pending_packets(mut self, packets: usize) -> Self {
        self.bounds.pending_packets = packets;
        self
    }

    /// Async handlers (event, connect, disconnect) one connection may run at once (default 64).
    /// Past it further handlers wait their turn in arrival order; once 16 wait, the connection's
    /// reads pause until one starts, so the client's writes wait in TCP; see
    /// [`ServerBuilder::handler_stall_timeout`]. A handler awaiting the client's own ack counts
    /// against the bound while it waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// let io = volley::Server::builder()
    ///     .max_handlers_per_connection(16)
    ///     .max_handlers_per_node(4096)
    ///     .handler_stall_timeout(Duration::from_secs(10))
    ///     .build();
    /// ```
    pub fn max_handlers_per_connection(mut self, handlers: usize) -> Self {
        self.bounds.handlers_per_connection = handlers.max(1);
        self
    }

    /// Async handlers the whole node may run at once, across connections (default 16,384).
    /// Past it, connections whose handlers wait pause their reads as above.
    pub fn max_handlers_per_node(mut self, handlers: usize) -> Self {
        self.bounds.handlers_per_node = handlers.max(1);
        self
    }

    /// How long a connection's reads may stay paused behind its handlers (default 20 s). Past
    /// it the client is disconnected with [`crate::Limit::Handlers`].
    pub fn handler_stall_timeout(mut self, timeout: Duration) -> Self {
        self.bounds.handler_stall = timeout;
        self
    }

    /// Namespaces one connection may join at once (default 32). A CONNECT past it disconnects
    /// the client with [`crate::Limit::Namespaces`].
    pub fn max_namespaces_per_connection(mut self, namespaces: usize) -> Self {
        self.bounds.namespaces = namespaces;
        self
    }

    /// The packet wire format (default JSON). With [`Parser::MsgPack`], clients must use the
    /// `socket.io-msgpack-parser`.
    ///
    /// ```
    /// let io = volley::Server::builder().parser(volley::Parser::MsgPack).build();
    /// ```
    pub fn parser(mut self, parser: Parser) -> Self {
        self.parser = parser;
        self
    }

    /// Origins allowed to connect from a browser. By default only the server's own origin is: a
    /// request whose `Origin` differs from its scheme and host gets 400. Pass `"*"` for any
    /// origin, one origin, or a list.
    pub fn cors_allowed_origins(mut self, origins: impl Into<CorsOrigins>) -> Self {
        self.cors = origins.into();
        self
    }

    /// The client manager every emit goes through (default [`MemoryManager`]): any
    /// [`ClientManager`], or a manager made from a URL (features `redis`, `amqp`, `kafka`).
    ///
    /// ```
    /// # #[cfg(feature = "redis")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use volley::manager::RedisManager;
    /// use volley::Server;
    ///
    /// let io = Server::builder().client_manager(RedisManager::new("redis://127.0.0.1:6379")).build();
    /// # let _ = io;
    /// # }
    /// # #[cfg(not(feature = "redis"))]
    /// # fn main() {}
    /// ```
    pub fn client_manager(mut self, manager: impl crate::manager::IntoClientManager) -> Self {
        self.manager = Some(manager.into_client_manager());
        self
    }

    /// Files served over plain HTTP by [`Server::layer`], [`Server::wrap`] and [`Server::router`]
    /// (none by default). The Socket.IO path is answered first, then these files, then the
    /// wrapped app; see [`StaticFiles`].
    ///
    /// ```
    /// use volley::{Server, StaticFiles};
    /// let io = Server::builder()
    ///     .static_files(StaticFiles::new().file("/", "public/index.html").dir("/static", "public"))
    ///     .build();
    /// let app: axum::Router = io.router(); // `/` and `/static/...` from disk, 404 elsewhere
    /// # let _ = app;
    /// ```
    pub fn static_files(mut self, files: StaticFiles) -> Self {
        self.static_files = Some(files);
        self
    }

    /// [`ServerBuilder::client_manager`] for a manager chosen at run time (behind an `Arc`).
    pub fn client_manager_arc(mut self, manager: Arc<dyn ClientManager>) -> Self {
        self.manager = Some(manager);
        self
    }

    /// Turns on connection state recovery (off by default): a client whose connection drops
    /// and that reconnects within [`ConnectionStateRecovery::max_disconnection_duration`] gets
    /// the same socket back (id, rooms, session) and every broadcast it missed, in order, before
    /// new ones; [`crate::Socket::recovered`] says so. Broadcasts then carry an offset as their
    /// last argument: the official clients (4.6 and later) keep the last one they received, and
    /// client handlers see it as one more argument, as with Node's server. Volatile
    /// emits, emits that ask for acks and a socket's own emits ([`crate::Socket::emit`]) are
    /// not recovered. In a cluster, a client that reconnects to another node is recovered
    /// there too when the cluster manager supports it (see the manager's docs).
    ///
    /// ```
    /// use volley::{ConnectionStateRecovery, Server};
    /// let io = Server::builder()
    ///     .connection_state_recovery(ConnectionStateRecovery::default())
    ///     .build();
    /// # let _ = io;
    /// ```
    pub fn connection_state_recovery(mut self, recovery: ConnectionStateRecovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Acknowledges a client's connect before the connect handler runs (off by default), as
    /// python-socketio's `always_connect`: the client is told it is connected at once, and what
    /// the handler emits reaches it as it goes. The connect middlewares ([`crate::Namespace::with`])
    /// still decide first. Packets the client sends still wait until the handler accepts; a
    /// handler that refuses disconnects the client (a DISCONNECT packet: the client sees an
    /// `io server disconnect`, not a `connect_error`), and its disconnect handler does not run.
    /// It applies to every namespace, the Admin UI's ([`crate::Server::instrument`]) included:
    /// a refused login then shows as a disconnect.
    ///
    /// ```
    /// let io = volley::Server::builder().always_connect(true).build();
    /// # let _ = io;
    /// ```
    pub fn always_connect(mut self, on: bool) -> Self {
        self.always_connect = on;
        self
    }

    /// Shares `value` with every handler: a handler takes a copy with a
    /// [`State<T>`](crate::handler::State) argument (and [`crate::Socket::state`] lends it).
    /// One value per type; a second value of the same type replaces the first. Put what is
    /// costly to copy, or what handlers change, behind an `Arc`.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::{Arc, Mutex};
    /// use volley::handler::State;
    /// use volley::{Server, Socket};
    ///
    /// #[derive(Clone, Default)]
    /// struct Nicks(Arc<Mutex<HashMap<String, String>>>);
    ///
    /// let io = Server::builder().state(Nicks::default()).build();
    /// io.of("/").on("nick", |s: Socket, State(nicks): State<Nicks>, nick: String| {
    ///     nicks.0.lock().unwrap().insert(s.id().to_string(), nick);
    /// });
    /// ```
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.push(super::state::States::entry(value));
        self
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        let manager = self
            .manager
            .unwrap_or_else(|| Arc::new(MemoryManager::default()));
        let config = SocketIoConfig {
            connect_timeout: self.connect_timeout,
            ack_timeout: self.ack_timeout,
            max_attachments: self.max_attachments,
            parser: self.parser,
            limits: self.bounds.limits(self.engine.max_payload),
            states: super::state::States::new(self.states),
            always_connect: self.always_connect,
        };
        manager.local().use_parser(self.parser);
        if let Some(recovery) = self.recovery {
            manager.local().use_recovery(recovery);
        }
        let shared = Arc::new(Shared::new(config, manager.clone()));
        let hooks: Arc<dyn crate::manager::ServerHooks> = shared.clone();
        manager.bind(Arc::downgrade(&hooks));
        let dispatcher = Dispatcher { shared };
        Server {
            engine: Engine::new(self.engine, dispatcher),
            cors: Arc::new(Cors::new(self.cors)),
            static_files: self.static_files.map(Arc::new),
        }
    }
}
