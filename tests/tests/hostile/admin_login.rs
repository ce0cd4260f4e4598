//! Guessing the Admin UI's password: after a few failed logins from one address, further
//! attempts from it are refused unchecked for a while, the right password included, with a
//! connect error saying when to retry; other addresses are not held back, and the right password
//! works again once the lockout is over.
//!
//! Each attempt is a fresh raw WebSocket connection from a chosen loopback address (the admin
//! namespace throttles by the client's address, as the handshake saw it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use volley::admin::{AdminAuth, AdminOptions, LoginThrottle};
use volley::Server;
use volley_tests::server::TestServer;
use volley_tests::{bail, within, Failure, TestResult, STEP_TIMEOUT};

/// Failed logins an address may make before it is locked out, in this test.
const FREE: u32 = 3;
/// The lockout, in this test: long enough for the attempts made during it.
const LOCKOUT: Duration = Duration::from_secs(2);
/// The refusal of an attempt during the lockout: "…, retry in N s" with N the seconds left,
/// rounded up.
const THROTTLED: &str = "too many failed logins, retry in ";

/// Whether `answer` is the refusal of an attempt during the lockout.
fn throttled(answer: &Result<(), String>) -> bool {
    let secs = answer
        .as_ref()
        .err()
        .and_then(|m| m.strip_prefix(THROTTLED)?.strip_suffix(" s"));
    let secs = secs.and_then(|n| n.parse::<u64>().ok());
    secs.is_some_and(|n| (1..=LOCKOUT.as_secs()).contains(&n))
}

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const BYSTANDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A server with the Admin UI on `/admin` (admin / changeit) and a short lockout.
async fn serve() -> TestResult<TestServer> {
    let io = Server::builder().build();
    io.of("/");
    io.instrument(AdminOptions {
        auth: Some(AdminAuth::new("admin", "changeit")),
        login_throttle: LoginThrottle {
            free_failures: FREE,
            first_lockout: LOCKOUT,
            max_lockout: LOCKOUT,
            ..LoginThrottle::default()
        },
        ..AdminOptions::default()
    })
    .map_err(|e| Failure::msg(format!("instrument: {e}")))?;
    TestServer::spawn(io.router()).await
}

/// One login to `/admin` with `password`, from `local`: `Ok` when the namespace accepts it, else
/// the connect error's message.
async fn login(
    server: &TestServer,
    local: IpAddr,
    password: &str,
) -> TestResult<Result<(), String>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0))?;
    let addr: SocketAddr = server
        .authority()
        .parse()
        .map_err(|e| Failure::msg(format!("server address: {e}")))?;
    within(STEP_TIMEOUT, "an admin login", async {
        let tcp = socket.connect(addr).await?;
        let url = format!("{}/socket.io/?EIO=4&transport=websocket", server.ws_url());
        let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
        let open = next_text(&mut ws).await?;
        if !open.starts_with('0') {
            bail!("expected the Engine.IO open packet, got {open:?}");
        }
        let auth = json!({ "username": "admin", "password": password });
        ws.send(Message::text(format!("40/admin,{auth}"))).await?;
        let answer = next_text(&mut ws).await?;
        let _ = ws.close(None).await;
        if answer.starts_with("40/admin,") {
            return Ok(Ok(()));
        }
        let Some(error) = answer.strip_prefix("44/admin,") else {
            bail!("expected CONNECT or CONNECT_ERROR on /admin, got {answer:?}");
        };
        let error: Value = serde_json::from_str(error)?;
        match error.get("message").and_then(Value::as_str) {
            Some(message) => Ok(Err(message.to_owned())),
            None => bail!("a CONNECT_ERROR without a message: {error}"),
        }
    })
    .await?
}

/// The next text frame, Engine.IO pings answered.
async fn next_text(ws: &mut WebSocketStream<TcpStream>) -> TestResult<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                ws.send(Message::text("3")).await?;
            }
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("WebSocket error: {e}"),
            None => bail!("the WebSocket closed"),
        }
    }
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_address_out_for_a_while() -> TestResult {
    let server = serve().await?;
    for n in 1..=FREE {
        let answer = login(&server, ATTACKER, &format!("guess-{n}")).await?;
        if answer != Err("invalid credentials".to_owned()) {
            bail!("failed login {n} of {FREE} free ones: expected \"invalid credentials\", got {answer:?}");
        }
    }
    let locked = Instant::now();

    // the guesses that follow are refused unchecked, and fast
    for n in 0..30 {
        let answer = login(&server, ATTACKER, &format!("more-{n}")).await?;
        if !throttled(&answer) {
            bail!("guess {n} during the lockout: expected \"{THROTTLED}N s\", got {answer:?}");
        }
    }
    // the right password too
    let answer = login(&server, ATTACKER, "changeit").await?;
    if !throttled(&answer) {
        bail!("the right password during the lockout: expected \"{THROTTLED}N s\", got {answer:?}");
    }
    if locked.elapsed() >= LOCKOUT {
        bail!("the machine is too slow for this test: the lockout ended before its checks did");
    }
    // another address is not held back
    let answer = login(&server, BYSTANDER, "changeit").await?;
    if answer.is_err() {
        bail!("another address was held back: {answer:?}");
    }

    // once the lockout is over, the right password works
    tokio::time::sleep_until(locked + LOCKOUT + Duration::from_millis(100)).await;
    let answer = login(&server, ATTACKER, "changeit").await?;
    if answer.is_err() {
        bail!("the right password after the lockout: {answer:?}");
    }
    Ok(())
}
