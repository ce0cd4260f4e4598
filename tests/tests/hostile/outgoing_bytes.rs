//! The outgoing queue is bounded in bytes, not only in frames: an app sending large frames to a
//! client that reads slowly disconnects it as a slow client instead of queueing without bound.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use volley::{DisconnectReason, Server, Socket};
use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Ws};
use volley_tests::{bail, Failure, TestResult};

use crate::support::PATH;

#[tokio::test]
async fn large_frames_past_the_byte_bound_disconnect_a_slow_client() -> TestResult {
    let io = Server::builder().queue_bytes(256 * 1024).build();
    let seen = Arc::new(Mutex::new(None));
    let slot = seen.clone();
    io.of("/")
        .on("burst", |socket: Socket, _n: u32| async move {
            let blob = "x".repeat(100_000);
            // far fewer frames than the frame bound (1024), far more bytes than the byte bound
            for _ in 0..200 {
                if socket.emit("big", &blob).await.is_err() {
                    break;
                }
            }
        })
        .on_disconnect(move |_s: Socket, why: DisconnectReason| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(why);
            }
        });
    let server = TestServer::spawn(io.router()).await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("40").await?;
    ws.send_text(r#"42["burst",1]"#).await?;
    // a client that does not read for a while
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut received = 0;
    loop {
        match ws.next_frame_within(Duration::from_secs(5)).await? {
            Some(Frame::Text(t)) if t.starts_with("42[\"big\"") => received += 1,
            Some(Frame::Closed(_)) => break,
            Some(_) => {}
            None => bail!("still connected after {received} large frames: the queue took them all"),
        }
    }
    let why = seen.lock().map_err(|_| Failure::msg("poisoned"))?.take();
    if why != Some(DisconnectReason::SlowClient) || received >= 200 {
        bail!(
            "expected a slow-client disconnect before the 200 frames, got {why:?} after {received}"
        );
    }
    Ok(())
}
