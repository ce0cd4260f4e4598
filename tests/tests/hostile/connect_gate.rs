//! Nothing runs for a socket whose connect has not been accepted: packets sent behind a CONNECT
//! wait for the connect handler, run in order once it accepts, are dropped if it refuses, and
//! past a small bound get the client disconnected with a reason.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley::admin::{AdminAuth, AdminOptions};
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
    let io = Server::builder().build();
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
    let client = RawPolling::open(&server).await?;
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
        bail!("an event sent before a refused connect ran: {seen:?}");
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
