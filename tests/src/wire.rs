//! A tiny raw Engine.IO v4 client for wire-level tests: HTTP long-polling requests and WebSocket
//! frames, with nothing interpreted behind the test's back (except where a helper says it
//! answers pings). Every await is bounded by [`STEP_TIMEOUT`] or an explicit limit.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::server::TestServer;
use crate::{bail, within, Failure, TestResult, STEP_TIMEOUT};

/// The Engine.IO record separator between packets of a polling payload.
pub const SEPARATOR: char = '\x1e';

/// The reply to one HTTP request.
#[derive(Debug)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// Response body as text (lossy UTF-8).
    pub body: String,
    /// Response headers.
    pub headers: HeaderMap,
}

impl HttpReply {
    /// The value of header `name` as a string, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An Engine.IO open packet (`0{...}`) as received.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The session id.
    pub sid: String,
    /// The whole JSON object of the open packet.
    pub value: serde_json::Value,
}

impl Handshake {
    /// Parses an open packet (`0{...}`); fails on anything else.
    pub fn parse(packet: &str) -> TestResult<Self> {
        let Some(json) = packet.strip_prefix('0') else {
            bail!("expected an Engine.IO open packet `0{{...}}`, got {packet:?}");
        };
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Failure::msg(format!("open packet {packet:?} is not JSON: {e}")))?;
        let Some(sid) = value.get("sid").and_then(|s| s.as_str()) else {
            bail!("open packet without a string `sid`: {packet}");
        };
        Ok(Handshake {
            sid: sid.to_owned(),
            value,
        })
    }
}

/// HTTP long-polling requests against one Engine.IO endpoint (e.g. `http://host:port/engine.io/`).
#[derive(Clone)]
pub struct Polling {
    http: reqwest::Client,
    endpoint: String,
}

impl Polling {
    /// A polling client for `server` at `path` (e.g. `/engine.io/`).
    pub fn new(server: &TestServer, path: &str) -> Self {
        Self::with_endpoint(format!("{}{}", server.url(), path))
    }

    /// A polling client for the full endpoint URL `endpoint`.
    pub fn with_endpoint(endpoint: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(STEP_TIMEOUT)
            .build()
            .unwrap_or_default();
        Polling { http, endpoint }
    }

    /// The endpoint URL with `query` appended (`query` without the leading `?`).
    pub fn url(&self, query: &str) -> String {
        if query.is_empty() {
            self.endpoint.clone()
        } else {
            format!("{}?{}", self.endpoint, query)
        }
    }

    /// One request. `Ok(Err(_))` when the connection failed or was dropped before a complete
    /// response; `Err` when no response came in time (a hung server is never a "dropped
    /// connection").
    pub async fn try_request(
        &self,
        method: Method,
        query: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResult<Result<HttpReply, String>> {
        let what = format!("{method} {}", self.url(query));
        let mut req = self.http.request(method, self.url(query));
        for (name, value) in headers {
            req = req.header(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "text/plain;charset=UTF-8")
                .body(body.to_owned());
        }
        let result = within(STEP_TIMEOUT, &what, async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>(HttpReply {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
                headers,
            })
        })
        .await?;
        match result {
            Ok(reply) => Ok(Ok(reply)),
            Err(e) if e.is_timeout() => bail!("timed out after {STEP_TIMEOUT:?}: {what}"),
            Err(e) => Ok(Err(format!("{what}: {e}"))),
        }
    }

    /// One request; an HTTP error status is a normal [`HttpReply`], a dropped connection an `Err`.
    pub async fn request(
        &self,
        method: Method,
        query: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResult<HttpReply> {
        self.try_request(method, query, body, headers)
            .await?
            .map_err(Failure::msg)
    }

    /// `GET ?query`.
    pub async fn get(&self, query: &str) -> TestResult<HttpReply> {
        self.request(Method::GET, query, None, &[]).await
    }

    /// `POST ?query` with a text body.
    pub async fn post(&self, query: &str, body: &str) -> TestResult<HttpReply> {
        self.request(Method::POST, query, Some(body), &[]).await
    }

    /// Opens a polling session (`GET ?EIO=4&transport=polling`); fails unless 200 + open packet.
    pub async fn handshake(&self) -> TestResult<Handshake> {
        let reply = self.get("EIO=4&transport=polling").await?;
        if reply.status != 200 {
            bail!(
                "polling handshake: expected 200, got {} {:?}",
                reply.status,
                reply.body
            );
        }
        Handshake::parse(&reply.body)
    }

    /// `GET` on the session `sid` (a long poll: returns when the server has packets).
    pub async fn poll(&self, sid: &str) -> TestResult<HttpReply> {
        self.get(&format!("EIO=4&transport=polling&sid={sid}"))
            .await
    }

    /// `POST` of the payload `body` on the session `sid`.
    pub async fn push(&self, sid: &str, body: &str) -> TestResult<HttpReply> {
        self.post(&format!("EIO=4&transport=polling&sid={sid}"), body)
            .await
    }

    /// `POST` of `body` on `sid`; `Ok(None)` if the server dropped the connection instead of
    /// answering (a timeout is still an `Err`).
    pub async fn push_or_drop(&self, sid: &str, body: &str) -> TestResult<Option<HttpReply>> {
        let query = format!("EIO=4&transport=polling&sid={sid}");
        let reply = self
            .try_request(Method::POST, &query, Some(body), &[])
            .await?;
        Ok(reply.ok())
    }

    /// `POST` `body` on `sid` and fail unless the reply is `200 ok`.
    pub async fn push_ok(&self, sid: &str, body: &str) -> TestResult {
        let reply = self.push(sid, body).await?;
        if reply.status != 200 || reply.body != "ok" {
            bail!(
                "POST {body:?} on {sid}: expected 200 \"ok\", got {} {:?}",
                reply.status,
                reply.body
            );
        }
        Ok(())
    }

    /// Polls `sid` until a payload other than a lone ping arrives, answering pings with a pong
    /// (at most `max_pings` of them); fails unless the final reply is 200.
    pub async fn poll_skipping_pings(&self, sid: &str, max_pings: usize) -> TestResult<String> {
        for _ in 0..=max_pings {
            let reply = self.poll(sid).await?;
            if reply.status != 200 {
                bail!(
                    "GET on {sid}: expected 200, got {} {:?}",
                    reply.status,
                    reply.body
                );
            }
            if reply.body != "2" {
                return Ok(reply.body);
            }
            self.push_ok(sid, "3").await?;
        }
        bail!("GET on {sid}: only pings after {max_pings} polls")
    }
}

/// One WebSocket frame as the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// The connection is closed (close frame, end of stream or error); says how.
    Closed(String),
}

/// The outcome of opening a WebSocket.
pub enum WsConnect {
    /// The upgrade succeeded.
    Open(Box<Ws>),
    /// The server answered the upgrade request with this HTTP status instead of 101.
    Refused(u16),
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw WebSocket connection.
pub struct Ws {
    stream: Stream,
    closed: Option<String>,
}

impl Ws {
    /// Opens a WebSocket to `url` with extra request `headers`.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> TestResult<WsConnect> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes())?,
                tungstenite::http::HeaderValue::from_str(value)?,
            );
        }
        let what = format!("WebSocket connect to {url}");
        match within(
            STEP_TIMEOUT,
            &what,
            tokio_tungstenite::connect_async(request),
        )
        .await?
        {
            Ok((stream, _)) => Ok(WsConnect::Open(Box::new(Ws {
                stream,
                closed: None,
            }))),
            Err(tungstenite::Error::Http(response)) => {
                Ok(WsConnect::Refused(response.status().as_u16()))
            }
            Err(e) => Err(Failure::msg(format!("{what}: {e}"))),
        }
    }

    /// Opens a WebSocket to `url`; fails if the server refuses the upgrade.
    pub async fn connect_ok(url: &str) -> TestResult<Ws> {
        match Self::connect(url, &[]).await? {
            WsConnect::Open(ws) => Ok(*ws),
            WsConnect::Refused(status) => bail!("WebSocket {url}: refused with HTTP {status}"),
        }
    }

    /// Opens a fresh Engine.IO WebSocket session at `server` + `path` and reads its open packet.
    pub async fn open(server: &TestServer, path: &str) -> TestResult<(Ws, Handshake)> {
        let url = format!("{}{}?EIO=4&transport=websocket", server.ws_url(), path);
        Self::open_url(&url).await
    }

    /// Opens a fresh Engine.IO WebSocket session at the full URL `url` (with its
    /// `EIO=4&transport=websocket` query) and reads its open packet.
    pub async fn open_url(url: &str) -> TestResult<(Ws, Handshake)> {
        let mut ws = Self::connect_ok(url).await?;
        let handshake = match ws.next_frame().await? {
            Frame::Text(text) => Handshake::parse(&text)?,
            other => bail!("WebSocket handshake: expected an open packet, got {other:?}"),
        };
        Ok((ws, handshake))
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> TestResult {
        let what = format!("sending text frame {text:?}");
        within(STEP_TIMEOUT, &what, self.stream.send(Message::text(text)))
            .await?
            .map_err(|e| Failure::msg(format!("{what}: {e}")))
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) -> TestResult {
        let what = format!("sending binary frame {data:?}");
        within(
            STEP_TIMEOUT,
            &what,
            self.stream.send(Message::binary(data.to_vec())),
        )
        .await?
        .map_err(|e| Failure::msg(format!("{what}: {e}")))
    }

    /// The next data frame within `limit`, or `None` if none came. WebSocket-level ping/pong
    /// frames are skipped; once closed, every call returns [`Frame::Closed`].
    pub async fn next_frame_within(&mut self, limit: Duration) -> TestResult<Option<Frame>> {
        if let Some(how) = &self.closed {
            return Ok(Some(Frame::Closed(how.clone())));
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(next) => next,
                Err(_) => return Ok(None),
            };
            let closed = match next {
                Some(Ok(Message::Text(text))) => return Ok(Some(Frame::Text(text.to_string()))),
                Some(Ok(Message::Binary(data))) => return Ok(Some(Frame::Binary(data.to_vec()))),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(f) => format!("close frame {} {:?}", u16::from(f.code), f.reason.as_str()),
                    None => "close frame".to_owned(),
                },
                Some(Err(e)) => format!("connection error: {e}"),
                None => "end of stream".to_owned(),
            };
            self.closed = Some(closed.clone());
            return Ok(Some(Frame::Closed(closed)));
        }
    }

    /// The next data frame; fails if none comes within [`STEP_TIMEOUT`].
    pub async fn next_frame(&mut self) -> TestResult<Frame> {
        match self.next_frame_within(STEP_TIMEOUT).await? {
            Some(frame) => Ok(frame),
            None => bail!("no WebSocket frame within {STEP_TIMEOUT:?}"),
        }
    }

    /// The next frame that is not an Engine.IO ping; pings (`2`) are answered with a pong (`3`)
    /// as a well-behaved client does.
    /// Fails if no such frame comes within [`STEP_TIMEOUT`] (pings do not extend it).
    pub async fn next_packet(&mut self) -> TestResult<Frame> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame_within(left).await? {
                Some(Frame::Text(t)) if t == "2" => self.send_text("3").await?,
                Some(frame) => return Ok(frame),
                None => bail!("no WebSocket frame other than pings within {STEP_TIMEOUT:?}"),
            }
        }
    }

    /// Fails unless the next non-ping frame is the text `expected`.
    pub async fn expect_text(&mut self, expected: &str) -> TestResult {
        match self.next_packet().await? {
            Frame::Text(t) if t == expected => Ok(()),
            other => bail!("expected text frame {expected:?}, got {other:?}"),
        }
    }

    /// Fails unless the next non-ping frame is the binary `expected`.
    pub async fn expect_binary(&mut self, expected: &[u8]) -> TestResult {
        match self.next_packet().await? {
            Frame::Binary(b) if b == expected => Ok(()),
            other => bail!("expected binary frame {expected:?}, got {other:?}"),
        }
    }

    /// Waits up to `limit` for the server to close the connection, answering Engine.IO pings
    /// meanwhile (so a close cannot come from a ping timeout). Returns the other frames that
    /// arrived before the close; fails if the connection is still open after `limit`.
    pub async fn expect_closed(&mut self, limit: Duration) -> TestResult<Vec<Frame>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame_within(left).await? {
                None => bail!("WebSocket still open after {limit:?}; frames seen: {seen:?}"),
                Some(Frame::Closed(_)) => return Ok(seen),
                Some(Frame::Text(t)) if t == "2" => {
                    // a failed send means the server is closing: the next read tells
                    let _ = self.send_text("3").await;
                }
                Some(frame) => seen.push(frame),
            }
        }
    }

    /// Whether the connection has been seen closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Closes the connection from our side (best effort, bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(STEP_TIMEOUT, self.stream.close(None)).await;
    }
}
