//! A namespace: its handlers, and the entry point for emitting to its sockets.

use std::sync::Arc;

use serde::Serialize;

use volley_protocol::Value;

use super::handler::{
    self, BoxedConnectHandler, BoxedDisconnectHandler, BoxedEventHandler, ConnectHandler,
    DisconnectHandler, EventHandler, HandlerSet, PacketMiddleware,
};
use super::server::SocketIoConfig;
use super::BroadcastOperator;
use crate::engine::Sid;
use crate::manager::ClientManager;
use crate::{Args, EmitError, IntoRooms, Socket};

pub(crate) struct NamespaceInner {
    pub(crate) name: String,
    pub(crate) manager: Arc<dyn ClientManager>,
    pub(crate) config: Arc<SocketIoConfig>,
    pub(crate) handlers: HandlerSet,
    /// A child of the catch-all namespace `*`: its event handlers receive the namespace name as
    /// their first argument.
    pub(crate) catch_all: bool,
}

impl NamespaceInner {
    pub(crate) fn new(
        name: String,
        manager: Arc<dyn ClientManager>,
        config: Arc<SocketIoConfig>,
        handlers: HandlerSet,
        catch_all: bool,
    ) -> Self {
        NamespaceInner {
            name,
            manager,
            config,
            handlers,
            catch_all,
        }
    }

    /// The handler for an event and the arguments it receives.
    pub(crate) fn resolve(
        &self,
        event: String,
        mut args: Vec<Value>,
    ) -> Option<(BoxedEventHandler, Vec<Value>)> {
        if self.catch_all {
            args.insert(0, Value::from(self.name.as_str()));
        }
        self.handlers.resolve(event, args)
    }

    /// What decides on a connect: the connect handler alone, or a chain with the middlewares
    /// (and the early acknowledgement of always connect).
    pub(crate) fn connect_handler(&self) -> Option<BoxedConnectHandler> {
        let (handler, middlewares) = self.handlers.connect();
        if middlewares.is_empty() && !self.config.always_connect {
            return handler;
        }
        Some(Arc::new(handler::ConnectChain {
            middlewares,
            handler,
            always_connect: self.config.always_connect,
        }))
    }

    pub(crate) fn disconnect_handler(&self) -> Option<BoxedDisconnectHandler> {
        self.handlers.disconnect()
    }
}

/// A namespace of the server: register its handlers, emit to its sockets. Cheap to clone.
///
/// ```
/// use volley::{Server, Socket, Value};
/// let io = Server::builder().build();
/// let chat = io.of("/chat");
/// chat.on("message", |socket: Socket, text: String| async move {
///     let _ = socket.namespace().emit("message", &text).await;
/// });
/// ```
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NamespaceInner>);

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Namespace").field(&self.0.name).finish()
    }
}

impl Namespace {
    /// The namespace name, such as `/` or `/chat`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Handles the event `event`; a later handler for the same event replaces the earlier one.
    /// See [`EventHandler`] for the forms a handler may take.
    ///
    /// The event `*` is the catch-all: it handles every event that has no handler of its own and
    /// receives the event name as its first argument.
    ///
    /// ```
    /// # let io = volley::Server::builder().build();
    /// use volley::{Args, Socket};
    /// io.of("/").on("*", |_s: Socket, args: Args| {
    ///     println!("unhandled {:?} with {} arguments", args.0.first(), args.0.len() - 1);
    /// });
    /// ```
    pub fn on<H, M>(&self, event: impl Into<String>, handler: H) -> &Self
    where
        H: EventHandler<M>,
        M: 'static,
    {
        self.0
            .handlers
            .set_event(event.into(), handler::boxed_event(handler));
        self
    }

    /// Runs `handler` when a client connects; it may refuse the connection.
    /// See [`ConnectHandler`].
    pub fn on_connect<H, M>(&self, handler: H) -> &Self
    where
        H: ConnectHandler<M>,
        M: 'static,
    {
        self.0
            .handlers
            .set_connect(handler::boxed_connect(handler), false);
        self
    }

    /// Adds a connect middleware: a function run when a client connects, before the connect
    /// handler, in the order middlewares were added. It takes the same arguments and answers the
    /// same way as a connect handler ([`ConnectHandler`]); the first one to refuse decides, with
    /// its message and data, and neither the later middlewares nor the connect handler run.
    /// Middlewares run inside the connect gate: nothing the client sends is handled before they
    /// (and the handler) accept it, and with [`crate::ServerBuilder::always_connect`] they still
    /// run before the acknowledgement. A socket recovered by connection state recovery skips
    /// them with the connect handler unless
    /// [`crate::ConnectionStateRecovery::skip_connect_handler`] is turned off (as Node skips its
    /// middlewares).
    ///
    /// ```
    /// use volley::{ConnectError, Socket};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Login { token: String }
    ///
    /// let io = volley::Server::builder().build();
    /// io.of("/")
    ///     .with(|s: Socket| s.request().header("x-banned").is_none())
    ///     .with(|_s: Socket, login: Login| async move {
    ///         if login.token == "secret" {
    ///             Ok(())
    ///         } else {
    ///             Err(ConnectError::new("bad token").with_data(&"ask an admin"))
    ///         }
    ///     })
    ///     .on_connect(|s: Socket| println!("{} is in", s.id()));
    /// ```
    pub fn with<H, M>(&self, middleware: H) -> &Self
    where
        H: ConnectHandler<M>,
        M: 'static,
    {
        self.0
            .handlers
            .add_middleware(handler::boxed_connect(middleware));
        self
    }

    /// Adds an incoming-packet middleware (Node's `socket.use`): a function that sees every
    /// event a connected client sends to the namespace before its handler, in the order
    /// middlewares were added, and may change it, drop it or refuse it ([`crate::handler::PacketFlow`]). It
    /// never sees the packets of a socket that its connect middlewares and handler have not
    /// accepted. Acks and DISCONNECT packets do not go through it.
    ///
    /// ```
    /// use volley::handler::{IncomingEvent, PacketFlow, Rejection};
    /// use volley::Socket;
    ///
    /// let io = volley::Server::builder().build();
    /// io.of("/").use_packets(|s: &Socket, ev: &mut IncomingEvent| {
    ///     if ev.event().starts_with("admin:") && s.get_session::<bool>() != Some(true) {
    ///         return PacketFlow::Refuse(Rejection::new("forbidden", "admins only"));
    ///     }
    ///     PacketFlow::Pass
    /// });
    /// ```
    pub fn use_packets(&self, middleware: impl PacketMiddleware) -> &Self {
        self.0.handlers.packets().push(middleware);
        self
    }

    /// Handles the `message` event, the one a client's `send(...)` emits
    /// (python-socketio's `@sio.on('message')`); the same as `on("message", handler)`.
    ///
    /// ```
    /// # let io = volley::Server::builder().build();
    /// use volley::Socket;
    /// io.of("/").on_message(|s: Socket, text: String| async move {
    ///     let _ = s.send(&format!("echo: {text}")).await;
    /// });
    /// ```
    pub fn on_message<H, M>(&self, handler: H) -> &Self
    where
        H: EventHandler<M>,
        M: 'static,
    {
        self.on("message", handler)
    }

    /// Runs `handler` when a socket leaves the namespace. See [`DisconnectHandler`].
    pub fn on_disconnect<H, M>(&self, handler: H) -> &Self
    where
        H: DisconnectHandler<M>,
        M: 'static,
    {
        self.0
            .handlers
            .set_disconnect(handler::boxed_disconnect(handler), false);
        self
    }

    /// Handles an event that another node of the cluster sends to the servers themselves (see
    /// [`Namespace::server_side_emit`]); the handler's return value answers
    /// [`Namespace::server_side_call`].
    ///
    /// ```
    /// # let io = volley::Server::builder().build();
    /// io.of("/").on_server_event("who", |(): ()| async move { "node-a" });
    /// ```
    pub fn on_server_event<F, A, Fut, R>(&self, event: impl Into<String>, handler: F) -> &Self
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        A: serde::de::DeserializeOwned + Send + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let name = event.into();
        let event = name.clone();
        let handler: handler::ServerEventHandler = Arc::new(move |args: Vec<Value>| {
            let decoded = super::args::take_list::<A>(args);
            let fut = decoded.map(&handler);
            let event = event.clone();
            Box::pin(async move {
                match fut {
                    Ok(fut) => super::args::as_list(&fut.await)
                        .map(std::borrow::Cow::into_owned)
                        .unwrap_or_default(),
                    Err(e) => {
                        tracing::warn!(target: "volley::socketio", event, error = %e, "server-side event arguments do not fit the handler");
                        Vec::new()
                    }
                }
            })
        });
        self.0.handlers.set_server_event(name, handler);
        self
    }

    /// Sends an event to the server-side handlers of the other nodes (not to clients).
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let args = volley_protocol::args::to_args(data)?;
        self.0
            .manager
            .server_side_emit(&self.0.name, event, &args)
            .await
    }

    /// Sends an event to the server-side handlers of the other nodes and collects each node's
    /// answer, within `timeout`.
    pub async fn server_side_call<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: std::time::Duration,
    ) -> Result<Vec<Args>, EmitError> {
        let args = volley_protocol::args::to_args(data)?;
        let answers = self
            .0
            .manager
            .server_side_call(&self.0.name, event, &args, timeout)
            .await?;
        Ok(answers.into_iter().map(Args).collect())
    }

    /// Sends a `message` event to every socket of the namespace (python-socketio's `send`).
    ///
    /// ```
    /// # async fn f(io: volley::Server) -> Result<(), volley::EmitError> {
    /// io.of("/").send("hello, everyone").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data).await
    }

    /// Emits to every socket of the namespace, the sender of the event being handled included
    /// (unlike [`Socket::broadcast`] and [`Socket::to`]).
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.broadcast().emit(event, data).await
    }

    /// Starts an emit to rooms (or socket ids, which name rooms of one).
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Starts an emit to every socket but those in `rooms` (or with those ids).
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Puts the socket `sid` (on any node) in `room`.
    pub async fn enter_room(&self, sid: Sid, room: &str) -> Result<(), EmitError> {
        self.to(sid).join(room).await
    }

    /// Takes the socket `sid` (on any node) out of `room`.
    pub async fn leave_room(&self, sid: Sid, room: &str) -> Result<(), EmitError> {
        self.to(sid).leave(room).await
    }

    /// Takes every socket (on every node) out of `room`.
    pub async fn close_room(&self, room: &str) -> Result<(), EmitError> {
        self.to(room).leave(room).await
    }

    /// The rooms of a socket connected to this node, its own id first; empty when it is not here.
    pub fn rooms(&self, sid: Sid) -> Vec<String> {
        match self.socket(sid) {
            Some(_) => self.0.manager.local().rooms(&self.0.name, sid),
            None => Vec::new(),
        }
    }

    /// The socket `sid` if it is connected to this node.
    pub fn socket(&self, sid: Sid) -> Option<Socket> {
        self.0.manager.local().socket(&self.0.name, sid)
    }

    /// Sends an event to the socket `sid`, wherever in the cluster it is connected, and waits
    /// for its acknowledgement (at most `timeout`). The ack's arguments are deserialized into `R`
    /// as in [`Socket::call`].
    ///
    /// ```
    /// # async fn f(io: volley::Server, sid: volley::Sid) -> Result<(), volley::AckError> {
    /// use std::time::Duration;
    /// let answer: String = io.of("/").call(sid, "question", &"ready?", Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn call<R, T>(
        &self,
        sid: Sid,
        event: &str,
        data: &T,
        timeout: std::time::Duration,
    ) -> Result<R, crate::AckError>
    where
        R: serde::de::DeserializeOwned,
        T: Serialize + ?Sized,
    {
        let mut responses = self
            .to(sid)
            .timeout(timeout)
            .emit_with_ack(event, data)
            .await?;
        let response = responses.pop().ok_or(crate::AckError::Disconnected)?;
        Ok(volley_protocol::args::from_args(response.result?)?)
    }

    /// Saves a session value of the local socket `sid` (see [`Socket::save_session`]); `false`
    /// when it is not connected here.
    pub fn save_session<T: crate::SessionValue>(&self, sid: Sid, value: T) -> bool {
        self.socket(sid).map(|s| s.save_session(value)).is_some()
    }

    /// A copy of the session value of type `T` of the local socket `sid`.
    pub fn get_session<T: crate::SessionValue>(&self, sid: Sid) -> Option<T> {
        self.socket(sid)?.get_session()
    }

    /// Disconnects the socket `sid` (on any node) from this namespace.
    pub async fn disconnect(&self, sid: Sid) -> Result<(), EmitError> {
        self.to(sid).disconnect().await
    }

    /// Starts an emit to the sockets of this namespace connected to this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// Starts an emit to every socket, to be refined with [`BroadcastOperator`]'s methods.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.clone())
    }

    /// The sockets of this namespace connected to this node.
    pub fn sockets(&self) -> Vec<Socket> {
        self.0.manager.local().sockets(&self.0.name)
    }
}
