//! The reference test server of the official Socket.IO protocol suite: pingInterval 300 ms,
//! pingTimeout 200 ms, maxPayload 1000000, connect timeout 1000 ms, CORS `*`; namespaces `/` and
//! `/custom`, each emitting `auth` with the client's CONNECT payload once connected; on `/`,
//! `message` is echoed as `message-back` and `message-with-ack` is acked with its arguments.

use std::time::Duration;

use volley::{Args, Server, Socket, Value};

/// The configured server.
pub fn server() -> Server {
    let io = Server::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .cors_allowed_origins("*")
        .build();
    for ns in ["/", "/custom"] {
        io.of(ns)
            .on_connect(|socket: Socket, auth: Option<Value>| async move {
                let auth = auth.unwrap_or(Value::Map(Vec::new()));
                let _ = socket.emit("auth", &auth).await;
            });
    }
    io.of("/")
        .on("message", |socket: Socket, args: Args| async move {
            let _ = socket.emit("message-back", &args).await;
        })
        .on("message-with-ack", |_socket: Socket, args: Args| args);
    io
}

/// The app: the server at `/socket.io/`.
pub fn router() -> axum::Router {
    server().router()
}
