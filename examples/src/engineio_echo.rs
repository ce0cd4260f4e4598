//! A bare Engine.IO endpoint at `/engine.io/` that echoes every message, text as text and binary
//! as binary, with the settings the official Engine.IO protocol suite expects (pingInterval
//! 300 ms, pingTimeout 200 ms, maxPayload 1000000, CORS `*`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use volley::engine::{CloseReason, Engine, EngineConfig, EngineHandler, EngineSocket};
use volley::VolleyLayer;

/// Echoes what it receives.
#[derive(Debug, Default)]
pub struct Echo;

impl EngineHandler for Echo {
    type Data = ();

    fn on_open(&self, _socket: &Arc<EngineSocket<()>>) {}

    fn on_message(&self, socket: &Arc<EngineSocket<()>>, text: &str) {
        let _ = socket.send_text(text);
    }

    fn on_binary(&self, socket: &Arc<EngineSocket<()>>, data: Bytes) {
        let _ = socket.send_binary(data);
    }

    fn on_close(&self, _socket: &Arc<EngineSocket<()>>, _reason: CloseReason) {}
}

/// The app: the echo endpoint at `/engine.io/`.
pub fn router() -> axum::Router {
    let config = EngineConfig {
        path: "/engine.io/".to_owned(),
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        ..EngineConfig::default()
    };
    let engine = Engine::new(config, Echo);
    axum::Router::new().fallback_service(VolleyLayer::engine(engine, "*".into()).into_service())
}
