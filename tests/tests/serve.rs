//! Volley's listener (`volley::serve::Listener`) seen from raw TCP. Separate from the wire suites
//! because those read through a WebSocket client, which hides how the bytes were sent.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use volley::{Server, Socket, Value};
use volley_tests::server::TestServer;
use volley_tests::wire::{Polling, Ws};
use volley_tests::{bail, TestResult, STEP_TIMEOUT};

/// The request a WebSocket client sends to open `target`.
fn upgrade_request(server: &TestServer, target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.authority()
    )
}

/// Sends `request` on a new connection and returns what the first read brings.
async fn first_read(server: &TestServer, request: &str) -> TestResult<(TcpStream, Vec<u8>)> {
    let mut tcp = TcpStream::connect(server.authority()).await?;
    tcp.write_all(request.as_bytes()).await?;
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(STEP_TIMEOUT, tcp.read(&mut buf))
        .await
        .map_err(|_| volley_tests::Failure::msg("no answer to the upgrade request"))??;
    buf.truncate(n);
    Ok((tcp, buf))
}

/// The bytes after the `101`'s head, which must be there.
fn after_head(read: &[u8]) -> TestResult<&[u8]> {
    let text = String::from_utf8_lossy(read);
    if !text.starts_with("HTTP/1.1 101 ") {
        bail!("expected a 101, got {text:?}");
    }
    match read.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => Ok(&read[end + 4..]),
        None => bail!("the 101's head is cut short: {text:?}"),
    }
}

/// How many segments carrying data the connection whose local end is `local` has received, as
/// the kernel counts them (`ss`'s `data_segs_in`).
async fn data_segments_received(local: std::net::SocketAddr) -> TestResult<u64> {
    let out = tokio::process::Command::new("ss")
        .args(["-tinH", "src", &local.to_string()])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let count = text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("data_segs_in:"))
        .and_then(|n| n.parse().ok());
    match count {
        Some(n) => Ok(n),
        None => bail!("`ss -tinH src {local}` did not give data_segs_in: {text:?}"),
    }
}

#[tokio::test]
async fn a_new_websocket_session_gets_its_101_and_open_packet_in_one_segment() -> TestResult {
    let io = Server::builder().build();
    let server = TestServer::spawn(io.router()).await?;
    let request = upgrade_request(&server, "/socket.io/?EIO=4&transport=websocket");
    let (mut tcp, mut read) = first_read(&server, &request).await?;
    // the 101's head, then an unmasked text frame (0x81) with a short length: the open packet
    loop {
        match after_head(&read) {
            Ok([0x81, len, payload @ ..]) if usize::from(*len) <= payload.len() => break,
            Ok(_) | Err(_) if read.len() < 4096 => {}
            Ok(other) => bail!("expected one text frame behind the 101, got {other:?}"),
            Err(e) => return Err(e),
        }
        let mut more = [0; 512];
        let n = tokio::time::timeout(STEP_TIMEOUT, tcp.read(&mut more)).await??;
        if n == 0 {
            bail!("closed after {read:?}");
        }
        read.extend_from_slice(&more[..n]);
    }
    let frame = after_head(&read)?;
    if !frame[2..].starts_with(b"0{\"sid\":") {
        bail!(
            "expected the open packet, got {:?}",
            String::from_utf8_lossy(frame)
        );
    }
    let segments = data_segments_received(tcp.local_addr()?).await?;
    if segments != 1 {
        bail!("the 101 and the open packet came in {segments} segments, not one");
    }
    Ok(())
}

#[tokio::test]
async fn the_upgrade_of_a_polling_session_is_answered_at_once() -> TestResult {
    let io = Server::builder().build();
    let server = TestServer::spawn(io.router()).await?;
    let sid = Polling::new(&server, "/socket.io/").handshake().await?.sid;
    let target = format!("/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let (_tcp, read) = first_read(&server, &upgrade_request(&server, &target)).await?;
    // the client speaks first (`2probe`): nothing may wait behind the 101
    if !after_head(&read)?.is_empty() {
        bail!("unexpected bytes behind the 101: {read:?}");
    }
    Ok(())
}

#[tokio::test]
async fn another_routes_websocket_is_not_held_back() -> TestResult {
    // a handler that writes only after a while: its 101 must not wait for that write
    let app = axum::Router::new().route(
        "/late",
        get(|ws: WebSocketUpgrade| async move {
            ws.on_upgrade(|mut ws| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let _ = ws.send(Message::text("late")).await;
            })
        }),
    );
    let server = TestServer::spawn(app).await?;
    let (_tcp, read) = first_read(&server, &upgrade_request(&server, "/late?x=1")).await?;
    after_head(&read)?;
    Ok(())
}

#[tokio::test]
async fn handlers_see_the_clients_address_through_peer_addr() -> TestResult {
    let io = Server::builder().build();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    io.of("/")
        .on_connect(move |socket: Socket, _auth: Option<Value>| {
            let _ = tx.send(socket.info().address);
        });
    let server = TestServer::spawn(io.router()).await?;
    let (mut ws, _) = Ws::open(&server, "/socket.io/").await?;
    ws.send_text("40").await?;
    let address = tokio::time::timeout(STEP_TIMEOUT, rx.recv()).await;
    match address {
        Ok(Some(Some(ip))) if ip == "127.0.0.1" => Ok(()),
        other => bail!("expected the client's address 127.0.0.1, got {other:?}"),
    }
}

#[tokio::test]
async fn volley_service_is_served_as_it_is() -> TestResult {
    // `axum::serve(listener, io.service())`: no Router around it
    let io = Server::builder().build();
    io.of("/").on("echo", |_s: Socket, args: volley::Args| args);
    let listener = volley::serve::Listener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener,
        io.service(),
    )));
    let server = TestServer::external(url);
    let (mut ws, _) = Ws::open(&server, "/socket.io/").await?;
    ws.send_text("40").await?;
    ws.next_packet().await?; // the CONNECT answer
    ws.send_text("421[\"echo\",\"hi\"]").await?;
    let reply = ws.next_packet().await?;
    let polling = Polling::new(&server, "/elsewhere/").get("").await;
    task.abort();
    if !matches!(&reply, volley_tests::wire::Frame::Text(t) if t == "431[\"hi\"]") {
        bail!("expected the ack 431[\"hi\"], got {reply:?}");
    }
    match polling {
        Ok(reply) if reply.status == 404 => Ok(()),
        Ok(reply) => bail!(
            "expected 404 outside the Socket.IO path, got {}",
            reply.status
        ),
        Err(e) => Err(e),
    }
}
