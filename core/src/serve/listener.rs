//! The TCP listener: the socket options a Socket.IO server wants, and connections that carry a
//! new WebSocket session's first frame with its `101`.

use std::io;
use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpSocket, ToSocketAddrs};

use super::Connection;

/// Connections waiting to be accepted, at most (tokio's own default is 128).
const BACKLOG: u32 = 1024;

/// A TCP listener for `axum::serve`, with `TCP_NODELAY` on and a listen backlog of 1024; its
/// connections are [`Connection`]s.
///
/// ```no_run
/// # async fn run(io: volley::Server) -> std::io::Result<()> {
/// let listener = volley::serve::Listener::bind("127.0.0.1:3000").await?;
/// println!("listening on {}", listener.local_addr()?);
/// axum::serve(listener, io.service()).await
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
}

impl Listener {
    /// Listens on the first of `addr`'s addresses that can be bound.
    ///
    /// The socket may reuse a port left in `TIME_WAIT` (`SO_REUSEADDR`), and accepted connections
    /// inherit its `TCP_NODELAY` (Linux gives them the listener's options).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let mut last = None;
        for addr in tokio::net::lookup_host(addr).await? {
            match listen(addr) {
                Ok(tcp) => return Ok(Listener { tcp }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("the address resolves to nothing")))
    }

    /// Serves on a listener set up by the application, keeping its options: set `TCP_NODELAY`
    /// on it (or on each connection) yourself.
    pub fn from_tcp(tcp: TcpListener) -> Self {
        Listener { tcp }
    }

    /// The address the listener is bound to (the port chosen for port 0, say).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
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
        // axum's own accept loop: it retries after an aborted connection and backs off when the
        // process runs out of file descriptors
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.tcp).await;
        (Connection::new(tcp), addr)
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
