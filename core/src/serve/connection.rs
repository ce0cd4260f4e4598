//! A connection accepted by [`Listener`](super::Listener): bounded in time by where its HTTP
//! exchange stands (see `exchange.rs`), and sending a new WebSocket session's
//! `101 Switching Protocols` together with the session's first frame.
//!
//! hyper writes and flushes the `101` before it hands the connection to the WebSocket, and the
//! server writes the Engine.IO open packet right after: two TCP segments, and two wake-ups of
//! the client, where one would do. When the connection's first request opens an Engine.IO
//! session over WebSocket (`transport=websocket`, no `sid`), the `101` is kept back and leaves
//! with the next write. It also leaves before the next read, so that a peer expected to speak
//! first is never kept waiting for it.
//!
//! Every other request passes through untouched: the upgrade of a polling session (the client
//! speaks first, `2probe`), another route's WebSocket, plain HTTP.
//!
//! A read or write that waits past the exchange's deadline fails with a `TimedOut` error instead,
//! and hyper, which serves the connection, closes it.

use std::future::Future;
use std::io::{self, IoSlice};
use std::ops::Deref;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::exchange::{Exchange, SWITCHING};
use super::limits::Timeouts;
use super::request_line::Target;

/// A TCP connection accepted by [`Listener`](super::Listener).
///
/// It reads and writes as the `TcpStream` it wraps, except that:
///
/// - a `101 Switching Protocols` answering a connection's first request, when that request opens
///   an Engine.IO session over WebSocket, is kept until the next write or read and then sent with
///   the write (see the [module docs](super));
/// - past the listener's [header timeout](super::Listener::header_timeout) or
///   [idle timeout](super::Listener::idle_timeout), a read or write fails with
///   [`io::ErrorKind::TimedOut`], and the server closes the connection.
#[derive(Debug)]
pub struct Connection {
    tcp: TcpStream,
    state: State,
    exchange: Exchange,
    timeouts: Timeouts,
    /// Armed while a read or write waits and a deadline applies.
    timer: Option<Pin<Box<Sleep>>>,
    /// This connection's place under the listener's cap, given back when it is dropped.
    _slot: Option<OwnedSemaphorePermit>,
}

#[derive(Debug)]
enum State {
    /// The first request's headers are still arriving.
    Fresh,
    /// The first request opens a session over WebSocket: a `101` written now is kept.
    Opening,
    /// A kept `101`, of which the first `sent` bytes have gone out.
    Holding(Box<Held>),
    /// Everything passes through.
    Plain,
}

#[derive(Debug)]
struct Held {
    bytes: Vec<u8>,
    sent: usize,
}

impl Connection {
    /// Wraps an accepted connection, bound by the default timeouts
    /// ([`DEFAULT_HEADER_TIMEOUT`](super::DEFAULT_HEADER_TIMEOUT),
    /// [`DEFAULT_IDLE_TIMEOUT`](super::DEFAULT_IDLE_TIMEOUT)) and counted under no cap.
    pub fn new(tcp: TcpStream) -> Self {
        Connection::accepted(tcp, Timeouts::default(), None)
    }

    /// Wraps a connection accepted under `timeouts`, holding `slot` of its listener's cap.
    pub(super) fn accepted(
        tcp: TcpStream,
        timeouts: Timeouts,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Connection {
            tcp,
            state: State::Fresh,
            exchange: Exchange::new(Instant::now()),
            timeouts,
            timer: None,
            _slot: slot,
        }
    }

    /// The TCP connection, to read its addresses or options.
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    /// Ready with the error to fail with once the deadline of the exchange has passed; pending
    /// (and woken then) before.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(deadline) = self.exchange.deadline(&self.timeouts) else {
            self.timer = None;
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        ready!(timer.as_mut().poll(cx));
        let why = if self.exchange.reading_head() {
            "the request headers did not arrive within the header timeout"
        } else {
            "the connection stayed idle past the idle timeout"
        };
        tracing::debug!(target: "volley::engine", peer = ?self.tcp.peer_addr().ok(), "closing a connection: {why}");
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, why))
    }

    /// Follows what a write that went out (or was kept) started with.
    fn wrote(&mut self, first: &[u8]) {
        self.exchange.wrote(first, Instant::now());
    }

    /// What a write came to, once it is followed or, pending, bounded by the deadline.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        first: &[u8],
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.wrote(first);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => self.poll_expired(cx).map(Err),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    /// Sends what is kept, if anything.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let State::Holding(held) = &mut self.state {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &held.bytes[held.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            held.sent += n;
            if held.sent == held.bytes.len() {
                self.state = State::Plain;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `buf` behind what is kept, in one system call when the socket takes both.
    fn poll_write_behind(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        while let State::Holding(held) = &mut self.state {
            let kept = &held.bytes[held.sent..];
            let both = [IoSlice::new(kept), IoSlice::new(buf)];
            let n = ready!(Pin::new(&mut self.tcp).poll_write_vectored(cx, &both))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if n < kept.len() {
                held.sent += n;
                continue;
            }
            let of_buf = n - kept.len();
            self.state = State::Plain;
            if of_buf > 0 || buf.is_empty() {
                return Poll::Ready(Ok(of_buf));
            }
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    /// Whether `bufs`, written while the first request may still be answered with a `101`, are
    /// that `101` (it starts the first of them) and are now kept. Any other write ends the
    /// waiting.
    fn keeps<B: Deref<Target = [u8]>>(&mut self, bufs: &[B]) -> bool {
        if !matches!(self.state, State::Opening) {
            return false;
        }
        let first = bufs.iter().find(|b| !b.is_empty());
        if !first.is_some_and(|b| b.starts_with(SWITCHING)) {
            self.state = State::Plain;
            return false;
        }
        let mut bytes = Vec::with_capacity(bufs.iter().map(|b| b.len()).sum());
        for b in bufs {
            bytes.extend_from_slice(b);
        }
        self.state = State::Holding(Box::new(Held { bytes, sent: 0 }));
        true
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => return this.poll_expired(cx).map(Err),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        }
        let read = &buf.filled()[before..];
        let target = this.exchange.read(read, Instant::now());
        if let (State::Fresh, Some(target)) = (&this.state, target) {
            this.state = match target {
                Target::NewWebSocketSession => State::Opening,
                _ => State::Plain,
            };
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = if this.keeps(&[buf]) {
            Poll::Ready(Ok(buf.len()))
        } else {
            this.poll_write_behind(cx, buf)
        };
        this.written(cx, buf, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        let polled = if this.keeps(bufs) {
            Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
        } else if let State::Holding(_) = this.state {
            this.poll_write_behind(cx, first)
        } else {
            Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
        };
        this.written(cx, first, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    /// Flushes the socket but not what is kept: hyper flushes its `101`, which is the point of
    /// keeping it.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const OPEN: &[u8] = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\r\n";
    const SWITCH: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n";

    /// A connected pair: the server's side wrapped, the client's side plain.
    async fn pair() -> io::Result<(Connection, TcpStream)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        Ok((Connection::new(accepted?.0), client?))
    }

    /// What arrives at `client` within a short wait.
    async fn arrived(client: &mut TcpStream) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; 4096];
        match tokio::time::timeout(std::time::Duration::from_millis(100), client.read(&mut buf))
            .await
        {
            Ok(n) => buf.truncate(n?),
            Err(_) => buf.clear(),
        }
        Ok(buf)
    }

    /// Reads the request at the server as axum's server does: 24 bytes, then the rest.
    async fn request(
        server: &mut Connection,
        client: &mut TcpStream,
        req: &[u8],
    ) -> io::Result<()> {
        client.write_all(req).await?;
        let mut buf = vec![0; req.len()];
        let (start, rest) = buf.split_at_mut(24);
        server.read_exact(start).await?;
        server.read_exact(rest).await?;
        Ok(())
    }

    #[tokio::test]
    async fn the_101_of_a_new_session_leaves_with_the_first_frame() -> io::Result<()> {
        let (mut server, mut client) = pair().await?;
        request(&mut server, &mut client, OPEN).await?;
        server.write_all(SWITCH).await?;
        server.flush().await?;
        assert!(arrived(&mut client).await?.is_empty(), "the 101 is kept");
        server.write_all(b"frame").await?;
        assert_eq!(arrived(&mut client).await?, [SWITCH, b"frame"].concat());
        server.write_all(b"next").await?;
        assert_eq!(arrived(&mut client).await?, b"next");
        Ok(())
    }

    #[tokio::test]
    async fn a_kept_101_leaves_before_the_server_reads() -> io::Result<()> {
        let (mut server, mut client) = pair().await?;
        request(&mut server, &mut client, OPEN).await?;
        server.write_all(SWITCH).await?;
        let mut buf = [0; 8];
        let read = tokio::spawn(async move {
            let n = server.read(&mut buf).await?;
            io::Result::Ok(buf[..n].to_vec())
        });
        assert_eq!(arrived(&mut client).await?, SWITCH);
        client.write_all(b"hello").await?;
        assert_eq!(read.await.map_err(io::Error::other)??, b"hello");
        Ok(())
    }

    #[tokio::test]
    async fn a_kept_101_leaves_on_shutdown() -> io::Result<()> {
        let (mut server, mut client) = pair().await?;
        request(&mut server, &mut client, OPEN).await?;
        server.write_all(SWITCH).await?;
        server.shutdown().await?;
        let mut all = Vec::new();
        client.read_to_end(&mut all).await?;
        assert_eq!(all, SWITCH);
        Ok(())
    }

    #[tokio::test]
    async fn other_requests_pass_through() -> io::Result<()> {
        for req in [
            &b"GET /socket.io/?EIO=4&transport=websocket&sid=abc HTTP/1.1\r\n\r\n"[..],
            b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let (mut server, mut client) = pair().await?;
            request(&mut server, &mut client, req).await?;
            server.write_all(SWITCH).await?;
            assert_eq!(arrived(&mut client).await?, SWITCH);
        }
        Ok(())
    }

    #[tokio::test]
    async fn another_answer_to_a_new_session_passes_through() -> io::Result<()> {
        let (mut server, mut client) = pair().await?;
        request(&mut server, &mut client, OPEN).await?;
        let refused = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        server.write_all(refused).await?;
        assert_eq!(arrived(&mut client).await?, refused);
        Ok(())
    }

    #[tokio::test]
    async fn vectored_writes_are_kept_and_coalesced_too() -> io::Result<()> {
        let (mut server, mut client) = pair().await?;
        request(&mut server, &mut client, OPEN).await?;
        let (head, rest) = SWITCH.split_at(20);
        let n = server
            .write_vectored(&[IoSlice::new(head), IoSlice::new(rest)])
            .await?;
        assert_eq!(n, SWITCH.len());
        let n = server
            .write_vectored(&[IoSlice::new(b""), IoSlice::new(b"frame")])
            .await?;
        assert_eq!(n, 5);
        assert_eq!(arrived(&mut client).await?, [SWITCH, b"frame"].concat());
        Ok(())
    }

    #[tokio::test]
    async fn a_large_write_behind_the_101_arrives_whole() -> io::Result<()> {
        let (mut server, mut client) = pair().await?;
        request(&mut server, &mut client, OPEN).await?;
        server.write_all(SWITCH).await?;
        let big: Vec<u8> = (0..8 << 20).map(|i: u32| i as u8).collect();
        let expected = [SWITCH, &big].concat();
        let writer = tokio::spawn(async move {
            server.write_all(&big).await?;
            server.shutdown().await
        });
        let mut all = Vec::new();
        client.read_to_end(&mut all).await?;
        writer.await.map_err(io::Error::other)??;
        assert!(
            all == expected,
            "{} bytes arrived of {}",
            all.len(),
            expected.len()
        );
        Ok(())
    }
}
