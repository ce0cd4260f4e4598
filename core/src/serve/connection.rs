//! A connection that sends a new WebSocket session's `101 Switching Protocols` together with the
//! session's first frame.
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

use std::io::{self, IoSlice};
use std::ops::Deref;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::engine::{QueryParams, Transport};

/// What a `101` response starts with, as hyper writes it.
const SWITCHING: &[u8] = b"HTTP/1.1 101 ";

/// The longest first request line looked at; a longer one passes through.
const MAX_LINE: usize = 8 << 10;

/// Room kept for the first request line when it arrives in pieces: an Engine.IO request line
/// with a few query parameters fits.
const LINE_GUESS: usize = 256;

/// A TCP connection accepted by [`Listener`](super::Listener).
///
/// It reads and writes as the `TcpStream` it wraps, except that a `101 Switching Protocols`
/// answering a connection's first request, when that request opens an Engine.IO session over
/// WebSocket, is kept until the next write or read and then sent with the write (see the
/// [module docs](super)).
#[derive(Debug)]
pub struct Connection {
    tcp: TcpStream,
    state: State,
}

#[derive(Debug)]
enum State {
    /// The first request's line is still arriving: what came of it so far (axum's server reads
    /// 24 bytes first, to tell HTTP/2 from HTTP/1).
    Fresh(Vec<u8>),
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
    /// Wraps an accepted connection.
    pub fn new(tcp: TcpStream) -> Self {
        Connection {
            tcp,
            state: State::Fresh(Vec::new()),
        }
    }

    /// The TCP connection, to read its addresses or options.
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
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

/// What the connection's first request decides, once its line has arrived: `seen` is what came
/// of it before, `read` what just came. `None` while the line is still incomplete.
fn first_line(seen: &mut Vec<u8>, read: &[u8]) -> Option<State> {
    let Some(end) = read.iter().position(|&b| b == b'\n') else {
        if seen.len() + read.len() > MAX_LINE {
            return Some(State::Plain);
        }
        if seen.is_empty() {
            // room for a usual request line at once
            seen.reserve(LINE_GUESS.max(read.len()));
        }
        seen.extend_from_slice(read);
        return None;
    };
    let line = if seen.is_empty() {
        &read[..end]
    } else {
        seen.extend_from_slice(&read[..end]);
        &seen[..]
    };
    Some(if opens_websocket_session(line) {
        State::Opening
    } else {
        State::Plain
    })
}

/// Whether a request line is one opening an Engine.IO session over WebSocket:
/// `GET <path>?…EIO=…&transport=websocket… HTTP/1.1`, without a `sid`.
fn opens_websocket_session(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(target) = line
        .strip_prefix(b"GET ")
        .and_then(|rest| rest.strip_suffix(b" HTTP/1.1"))
    else {
        return false;
    };
    let Some(query) = target
        .iter()
        .position(|&b| b == b'?')
        .map(|q| &target[q + 1..])
    else {
        return false;
    };
    // read as the engine reads them; the engine then checks the version
    let params = QueryParams::read(query);
    params.eio.is_some()
        && params.sid.is_none()
        && params.transport.as_deref().and_then(Transport::parse) == Some(Transport::Websocket)
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
        ready!(Pin::new(&mut this.tcp).poll_read(cx, buf))?;
        if let State::Fresh(seen) = &mut this.state {
            let read = &buf.filled()[before..];
            if let Some(state) = first_line(seen, read) {
                this.state = state;
            }
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
        if this.keeps(&[buf]) {
            return Poll::Ready(Ok(buf.len()));
        }
        this.poll_write_behind(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.state {
            State::Opening => {
                if this.keeps(bufs) {
                    return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
                }
                Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
            }
            State::Holding(_) => {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                this.poll_write_behind(cx, first)
            }
            State::Fresh(_) | State::Plain => Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs),
        }
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

    #[test]
    fn only_a_new_websocket_session_is_recognised() {
        let line = OPEN.split(|&b| b == b'\r').next().unwrap_or_default();
        assert!(opens_websocket_session(line));
        assert!(opens_websocket_session(
            b"GET /chat/?transport=websocket&EIO=4&token=a%26b HTTP/1.1\r"
        ));
        for other in [
            &b"GET /socket.io/?EIO=4&transport=websocket&sid=abc HTTP/1.1\r\n"[..],
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n",
            b"GET /socket.io/?transport=websocket HTTP/1.1\r\n",
            b"GET /ws HTTP/1.1\r\n",
            b"POST /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n",
            b"GET /socket.io/?EIO=4&transport=websock",
            b"",
        ] {
            let line = other.strip_suffix(b"\r\n").unwrap_or(other);
            assert!(
                !opens_websocket_session(line),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn the_first_line_may_arrive_in_pieces() {
        let mut seen = Vec::new();
        assert!(first_line(&mut seen, &OPEN[..24]).is_none());
        assert!(first_line(&mut seen, &OPEN[24..40]).is_none());
        assert!(matches!(
            first_line(&mut seen, &OPEN[40..]),
            Some(State::Opening)
        ));
        let mut seen = Vec::new();
        let long = [b"GET /".as_slice(), &[b'a'; MAX_LINE]].concat();
        assert!(matches!(first_line(&mut seen, &long), Some(State::Plain)));
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
