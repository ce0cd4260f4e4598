//! The Volley server the official clients talk to in the interop tests (one definition for the
//! Node and the Python client), and what it saw.
//!
//! Settings as the conformance server (pingInterval 300 ms, pingTimeout 200 ms, maxPayload
//! 1000000, connect timeout 1000 ms, CORS `*`). Handlers:
//!
//! | namespace | event | does |
//! | --- | --- | --- |
//! | `/`, `/custom` | connect | emits `auth` with the CONNECT payload (`{}` when none) |
//! | `/`, `/custom` | `echo` | emits `echo-back` with the same arguments (binary included) |
//! | `/` | `echo-ack` | acks with the same arguments |
//! | `/` | `please-call` `(data)` | `call("server-call", data)` on the client, then emits `call-result` with the client's ack arguments (`call-error` with the error) |
//! | `/` | `please-disconnect` | disconnects the socket from the server side |
//! | `/` | `disconnect-reason` `(sid)` | acks with the reason socket `sid` left `/` for, or `null` |
//! | `/refuse` | connect | refused: `{"message":"nope","data":{"code":42,"detail":"refused by test"}}` |
//!
//! `disconnect-reason` lets a client script observe the server's side of a disconnect, so the
//! scenarios also run against an external server that implements the same table
//! (`VOLLEY_TEST_EXTERNAL_INTEROP`, see the crate docs). In process, the tests can additionally
//! read the [`ServerEvent`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use volley::{Args, ConnectError, DisconnectReason, Server, Socket, Value};

use crate::server::{TestServer, EXTERNAL_INTEROP};
use crate::{bail, TestResult};

/// Something the in-process interop server observed.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A socket connected to a namespace.
    Connected {
        /// Namespace.
        ns: String,
        /// Socket id.
        sid: String,
    },
    /// A socket left a namespace.
    Disconnected {
        /// Namespace.
        ns: String,
        /// Socket id.
        sid: String,
        /// Why.
        reason: DisconnectReason,
    },
    /// A client acknowledged the server's `server-call` with these arguments.
    CallAcked {
        /// Socket id.
        sid: String,
        /// The ack's arguments.
        args: Vec<Value>,
    },
}

/// The configured interop server; what it observes is sent to `events`.
pub fn server(events: mpsc::UnboundedSender<ServerEvent>) -> Server {
    let io = Server::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .cors_allowed_origins("*")
        .build();
    let reasons: Arc<Mutex<HashMap<String, String>>> = Arc::default();

    for ns in ["/", "/custom"] {
        let connected = events.clone();
        let left = events.clone();
        io.of(ns)
            .on_connect(move |socket: Socket, auth: Option<Value>| {
                let events = connected.clone();
                async move {
                    let auth = auth.unwrap_or(Value::Map(Vec::new()));
                    let _ = socket.emit("auth", &auth).await;
                    let _ = events.send(ServerEvent::Connected {
                        ns: socket.ns().to_owned(),
                        sid: socket.id().to_string(),
                    });
                }
            })
            .on("echo", |socket: Socket, args: Args| async move {
                let _ = socket.emit("echo-back", &args).await;
            })
            .on_disconnect({
                let reasons = reasons.clone();
                move |socket: Socket, reason: DisconnectReason| {
                    if let Ok(mut reasons) = reasons.lock() {
                        if socket.ns() == "/" {
                            reasons.insert(socket.id().to_string(), reason.as_str().to_owned());
                        }
                    }
                    let _ = left.send(ServerEvent::Disconnected {
                        ns: socket.ns().to_owned(),
                        sid: socket.id().to_string(),
                        reason,
                    });
                }
            });
    }

    let acked = events.clone();
    io.of("/")
        .on("echo-ack", |_socket: Socket, args: Args| args)
        .on("please-call", move |socket: Socket, data: Value| {
            let events = acked.clone();
            async move {
                match socket.call::<Args, _>("server-call", &data).await {
                    Ok(args) => {
                        let _ = socket.emit("call-result", &args).await;
                        let _ = events.send(ServerEvent::CallAcked {
                            sid: socket.id().to_string(),
                            args: args.0,
                        });
                    }
                    Err(error) => {
                        let _ = socket.emit("call-error", &error.to_string()).await;
                    }
                }
            }
        })
        .on("please-disconnect", |socket: Socket, _: ()| {
            socket.disconnect()
        })
        .on("disconnect-reason", move |_socket: Socket, sid: String| {
            reasons.lock().ok().and_then(|r| r.get(&sid).cloned())
        });

    io.of("/refuse")
        .on_connect(|_socket: Socket, _auth: Option<Value>| {
            Err::<(), _>(
                ConnectError::new("nope")
                    .with_data(&serde_json::json!({"code": 42, "detail": "refused by test"})),
            )
        });
    io
}

/// The running interop server and, in process, what it observed.
pub struct InteropServer {
    /// Where it listens.
    pub server: TestServer,
    events: Option<mpsc::UnboundedReceiver<ServerEvent>>,
}

impl InteropServer {
    /// Starts the in-process interop server, or uses [`EXTERNAL_INTEROP`] when set.
    pub async fn start() -> TestResult<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let server = TestServer::from_env_or(EXTERNAL_INTEROP, || server(tx).router()).await?;
        let events = (!server.is_external()).then_some(rx);
        Ok(InteropServer { server, events })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Whether the server's own records can be read (false for an external server).
    pub fn observable(&self) -> bool {
        self.events.is_some()
    }

    /// Waits (up to `limit`) for an observed event matching `pred`, skipping others. Returns
    /// `Ok(None)` for an external server (nothing can be observed), fails on timeout.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        what: &str,
        mut pred: impl FnMut(&ServerEvent) -> bool,
    ) -> TestResult<Option<ServerEvent>> {
        let Some(events) = self.events.as_mut() else {
            return Ok(None);
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) if pred(&event) => return Ok(Some(event)),
                Ok(Some(_)) => continue,
                Ok(None) => {
                    bail!("the interop server's event channel closed while waiting for {what}")
                }
                Err(_) => bail!("the interop server did not observe {what} within {limit:?}"),
            }
        }
    }
}
