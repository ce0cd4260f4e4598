//! The Socket.IO v5 conformance suite, raw on the wire, against the reference test server
//! (`volley_examples::conformance`, or `VOLLEY_TEST_EXTERNAL_SIO`): the Engine.IO cases again on
//! `/socket.io/`, then the Socket.IO ones. Separate from the Engine.IO suite because it runs
//! against a different app.

use std::time::Duration;

use tokio::time::Instant;
use volley_tests::engineio_cases::{self as cases, Flavor, Target, SLACK};
use volley_tests::server::{self, TestServer};
use volley_tests::wire::{Frame, Polling, Ws, SEPARATOR};
use volley_tests::{bail, TestResult};

const PATH: &str = "/socket.io/";
/// The reference server's connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

macro_rules! engineio_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() -> TestResult {
                let server = server::conformance().await?;
                let target = Target { server: &server, path: PATH, flavor: Flavor::SocketIo };
                cases::$name(&target).await
            }
        )*
    };
}

engineio_tests!(
    handshake_polling_opens_session,
    handshake_polling_rejects_bad_eio,
    handshake_polling_rejects_bad_transport,
    handshake_polling_rejects_bad_method,
    handshake_ws_opens_session,
    handshake_ws_rejects_bad_eio,
    handshake_ws_rejects_bad_transport,
    polling_rejects_unknown_sid,
    ws_rejects_unknown_sid,
    heartbeat_polling_ping_pong,
    heartbeat_polling_timeout,
    heartbeat_ws_ping_pong,
    heartbeat_ws_timeout,
    close_polling,
    close_ws,
    upgrade_succeeds,
    upgrade_releases_parked_poll,
    upgrade_then_polling_rejected,
    upgrade_then_second_ws_closed,
);

// ---------------------------------------------------------------- helpers

/// The next frame, read strictly (a ping here is a failure): it must be text.
async fn next_text(ws: &mut Ws) -> TestResult<String> {
    match ws.next_frame().await? {
        Frame::Text(t) => Ok(t),
        other => bail!("expected a text frame, got {other:?}"),
    }
}

/// Checks a CONNECT ack `{prefix}{"sid":"..."}`: the payload has exactly the key `sid`.
fn check_connect_ack(frame: &str, prefix: &str) -> TestResult {
    let Some(json) = frame.strip_prefix(prefix) else {
        bail!("expected a CONNECT ack starting with {prefix:?}, got {frame:?}");
    };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| volley_tests::Failure::msg(format!("CONNECT ack {frame:?}: {e}")))?;
    let keys: Vec<&String> = value
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if keys != ["sid"] || !value["sid"].is_string() {
        bail!("CONNECT ack payload: expected exactly {{\"sid\": <string>}}, got {value}");
    }
    Ok(())
}

/// Sends `connect`, then expects (strictly, no ping in between) the ack and the `auth` event.
async fn connect(ws: &mut Ws, connect: &str, ack_prefix: &str, auth: &str) -> TestResult {
    ws.send_text(connect).await?;
    check_connect_ack(&next_text(ws).await?, ack_prefix)?;
    let got = next_text(ws).await?;
    if got != auth {
        bail!("after the CONNECT ack: expected {auth:?}, got {got:?}");
    }
    Ok(())
}

/// A WebSocket session connected to `/` (the `auth` event consumed).
async fn init_connection(server: &TestServer) -> TestResult<Ws> {
    let (mut ws, _) = Ws::open(server, PATH).await?;
    connect(&mut ws, "40", "40", r#"42["auth",{}]"#).await?;
    Ok(ws)
}

const PLACEHOLDERS: &str = r#"{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}"#;

// ---------------------------------------------------------------- connect

#[tokio::test]
async fn connect_main_namespace() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    connect(&mut ws, "40", "40", r#"42["auth",{}]"#).await
}

#[tokio::test]
async fn connect_main_namespace_with_payload() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    connect(
        &mut ws,
        r#"40{"token":"123"}"#,
        "40",
        r#"42["auth",{"token":"123"}]"#,
    )
    .await
}

#[tokio::test]
async fn connect_custom_namespace() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    connect(
        &mut ws,
        "40/custom,",
        "40/custom,",
        r#"42/custom,["auth",{}]"#,
    )
    .await
}

#[tokio::test]
async fn connect_custom_namespace_with_payload() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    connect(
        &mut ws,
        r#"40/custom,{"token":"abc"}"#,
        "40/custom,",
        r#"42/custom,["auth",{"token":"abc"}]"#,
    )
    .await
}

#[tokio::test]
async fn connect_unknown_namespace_refused() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("40/random").await?;
    let got = next_text(&mut ws).await?;
    let expected = r#"44/random,{"message":"Invalid namespace"}"#;
    if got != expected {
        bail!("expected exactly {expected:?}, got {got:?}");
    }
    Ok(())
}

#[tokio::test]
async fn connect_invalid_handshake_closes() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("4abc").await?;
    // well before the connect timeout (1000 ms after the handshake) could be the cause
    ws.expect_closed(Duration::from_millis(700)).await?;
    Ok(())
}

#[tokio::test]
async fn connect_timeout_without_handshake() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    let start = Instant::now();
    // pings are answered while waiting, so only the connect timeout can close it
    ws.expect_closed(CONNECT_TIMEOUT + Duration::from_secs(2))
        .await?;
    let elapsed = start.elapsed();
    if elapsed + SLACK < CONNECT_TIMEOUT {
        bail!("closed {elapsed:?} after the handshake; expected the connect timeout ({CONNECT_TIMEOUT:?})");
    }
    Ok(())
}

/// The connect timeout applies until the first namespace is joined: a client that joined and
/// then left every namespace stays connected past it.
#[tokio::test]
async fn connect_timeout_ends_with_the_first_join() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text("41").await?;
    // answer the pings until well past the connect timeout
    let until = Instant::now() + CONNECT_TIMEOUT + Duration::from_millis(500);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next_frame()).await {
            Err(_) => break,
            Ok(Ok(Frame::Text(t))) if t == "2" => ws.send_text("3").await?,
            Ok(other) => bail!("after `41`: expected only pings, got {other:?}"),
        }
    }
    connect(&mut ws, "40", "40", r#"42["auth",{}]"#).await
}

// ---------------------------------------------------------------- disconnect

#[tokio::test]
async fn disconnect_main_namespace() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text("41").await?;
    // no reply: the next frame is the Engine.IO ping, the connection stays open
    match ws.next_frame().await? {
        Frame::Text(t) if t == "2" => {}
        other => bail!("after `41`: expected the next frame to be the ping \"2\", got {other:?}"),
    }
    ws.send_text("3").await?;
    // and it is still usable: connect to `/` again
    connect(&mut ws, "40", "40", r#"42["auth",{}]"#).await
}

#[tokio::test]
async fn disconnect_custom_namespace() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    // no trailing comma on purpose: the namespace ends the packet
    connect(
        &mut ws,
        "40/custom",
        "40/custom,",
        r#"42/custom,["auth",{}]"#,
    )
    .await?;
    ws.send_text("41/custom").await?;
    ws.send_text(r#"42["message","message to main namespace"]"#)
        .await?;
    ws.expect_text(r#"42["message-back","message to main namespace"]"#)
        .await
}

// ---------------------------------------------------------------- message

#[tokio::test]
async fn message_plain_text() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text(r#"42["message",1,"2",{"3":[true]}]"#).await?;
    ws.expect_text(r#"42["message-back",1,"2",{"3":[true]}]"#)
        .await
}

#[tokio::test]
async fn message_binary_attachments() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text(&format!(r#"452-["message",{PLACEHOLDERS}]"#))
        .await?;
    ws.send_binary(&[1, 2, 3]).await?;
    ws.send_binary(&[4, 5, 6]).await?;
    ws.expect_text(&format!(r#"452-["message-back",{PLACEHOLDERS}]"#))
        .await?;
    ws.expect_binary(&[1, 2, 3]).await?;
    ws.expect_binary(&[4, 5, 6]).await
}

#[tokio::test]
async fn message_plain_text_with_ack() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
        .await?;
    ws.expect_text(r#"43456[1,"2",{"3":[false]}]"#).await
}

#[tokio::test]
async fn message_binary_attachments_with_ack() -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text(&format!(r#"452-789["message-with-ack",{PLACEHOLDERS}]"#))
        .await?;
    ws.send_binary(&[1, 2, 3]).await?;
    ws.send_binary(&[4, 5, 6]).await?;
    ws.expect_text(&format!("462-789[{PLACEHOLDERS}]")).await?;
    ws.expect_binary(&[1, 2, 3]).await?;
    ws.expect_binary(&[4, 5, 6]).await
}

async fn invalid_packet_closes(packet: &str) -> TestResult {
    let server = server::conformance().await?;
    let mut ws = init_connection(&server).await?;
    ws.send_text(packet).await?;
    // connected and answering pings: nothing but the bad packet can close it
    ws.expect_closed(Duration::from_secs(2)).await?;
    Ok(())
}

#[tokio::test]
async fn invalid_format_unknown_packet_type_closes() -> TestResult {
    invalid_packet_closes("4abc").await
}

#[tokio::test]
async fn invalid_format_payload_closes() -> TestResult {
    invalid_packet_closes("42{}").await
}

#[tokio::test]
async fn invalid_format_ack_id_closes() -> TestResult {
    invalid_packet_closes(r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#).await
}

// ---------------------------------------------------------------- beyond the suite

/// Socket.IO over long-polling: binary attachments travel as base64 `b` packets in the same
/// payload, and come back the same way, in order.
#[tokio::test]
async fn polling_binary_event_round_trip() -> TestResult {
    let server = server::conformance().await?;
    let target = Target {
        server: &server,
        path: PATH,
        flavor: Flavor::SocketIo,
    };
    let polling: Polling = target.polling();
    let sid = polling.handshake().await?.sid;
    target.attach_polling(&polling, &sid).await?;
    let payload = format!("452-[\"message\",{PLACEHOLDERS}]{SEPARATOR}bAQID{SEPARATOR}bBAUG");
    polling.push_ok(&sid, &payload).await?;
    let mut packets: Vec<String> = Vec::new();
    while packets.len() < 3 {
        let body = polling.poll_skipping_pings(&sid, 2).await?;
        packets.extend(body.split(SEPARATOR).map(str::to_owned));
    }
    let expected = vec![
        format!("452-[\"message-back\",{PLACEHOLDERS}]"),
        "bAQID".to_owned(),
        "bBAUG".to_owned(),
    ];
    if packets != expected {
        bail!("expected {expected:?}, got {packets:?}");
    }
    Ok(())
}

/// The Engine.IO session stays usable after an unknown namespace is refused.
#[tokio::test]
async fn unknown_namespace_keeps_connection() -> TestResult {
    let server = server::conformance().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("40/random").await?;
    ws.expect_text(r#"44/random,{"message":"Invalid namespace"}"#)
        .await?;
    connect(&mut ws, "40", "40", r#"42["auth",{}]"#).await
}
