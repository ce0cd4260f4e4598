//! Runnable Volley apps. Each module builds one app; the binaries in `src/bin` serve them.
//!
//! - [`chat`]: the chat example, a page in the browser (`./examples/chat/run.sh`).
//! - [`cli`]: the chat server's command line, shared by the binaries that run it.
//! - [`conformance`]: the reference server the official Socket.IO protocol test suite expects.
//! - [`engineio_echo`]: the bare Engine.IO echo endpoint the Engine.IO test suite expects.

pub mod chat;
pub mod cli;
pub mod conformance;
pub mod engineio_echo;

/// The README's Rust snippets as doctests: `cargo test -p volley-examples --doc` compiles each
/// as written (this crate's dependencies cover theirs), so the README cannot drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Serves `app` on `addr` until the process ends, on Volley's listener (see `volley::serve`),
/// with the client's address available to handlers. The listener's default bounds apply: request
/// headers within 30 s, 60 s of silence outside a session, 10,000 connections at once.
pub async fn serve(app: axum::Router, addr: &str) -> std::io::Result<()> {
    use volley::serve::{Listener, PeerAddr};

    let listener = Listener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .await
}

/// Reads `--port N` from the command line, else `default`.
pub fn port_arg(default: u16) -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--port")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}
