//! Two cases of the official Engine.IO test suite that a client can turn against a server, on
//! the bare echo server (`pingInterval` 300 ms, `pingTimeout` 200 ms), over real sockets:
//!
//! - a client that never answers a ping holds its session no longer than
//!   pingInterval + pingTimeout after its handshake: a request sent that long after the client
//!   received the handshake finds the session gone (400), with no slack;
//! - a WebSocket naming a session that already has its WebSocket (someone who learnt the sid)
//!   is accepted, then closed by the server without a packet: it takes nothing over, and the
//!   session's own WebSocket goes on.

use std::time::Duration;

use tokio::time::Instant;
use volley_tests::engineio_cases::{
    expect_silent_session_gone, expect_ws_accepted_then_closed, PING_INTERVAL, PING_TIMEOUT,
};
use volley_tests::server::{self, TestServer};
use volley_tests::wire::{Frame, Polling, Ws};
use volley_tests::{bail, TestResult};

const PATH: &str = "/engine.io/";

/// The reference test: GET pingInterval + pingTimeout after the handshake arrived → 400.
#[tokio::test]
async fn polling_session_without_pong_is_closed_by_ping_interval_plus_timeout() -> TestResult {
    let server = server::engineio_echo().await?;
    expect_silent_session_gone(Polling::new(&server, PATH)).await
}

/// Several silent sessions opened in a burst share the server's deadline queue: each is gone on
/// time, not only the first.
#[tokio::test]
async fn silent_polling_sessions_in_a_burst_are_each_closed_on_time() -> TestResult {
    let server = server::engineio_echo().await?;
    let sessions: Vec<_> = (0..8)
        .map(|_| tokio::spawn(expect_silent_session_gone(Polling::new(&server, PATH))))
        .collect();
    for session in sessions {
        session
            .await
            .map_err(|e| volley_tests::Failure::msg(e.to_string()))??;
    }
    Ok(())
}

/// Over WebSocket the same bound holds: a client that reads but never pongs sees the server
/// close its connection within pingInterval + pingTimeout of the handshake (plus the time the
/// close takes to arrive).
#[tokio::test]
async fn websocket_without_pong_is_closed_by_ping_interval_plus_timeout() -> TestResult {
    let server = server::engineio_echo().await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    let start = Instant::now();
    let limit = PING_INTERVAL + PING_TIMEOUT + Duration::from_millis(100);
    loop {
        let left = limit.saturating_sub(start.elapsed());
        match ws.next_frame_within(left).await? {
            // the ping, not answered
            Some(Frame::Text(t)) if t == "2" => {}
            Some(Frame::Closed(_)) => return Ok(()),
            Some(other) => bail!("expected a ping or the close, got {other:?}"),
            None => bail!("still open {limit:?} after the handshake without a pong"),
        }
    }
}

/// A polling session upgraded to WebSocket (probe, `5`); returns its sid and the WebSocket.
async fn upgraded(server: &TestServer) -> TestResult<(String, Ws)> {
    let sid = Polling::new(server, PATH).handshake().await?.sid;
    let mut ws = Ws::connect_ok(&ws_url(server, &sid)).await?;
    ws.send_text("2probe").await?;
    ws.expect_text("3probe").await?;
    ws.send_text("5").await?;
    Ok((sid, ws))
}

fn ws_url(server: &TestServer, sid: &str) -> String {
    format!(
        "{}{PATH}?EIO=4&transport=websocket&sid={sid}",
        server.ws_url()
    )
}

/// The reference test: after the upgrade, a second WebSocket with the sid is accepted and
/// closed, and `4hello` on the first is still echoed.
#[tokio::test]
async fn second_websocket_after_upgrade_is_accepted_then_closed() -> TestResult {
    let server = server::engineio_echo().await?;
    let (sid, mut ws) = upgraded(&server).await?;
    expect_ws_accepted_then_closed(&ws_url(&server, &sid)).await?;
    ws.send_text("4hello").await?;
    ws.expect_text("4hello").await?;
    ws.close().await;
    Ok(())
}

/// Repeated attempts change nothing: each is closed, none sees the session's packets, and the
/// session's own WebSocket gets every echo.
#[tokio::test]
async fn repeated_websockets_with_a_known_sid_take_nothing_over() -> TestResult {
    let server = server::engineio_echo().await?;
    let (sid, mut ws) = upgraded(&server).await?;
    for i in 0..5 {
        let mut intruder = Ws::connect_ok(&ws_url(&server, &sid)).await?;
        let message = format!("4secret-{i}");
        ws.send_text(&message).await?;
        ws.expect_text(&message).await?;
        let seen = intruder.expect_closed(Duration::from_secs(2)).await?;
        if !seen.is_empty() {
            bail!("attempt {i}: the second WebSocket received {seen:?}");
        }
    }
    ws.close().await;
    Ok(())
}

/// A WebSocket naming a session that is still probing its upgrade is closed too, and the
/// upgrade in progress completes.
#[tokio::test]
async fn second_websocket_during_the_probe_is_closed() -> TestResult {
    let server = server::engineio_echo().await?;
    let sid = Polling::new(&server, PATH).handshake().await?.sid;
    let mut ws = Ws::connect_ok(&ws_url(&server, &sid)).await?;
    ws.send_text("2probe").await?;
    ws.expect_text("3probe").await?;
    expect_ws_accepted_then_closed(&ws_url(&server, &sid)).await?;
    ws.send_text("5").await?;
    ws.send_text("4hello").await?;
    ws.expect_text("4hello").await?;
    ws.close().await;
    Ok(())
}

/// A WebSocket naming a session opened over WebSocket (nothing to upgrade) is closed as well.
#[tokio::test]
async fn websocket_naming_a_websocket_session_is_closed() -> TestResult {
    let server = server::engineio_echo().await?;
    let (mut ws, handshake) = Ws::open(&server, PATH).await?;
    expect_ws_accepted_then_closed(&ws_url(&server, &handshake.sid)).await?;
    ws.send_text("4hello").await?;
    ws.expect_text("4hello").await?;
    ws.close().await;
    Ok(())
}
