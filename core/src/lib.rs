//! Volley is a Socket.IO server for Rust: Engine.IO v4 / Socket.IO v5 over long-polling and
//! WebSocket, speaking to the official clients, built to scale out across nodes.
//!
//! ```no_run
//! use volley::{Server, Socket, Value};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = Server::builder().build();
//!     io.of("/").on("chat", |socket: Socket, text: String| async move {
//!         // to everyone in the namespace but the sender
//!         let _ = socket.broadcast().emit("chat", &text).await;
//!     });
//!     io.of("/").on("add", |_s: Socket, (a, b): (i64, i64)| a + b); // acked with the sum
//!     let listener = volley::serve::Listener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, io.service()).await
//! }
//! ```
//!
//! # Many nodes
//! With a cluster manager, any number of nodes behave as one server: an emit on one reaches the
//! clients of all (feature `redis`; `amqp` and `kafka` for RabbitMQ and Kafka):
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use volley::manager::RedisManager;
//! use volley::Server;
//!
//! let io = Server::builder().client_manager(RedisManager::new("redis://127.0.0.1:6379")).build();
//! io.ready(Duration::from_secs(5)).await?; // a bad URL or an unreachable Redis stops us here
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "redis"))]
//! # fn main() {}
//! ```
//!
//! # Contents
//! - [`Server`] and [`ServerBuilder`]: settings, namespaces, axum / tower integration.
//! - [`Namespace`]: handlers ([`Namespace::on`], [`Namespace::on_connect`],
//!   [`Namespace::on_disconnect`]) and emits to rooms ([`BroadcastOperator`]).
//! - [`Socket`]: one client in one namespace: [`Socket::emit`], [`Socket::call`],
//!   [`Socket::disconnect`], its session ([`Socket::save_session`]).
//! - [`handler`]: what handlers may take ([`handler::State`], typed `auth`, your own
//!   [`handler::FromSocket`] types) and the middlewares ([`Namespace::with`],
//!   [`Namespace::use_packets`]).
//! - [`manager`]: the [`ClientManager`] seam every emit goes through; [`MemoryManager`] is the
//!   single-node default, the cluster managers are made from a URL ([`manager::from_url`]).
//! - [`engine`]: the Engine.IO layer, usable alone.
//! - [`serve`]: the TCP listener to serve Volley on.
//! - [`admin`]: the official Socket.IO Admin UI ([`Server::instrument`]).
//! - [`metrics`]: Prometheus metrics (feature `metrics`); [`Observer`] is the seam both use.
//!
//! # Feature flags
//! | feature | default | what |
//! | --- | --- | --- |
//! | `metrics` | no | [`metrics`]: an observer feeding the `metrics` facade, and `GET /metrics` in the Prometheus format |
//! | `redis` | no | `manager::RedisManager` and `redis://` URLs in [`manager::from_url`]: a cluster over Redis pub/sub or a Redis stream |
//! | `amqp` | no | `manager::AmqpManager` and `amqp://` URLs: a cluster over RabbitMQ |
//! | `kafka` | no | `manager::KafkaManager` and `kafka://` URLs: a cluster over Kafka (builds librdkafka: a C compiler and `make`) |
//!
//! # Serving
//! Volley is a tower service and runs behind any listener `axum::serve` takes. The one in
//! [`serve`] suits a Socket.IO server best: `TCP_NODELAY` on every connection (with Nagle's
//! algorithm on, a small frame written while the previous one is not yet acknowledged waits for
//! that acknowledgement, which a client may delay by up to 40 ms), a listen backlog of 1024
//! rather than tokio's 128 (a burst of reconnecting clients would overflow it), and a new
//! WebSocket session's `101 Switching Protocols` sent in one segment with its first frame. On
//! another listener, set the first two yourself.
//!
//! Give `axum::serve` [`Server::service`] when Volley is the whole app: each connection gets a
//! copy of it, a few reference counts. Given an axum `Router` ([`Server::router`],
//! [`Server::wrap`]), `axum::serve` copies the router's whole route table for every connection
//! (a tenth of the CPU time of a WebSocket connect); `router.into_make_service()` avoids that.
//!
//! # Logging
//! Events are logged with `tracing` under two targets that can be switched on separately:
//! `volley::socketio` (namespaces, sockets, packets) and `volley::engine` (sessions, transports).

pub mod admin;
pub mod engine;
mod io;
pub mod manager;
pub mod metrics;
pub mod serve;
mod service;

pub use engine::{CloseReason, Sid, Transport};
pub use io::handler;
pub use io::{
    AckError, AckResponse, Args, BroadcastOperator, Client, ConnectError, DisconnectReason,
    EmitError, IntoRooms, Limit, Namespace, Observer, Parser, Server, ServerBuilder, SessionGuard,
    SessionValue, Socket,
};
#[cfg(feature = "amqp")]
pub use manager::AmqpManager;
#[cfg(feature = "kafka")]
pub use manager::KafkaManager;
#[cfg(feature = "nats")]
pub use manager::NatsManager;
#[cfg(feature = "redis")]
pub use manager::RedisManager;
pub use manager::{ClientManager, ConnectionStateRecovery, MemoryManager, SocketInfo};
pub use service::StaticFiles;
pub use service::{CorsOrigins, NotFound, VolleyLayer, VolleyService};
pub use volley_protocol::Value;
