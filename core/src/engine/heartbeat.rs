//! The heartbeat: pings, waits for pongs, closes a silent session. A polling session runs it as
//! a task of its own, which also finishes the session once it is closed; a WebSocket session
//! runs it inside its connection task, beside the drive loop (one task per connection, not two).

use std::sync::Arc;

use tokio::time::Instant;

use super::{CloseReason, Engine, EngineHandler, EngineSocket, Frame};

/// Pings every `pingInterval` (the first one `pingInterval` after the handshake) and closes the
/// session when no pong arrives within `pingTimeout`. Once it stops beating the session is
/// closed, by it or otherwise, and it stays pending.
///
/// Returns its future rather than being an async fn, which would keep its arguments twice: a
/// WebSocket session keeps this future for its whole life.
#[allow(clippy::manual_async_fn)] // an async fn would keep its arguments a second time
pub(crate) fn beat<'a, H: EngineHandler>(
    engine: &'a Engine<H>,
    socket: &'a EngineSocket<H::Data>,
) -> impl std::future::Future<Output = ()> + Send + 'a {
    async move {
        // One timer, reset for each wait.
        let timer = tokio::time::sleep(engine.config.ping_interval);
        tokio::pin!(timer);
        loop {
            timer.as_mut().await;
            let pong = socket.pong.notified();
            tokio::pin!(pong);
            // Registered before the ping goes out; pongs are announced with notify_waiters, so
            // a stray pong from before cannot answer this ping.
            pong.as_mut().enable();
            if socket.send(Frame::Ping).is_err() {
                break;
            }
            timer
                .as_mut()
                .reset(Instant::now() + engine.config.ping_timeout);
            tokio::select! {
                biased;
                () = &mut pong => {}
                () = timer.as_mut() => {
                    socket.close(CloseReason::PingTimeout);
                    break;
                }
            }
            timer
                .as_mut()
                .reset(Instant::now() + engine.config.ping_interval);
        }
        std::future::pending().await
    }
}

/// A polling session's heartbeat task: beats until the session is closed, whichever way that
/// happened (an upgrade to WebSocket keeps it), then removes the session and tells the handler.
pub(crate) async fn run<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    socket: Arc<EngineSocket<H::Data>>,
) {
    tokio::select! {
        () = beat(&engine, &socket) => {}
        () = socket.closed() => {}
    }
    engine.finish_session(&socket);
}
