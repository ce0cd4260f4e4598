//! The Socket.IO server: namespaces over one Engine.IO endpoint.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::client::Dispatcher;
use super::handler::NamespaceHandler;
use super::namespace::NamespaceInner;
use super::registry::Registry;
use super::{BroadcastOperator, Namespace, ServerBuilder};
use crate::engine::Engine;
use crate::manager::ClientManager;
use crate::service::{Cors, VolleyLayer, VolleyService};
use crate::EmitError;

/// Socket.IO settings.
#[derive(Debug, Clone)]
pub(crate) struct SocketIoConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) ack_timeout: Duration,
    pub(crate) max_attachments: usize,
    pub(crate) parser: super::Parser,
    pub(crate) limits: super::limits::Limits,
    /// Values handlers take with [`crate::handler::State`].
    pub(crate) states: super::state::States,
    /// Acknowledge a connect before the connect handler decides.
    pub(crate) always_connect: bool,
}

/// What the namespaces of one server share.
pub(crate) struct Shared {
    pub(crate) config: Arc<SocketIoConfig>,
    pub(crate) manager: Arc<dyn ClientManager>,
    pub(crate) registry: Registry,
}

impl crate::manager::ServerHooks for Shared {
    fn server_event(
        &self,
        ns: &str,
        event: &str,
        args: Vec<volley_protocol::Value>,
    ) -> Option<crate::manager::ServerEventFuture> {
        let handler = self.served(ns)?.handlers.server_event(event)?;
        Some(handler(args))
    }
}

impl Shared {
    pub(crate) fn new(config: SocketIoConfig, manager: Arc<dyn ClientManager>) -> Self {
        let config = Arc::new(config);
        Shared {
            registry: Registry::new(config.clone(), manager.clone()),
            config,
            manager,
        }
    }

    /// The namespace a client asks to connect to, if it is served.
    pub(crate) fn served(&self, name: &str) -> Option<Arc<NamespaceInner>> {
        self.registry.for_connect(name)
    }

    /// The namespace a client asks to connect to, if it is served.
    pub(crate) fn namespace(&self, name: &str) -> Option<Arc<NamespaceInner>> {
        self.registry.for_connect(name)
    }
}

/// A Socket.IO server. Cheap to clone; every clone is the same server.
///
/// ```no_run
/// use volley::{Server, Socket, Value};
///
/// #[tokio::main]
/// async fn main() {
///     let io = Server::builder().build();
///     io.of("/").on("ping", |_s: Socket, args: Vec<Value>| args);
///     let listener = volley::serve::Listener::bind("127.0.0.1:3000").await.unwrap();
///     axum::serve(listener, io.service()).await.unwrap();
/// }
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) engine: Arc<Engine<Dispatcher>>,
    pub(crate) cors: Arc<Cors>,
    pub(crate) static_files: Option<Arc<crate::StaticFiles>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

fn normalize(ns: &str) -> String {
    if ns.starts_with('/') {
        ns.to_owned()
    } else {
        format!("/{ns}")
    }
}

impl Server {
    /// Starts describing a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.engine.handler.shared
    }

    /// The namespace `ns`, created when it does not exist yet. Clients can only connect to
    /// namespaces created this way, or accepted by a dynamic namespace.
    ///
    /// `of("*")` is the catch-all namespace: it accepts any namespace no other one serves, and
    /// its event handlers receive the namespace name as their first argument (after the event
    /// name, for its catch-all event handler `*`).
    ///
    /// ```
    /// # let io = volley::Server::builder().build();
    /// use volley::{Args, Socket};
    /// io.of("*").on("hello", |s: Socket, (ns, name): (String, String)| {
    ///     assert_eq!(ns, s.ns());
    ///     format!("hello {name} from {ns}")
    /// });
    /// ```
    pub fn of(&self, ns: &str) -> Namespace {
        let registry = &self.shared().registry;
        if ns == "*" {
            return Namespace(registry.catch_all());
        }
        Namespace(registry.fixed(&normalize(ns)))
    }

    /// Registers a trait-based namespace at `ns`: `value` serves every client of it, with the
    /// methods it lists in [`NamespaceHandler::events`]. Returns the namespace, on which function
    /// handlers may still be added (they win over methods for the same event).
    pub fn register_namespace<T: NamespaceHandler>(&self, ns: &str, value: T) -> Namespace {
        let namespace = self.of(ns);
        super::handler::install_methods(&namespace, value);
        namespace
    }

    /// A dynamic namespace: clients may connect to any namespace whose name `accept` approves,
    /// and every such namespace is served by the handlers registered on the returned template.
    /// Emits on the template reach no one; emit with `of(name)` instead.
    ///
    /// ```
    /// # let io = volley::Server::builder().build();
    /// use volley::{Args, Socket};
    /// let rooms = io.dynamic(|name| name.starts_with("/room-"));
    /// rooms.on("echo", |_s: Socket, args: Args| args);
    /// ```
    pub fn dynamic(&self, accept: impl Fn(&str) -> bool + Send + Sync + 'static) -> Namespace {
        Namespace(self.shared().registry.template(Arc::new(accept), false))
    }

    /// Emits to every socket of the main namespace `/`.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.of("/").emit(event, data).await
    }

    /// Starts an emit to a room of the main namespace.
    pub fn to(&self, rooms: impl crate::IntoRooms) -> BroadcastOperator {
        self.of("/").to(rooms)
    }

    /// Shuts the server down: new connections are refused, every socket is disconnected with
    /// [`crate::DisconnectReason::ServerShutdown`] (its client receives a DISCONNECT packet, then
    /// the connection closes), and the call returns once every connection has closed, waiting at
    /// most `grace` for clients to read their last packets.
    ///
    /// ```no_run
    /// # async fn f(io: volley::Server, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    /// let stop = io.clone();
    /// axum::serve(listener, io.service())
    ///     .with_graceful_shutdown(async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         stop.shutdown(std::time::Duration::from_secs(5)).await;
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) {
        self.engine.refuse_new_sessions();
        for session in self.engine.sessions() {
            super::client::disconnect_all(&session, crate::DisconnectReason::ServerShutdown);
            session.close_gracefully();
        }
        if !self.engine.wait_empty(grace).await {
            for session in self.engine.sessions() {
                session.close(crate::CloseReason::ServerShutdown);
            }
            self.engine.wait_empty(Duration::from_secs(1)).await;
        }
        self.shared().manager.close().await;
        tracing::info!(target: "volley::socketio", "server shut down");
    }

    /// Registers an observer of this node's sockets, rooms and events (see [`crate::Observer`]).
    pub fn observe(&self, observer: Arc<dyn crate::Observer>) {
        self.shared().manager.local().observers().add(observer);
    }

    /// Waits until the client manager can serve, at most `timeout`: for a cluster manager, until
    /// it is subscribed to its broker. Returns why not: a URL that cannot be used, or a broker
    /// not reached in time (the manager keeps trying). Call it after [`build`](ServerBuilder::build)
    /// and before serving, to stop a misconfigured node at start.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let io = volley::Server::builder().build();
    /// assert!(io.ready(Duration::from_secs(1)).await.is_ok()); // one node: always ready
    /// # }
    /// ```
    pub async fn ready(&self, timeout: Duration) -> Result<(), crate::manager::ReadyError> {
        self.manager().wait_ready(timeout).await
    }

    /// How many nodes serve the cluster, this one included (1 without a cluster manager).
    pub fn server_count(&self) -> usize {
        self.shared().manager.server_count()
    }

    /// The client manager in use.
    pub fn manager(&self) -> &Arc<dyn ClientManager> {
        &self.shared().manager
    }

    /// How many Engine.IO connections are open on this node.
    pub fn connection_count(&self) -> usize {
        self.engine.session_count()
    }

    /// A tower `Service` answering the Socket.IO path and 404 elsewhere. The cheapest to serve
    /// (`axum::serve(listener, io.service())`): see [`VolleyService`].
    pub fn service(&self) -> VolleyService {
        self.layer().into_service()
    }

    /// A tower `Layer` that serves the Socket.IO path and hands every other request to the wrapped
    /// service (an axum `Router`, for instance).
    pub fn layer(&self) -> VolleyLayer {
        VolleyLayer::new(self.clone())
    }

    /// An axum `Router` that serves the Socket.IO path and passes every other request to `app`
    /// (another axum `Router`, or any tower service that never fails).
    pub fn wrap<S>(&self, app: S) -> axum::Router
    where
        S: tower_service::Service<
                http::Request<axum::body::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
        VolleyService<S>: tower_service::Service<
                http::Request<axum::body::Body>,
                Response = axum::response::Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        <VolleyService<S> as tower_service::Service<http::Request<axum::body::Body>>>::Future:
            Send + 'static,
    {
        axum::Router::new().fallback_service(tower_layer::Layer::layer(&self.layer(), app))
    }

    /// An axum `Router` serving the Socket.IO path (404 elsewhere), to extend with routes of
    /// your own; [`Server::wrap`] puts Volley in front of an existing app.
    ///
    /// Serve it as `axum::serve(listener, router.into_make_service())`: given the `Router`
    /// itself, `axum::serve` copies its whole route table for every connection.
    /// [`Server::service`] is cheaper still when Volley is the whole app.
    pub fn router(&self) -> axum::Router {
        axum::Router::new().fallback_service(self.service())
    }
}
