//! Compression: long-polling responses by `Accept-Encoding` (on by default, from 1024 bytes),
//! checked raw on the wire and with the official Node client; and WebSocket, where
//! `permessage-deflate` is never negotiated (Volley's WebSocket stack has no support for it).
//!
//! The raw checks run against the bare Engine.IO echo app (`volley_examples::engineio_echo`'s
//! handler) with the compression settings each test wants: a message POSTed comes back in the
//! next GET, whose body is then exactly `4` + the message.

use std::io::Read;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use volley::engine::{Engine, EngineConfig, HttpCompression};
use volley::VolleyLayer;
use volley_tests::clients::{self, Client};
use volley_tests::interop_server::InteropServer;
use volley_tests::server::TestServer;
use volley_tests::wire::Polling;
use volley_tests::{bail, within, Failure, TestResult, STEP_TIMEOUT};

const PATH: &str = "/engine.io/";

/// The echo app with `compression` as its polling responses' compression.
async fn echo_server(compression: Option<HttpCompression>) -> TestResult<TestServer> {
    let config = EngineConfig {
        path: PATH.to_owned(),
        ping_interval: Duration::from_secs(20),
        http_compression: compression,
        ..EngineConfig::default()
    };
    let engine = Engine::new(config, volley_examples::engineio_echo::Echo);
    let app = axum::Router::new()
        .fallback_service(VolleyLayer::engine(engine, "*".into()).into_service());
    TestServer::spawn(app).await
}

/// A polling response as it came over the wire: the body's bytes, not decoded.
struct RawReply {
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether some `Vary` value of the response names `Accept-Encoding`.
    fn varies_on_accept_encoding(&self) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"))
    }

    /// The body, decoded as its `Content-Encoding` says.
    fn decoded(&self) -> TestResult<String> {
        let mut out = Vec::new();
        match self.header("content-encoding") {
            None => out.extend_from_slice(&self.body),
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out)?;
            }
            Some("deflate") => {
                flate2::read::ZlibDecoder::new(&self.body[..]).read_to_end(&mut out)?;
            }
            Some(other) => bail!("unexpected Content-Encoding {other:?}"),
        }
        Ok(String::from_utf8(out)?)
    }
}

/// Opens a polling session, sends `message` and polls it back with `accept_encoding` (none:
/// no such header). A client without compression support sends no `Accept-Encoding`; reqwest,
/// built without its decompression features, sends none either.
async fn echo_back(
    server: &TestServer,
    message: &str,
    accept_encoding: Option<&str>,
) -> TestResult<RawReply> {
    let polling = Polling::new(server, PATH);
    let handshake = polling.handshake().await?;
    polling
        .push_ok(&handshake.sid, &format!("4{message}"))
        .await?;
    let http = reqwest::Client::builder().timeout(STEP_TIMEOUT).build()?;
    let mut request =
        http.get(polling.url(&format!("EIO=4&transport=polling&sid={}", handshake.sid)));
    if let Some(accept) = accept_encoding {
        request = request.header("accept-encoding", accept);
    }
    let reply = within(STEP_TIMEOUT, "the echo's poll", async {
        let response = request.send().await?;
        if response.status() != 200 {
            return Err(Failure::msg(format!("poll answered {}", response.status())));
        }
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok::<_, Failure>(RawReply { headers, body })
    })
    .await??;
    Ok(reply)
}

/// A message of `len` bytes that compresses as text does.
fn message(len: usize) -> String {
    let mut text = String::with_capacity(len + 40);
    let mut i = 0;
    while text.len() < len {
        text.push_str(&format!("chat line {i}, nothing to see here; "));
        i += 1;
    }
    text.truncate(len);
    text
}

/// Asserts that `reply` is `expected`, plain.
fn assert_plain(reply: &RawReply, expected: &str) -> TestResult {
    if let Some(encoding) = reply.header("content-encoding") {
        bail!("expected a plain body, got Content-Encoding {encoding}");
    }
    if reply.body != expected.as_bytes() {
        bail!(
            "plain body differs: {} bytes, expected {}",
            reply.body.len(),
            expected.len()
        );
    }
    Ok(())
}

/// Asserts that `reply` is `expected`, sent in `encoding`, smaller than plain.
fn assert_encoded(reply: &RawReply, encoding: &str, expected: &str) -> TestResult {
    if reply.header("content-encoding") != Some(encoding) {
        bail!(
            "expected Content-Encoding {encoding}, got {:?}",
            reply.header("content-encoding")
        );
    }
    if !reply.varies_on_accept_encoding() {
        bail!("a compressed response without Vary: Accept-Encoding");
    }
    if reply.body.len() >= expected.len() / 2 {
        bail!(
            "{encoding} body of {} bytes for {} bytes of text",
            reply.body.len(),
            expected.len()
        );
    }
    let decoded = reply.decoded()?;
    if decoded != expected {
        bail!("decoded body differs from the echoed packet");
    }
    Ok(())
}

/// Echoes a message of `len` bytes, polled with `accept_encoding`, and checks that it came
/// back in `encoding` (`None`: plain); returns the reply.
async fn check_echo(
    server: &TestServer,
    len: usize,
    accept_encoding: Option<&str>,
    encoding: Option<&str>,
) -> TestResult<RawReply> {
    let text = message(len);
    let reply = echo_back(server, &text, accept_encoding).await?;
    let expected = format!("4{text}");
    match encoding {
        Some(encoding) => assert_encoded(&reply, encoding, &expected),
        None => assert_plain(&reply, &expected),
    }
    .map_err(|e| {
        Failure::msg(format!(
            "{len} bytes, Accept-Encoding {accept_encoding:?}: {}",
            e.message()
        ))
    })?;
    Ok(reply)
}

#[tokio::test]
async fn gzip_above_the_threshold_by_default() -> TestResult {
    let server = echo_server(Some(HttpCompression::default())).await?;
    check_echo(&server, 2000, Some("gzip"), Some("gzip")).await?;
    // a browser's usual header: gzip is its first choice
    check_echo(&server, 2000, Some("gzip, deflate, br, zstd"), Some("gzip")).await?;
    Ok(())
}

#[tokio::test]
async fn the_builder_default_compresses() -> TestResult {
    // the same default through the Socket.IO server's builder: a connect's reply is small, an
    // event of 3000 bytes is not
    let io = volley::Server::builder().build();
    io.of("/").on_connect(|socket: volley::Socket| async move {
        let _ = socket.emit("big", &message(3000)).await;
    });
    let server = TestServer::spawn(io.router()).await?;
    let polling = Polling::new(&server, "/socket.io/");
    let handshake = polling.handshake().await?;
    polling.push_ok(&handshake.sid, "40").await?;
    let query = format!("EIO=4&transport=polling&sid={}", handshake.sid);
    let http = reqwest::Client::builder().timeout(STEP_TIMEOUT).build()?;
    let mut seen = String::new();
    for _ in 0..3 {
        let response = http
            .get(polling.url(&query))
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        let reply = RawReply {
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        };
        let text = reply.decoded()?;
        if text.contains("\"big\"") {
            if reply.header("content-encoding") != Some("gzip") {
                bail!("the event's poll was not gzip-encoded");
            }
            let expected = serde_json::to_string(&json!(["big", message(3000)]))?;
            if !text.contains(&expected) {
                bail!("the decoded event differs: {text}");
            }
            return Ok(());
        }
        seen.push_str(&text);
        seen.push('|');
    }
    bail!("no `big` event in three polls: {seen}")
}

#[tokio::test]
async fn deflate_when_asked() -> TestResult {
    let server = echo_server(Some(HttpCompression::default())).await?;
    check_echo(&server, 5000, Some("deflate"), Some("deflate")).await?;
    // by q-value, whatever the order
    let accept = Some("gzip;q=0.5, deflate;q=0.9");
    check_echo(&server, 5000, accept, Some("deflate")).await?;
    Ok(())
}

#[tokio::test]
async fn a_large_body_is_compressed_too() -> TestResult {
    // larger than what is compressed inline: the blocking pool's path
    let server = echo_server(Some(HttpCompression::default())).await?;
    check_echo(&server, 200_000, Some("gzip"), Some("gzip")).await?;
    Ok(())
}

#[tokio::test]
async fn never_below_the_threshold() -> TestResult {
    let server = echo_server(Some(HttpCompression::default())).await?;
    // `4` + 1022 bytes: one byte under 1024
    let reply = check_echo(&server, 1022, Some("gzip"), None).await?;
    if reply.varies_on_accept_encoding() {
        bail!("a body below the threshold does not vary on Accept-Encoding");
    }
    // exactly at it: compressed
    check_echo(&server, 1023, Some("gzip"), Some("gzip")).await?;
    // a threshold of its own
    let server = echo_server(Some(HttpCompression {
        threshold: 4096,
        level: 1,
    }))
    .await?;
    check_echo(&server, 3000, Some("gzip"), None).await?;
    check_echo(&server, 5000, Some("gzip"), Some("gzip")).await?;
    Ok(())
}

#[tokio::test]
async fn plain_unless_asked() -> TestResult {
    let server = echo_server(Some(HttpCompression::default())).await?;
    let reply = check_echo(&server, 3000, None, None).await?;
    if !reply.varies_on_accept_encoding() {
        bail!("a body above the threshold, sent plain, still varies on Accept-Encoding");
    }
    for refusing in [
        "identity;q=1, gzip;q=0",
        "gzip;q=0, deflate;q=0",
        "br",
        "identity",
        "*;q=0",
    ] {
        check_echo(&server, 3000, Some(refusing), None).await?;
    }
    Ok(())
}

#[tokio::test]
async fn off_is_plain() -> TestResult {
    let server = echo_server(None).await?;
    let reply = check_echo(&server, 3000, Some("gzip, deflate"), None).await?;
    if reply.varies_on_accept_encoding() {
        bail!("with compression off, no response varies on Accept-Encoding");
    }
    Ok(())
}

/// The Node client (`socket.io-client` 4) polling with `fetch()`, which asks for gzip and
/// decompresses: the echo of a 16 KB text comes back whole, and at least one response (the
/// echo's) came gzip-encoded.
#[tokio::test]
async fn node_client_over_compressed_polling() -> TestResult {
    let srv = InteropServer::start().await?;
    let run = clients::run(Client::Node, srv.url(), &["big-echo", "fetch"]).await?;
    run.event("done")?;
    run.expect("echo-back", "same", &json!(true))?;
    run.expect("echo-back", "extra", &json!({"n": 1}))?;
    run.expect("transport", "name", &json!("polling"))?;
    let seen = run.field("encodings", "seen")?;
    let gzip = seen
        .as_array()
        .is_some_and(|s| s.iter().any(|e| e == "gzip"));
    if !gzip {
        return Err(run.failure(&format!("no gzip-encoded response: {seen}")));
    }
    Ok(())
}

/// The Node client over WebSocket offers `permessage-deflate` (its default, from the `ws`
/// package): the server declines it, and large messages go through uncompressed.
#[tokio::test]
async fn node_client_websocket_without_deflate() -> TestResult {
    let srv = InteropServer::start().await?;
    let run = clients::run(Client::Node, srv.url(), &["big-echo", "websocket"]).await?;
    run.event("done")?;
    run.expect("echo-back", "same", &json!(true))?;
    run.expect("transport", "name", &json!("websocket"))?;
    run.expect("transport", "extensions", &json!(""))
}

/// An upgrade that offers `permessage-deflate` is answered without `Sec-WebSocket-Extensions`:
/// no extension is negotiated (RFC 6455 §9.1), so the client sends and expects plain frames.
#[tokio::test]
async fn websocket_upgrade_declines_permessage_deflate() -> TestResult {
    let io = volley::Server::builder().build();
    let server = TestServer::spawn(io.router()).await?;
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        server.authority()
    );
    let mut tcp = TcpStream::connect(server.authority()).await?;
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = within(STEP_TIMEOUT, "the upgrade's answer", tcp.read(&mut buf)).await??;
        if n == 0 {
            bail!("connection closed before the upgrade's answer");
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !text.starts_with("http/1.1 101 ") {
        bail!("expected a 101, got {text:?}");
    }
    if text.contains("sec-websocket-extensions") {
        bail!("the server negotiated an extension: {text:?}");
    }
    Ok(())
}
