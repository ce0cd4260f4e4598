//! The task that lives as long as a session: it pings, waits for pongs, and finishes the session
//! once it is closed, whichever way that happened.

use std::sync::Arc;

use super::{CloseReason, Engine, EngineHandler, EngineSocket, Frame};

/// Pings every `pingInterval` (the first one `pingInterval` after the handshake) and closes the
/// session when no pong arrives within `pingTimeout`; then removes it and tells the handler.
pub(crate) async fn run<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    socket: Arc<EngineSocket<H::Data>>,
) {
    let interval = engine.config.ping_interval;
    let timeout = engine.config.ping_timeout;
    let beat = async {
        loop {
            tokio::time::sleep(interval).await;
            let pong = socket.pong.notified();
            tokio::pin!(pong);
            // Registered before the ping goes out; pongs are announced with notify_waiters, so a
            // stray pong from before cannot answer this ping.
            pong.as_mut().enable();
            if socket.send(Frame::Ping).is_err() {
                return;
            }
            if tokio::time::timeout(timeout, pong).await.is_err() {
                socket.close(CloseReason::PingTimeout);
                return;
            }
        }
    };
    tokio::select! {
        _ = beat => {}
        _ = socket.closed() => {}
    }
    socket.closed().await;
    engine.finish_session(&socket);
}
