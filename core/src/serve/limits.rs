//! The bounds [`Listener`](super::Listener) puts on connections, with their defaults.

use std::time::Duration;

/// How long a client may take to send a request's headers, counted from its first byte
/// (default of [`Listener::header_timeout`](super::Listener::header_timeout)).
///
/// hyper's own default for the same bound (axum's server sets no timer, so hyper's does not
/// apply); nginx allows 60 s. A browser sends its headers in one segment: 30 s leaves room for
/// the slowest mobile link and still frees a slot held by a client dribbling bytes.
///
/// ```
/// assert_eq!(volley::serve::DEFAULT_HEADER_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection outside any Engine.IO session may stay without traffic (default of
/// [`Listener::idle_timeout`](super::Listener::idle_timeout)).
///
/// Between nginx's `client_header_timeout` (60 s, which covers a silent new connection) and its
/// `keepalive_timeout` (75 s); Volley's own answers never take that long (a long poll of a session
/// is not bound by it, and ends after the ping interval, 25 s by default).
///
/// ```
/// assert_eq!(volley::serve::DEFAULT_IDLE_TIMEOUT.as_secs(), 60);
/// ```
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many connections one listener keeps open at once (default of
/// [`Listener::max_connections`](super::Listener::max_connections)).
///
/// A Socket.IO client holds one connection for as long as it is connected, so a node serves as
/// many clients as it has connections: 10,000 is the classic C10k figure, a few hundred MB of
/// kernel buffers and session state at a few tens of KB a connection. The cap only refuses
/// clearly while it is below the process's file descriptor limit (`ulimit -n`, systemd's
/// `LimitNOFILE`, often 1024 by default): past that limit new connections wait in the kernel's
/// backlog instead, so raise the limit above the cap.
///
/// ```
/// assert_eq!(volley::serve::DEFAULT_MAX_CONNECTIONS, 10_000);
/// ```
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// What a connection refused past the cap is told to wait before it tries again, as its
/// `Retry-After` (default of [`Listener::retry_after`](super::Listener::retry_after)).
///
/// ```
/// assert_eq!(volley::serve::DEFAULT_RETRY_AFTER.as_secs(), 5);
/// ```
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The time bounds of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timeouts {
    /// From a request's first byte to the end of its headers.
    pub(super) header: Duration,
    /// Without traffic, outside a session's request.
    pub(super) idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: DEFAULT_HEADER_TIMEOUT,
            idle: DEFAULT_IDLE_TIMEOUT,
        }
    }
}
