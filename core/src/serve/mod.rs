//! Serving Volley over TCP: a listener tuned for Socket.IO traffic.
//!
//! ```no_run
//! # async fn run(io: volley::Server) -> std::io::Result<()> {
//! let listener = volley::serve::Listener::bind("0.0.0.0:3000").await?;
//! axum::serve(listener, io.service()).await
//! # }
//! ```
//!
//! Volley is a tower service and runs behind any listener `axum::serve` takes. [`Listener`] is
//! the one to pick for a Socket.IO server:
//!
//! - `TCP_NODELAY` on every connection: a small frame goes out at once instead of waiting for the
//!   acknowledgement of the previous one, which a client may delay by up to 40 ms.
//! - A listen backlog of 1024 rather than tokio's 128, so that a burst of reconnecting clients
//!   does not overflow the kernel's accept queue.
//! - A session opened over WebSocket gets the `101 Switching Protocols` and the Engine.IO open
//!   packet in one TCP segment rather than two (see [`Connection`]): one packet and one wake-up
//!   of the client less per connection.
//!
//! With connect info (`into_make_service_with_connect_info`), use [`PeerAddr`] as the info type:
//! Volley reads the client's address from it as it does from `SocketAddr` on axum's listener.

mod connection;
mod exchange;
mod limits;
mod listener;
mod refusal;
mod request_line;

pub use connection::Connection;
pub use limits::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_RETRY_AFTER,
};
pub use listener::{Listener, PeerAddr};
