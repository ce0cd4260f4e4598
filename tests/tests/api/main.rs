//! The python-socketio-style server API (events, emits, rooms, namespaces, sessions, lifecycle,
//! handler arguments and middlewares),
//! each feature driven by the official npm client against an in-process Volley server. One test
//! binary for all of them keeps link time down.

mod events;
mod handlers;
mod lifecycle;
mod logging;
mod msgpack;
mod namespaces;
mod rooms;
mod sessions;

use volley_tests::server::TestServer;

/// Serves a Volley server in process.
pub async fn serve(io: &volley::Server) -> volley_tests::TestResult<TestServer> {
    TestServer::spawn(io.router()).await
}
