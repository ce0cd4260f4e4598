//! Slow HTTP: clients that hold connections open without finishing requests, or too many
//! connections at once. Volley's listener (`volley::serve::Listener`) closes a connection whose
//! request headers take longer than the header timeout and one that stays silent past the idle
//! timeout (but not a live session's long poll or WebSocket), and answers a connection past its
//! cap with a `503` and a `Retry-After`.
//!
//! The timeouts are short here (300 ms); each close must come after its timeout, and within
//! [`SLACK`] of it.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use volley::serve::Listener;
use volley::Server;
use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Ws};
use volley_tests::{bail, within, TestResult, STEP_TIMEOUT};

/// The timeout under test.
const SHORT: Duration = Duration::from_millis(300);
/// A timeout long enough not to interfere with the one under test.
const LONG: Duration = Duration::from_secs(30);
/// How late after its timeout a close may come (the machine may be loaded).
const SLACK: Duration = Duration::from_millis(2000);
/// The first line of a request opening an Engine.IO session by long polling.
const HANDSHAKE: &str = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n";

/// A Socket.IO server on a listener with these bounds, pinging every `ping` (and waiting as long
/// for the pong, after which the next ping goes).
async fn serve(header: Duration, idle: Duration, ping: Duration) -> TestResult<TestServer> {
    let io = Server::builder()
        .ping_interval(ping)
        .ping_timeout(ping)
        .build();
    io.of("/");
    let listener = Listener::bind("127.0.0.1:0")
        .await?
        .header_timeout(header)
        .idle_timeout(idle);
    TestServer::spawn_on(listener, io.router())
}

/// How a connection ended, seen from the client.
#[derive(Debug)]
enum End {
    /// The server closed it (end of stream, or a reset) after this long, having sent these bytes.
    Closed(Duration, Vec<u8>),
    /// Still open after the wait, having sent these bytes.
    Open(Vec<u8>),
}

/// Reads `from` until the server closes the connection or `wait` has passed since `start`.
async fn ending(from: &mut (impl AsyncRead + Unpin), start: Instant, wait: Duration) -> End {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout_at(start + wait, from.read(&mut buf)).await {
            Err(_) => return End::Open(got),
            Ok(Ok(0) | Err(_)) => return End::Closed(start.elapsed(), got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Fails unless the connection was closed `timeout` (or a little more) after `start`.
fn closed_after(end: End, timeout: Duration, what: &str) -> TestResult {
    match end {
        End::Closed(after, _) if after >= timeout && after <= timeout + SLACK => Ok(()),
        End::Closed(after, got) => bail!(
            "{what}: closed after {after:?}, expected {timeout:?} to {:?} (got {:?})",
            timeout + SLACK,
            String::from_utf8_lossy(&got)
        ),
        End::Open(got) => bail!(
            "{what}: still open {:?} after its {timeout:?} timeout (got {:?})",
            timeout + SLACK,
            String::from_utf8_lossy(&got)
        ),
    }
}

/// Fails unless the server closes `tcp`, silent from now on, after the idle timeout under test.
async fn closed_when_idle(tcp: &mut TcpStream, what: &str) -> TestResult {
    let end = ending(tcp, Instant::now(), SHORT + SLACK + SLACK).await;
    closed_after(end, SHORT, what)
}

/// One response read off `tcp`: its status line and headers, and its body (by its
/// `content-length`).
async fn response(tcp: &mut TcpStream) -> TestResult<(String, String)> {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    within(STEP_TIMEOUT, "a response", async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(str::trim)
                            .and_then(|n| n.parse::<usize>().ok())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]);
                    return Ok((head, body.into_owned()));
                }
            }
            match tcp.read(&mut buf).await? {
                0 => bail!(
                    "the connection closed before a whole response: {:?}",
                    String::from_utf8_lossy(&got)
                ),
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await?
}

/// Sends a whole request whose first line is `line` on `tcp`.
async fn request(tcp: &mut TcpStream, line: &str) -> TestResult {
    tcp.write_all(format!("{line}Host: volley\r\n\r\n").as_bytes())
        .await?;
    Ok(())
}

#[tokio::test]
async fn clients_dribbling_headers_are_closed_after_the_header_timeout() -> TestResult {
    let server = serve(SHORT, LONG, LONG).await?;
    let mut clients = Vec::new();
    for _ in 0..10 {
        let tcp = TcpStream::connect(server.authority()).await?;
        clients.push(tokio::spawn(async move {
            let (mut from, mut to) = tcp.into_split();
            let start = Instant::now();
            // a header byte every 50 ms, forever: the headers never end
            let dribble = tokio::spawn(async move {
                let bytes = HANDSHAKE.bytes().chain(b"X-Slow: ".iter().copied());
                for byte in bytes.chain(std::iter::repeat(b'a')) {
                    if to.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            let end = ending(&mut from, start, SHORT + SLACK + SLACK).await;
            dribble.abort();
            end
        }));
    }
    for client in clients {
        closed_after(client.await?, SHORT, "a client dribbling its headers")?;
    }
    // an honest client is still served
    let mut tcp = TcpStream::connect(server.authority()).await?;
    request(&mut tcp, HANDSHAKE).await?;
    let (head, body) = response(&mut tcp).await?;
    if !head.starts_with("HTTP/1.1 200") || !body.starts_with('0') {
        bail!("the handshake after the slow clients failed: {head}\n\n{body}");
    }
    Ok(())
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_idle_timeout() -> TestResult {
    let server = serve(LONG, SHORT, LONG).await?;
    // a connection that never sends a byte
    let mut silent = TcpStream::connect(server.authority()).await?;
    closed_when_idle(&mut silent, "a silent new connection").await?;
    // a keep-alive connection, silent after its request was answered
    let mut kept = TcpStream::connect(server.authority()).await?;
    request(&mut kept, HANDSHAKE).await?;
    response(&mut kept).await?;
    closed_when_idle(&mut kept, "a keep-alive connection between requests").await
}

#[tokio::test]
async fn live_sessions_outlast_the_idle_timeout() -> TestResult {
    // pings every second: more than three idle timeouts of silence between them
    let ping = Duration::from_secs(1);
    let server = serve(SHORT, SHORT, ping).await?;

    // the idle timeout is on: a connection outside any session is closed
    let mut outside = TcpStream::connect(server.authority()).await?;
    closed_when_idle(&mut outside, "a connection outside any session").await?;

    // a long poll waits for the ping, on a connection that stays open for the next one
    let mut polling = TcpStream::connect(server.authority()).await?;
    request(&mut polling, HANDSHAKE).await?;
    let (_, open) = response(&mut polling).await?;
    let sid = volley_tests::wire::Handshake::parse(&open)?.sid;
    for _ in 0..2 {
        let start = Instant::now();
        let poll = format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n");
        request(&mut polling, &poll).await?;
        let (head, body) = response(&mut polling).await?;
        if !head.starts_with("HTTP/1.1 200") || body != "2" {
            bail!("the long poll should have brought a ping, got {head}\n\n{body}");
        }
        if start.elapsed() < SHORT * 2 {
            bail!(
                "the ping came after {:?}, before the idle timeout could cut the long poll",
                start.elapsed()
            );
        }
        let pong = format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n\
             Content-Type: text/plain\r\nContent-Length: 1\r\n"
        );
        polling
            .write_all(format!("{pong}Host: volley\r\n\r\n3").as_bytes())
            .await?;
        let (head, _) = response(&mut polling).await?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!("the pong was refused: {head}");
        }
    }

    // a WebSocket session, answering pings, stays open across many idle timeouts
    let (mut ws, _) = Ws::open(&server, "/socket.io/").await?;
    let until = Instant::now() + ping * 3;
    let mut pings = 0;
    while let Some(frame) = ws
        .next_frame_within(until.saturating_duration_since(Instant::now()))
        .await?
    {
        match frame {
            Frame::Text(t) if t == "2" => {
                pings += 1;
                ws.send_text("3").await?;
            }
            Frame::Closed(how) => {
                bail!("the WebSocket session was cut ({how}) after {pings} pings")
            }
            _ => {}
        }
    }
    if pings < 2 {
        bail!("expected at least two pings in {:?}, got {pings}", ping * 3);
    }
    ws.close().await;
    Ok(())
}

#[tokio::test]
async fn connections_past_the_cap_are_refused_with_503_until_one_closes() -> TestResult {
    let io = Server::builder().build();
    io.of("/");
    let listener = Listener::bind("127.0.0.1:0")
        .await?
        .max_connections(3)
        .retry_after(Duration::from_secs(7));
    let server = TestServer::spawn_on(listener, io.router())?;

    let mut open = Vec::new();
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(server.authority()).await?;
        request(&mut tcp, HANDSHAKE).await?;
        response(&mut tcp).await?;
        open.push(tcp);
    }
    for _ in 0..3 {
        let mut over = TcpStream::connect(server.authority()).await?;
        request(&mut over, HANDSHAKE).await?;
        let got = match ending(&mut over, Instant::now(), STEP_TIMEOUT).await {
            End::Closed(_, got) => String::from_utf8_lossy(&got).into_owned(),
            End::Open(got) => bail!(
                "a connection past the cap stayed open; it got {:?}",
                String::from_utf8_lossy(&got)
            ),
        };
        let lower = got.to_ascii_lowercase();
        if !got.starts_with("HTTP/1.1 503 Service Unavailable\r\n")
            || !lower.contains("\r\nretry-after: 7\r\n")
            || !lower.contains("\r\ncontent-type: text/plain")
            || !lower.contains("too many connections")
        {
            bail!("a connection past the cap should get a 503 with Retry-After, got {got:?}");
        }
    }

    // once one closes, its slot is free again
    drop(open.pop());
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let mut tcp = TcpStream::connect(server.authority()).await?;
        request(&mut tcp, HANDSHAKE).await?;
        match response(&mut tcp).await {
            Ok((head, _)) if head.starts_with("HTTP/1.1 200") => break,
            Ok((head, _)) if Instant::now() < deadline && head.starts_with("HTTP/1.1 503") => {}
            Err(_) if Instant::now() < deadline => {}
            other => bail!("after a connection closed, a new one should be served: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the connections still open were served all along
    for tcp in &mut open {
        request(tcp, HANDSHAKE).await?;
        let (head, _) = response(tcp).await?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!("an open connection was not served: {head}");
        }
    }
    Ok(())
}
