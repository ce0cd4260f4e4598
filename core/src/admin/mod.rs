//! Support for the official [Socket.IO Admin UI](https://github.com/socketio/socket.io-admin-ui):
//! [`Server::instrument`] serves the namespace the UI connects to (`/admin` by default), where it
//! can watch every socket, room and event of the server and act on them.
//!
//! ```no_run
//! use volley::admin::{AdminAuth, AdminOptions};
//! use volley::Server;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let io = Server::builder()
//!         // the UI runs on another origin and sends credentials: allow its origin
//!         .cors_allowed_origins(["https://admin.socket.io"])
//!         .build();
//!     io.of("/");
//!     io.instrument(AdminOptions {
//!         auth: Some(AdminAuth::new("admin", "changeit")),
//!         ..AdminOptions::default()
//!     })?;
//!     let listener = volley::serve::Listener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, io.service()).await?;
//!     Ok(())
//! }
//! ```
//!
//! Then open the UI, give it the server URL with the namespace (`http://127.0.0.1:3000/admin`),
//! the username and the password.
//!
//! # What the UI gets
//! The protocol of the reference server (`@socket.io/admin-ui` 0.5 for Node):
//! - on login: `session` (an id the UI sends back instead of the password when it reconnects;
//!   each node remembers up to 1024 of them for a day), then `config` (the features offered:
//!   without `EMIT`, `JOIN`, `LEAVE`, `DISCONNECT`, `MJOIN`, `MLEAVE`, `MDISCONNECT` when
//!   [`AdminOptions::read_only`] is set) and `all_sockets` (every socket of every namespace, on
//!   every node);
//! - every 2 s, from every node: `server_stats` (server id, host name, pid, uptime, connection
//!   counts, sockets per namespace, and the connections, disconnections, packets and bytes of
//!   each second);
//! - as it happens, from every node: `socket_connected`, `socket_updated` (a transport upgrade),
//!   `socket_disconnected`, `room_joined`, `room_left`, `event_received`, `event_sent` (not the
//!   admin namespace's own events), each with an ISO 8601 timestamp.
//!
//! The UI's commands (`emit`, `join`, `leave`, `_disconnect`) are carried out through the
//! namespace API, so they reach the sockets of every node. In a cluster, instrument every node:
//! each reports its own sockets and statistics.
//!
//! # Failed logins
//! Each failed login counts against the client's address: after 5 in a row, the address is
//! locked out for 1 s, doubled with each further failure up to 60 s, and every attempt during a
//! lockout (even with the right password) is refused unchecked with the connect error
//! `"too many failed logins, retry in N s"` and logged at warn level with the address. Bcrypt
//! comparisons run on the blocking pool, two at a time. See [`LoginThrottle`] for the settings,
//! and for how addresses are told apart.
//!
//! # Cost
//! Nothing happens unless `instrument` is called. Once it is, this node counts its traffic
//! (a few atomic additions per packet) and, in [`AdminMode::Development`], serializes each
//! socket, room change and event for the admins and emits it to them, but only while an admin
//! is connected to this node or the node is part of a cluster. Events are emitted by one task;
//! if the admins cannot keep up, events beyond a queue of 4096 are dropped (and counted in a
//! log line), never buffered without bound.
//!
//! # Cross-origin
//! The hosted UI (`https://admin.socket.io`) or a copy served elsewhere is another origin that
//! sends credentials: build the server with
//! [`cors_allowed_origins`](crate::ServerBuilder::cors_allowed_origins) naming that origin (the
//! CORS layer then answers with the origin and `Access-Control-Allow-Credentials: true`). A list
//! of origins replaces the same-origin default: if the server also serves pages of its own, name
//! their origin in the list too.
//!
//! # Sessions and clusters
//! Session ids are kept by the node that issued them: behind a load balancer, use sticky
//! sessions (the UI's long-polling needs them anyway), or the UI asks for the password again
//! when it reconnects to another node. The sockets of other nodes in `all_sockets` carry what the
//! cluster's `fetch_sockets` knows (id, namespace, rooms, address, URL): their headers are empty
//! and their transport is `"unknown"`; the `socket_connected` their own node reports is complete.

mod auth;
mod commands;
mod events;
mod options;
mod serialize;
mod stats;
mod throttle;
mod time;

use std::sync::Arc;

pub use options::{AdminAuth, AdminError, AdminMode, AdminOptions, LoginThrottle};

use crate::{Namespace, Server, Socket, Value};

/// A handle to the server that does not keep it alive: the admin's tasks and handlers hold
/// this, so that a dropped server is freed and its admin tasks end.
type Upgrade = Arc<dyn Fn() -> Option<Server> + Send + Sync>;

/// Every namespace of the server clients can be in (not the dynamic templates).
fn namespaces(io: &Server) -> Vec<Namespace> {
    io.engine
        .handler
        .shared
        .registry
        .all()
        .into_iter()
        .map(Namespace)
        .collect()
}

fn weak(io: &Server) -> Upgrade {
    let engine = Arc::downgrade(&io.engine);
    let (cors, static_files) = (io.cors.clone(), io.static_files.clone());
    Arc::new(move || {
        Some(Server {
            engine: engine.upgrade()?,
            cors: cors.clone(),
            static_files: static_files.clone(),
        })
    })
}

/// Sends this node's `server_stats` every 2 s (and files its traffic every second) until the
/// server is gone.
async fn report(admin: std::sync::Weak<events::Admin>, upgrade: Upgrade) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    for n in 1u64.. {
        tick.tick().await;
        let (Some(admin), Some(io)) = (admin.upgrade(), upgrade()) else {
            return;
        };
        admin
            .cluster_size
            .store(io.server_count(), std::sync::atomic::Ordering::Relaxed);
        admin.traffic.tick(std::time::SystemTime::now());
        if n % 2 != 0 {
            continue;
        }
        let stats = stats::server_stats(&io, &admin.identity, &admin.traffic);
        if admin.watched() {
            let ns = io.of(&admin.namespace);
            if let Err(e) = ns.emit("server_stats", &crate::Args(vec![stats])).await {
                tracing::debug!(target: "volley::socketio", error = %e, "Admin UI: cannot send the statistics");
            }
        }
    }
}

impl Server {
    /// Serves the [Socket.IO Admin UI](crate::admin) on the namespace
    /// [`AdminOptions::namespace`] (`/admin` by default), and returns that namespace.
    ///
    /// Must be called within a Tokio runtime, once per server. The UI's origin must be allowed
    /// with [`cors_allowed_origins`](crate::ServerBuilder::cors_allowed_origins) (see
    /// [the module docs](crate::admin)).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), volley::admin::AdminError> {
    /// use volley::admin::{AdminAuth, AdminOptions};
    /// let io = volley::Server::builder().build();
    /// let admin = io.instrument(AdminOptions {
    ///     auth: Some(AdminAuth::new("admin", "changeit")),
    ///     read_only: true,
    ///     ..AdminOptions::default()
    /// })?;
    /// assert_eq!(admin.name(), "/admin");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`AdminError::BadHash`] when the password looks like a bcrypt hash but is not one,
    /// [`AdminError::BadNamespace`] for `*` or an empty name, [`AdminError::NamespaceInUse`]
    /// when the namespace already has handlers (the server is already instrumented, say), and
    /// [`AdminError::NoRuntime`] outside a Tokio runtime.
    pub fn instrument(&self, options: AdminOptions) -> Result<Namespace, AdminError> {
        let name = options.namespace.trim();
        if name.is_empty() || name == "*" {
            return Err(AdminError::BadNamespace(options.namespace.clone()));
        }
        if let Some(auth) = &options.auth {
            auth::check_config(auth)?;
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AdminError::NoRuntime)?;
        let ns = self.of(name);
        if !ns.0.handlers.is_empty() {
            return Err(AdminError::NamespaceInUse(ns.name().to_owned()));
        }
        let (admin, jobs) = events::Admin::new(options, ns.name().to_owned());
        let admin = Arc::new(admin);
        let upgrade = weak(self);

        let a = admin.clone();
        ns.on_connect(move |socket: Socket, auth: Option<Value>| {
            let admin = a.clone();
            async move {
                let Some(expected) = &admin.auth else {
                    return Ok(());
                };
                let attempt = auth::Attempt {
                    peer: socket.request().remote_addr,
                    auth: auth.as_ref(),
                };
                let (sessions, permits) = (&admin.sessions, &admin.verifications);
                if auth::login(expected, sessions, permits, &admin.throttle, attempt).await?
                    == auth::Login::Credentials
                {
                    // held until the connection is confirmed, then sent first
                    let id = admin.sessions.open();
                    if let Err(e) = socket.emit("session", &id).await {
                        tracing::debug!(target: "volley::socketio", error = %e, "Admin UI: cannot send the session id");
                    }
                }
                Ok(())
            }
        });
        if !admin.read_only {
            commands::register(&ns, &upgrade);
        }
        self.observe(admin.clone());
        runtime.spawn(events::run(Arc::downgrade(&admin), upgrade.clone(), jobs));
        runtime.spawn(report(Arc::downgrade(&admin), upgrade));
        tracing::info!(target: "volley::socketio", ns = ns.name(), read_only = admin.read_only, "Admin UI support on");
        Ok(ns)
    }
}
