//! A minimal WebSocket client (RFC 6455), only what a Socket.IO load generator needs: the HTTP
//! upgrade, unfragmented text frames both ways, and answers to pings and closes. Small frames
//! are read and written through one growable buffer each, so an idle connection costs little.
//!
//! Frames sent are masked with the all-zero key: valid for servers (they unmask by XOR) and it
//! spares the XOR pass.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// First capacity of a connection's read buffer.
const READ_CHUNK: usize = 512;
/// Largest frame accepted from a server.
const MAX_FRAME: usize = 16 << 20;

/// A WebSocket frame's opcode, as far as the load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A text (or binary) data frame: its payload is handed over.
    Data,
    /// The server closes the connection.
    Close,
    /// Ping, pong: answered or ignored inside.
    Control,
}

/// One WebSocket connection.
pub struct Ws {
    stream: TcpStream,
    rbuf: Vec<u8>,
    /// Where unparsed data starts in `rbuf`.
    start: usize,
    wbuf: Vec<u8>,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Ws {
    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Connects to `addr` (from `source` when given, port chosen by the kernel) and upgrades
    /// `path_and_query` to a WebSocket.
    pub async fn connect(
        addr: SocketAddr,
        source: Option<std::net::IpAddr>,
        path_and_query: &str,
    ) -> io::Result<Ws> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.set_reuseaddr(true)?;
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut ws = Ws {
            stream,
            rbuf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            wbuf: Vec::new(),
        };
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dm9sbGV5LWJlbmNoLWtleQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        ws.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = find(&ws.rbuf, b"\r\n\r\n") {
                let head = &ws.rbuf[..end];
                if !head.starts_with(b"HTTP/1.1 101") {
                    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                    return Err(invalid(format!(
                        "upgrade refused: {}",
                        String::from_utf8_lossy(line)
                    )));
                }
                ws.start = end + 4;
                break;
            }
            if ws.rbuf.len() > 8192 {
                return Err(invalid("upgrade response too long"));
            }
            if ws.fill().await? == 0 {
                return Err(invalid("closed during the upgrade"));
            }
        }
        ws.rbuf.shrink_to(READ_CHUNK);
        Ok(ws)
    }

    /// Reads what the socket has into the buffer; 0 at end of stream. Cancel-safe.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.start == self.rbuf.len() {
            self.rbuf.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start * 2 > self.rbuf.len() {
            self.rbuf.drain(..self.start);
            self.start = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 2 {
            self.rbuf.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// The next complete frame already read, if any: its opcode and the range of its payload in
    /// the buffer (see [`Ws::payload`]). Pings are answered (queued, see [`Ws::flush`]).
    pub fn next_frame(&mut self) -> io::Result<Option<(Opcode, std::ops::Range<usize>)>> {
        let data = &self.rbuf[self.start..];
        let Some(FrameHeader {
            first: b0,
            header,
            len,
        }) = frame_header(data)?
        else {
            return Ok(None);
        };
        if data.len() < header + len {
            let want = self.start + header + len;
            if self.rbuf.capacity() < want {
                self.rbuf.reserve(want - self.rbuf.len());
            }
            return Ok(None);
        }
        let range = self.start + header..self.start + header + len;
        self.start += header + len;
        let opcode = match b0 & 0x0f {
            1 | 2 => Opcode::Data,
            8 => Opcode::Close,
            9 => {
                let payload = self.rbuf[range.clone()].to_vec();
                self.queue_frame(0x8a, &payload);
                Opcode::Control
            }
            _ => Opcode::Control,
        };
        Ok(Some((opcode, range)))
    }

    /// The bytes of a payload range returned by [`Ws::next_frame`] (valid until the next fill).
    pub fn payload(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.rbuf[range]
    }

    fn queue_frame(&mut self, first: u8, payload: &[u8]) {
        encode_frame(&mut self.wbuf, first, payload);
    }

    /// Queues a text frame; [`Ws::flush`] sends it.
    pub fn queue_text(&mut self, text: &[u8]) {
        self.queue_frame(0x81, text);
    }

    /// Whether frames wait to be sent.
    pub fn has_output(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Sends every queued frame.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
            if self.wbuf.capacity() > 4096 {
                self.wbuf.shrink_to(256);
            }
        }
        Ok(())
    }

    /// The connection and the bytes read past the last frame handed over, for a caller that
    /// reads and writes it from two tasks (the floods).
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        let unread = self.rbuf[self.start..].to_vec();
        (self.stream, unread)
    }

    /// Sends a close frame and shuts the connection down.
    pub async fn close(mut self) {
        self.queue_frame(0x88, &1000u16.to_be_bytes());
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }

    /// Drops the connection with a TCP reset (`SO_LINGER` 0), as a broken network path ends
    /// one for the server: nothing more is sent, not even a close frame.
    pub fn abort(self) {
        let _ = self.stream.set_zero_linger();
    }
}

/// First byte (FIN and opcode), header length and payload length of a server frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The first byte: FIN and the opcode (`first & 0x0f`).
    pub first: u8,
    /// Bytes before the payload.
    pub header: usize,
    /// Bytes of payload.
    pub len: usize,
}

/// The header of the server frame at the start of `data`, once it is all there (the payload
/// may still be missing).
pub fn frame_header(data: &[u8]) -> io::Result<Option<FrameHeader>> {
    if data.len() < 2 {
        return Ok(None);
    }
    let (first, b1) = (data[0], data[1]);
    if first & 0x80 == 0 || first & 0x0f == 0 {
        return Err(invalid("fragmented frames are not supported"));
    }
    if b1 & 0x80 != 0 {
        return Err(invalid("masked frame from the server"));
    }
    let (len, header) = match b1 & 0x7f {
        126 => {
            if data.len() < 4 {
                return Ok(None);
            }
            (usize::from(u16::from_be_bytes([data[2], data[3]])), 4)
        }
        127 => {
            if data.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[2..10]);
            let len =
                usize::try_from(u64::from_be_bytes(b)).map_err(|_| invalid("frame too large"))?;
            (len, 10)
        }
        n => (usize::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(invalid("frame too large"));
    }
    Ok(Some(FrameHeader { first, header, len }))
}

/// Appends a client frame to `out`: `first` is its first byte (`0x81` text, `0x82` binary),
/// the payload is masked with the all-zero key.
pub fn encode_frame(out: &mut Vec<u8>, first: u8, payload: &[u8]) {
    out.push(first);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
