//! The TCP listener: the socket options a Socket.IO server wants, bounds on its connections, and
//! connections that carry a new WebSocket session's first frame with its `101`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;

use super::limits::{Timeouts, DEFAULT_MAX_CONNECTIONS, DEFAULT_RETRY_AFTER};
use super::{refusal, Connection};

/// Connections waiting to be accepted, at most (tokio's own default is 128).
const BACKLOG: u32 = 1024;

/// A TCP listener for `axum::serve`, with `TCP_NODELAY` on, a listen backlog of 1024 and bounds
/// on its connections; its connections are [`Connection`]s.
///
/// ```
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// use std::time::Duration;
///
/// let listener = volley::serve::Listener::bind("127.0.0.1:0")
///     .await?
///     .header_timeout(Duration::from_secs(10))
///     .max_connections(50_000);
/// println!("listening on {}", listener.local_addr()?);
/// // then: axum::serve(listener, io.service()).await
/// # Ok(()) }
/// ```
///
/// The bounds, each with its default and its setting:
///
/// | bound | default | setting | past it |
/// | --- | --- | --- | --- |
/// | request headers complete, from their first byte | 30 s | [`header_timeout`](Self::header_timeout) | connection closed |
/// | no traffic, outside a session's long poll or WebSocket | 60 s | [`idle_timeout`](Self::idle_timeout) | connection closed |
/// | connections open at once | 10,000 | [`max_connections`](Self::max_connections) | `503` with `Retry-After` ([`retry_after`](Self::retry_after), 5 s), then closed |
///
/// A request of an Engine.IO session (`GET` with `EIO` and `sid`, or opening a session over
/// WebSocket) is not bound by the idle timeout until its answer starts, and a connection upgraded
/// by a `101` not at all: the engine's ping timeout closes a session whose client is gone.
/// Another request whose handler stays silent longer than the idle timeout has its connection
/// closed.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    timeouts: Timeouts,
    max_connections: usize,
    /// One permit per connection that may be open; each [`Connection`] holds one.
    slots: Arc<Semaphore>,
    retry_after: Duration,
    /// Connections refused past the cap so far.
    refused: u64,
}

impl Listener {
    /// Listens on the first of `addr`'s addresses that can be bound.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = volley::serve::Listener::bind("127.0.0.1:0").await?;
    /// assert!(listener.local_addr()?.port() > 0);
    /// # Ok(()) }
    /// ```
    ///
    /// The socket may reuse a port left in `TIME_WAIT` (`SO_REUSEADDR`), and accepted connections
    /// inherit its `TCP_NODELAY` (Linux gives them the listener's options).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let mut last = None;
        for addr in tokio::net::lookup_host(addr).await? {
            match listen(addr) {
                Ok(tcp) => return Ok(Listener::from_tcp(tcp)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("the address resolves to nothing")))
    }

    /// Serves on a listener set up by the application, keeping its options: set `TCP_NODELAY`
    /// on it (or on each connection) yourself. The bounds are the defaults, as with
    /// [`bind`](Self::bind).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = volley::serve::Listener::from_tcp(tcp);
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub fn from_tcp(tcp: TcpListener) -> Self {
        Listener {
            tcp,
            timeouts: Timeouts::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            slots: Arc::new(Semaphore::new(DEFAULT_MAX_CONNECTIONS)),
            retry_after: DEFAULT_RETRY_AFTER,
            refused: 0,
        }
    }

    /// How long a client may take to send a request's headers, from their first byte (default
    /// [`DEFAULT_HEADER_TIMEOUT`](super::DEFAULT_HEADER_TIMEOUT), 30 s); past it the connection
    /// is closed. `Duration::MAX` removes the bound.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let listener = volley::serve::Listener::bind("127.0.0.1:0")
    ///     .await?
    ///     .header_timeout(Duration::from_secs(10));
    /// # Ok(()) }
    /// ```
    ///
    /// It bounds each request of a keep-alive connection, and only the headers: a body is bound
    /// by the idle timeout.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.header = timeout;
        self
    }

    /// How long a connection may go without traffic either way, outside a request of an
    /// Engine.IO session (default [`DEFAULT_IDLE_TIMEOUT`](super::DEFAULT_IDLE_TIMEOUT), 60 s);
    /// past it the connection is closed. `Duration::MAX` removes the bound.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let listener = volley::serve::Listener::bind("127.0.0.1:0")
    ///     .await?
    ///     .idle_timeout(Duration::from_secs(75));
    /// # Ok(()) }
    /// ```
    ///
    /// It bounds a new connection that sends nothing, a keep-alive connection between requests,
    /// a body that stops arriving and a reader that stops reading. A long poll or a WebSocket of
    /// a session is not bound by it: the engine's ping timeout is.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = timeout;
        self
    }

    /// How many connections may be open at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`](super::DEFAULT_MAX_CONNECTIONS), 10,000). A connection past
    /// it is answered `503 Service Unavailable` with a `Retry-After` and closed at once.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = volley::serve::Listener::bind("127.0.0.1:0")
    ///     .await?
    ///     .max_connections(50_000);
    /// # Ok(()) }
    /// ```
    ///
    /// Keep it under the process's file descriptor limit (`ulimit -n`): past that limit the
    /// operating system, not the listener, holds new connections back, and they wait in the
    /// backlog unanswered. Each refused connection is counted, and logged at warn level when the
    /// count reaches a power of two.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self.slots = Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)));
        self
    }

    /// How long a connection refused past [`max_connections`](Self::max_connections) is told to
    /// wait before it tries again, as its `Retry-After` in whole seconds (default
    /// [`DEFAULT_RETRY_AFTER`](super::DEFAULT_RETRY_AFTER), 5 s).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let listener = volley::serve::Listener::bind("127.0.0.1:0")
    ///     .await?
    ///     .retry_after(Duration::from_secs(30));
    /// # Ok(()) }
    /// ```
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }

    /// The address the listener is bound to (the port chosen for port 0, say).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = volley::serve::Listener::bind("127.0.0.1:0").await?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Answers a connection past the cap with a `503` and closes it.
    fn refuse(&mut self, tcp: TcpStream, peer: SocketAddr) {
        refusal::refuse(tcp, &refusal::response(self.retry_after));
        self.refused += 1;
        if self.refused.is_power_of_two() {
            tracing::warn!(
                target: "volley::engine",
                %peer,
                refused = self.refused,
                max_connections = self.max_connections,
                "refused a connection: the listener has as many open as it may keep"
            );
        }
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            // axum's own accept loop: it retries after an aborted connection and backs off when
            // the process runs out of file descriptors
            let (tcp, addr) = axum::serve::Listener::accept(&mut self.tcp).await;
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => return (Connection::accepted(tcp, self.timeouts, Some(slot)), addr),
                Err(_) => self.refuse(tcp, addr),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// The client's address, as connect info for a server on [`Listener`]; Volley's handshake and
/// the Admin UI read it.
///
/// ```no_run
/// # async fn run(io: volley::Server) -> std::io::Result<()> {
/// use volley::serve::{Listener, PeerAddr};
///
/// let listener = Listener::bind("127.0.0.1:3000").await?;
/// let app = io.router().into_make_service_with_connect_info::<PeerAddr>();
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, Listener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nodelay() -> io::Result<()> {
        let mut listener = Listener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (client, (accepted, peer)) = tokio::join!(
            tokio::net::TcpStream::connect(addr),
            axum::serve::Listener::accept(&mut listener)
        );
        assert_eq!(peer, client?.local_addr()?);
        assert!(accepted.get_ref().nodelay()?);
        Ok(())
    }

    #[tokio::test]
    async fn a_name_that_resolves_binds() -> io::Result<()> {
        let listener = Listener::bind("localhost:0").await?;
        assert!(listener.local_addr()?.ip().is_loopback());
        Ok(())
    }
}
