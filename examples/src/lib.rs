//! Runnable Volley apps. Each module builds one app; the binaries in `src/bin` serve them.
//!
//! - [`chat`]: the chat example, a page in the browser (`./examples/chat/run.sh`).
//! - [`cli`]: the chat server's command line, shared by the binaries that run it.
//! - [`conformance`]: the reference server the official Socket.IO protocol test suite expects.
//! - [`engineio_echo`]: the bare Engine.IO echo endpoint the Engine.IO test suite expects.

pub mod adapter;
pub mod chat;
pub mod cli;
pub mod conformance;
pub mod engineio_echo;

/// Serves `app` on `addr` until the process ends, with peer addresses available to handlers.
///
/// Two socket settings matter for a Socket.IO server: a listen backlog larger than the usual 128
/// (a burst of reconnecting clients otherwise overflows the accept queue), and `TCP_NODELAY` on
/// every connection (small frames go out at once instead of waiting for Nagle's algorithm).
pub async fn serve(app: axum::Router, addr: &str) -> std::io::Result<()> {
    use axum::serve::ListenerExt;

    let addr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} resolves to no address")))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
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
