//! Long-polling Engine.IO clients for the scenarios that need them: a minimal HTTP/1.1 client
//! (keep-alive, `Content-Length` bodies, gzip / deflate decoded) and a Socket.IO member on it.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the polling clients accept, as a browser says it.
pub const ACCEPT_ENCODING: &str = "gzip, deflate";

/// A long-polling member on one keep-alive HTTP/1.1 connection.
pub struct PollingMember {
    /// Its connection.
    pub http: Http,
    /// Its session.
    pub sid: String,
}

impl PollingMember {
    /// Opens a session, connects to `/` and joins `room`.
    pub async fn join(addr: SocketAddr, room: &str) -> io::Result<PollingMember> {
        let mut http = Http::connect(addr).await?;
        let open = http.request("GET", "", None).await?;
        let open: serde_json::Value = serde_json::from_slice(open.get(1..).unwrap_or_default())
            .map_err(|e| io::Error::other(format!("open packet: {e}")))?;
        let sid = open["sid"]
            .as_str()
            .ok_or(io::Error::other("no sid"))?
            .to_owned();
        let mut member = PollingMember { http, sid };
        member.post(b"40").await?;
        member.until(|r| r.starts_with(b"40")).await?;
        member
            .post(format!("420[\"join\",\"{room}\"]").as_bytes())
            .await?;
        member.until(|r| r.starts_with(b"430")).await?;
        Ok(member)
    }

    /// Sends `body` (Engine.IO records).
    pub async fn post(&mut self, body: &[u8]) -> io::Result<()> {
        let sid = self.sid.clone();
        self.http.request("POST", &sid, Some(body)).await?;
        Ok(())
    }

    /// Polls once; answers a ping; returns the records.
    pub async fn poll(&mut self) -> io::Result<Vec<Vec<u8>>> {
        let sid = self.sid.clone();
        let body = self.http.request("GET", &sid, None).await?;
        let records: Vec<Vec<u8>> = body.split(|&b| b == 0x1e).map(<[u8]>::to_vec).collect();
        if records.iter().any(|r| r == b"2") {
            self.post(b"3").await?;
        }
        if records.iter().any(|r| r == b"1" || r.starts_with(b"41")) {
            return Err(io::Error::other("closed by the server"));
        }
        Ok(records)
    }

    /// Polls until a record matches `what`.
    pub async fn until(&mut self, what: impl Fn(&[u8]) -> bool) -> io::Result<()> {
        loop {
            if self.poll().await?.iter().any(|r| what(r)) {
                return Ok(());
            }
        }
    }
}

/// A minimal HTTP/1.1 client for Engine.IO polling requests: keep-alive, `Content-Length`
/// bodies, gzip / deflate decoded.
pub struct Http {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Http {
    /// A connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(8192),
        })
    }

    /// One request to the Engine.IO endpoint (`sid` empty for the handshake); the response's
    /// body, decoded.
    pub async fn request(
        &mut self,
        method: &str,
        sid: &str,
        body: Option<&[u8]>,
    ) -> io::Result<Vec<u8>> {
        let mut head = format!(
            "{method} /socket.io/?EIO=4&transport=polling{}{sid} HTTP/1.1\r\nHost: {}\r\n\
             Accept-Encoding: {ACCEPT_ENCODING}\r\n",
            if sid.is_empty() { "" } else { "&sid=" },
            self.host
        );
        if let Some(body) = body {
            let _ = write!(
                head,
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body.unwrap_or_default());
        self.stream.write_all(&out).await?;
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(io::Error::other(format!(
                "polling answered {:?}",
                head.lines().next().unwrap_or("")
            )));
        }
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
                .map(str::to_owned)
        };
        let len: usize = header("content-length")
            .and_then(|l| l.parse().ok())
            .ok_or(io::Error::other("a response without Content-Length"))?;
        while self.buf.len() < end + len {
            self.fill().await?;
        }
        let raw: Vec<u8> = self.buf.drain(..end + len).skip(end).collect();
        let mut decoded = Vec::with_capacity(raw.len() * 4);
        match header("content-encoding").as_deref() {
            None => return Ok(raw),
            Some("gzip") => flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut decoded)?,
            Some("deflate") => {
                flate2::read::ZlibDecoder::new(&raw[..]).read_to_end(&mut decoded)?
            }
            Some(other) => return Err(io::Error::other(format!("Content-Encoding {other}"))),
        };
        Ok(decoded)
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::other("connection closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
