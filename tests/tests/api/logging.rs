//! Logging: the Socket.IO and Engine.IO layers log under their own `tracing` targets, so each can
//! be switched on alone (python-socketio's `logger` / `engineio_logger`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer, Registry};
use volley::{Server, Socket};
use volley_tests::puppet::Puppet;
use volley_tests::TestResult;

use crate::serve;

/// Records the target of every event that passes the filter.
#[derive(Clone, Default)]
struct Targets(Arc<Mutex<BTreeSet<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Targets {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if let Ok(mut t) = self.0.lock() {
            t.insert(event.metadata().target().to_owned());
        }
    }
}

/// Runs a short session (connect, event, unknown event, disconnect) with only `filter` enabled
/// and returns the targets that logged.
async fn targets_with(filter: &str) -> TestResult<BTreeSet<String>> {
    let targets = Targets::default();
    let subscriber = Registry::default().with(targets.clone().with_filter(EnvFilter::new(filter)));
    let _guard = tracing::subscriber::set_default(subscriber);
    let io = Server::builder().build();
    io.of("/").on("echo", |_s: Socket, x: i64| x);
    let srv = serve(&io).await?;
    let mut c = Puppet::spawn(srv.url(), "polling").await?;
    c.connect("/", None).await?;
    assert_eq!(c.emit_ack("/", "echo", json!([7])).await?, json!([7]));
    c.emit("/", "unhandled", json!([])).await?;
    c.disconnect("/").await?;
    c.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let seen = targets.0.lock().map(|t| t.clone()).unwrap_or_default();
    Ok(seen)
}

#[tokio::test]
async fn socketio_and_engineio_targets_switch_on_separately() -> TestResult {
    let sio = targets_with("volley::socketio=trace").await?;
    assert_eq!(sio, BTreeSet::from(["volley::socketio".to_owned()]));
    let eio = targets_with("volley::engine=trace").await?;
    assert_eq!(eio, BTreeSet::from(["volley::engine".to_owned()]));
    Ok(())
}
