//! Nothing runs for a socket whose connect has not been accepted: packets sent behind a CONNECT
//! wait for the connect middlewares and handler, run in order once they accept, are dropped if
//! one refuses (no packet middleware sees them), and past a small bound get the client
//! disconnected with a reason. With always connect, the acknowledgement goes first but the
//! packets still wait for the handler.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley::admin::{AdminAuth, AdminOptions};
use volley::handler::{IncomingEvent, PacketFlow};
use volley::{ConnectError, Server, Socket, Value};
use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Ws};
use volley_tests::{bail, Failure, TestResult};

use crate::support::{frames_during, ws_client, RawPolling, PATH};

/// A bcrypt hash of "changeit".
const HASH: &str = "$2a$10$1nPSmZm6Mj36h.8bBDAFYOK7zK93OdTbB.fkWttwO08OCPBbTvenG";

/// The Admin UI's emit command, sent before its login was refused.
const ADMIN_EMIT: &str = r#"42/admin,["emit","/",null,"message",{"text":"pwned"}]"#;

async fn admin_server() -> TestResult<TestServer> {
    let io = Server::builder().build();
    io.of("/");
    io.instrument(AdminOptions {
        auth: Some(AdminAuth::new("admin", HASH)),
        ..AdminOptions::default()
    })
    .map_err(|e| Failure::msg(format!("instrument: {e}")))?;
    TestServer::spawn(io.router()).await
}

fn saw_pwned(frames: &[Frame]) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::Text(t) if t.contains("pwned")))
}

#[tokio::test]
async fn admin_commands_behind_a_refused_login_never_run_over_polling() -> TestResult {
    let server = admin_server().await?;
    let mut victims = Vec::new();
    for _ in 0..3 {
        victims.push(ws_client(&server).await?);
    }
    for _ in 0..5 {
        let attacker = RawPolling::open(&server).await?;
        attacker
            .send(&[
                r#"40/admin,{"username":"x","password":"y"}"#,
                ADMIN_EMIT,
                r#"42/admin,["_disconnect","/",true,null]"#,
            ])
            .await?;
        let seen = attacker.until("44/admin").await?;
        if !seen.iter().any(|p| p.starts_with("44/admin,")) {
            bail!("the refused login got no CONNECT_ERROR: {seen:?}");
        }
    }
    for victim in &mut victims {
        let frames = frames_during(victim, Duration::from_millis(500)).await?;
        if saw_pwned(&frames) || frames.iter().any(|f| matches!(f, Frame::Closed(_))) {
            bail!("a command sent before the refused admin login reached a client: {frames:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn admin_commands_behind_a_refused_login_never_run_over_websocket() -> TestResult {
    let server = admin_server().await?;
    let mut victim = ws_client(&server).await?;
    for _ in 0..5 {
        let (mut attacker, _) = Ws::open(&server, PATH).await?;
        attacker
            .send_text(r#"40/admin,{"username":"x","password":"y"}"#)
            .await?;
        attacker.send_text(ADMIN_EMIT).await?;
        match attacker.next_packet().await? {
            Frame::Text(t) if t.starts_with("44/admin,") => {}
            other => bail!("expected the refused login's CONNECT_ERROR, got {other:?}"),
        }
    }
    let frames = frames_during(&mut victim, Duration::from_millis(500)).await?;
    if saw_pwned(&frames) {
        bail!("an Admin UI emit sent before the refused login reached a client: {frames:?}");
    }
    Ok(())
}

/// `/` with a slow connect handler that saves the user's name, and `whoami` answering it.
async fn slow_accept_server(
    delay: Duration,
    refuse: bool,
) -> TestResult<(TestServer, Arc<AtomicUsize>)> {
    slow_accept_server_with(Server::builder().build(), delay, refuse).await
}

async fn slow_accept_server_with(
    io: Server,
    delay: Duration,
    refuse: bool,
) -> TestResult<(TestServer, Arc<AtomicUsize>)> {
    let ran = Arc::new(AtomicUsize::new(0));
    let count = ran.clone();
    io.of("/")
        .on_connect(move |socket: Socket, _auth: Option<Value>| async move {
            tokio::time::sleep(delay).await;
            if refuse {
                return Err(ConnectError::new("go away"));
            }
            socket.save_session(String::from("ada"));
            Ok(())
        })
        .on("whoami", move |socket: Socket, n: u32| {
            count.fetch_add(1, Ordering::SeqCst);
            (n, socket.get_session::<String>())
        });
    Ok((TestServer::spawn(io.router()).await?, ran))
}

#[tokio::test]
async fn packets_sent_right_after_connect_run_after_acceptance_in_order() -> TestResult {
    let (server, ran) = slow_accept_server(Duration::from_millis(300), false).await?;
    let client = RawPolling::open(&server).await?;
    client
        .send(&[
            "40",
            r#"421["whoami",1]"#,
            r#"422["whoami",2]"#,
            r#"423["whoami",3]"#,
        ])
        .await?;
    let seen = client.until("433").await?;
    let packets: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with("40") || p.starts_with("43"))
        .collect();
    let expected_acks = [r#"431[1,"ada"]"#, r#"432[2,"ada"]"#, r#"433[3,"ada"]"#];
    if packets.len() != 4 || !packets[0].starts_with("40{") || packets[1..] != expected_acks {
        bail!("expected the CONNECT ack, then acks 1, 2, 3 each seeing the session the connect handler saved; got {packets:?}");
    }
    if ran.load(Ordering::SeqCst) != 3 {
        bail!(
            "the handler ran {} times, expected 3",
            ran.load(Ordering::SeqCst)
        );
    }
    Ok(())
}

#[tokio::test]
async fn packets_behind_a_refused_connect_are_dropped() -> TestResult {
    let (server, ran) = slow_accept_server(Duration::from_millis(300), true).await?;
    refused_and_nothing_ran(&server, &ran).await
}

/// Sends a CONNECT with an event behind it; fails unless the connect is refused with "go away"
/// and nothing counted in `ran` has run 200 ms later.
async fn refused_and_nothing_ran(server: &TestServer, ran: &AtomicUsize) -> TestResult {
    let client = RawPolling::open(server).await?;
    client.send(&["40", r#"421["whoami",1]"#]).await?;
    let seen = client.until("44").await?;
    if !seen
        .iter()
        .any(|p| p.starts_with(r#"44{"message":"go away""#))
    {
        bail!("expected the refusal, got {seen:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    if ran.load(Ordering::SeqCst) != 0 || seen.iter().any(|p| p.starts_with("431")) {
        bail!("something ran for an event sent before a refused connect: {seen:?}");
    }
    Ok(())
}

#[tokio::test]
async fn too_many_packets_before_acceptance_disconnect_with_a_reason() -> TestResult {
    let (server, ran) = slow_accept_server(Duration::from_secs(2), false).await?;
    let (mut client, _) = Ws::open(&server, PATH).await?;
    client.send_text("40").await?;
    for i in 0..17 {
        client.send_text(&format!(r#"42["whoami",{i}]"#)).await?;
    }
    let frames = client.expect_closed(Duration::from_secs(2)).await?;
    let refused = frames.iter().any(|f| {
        matches!(f, Frame::Text(t) if t.starts_with("44{") && t.contains("limit exceeded: packets before connect"))
    });
    if !refused {
        bail!("expected a CONNECT_ERROR naming the limit before the close, got {frames:?}");
    }
    if ran.load(Ordering::SeqCst) != 0 {
        bail!("events of a client past the pending bound ran");
    }
    Ok(())
}

#[tokio::test]
async fn packets_behind_a_refusing_middleware_reach_no_middleware_nor_handler() -> TestResult {
    let io = Server::builder().build();
    let ran = Arc::new(AtomicUsize::new(0));
    let (seen, handled, connected) = (ran.clone(), ran.clone(), ran.clone());
    io.of("/")
        .with(|_s: Socket| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err::<(), _>(ConnectError::new("go away"))
        })
        .use_packets(move |_s: &Socket, _ev: &mut IncomingEvent| {
            seen.fetch_add(1, Ordering::SeqCst);
            PacketFlow::Pass
        })
        .on_connect(move |_s: Socket| {
            connected.fetch_add(1, Ordering::SeqCst);
        })
        .on("whoami", move |_s: Socket, n: u32| {
            handled.fetch_add(1, Ordering::SeqCst);
            n
        });
    // neither the packet middleware, the connect handler nor the event handler
    let server = TestServer::spawn(io.router()).await?;
    refused_and_nothing_ran(&server, &ran).await
}

#[tokio::test]
async fn always_connect_acknowledges_at_once_but_packets_wait_for_the_handler() -> TestResult {
    let io = Server::builder().always_connect(true).build();
    let (server, ran) = slow_accept_server_with(io, Duration::from_millis(300), false).await?;
    let client = RawPolling::open(&server).await?;
    client.send(&["40", r#"421["whoami",1]"#]).await?;
    let seen = client.until("431").await?;
    let packets: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with("40") || p.starts_with("43"))
        .collect();
    if packets.len() != 2 || !packets[0].starts_with("40{") || packets[1] != r#"431[1,"ada"]"# {
        bail!("expected the CONNECT ack, then the ack of an event that saw the handler's session; got {packets:?}");
    }
    if ran.load(Ordering::SeqCst) != 1 {
        bail!(
            "the handler ran {} times, expected 1",
            ran.load(Ordering::SeqCst)
        );
    }
    Ok(())
}

#[tokio::test]
async fn always_connect_refused_by_the_handler_disconnects_and_drops_the_packets() -> TestResult {
    let io = Server::builder().always_connect(true).build();
    let (server, ran) = slow_accept_server_with(io, Duration::from_millis(300), true).await?;
    let client = RawPolling::open(&server).await?;
    client.send(&["40", r#"421["whoami",1]"#]).await?;
    let seen = client.until("41").await?;
    let first = seen.iter().position(|p| p.starts_with("40{"));
    let disconnect = seen.iter().position(|p| p == "41");
    if first.is_none() || disconnect < first || seen.iter().any(|p| p.starts_with("44")) {
        bail!("expected the CONNECT ack, then a DISCONNECT (no CONNECT_ERROR), got {seen:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    if ran.load(Ordering::SeqCst) != 0 {
        bail!("an event sent before the handler refused ran");
    }
    Ok(())
}
