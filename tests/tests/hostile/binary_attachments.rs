//! Partial binary packets: the attachments one packet buffers are bounded in bytes and in time;
//! past either the client is disconnected with the reason.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use volley::{DisconnectReason, Limit, Server, ServerBuilder, Socket};
use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Ws};
use volley_tests::{bail, Failure, TestResult};

use crate::support::PATH;

type Seen = Arc<Mutex<Option<DisconnectReason>>>;

/// `/` with an `upload` event, recording why its socket left.
async fn server(builder: ServerBuilder) -> TestResult<(TestServer, Seen)> {
    let io: Server = builder.build();
    let seen: Seen = Arc::default();
    let slot = seen.clone();
    io.of("/")
        .on("upload", |_s: Socket, _args: volley::Args| ())
        .on_disconnect(move |_s: Socket, why: DisconnectReason| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(why);
            }
        });
    Ok((TestServer::spawn(io.router()).await?, seen))
}

async fn connected(server: &TestServer) -> TestResult<Ws> {
    let (mut ws, _) = Ws::open(server, PATH).await?;
    ws.send_text("40").await?;
    match ws.next_packet().await? {
        Frame::Text(t) if t.starts_with("40{") => Ok(ws),
        other => bail!("expected the CONNECT ack, got {other:?}"),
    }
}

/// A binary event announcing `count` attachments.
fn announce(count: usize) -> String {
    let placeholders: Vec<String> = (0..count)
        .map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#))
        .collect();
    format!(r#"45{count}-["upload",{}]"#, placeholders.join(","))
}

async fn expect_limit(ws: &mut Ws, seen: &Seen, limit: Limit, within: Duration) -> TestResult {
    let frames = ws.expect_closed(within).await?;
    if !frames.iter().any(|f| *f == Frame::Text("41".into())) {
        bail!("expected a DISCONNECT before the close, got {frames:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let why = seen.lock().map_err(|_| Failure::msg("poisoned"))?.take();
    if why != Some(DisconnectReason::LimitExceeded(limit)) {
        bail!("the disconnect handler saw {why:?}, expected {limit}");
    }
    Ok(())
}

#[tokio::test]
async fn attachments_past_the_byte_bound_disconnect() -> TestResult {
    let (server, seen) = server(Server::builder()).await?;
    let mut ws = connected(&server).await?;
    ws.send_text(&announce(64)).await?;
    // each one under the max payload, together past it (the default bound)
    let chunk = vec![7u8; 600_000];
    ws.send_binary(&chunk).await?;
    ws.send_binary(&chunk).await?;
    expect_limit(
        &mut ws,
        &seen,
        Limit::AttachmentBytes,
        Duration::from_secs(3),
    )
    .await
}

#[tokio::test]
async fn attachments_that_never_arrive_time_out() -> TestResult {
    let builder = Server::builder().attachment_timeout(Duration::from_millis(500));
    let (server, seen) = server(builder).await?;
    let mut ws = connected(&server).await?;
    ws.send_text(&announce(2)).await?;
    ws.send_binary(&[1, 2, 3]).await?;
    expect_limit(
        &mut ws,
        &seen,
        Limit::AttachmentTimeout,
        Duration::from_secs(3),
    )
    .await
}

#[tokio::test]
async fn complete_binary_packets_within_the_bounds_still_arrive() -> TestResult {
    let builder = Server::builder().attachment_timeout(Duration::from_millis(500));
    let io = builder.build();
    io.of("/")
        .on("size", |_s: Socket, data: bytes::Bytes| data.len());
    let server = TestServer::spawn(io.router()).await?;
    let mut ws = connected(&server).await?;
    for _ in 0..3 {
        ws.send_text(r#"451-1["size",{"_placeholder":true,"num":0}]"#)
            .await?;
        ws.send_binary(&[0u8; 1000]).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for _ in 0..3 {
        ws.expect_text("431[1000]").await?;
    }
    Ok(())
}
