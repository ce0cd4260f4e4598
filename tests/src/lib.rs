//! Shared helpers of Volley's integration tests (package `volley-tests`).
//!
//! - [`server`]: serve an axum app on a free loopback port (or point at an external server, see
//!   below) and hand out its URL;
//! - [`wire`]: a tiny raw Engine.IO client (polling over HTTP, WebSocket frames) for wire-level
//!   tests; every await in it is bounded by a timeout so a hung server fails a test instead of
//!   hanging it;
//! - [`engineio_cases`]: the Engine.IO conformance scenarios, shared by the bare Engine.IO suite
//!   and the Socket.IO suite (which repeats them on `/socket.io/`);
//! - [`clients`]: runners for the official Node and Python client scripts under `tests/clients/`;
//! - [`interop_server`] and [`interop_cases`]: the Volley server the official clients talk to and
//!   the scenarios both clients go through;
//! - [`brokers`], [`fault`] and [`restart`]: brokers a test owns (killed and restarted at will),
//!   the fault kit that kills them under steady cross-node traffic and checks what was delivered,
//!   and the restart kit that checks that a cluster and an emitter work again after a restart.
//!
//! ## Targeting an external server
//! To check that the tests themselves are right, they can run against another implementation
//! (e.g. Node's `socket.io` started by hand) instead of the in-process Volley apps:
//!
//! | variable | replaces |
//! | --- | --- |
//! | `VOLLEY_TEST_EXTERNAL_EIO=http://127.0.0.1:PORT` | `volley_examples::engineio_echo::router()` |
//! | `VOLLEY_TEST_EXTERNAL_SIO=http://127.0.0.1:PORT` | `volley_examples::conformance::router()` |
//! | `VOLLEY_TEST_EXTERNAL_INTEROP=http://127.0.0.1:PORT` | [`interop_server::server`] |
//!
//! Tests that need a Volley-only server (custom builder options) ignore these variables, and
//! checks that read the in-process server's own records are skipped against an external one.

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub mod brokers;
pub mod clients;
pub mod cluster;
pub mod cluster_app;
pub mod cluster_suite;
pub mod deploy;
pub mod engineio_cases;
pub mod fault;
pub mod interop_cases;
pub mod interop_server;
pub mod node_peer;
pub mod proxy;
pub mod puppet;
pub mod python_peer;
pub mod recovery;
pub mod restart;
pub mod server;
pub mod wire;

/// How long one step of a test (one HTTP request, one frame) may take before the test fails.
///
/// Generous on purpose: the machine may be loaded, and this only bounds hangs.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// A test failure with a human-readable message (shown as is by the test harness).
pub struct Failure(String);

impl Failure {
    /// A failure with the given message.
    pub fn msg(message: impl Into<String>) -> Self {
        Failure(message.into())
    }

    /// The message of this failure.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(format!("{error} ({error:?})"))
    }
}

/// The result type of tests and helpers: `Err` carries a readable message.
pub type TestResult<T = ()> = Result<T, Failure>;

/// Fails the current test with a formatted message (returns `Err(Failure)`).
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Failure::msg(format!($($arg)*)))
    };
}

/// Awaits `fut` for at most `limit`; on timeout fails with "timed out after …: `what`".
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> TestResult<F::Output> {
    match tokio::time::timeout(limit, fut).await {
        Ok(output) => Ok(output),
        Err(_) => Err(Failure::msg(format!("timed out after {limit:?}: {what}"))),
    }
}
