//! Serving an app under test on a free loopback port, or pointing at an external server.

use std::future::IntoFuture;

use tokio::task::JoinHandle;
use volley::serve::{Listener, PeerAddr};

use crate::TestResult;

/// Environment variable naming an external bare Engine.IO echo server (see the crate docs).
pub const EXTERNAL_EIO: &str = "VOLLEY_TEST_EXTERNAL_EIO";
/// Environment variable naming an external Socket.IO conformance server (see the crate docs).
pub const EXTERNAL_SIO: &str = "VOLLEY_TEST_EXTERNAL_SIO";
/// Environment variable naming an external interop server (see the crate docs).
pub const EXTERNAL_INTEROP: &str = "VOLLEY_TEST_EXTERNAL_INTEROP";

/// A server the tests talk to: an axum app served in this process, or an external one.
///
/// Dropping it stops accepting connections on the in-process listener.
pub struct TestServer {
    url: String,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `app` on `127.0.0.1:<free port>` in a background task, on Volley's listener (the
    /// one the docs recommend), with the client's address as connect info.
    pub async fn spawn(app: axum::Router) -> TestResult<Self> {
        Self::spawn_on(Listener::bind("127.0.0.1:0").await?, app)
    }

    /// Serves `app` as [`spawn`](Self::spawn) does, on a listener the test has set up (bound to
    /// a loopback address, with the bounds the test wants).
    pub fn spawn_on(listener: Listener, app: axum::Router) -> TestResult<Self> {
        let addr = listener.local_addr()?;
        let app = app.into_make_service_with_connect_info::<PeerAddr>();
        let serve = axum::serve(listener, app).into_future();
        let task = tokio::spawn(async move {
            if let Err(error) = serve.await {
                eprintln!("test server stopped with an error: {error}");
            }
        });
        Ok(TestServer {
            url: format!("http://{addr}"),
            task: Some(task),
        })
    }

    /// A server started elsewhere, reachable at `url` (e.g. `http://127.0.0.1:3000`).
    pub fn external(url: impl Into<String>) -> Self {
        TestServer {
            url: url.into().trim_end_matches('/').to_owned(),
            task: None,
        }
    }

    /// If the environment variable `var` is set, the external server it names; else `app()`
    /// served in process.
    pub async fn from_env_or(var: &str, app: impl FnOnce() -> axum::Router) -> TestResult<Self> {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => Ok(Self::external(url)),
            _ => Self::spawn(app()).await,
        }
    }

    /// Base URL, `http://host:port` without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Base URL with the `ws` scheme.
    pub fn ws_url(&self) -> String {
        self.url.replacen("http", "ws", 1)
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        self.url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest)
    }

    /// Whether this server runs outside this process (its internals cannot be observed).
    pub fn is_external(&self) -> bool {
        self.task.is_none()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The bare Engine.IO echo server (`volley_examples::engineio_echo`), or [`EXTERNAL_EIO`].
pub async fn engineio_echo() -> TestResult<TestServer> {
    TestServer::from_env_or(EXTERNAL_EIO, volley_examples::engineio_echo::router).await
}

/// The Socket.IO conformance server (`volley_examples::conformance`), or [`EXTERNAL_SIO`].
pub async fn conformance() -> TestResult<TestServer> {
    TestServer::from_env_or(EXTERNAL_SIO, volley_examples::conformance::router).await
}
