//! A client's connection to one namespace: the handle handlers receive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;
use volley_protocol::packet::{Packet, PacketData};
use volley_protocol::Value;

use super::client::Client;
use super::gate::{Gate, QueueBounds};
use super::handler::AckSender;
use super::namespace::NamespaceInner;
use super::parser::Parser;
use super::session::{SessionGuard, SessionSlot};
use crate::engine::{CloseReason, EngineSocket, Frame, RequestInfo, SendError, Sid, Transport};
use crate::manager::recovery_parts::{Persisted, Recoverer};
use crate::{AckError, DisconnectReason, EmitError, Limit};

/// One client connected to one namespace. Cheap to clone; every clone is the same socket.
///
/// ```
/// # async fn f(socket: volley::Socket) -> Result<(), volley::EmitError> {
/// socket.emit("hello", "world").await?;
/// socket.emit("pair", &(1, "two")).await?;   // a tuple is several arguments
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

pub(crate) struct SocketInner {
    id: Sid,
    pub(crate) ns: Arc<NamespaceInner>,
    pub(crate) engine: Arc<EngineSocket<Client>>,
    auth: Option<Value>,
    /// The CONNECT acknowledgement was sent.
    connected: AtomicBool,
    /// The connect middlewares and handler accepted the socket (with
    /// [`crate::ServerBuilder::always_connect`], after the acknowledgement): it counts as
    /// connected for observers, recovery and the disconnect handler.
    accepted: AtomicBool,
    /// The connect gate is gone: packets from the client are handled as they arrive.
    open: AtomicBool,
    gone: AtomicBool,
    /// What waits for the connect handler's decision (see [`super::gate`]); `None` once open.
    gate: Mutex<Option<Box<Gate>>>,
    acks: Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>,
    session: SessionSlot,
    /// The private id a client presents to recover this socket (with recovery on).
    pid: Option<Arc<str>>,
    /// This socket was recovered after a disconnection.
    recovered: bool,
    /// The namespace log's position when the socket was registered: with recovery on, what it
    /// can have missed starts there.
    log_base: std::sync::OnceLock<u64>,
    /// On a bus that listens per room, the number of the room note its acknowledgements wait for
    /// (see [`Socket::rooms_listened`]); 0 when none.
    rooms_seq: AtomicU64,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("ns", &self.0.ns.name)
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(
        ns: Arc<NamespaceInner>,
        engine: Arc<EngineSocket<Client>>,
        auth: Option<Value>,
    ) -> Self {
        let pid = ns.manager.local().recovery().map(|_| Recoverer::new_pid());
        Self::with_ids(ns, engine, auth, Sid::new(), pid, false)
    }

    /// A recovered socket: the id, private id and session it had before.
    pub(crate) fn resume(
        ns: Arc<NamespaceInner>,
        engine: Arc<EngineSocket<Client>>,
        auth: Option<Value>,
        persisted: &mut Persisted,
    ) -> Self {
        let socket = Self::with_ids(
            ns,
            engine,
            auth,
            persisted.sid,
            Some(persisted.pid.clone()),
            true,
        );
        socket.0.session.put(persisted.session.take());
        socket
    }

    pub(crate) fn with_ids(
        ns: Arc<NamespaceInner>,
        engine: Arc<EngineSocket<Client>>,
        auth: Option<Value>,
        id: Sid,
        pid: Option<Arc<str>>,
        recovered: bool,
    ) -> Self {
        Socket(Arc::new(SocketInner {
            id,
            ns,
            engine,
            auth,
            connected: AtomicBool::new(false),
            accepted: AtomicBool::new(false),
            open: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            gate: Mutex::new(Some(Box::default())),
            acks: Mutex::new(HashMap::new()),
            session: SessionSlot::default(),
            pid,
            recovered,
            log_base: std::sync::OnceLock::new(),
            rooms_seq: AtomicU64::new(0),
        }))
    }

    /// Whether this socket was recovered after a disconnection (connection state recovery, see
    /// [`crate::ServerBuilder::connection_state_recovery`]): same id, rooms and session as
    /// before, and the broadcasts it missed were sent to it first.
    ///
    /// ```
    /// # let io = volley::Server::builder().build();
    /// io.of("/").on_connect(|socket: volley::Socket, _auth: Option<volley::Value>| {
    ///     if !socket.recovered() {
    ///         socket.enter_room("lobby"); // a first connection: set it up
    ///     }
    /// });
    /// ```
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    pub(crate) fn set_log_base(&self, base: u64) {
        let _ = self.0.log_base.set(base);
    }

    /// The socket id (also the name of the room only this socket is in).
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The namespace name.
    pub fn ns(&self) -> &str {
        &self.0.ns.name
    }

    /// The HTTP request that opened the connection (headers, query, remote address).
    pub fn request(&self) -> &RequestInfo {
        self.0.engine.request()
    }

    /// The `auth` payload the client sent with its CONNECT.
    pub fn auth(&self) -> Option<&Value> {
        self.0.auth.as_ref()
    }

    /// The server's shared value of type `T`, set with [`crate::ServerBuilder::state`] (handlers
    /// usually take it as a [`State<T>`](crate::handler::State) argument instead).
    ///
    /// ```
    /// # fn f(socket: volley::Socket) {
    /// let motd = socket.state::<&'static str>().copied().unwrap_or("welcome");
    /// # }
    /// ```
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.ns.config.states.get::<T>()
    }

    /// The transport the connection uses now.
    pub fn transport(&self) -> Transport {
        self.0.engine.transport()
    }

    /// Whether the socket is still connected to its namespace.
    pub fn connected(&self) -> bool {
        !self.0.gone.load(Ordering::Acquire)
    }

    /// Sends an event to this client. `data` becomes the event's arguments: `()` none, a tuple one
    /// per element, anything else one; bytes travel as binary attachments.
    ///
    /// The packet goes to this client only, straight to its queue: unlike an emit to its id as a
    /// room (`socket.namespace().to(socket.id())`), it carries no offset and is not recovered
    /// after a reconnect (connection state recovery), as in Node.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        super::error::refuse_reserved(event)?;
        let args = volley_protocol::args::to_args(data)?;
        let frame = self.parser().event(self.ns(), event, &args, None)?;
        let observers = self.0.ns.manager.local().observers();
        match self.send_frame(frame, false) {
            Ok(()) => {
                observers.each(|o| o.event_sent(self.ns(), self.id(), event, &args));
                observers.each(|o| o.broadcast(self.ns(), 1));
            }
            Err(SendError::QueueFull) => observers.each(|o| o.queue_full(self.id(), false)),
            Err(_) => {}
        }
        Ok(())
    }

    /// Sends an event and waits for the client's acknowledgement, for at most the server's ack
    /// timeout (see [`crate::ServerBuilder::ack_timeout`]). The ack's arguments are deserialized
    /// into `R`: `Vec<Value>` takes them all, a tuple one per element, anything else the first.
    ///
    /// ```
    /// # async fn f(socket: volley::Socket) -> Result<(), volley::AckError> {
    /// let answer: String = socket.call("question", "ready?").await?;
    /// # Ok(()) }
    /// ```
    pub async fn call<R, T>(&self, event: &str, data: &T) -> Result<R, AckError>
    where
        R: DeserializeOwned,
        T: Serialize + ?Sized,
    {
        self.call_timeout(event, data, self.0.ns.config.ack_timeout)
            .await
    }

    /// [`Socket::call`] with its own timeout.
    pub async fn call_timeout<R, T>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<R, AckError>
    where
        R: DeserializeOwned,
        T: Serialize + ?Sized,
    {
        self.namespace().call(self.id(), event, data, timeout).await
    }

    /// Saves a value in this socket's session. The session holds one value per type: saving a
    /// second value of a type replaces the first, values of other types stay. It lives as long
    /// as the socket is connected to its namespace, and follows it when connection state
    /// recovery gives it back, on this node or on another one (see [`crate::SessionValue`] for
    /// what a value must be; it crosses nodes serialized under its type's name, so the nodes must
    /// run the same code).
    ///
    /// ```
    /// # fn f(socket: volley::Socket) {
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct Role { admin: bool }
    ///
    /// socket.save_session(String::from("ada"));
    /// socket.save_session(Role { admin: true });
    /// assert_eq!(socket.get_session::<String>().as_deref(), Some("ada"));
    /// assert_eq!(socket.get_session::<Role>().map(|r| r.admin), Some(true));
    /// # }
    /// ```
    pub fn save_session<T: crate::SessionValue>(&self, value: T) {
        self.0.session.save(value);
    }

    /// A copy of this socket's session value of type `T`, if one was saved.
    pub fn get_session<T: crate::SessionValue>(&self) -> Option<T> {
        self.0.session.get()
    }

    /// Takes the session value of type `T` out of this socket's session.
    ///
    /// ```
    /// # fn f(socket: volley::Socket) {
    /// socket.save_session(7u32);
    /// assert_eq!(socket.remove_session::<u32>(), Some(7));
    /// assert_eq!(socket.get_session::<u32>(), None);
    /// # }
    /// ```
    pub fn remove_session<T: crate::SessionValue>(&self) -> Option<T> {
        self.0.session.remove()
    }

    /// This socket's session value of type `T` for editing (`T::default()` when none was
    /// saved); the guard saves it back when dropped.
    pub fn session<T: crate::SessionValue + Default>(&self) -> SessionGuard<T> {
        SessionGuard::new(self.clone(), self.get_session().unwrap_or_default())
    }

    /// Puts this socket in a room.
    ///
    /// ```
    /// # fn f(socket: volley::Socket) {
    /// socket.enter_room("lobby");
    /// assert!(socket.rooms().iter().any(|r| r == "lobby"));
    /// # }
    /// ```
    pub fn enter_room(&self, room: &str) {
        self.0
            .ns
            .manager
            .local()
            .enter_room(self.ns(), self.id(), room);
    }

    /// Waits until the cluster's bus listens to every room this socket has entered, so that a
    /// broadcast another node sends to them from now on reaches it. Only a bus that listens per
    /// room (Redis sharded pub/sub) makes it wait, and never more than 5 s (a broker that does
    /// not answer: a warning is logged); elsewhere a room is in place when
    /// [`enter_room`](Socket::enter_room) returns. The acknowledgement of an event whose handler
    /// entered a room, and the CONNECT acknowledgement, wait for it by themselves.
    ///
    /// ```
    /// # async fn f(socket: volley::Socket) {
    /// socket.enter_room("lobby");
    /// socket.rooms_listened().await;
    /// # }
    /// ```
    pub async fn rooms_listened(&self) {
        if let Some(wait) = self.rooms_wait() {
            wait.await;
        }
    }

    /// What [`rooms_listened`](Socket::rooms_listened) waits for; `None` when nothing.
    pub(crate) fn rooms_wait(
        &self,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let seq = self.0.rooms_seq.load(Ordering::Acquire);
        if seq == 0 {
            return None;
        }
        self.0.ns.manager.local().rooms_settled(seq)
    }

    /// Makes this socket's acknowledgements wait for room note `seq` (see
    /// [`rooms_listened`](Socket::rooms_listened)).
    pub(crate) fn await_rooms(&self, seq: u64) {
        self.0.rooms_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// Takes this socket out of a room.
    pub fn leave_room(&self, room: &str) {
        self.0
            .ns
            .manager
            .local()
            .leave_room(self.ns(), self.id(), room);
    }

    /// The rooms this socket is in, starting with the room named by its own id.
    pub fn rooms(&self) -> Vec<String> {
        self.0.ns.manager.local().rooms(self.ns(), self.id())
    }

    /// Starts an emit to the sockets in a room (or with an id) of this socket's namespace,
    /// **this socket left out**, as in Node and socketioxide: a message to a room the sender is
    /// in does not come back to it. To include it, emit through the namespace
    /// (`socket.namespace().to(room)`), which reaches every socket in the room.
    ///
    /// ```
    /// # async fn f(socket: volley::Socket) -> Result<(), volley::EmitError> {
    /// socket.to("lobby").emit("said", "hi").await?; // the others in `lobby`
    /// socket.namespace().to("lobby").emit("said", "hi").await?; // all of `lobby`
    /// # Ok(()) }
    /// ```
    pub fn to(&self, room: impl crate::IntoRooms) -> crate::BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Starts an emit to every other socket of the namespace (`broadcast` in Node's API); add
    /// rooms with [`crate::BroadcastOperator::to`].
    pub fn broadcast(&self) -> crate::BroadcastOperator {
        self.namespace().except(self.id())
    }

    /// Sends a `message` event to this client (python-socketio's `send`; a client's
    /// `socket.on("message", ...)` receives it).
    ///
    /// ```
    /// # async fn f(socket: volley::Socket) -> Result<(), volley::EmitError> {
    /// socket.send("hello").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data).await
    }

    /// Disconnects the client from this namespace: it receives a DISCONNECT packet, and the
    /// disconnect handler runs with [`DisconnectReason::ServerDisconnect`].
    pub fn disconnect(&self) {
        if let Ok(frame) = self.parser().disconnect(self.ns()) {
            let _ = self.0.engine.send(frame);
        }
        if let Ok(mut state) = self.0.engine.data.state.lock() {
            state.sockets.remove(self.ns());
        }
        self.on_disconnect(DisconnectReason::ServerDisconnect);
    }

    pub(crate) fn parser(&self) -> Parser {
        self.0.ns.config.parser
    }

    /// Describes this socket for another node (or a `fetch_sockets` caller).
    pub fn info(&self) -> crate::SocketInfo {
        let request = self.request();
        crate::SocketInfo {
            id: self.id().as_str().to_owned(),
            nsp: self.ns().to_owned(),
            rooms: self.rooms(),
            auth: self.auth().cloned().unwrap_or(Value::Nil),
            url: request.uri.to_string(),
            address: request.remote_addr.map(|a| a.ip().to_string()),
        }
    }

    /// Closes the client's whole connection (every namespace it joined), after what is already
    /// queued for it.
    pub fn close_connection(&self) {
        super::client::disconnect_all(&self.0.engine, DisconnectReason::ServerDisconnect);
        self.0.engine.close_gracefully();
    }

    /// The namespace this socket belongs to.
    pub fn namespace(&self) -> crate::Namespace {
        crate::Namespace(self.0.ns.clone())
    }

    fn gate(&self) -> MutexGuard<'_, Option<Box<Gate>>> {
        // Nothing panics while holding the lock; a poisoned gate is still a valid one.
        self.0.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame for this client. Before the connection is confirmed frames wait at the
    /// connect gate, so that the CONNECT acknowledgement is always the first packet the client
    /// sees; the gate holds no more than the outgoing queue would.
    pub(crate) fn send_frame(&self, frame: Frame, volatile: bool) -> Result<(), SendError> {
        let mut frame = frame;
        if !self.0.open.load(Ordering::Acquire) {
            let mut gate = self.gate();
            if let Some(gate) = gate.as_mut() {
                let bounds = QueueBounds {
                    frames: self.0.engine.queue.capacity(),
                    bytes: self.0.engine.queue.max_bytes(),
                };
                match gate.hold_outgoing(frame, &bounds) {
                    Ok(None) => return Ok(()),
                    Ok(Some(now)) => frame = now,
                    Err(full) => {
                        if !volatile {
                            tracing::warn!(target: "volley::engine", sid = %self.0.engine.sid(), "frames held before connect past the queue bounds, closing slow client");
                            self.0.engine.close(CloseReason::SlowClient);
                        }
                        return Err(full);
                    }
                }
            }
        }
        let observers = self.0.ns.manager.local().observers();
        let len = if observers.active() {
            frame.wire_len()
        } else {
            0
        };
        let sent = if volatile {
            self.0.engine.send_volatile(frame)
        } else {
            self.0.engine.send(frame)
        };
        if sent.is_ok() {
            observers.each(|o| o.packet_sent(len));
        }
        sent
    }

    /// Sends the CONNECT acknowledgement (unless [`Socket::confirm_early`] did), then whatever
    /// was emitted while the connect handler ran, and marks the socket accepted. The packets the
    /// client sent meanwhile stay held until [`Socket::open_gate`].
    pub(crate) fn confirm_connect(&self) -> Result<(), SendError> {
        self.send_connect_ack()?;
        self.0.accepted.store(true, Ordering::Release);
        Ok(())
    }

    /// Sends the CONNECT acknowledgement before the connect handler decides (always connect);
    /// the socket is accepted only once the handler accepts.
    pub(crate) fn confirm_early(&self) {
        if self.send_connect_ack().is_err() {
            tracing::debug!(target: "volley::socketio", sid = %self.id(), "cannot acknowledge the connect");
        }
    }

    fn send_connect_ack(&self) -> Result<(), SendError> {
        let mut gate = self.gate();
        if self.0.connected.load(Ordering::Acquire) {
            return Ok(());
        }
        let frame = if self.0.engine.eio3() {
            super::v2::connect_ack(self.ns())
        } else {
            self.parser()
                .connect(self.ns(), self.id().as_str(), self.0.pid.as_deref())
                .map_err(|_| SendError::Closed)?
        };
        let gate = gate.as_mut().ok_or(SendError::Closed)?;
        self.0.engine.send(frame)?;
        for frame in gate.confirm() {
            self.0.engine.send(frame)?;
        }
        self.0.connected.store(true, Ordering::Release);
        Ok(())
    }

    /// What tells the client its connect was refused: CONNECT_ERROR, or DISCONNECT when it was
    /// acknowledged already (always connect), as python-socketio does.
    pub(crate) fn refusal_frame(
        &self,
        refusal: &crate::ConnectError,
    ) -> Result<Frame, volley_protocol::EncodeError> {
        if self.is_confirmed() {
            self.parser().disconnect(self.ns())
        } else {
            super::v2::connect_error(self.parser(), &self.0.engine, self.ns(), refusal)
        }
    }

    /// Handles the packets held while the connect handler decided, in order, then lets later
    /// packets through as they arrive.
    pub(crate) fn open_gate(&self) {
        loop {
            let packet = {
                let mut gate = self.gate();
                match gate.as_mut().and_then(|g| g.next_incoming()) {
                    Some(packet) => packet,
                    None => {
                        *gate = None;
                        self.0.open.store(true, Ordering::Release);
                        return;
                    }
                }
            };
            self.deliver(packet);
        }
    }

    /// Takes a packet the client sent to this namespace: handled now once the connect was
    /// accepted, held before (refused past the pending bounds).
    pub(crate) fn receive(&self, packet: Packet, len: usize) -> Result<(), Limit> {
        if !self.0.open.load(Ordering::Acquire) {
            let mut gate = self.gate();
            if let Some(gate) = gate.as_mut() {
                return gate.hold_incoming(packet, len, &self.0.ns.config.limits);
            }
        }
        self.deliver(packet);
        Ok(())
    }

    /// Handles an event, ack or DISCONNECT from the client (a CONNECT is the dispatcher's).
    fn deliver(&self, packet: Packet) {
        match packet.data {
            PacketData::Event { event, args } => {
                tracing::trace!(target: "volley::socketio", sid = %self.id(), event, "event received");
                self.0
                    .ns
                    .manager
                    .local()
                    .observers()
                    .each(|o| o.event_received(self, &event, &args));
                let (event, args) =
                    match self
                        .0
                        .ns
                        .handlers
                        .packets()
                        .run(self, event, args, packet.id.is_some())
                    {
                        Ok(passed) => passed,
                        Err(refusal) => {
                            if let (Some(id), Some(refusal)) = (packet.id, refusal) {
                                self.send_ack(id, &refusal);
                            }
                            return;
                        }
                    };
                match self.0.ns.resolve(event, args) {
                    Some((handler, args)) => {
                        let ack = packet.id.map(|id| AckSender::new(self.clone(), id));
                        handler.call(self.clone(), args, ack);
                    }
                    None => {
                        tracing::debug!(target: "volley::socketio", sid = %self.id(), "no handler for event")
                    }
                }
            }
            PacketData::Ack(args) => {
                if let Some(id) = packet.id {
                    self.on_ack(id, args);
                }
            }
            PacketData::Disconnect => {
                if let Ok(mut state) = self.0.engine.data.state.lock() {
                    state.sockets.remove_socket(self.id());
                }
                self.on_disconnect(DisconnectReason::ClientDisconnect);
            }
            PacketData::Connect(_) | PacketData::ConnectError(_) => {}
        }
    }

    /// Runs an async handler's work within the connection's and the node's handler budgets.
    pub(crate) fn spawn_handler(
        &self,
        job: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        super::budget::spawn(&self.0.engine, &self.0.ns.config.limits, Box::pin(job));
    }

    /// Whether the CONNECT acknowledgement was sent.
    pub(crate) fn is_confirmed(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    pub(crate) fn send_ack(&self, id: u64, args: &[Value]) {
        if let Some(wait) = self.rooms_wait() {
            // a room entered is not listened to yet: the client must not hear back before it is
            // (the wait counts against the handler budgets, so a client cannot pile them up)
            let socket = self.clone();
            let args = args.to_vec();
            return self.spawn_handler(async move {
                wait.await;
                socket.send_ack_now(id, &args);
            });
        }
        self.send_ack_now(id, args);
    }

    fn send_ack_now(&self, id: u64, args: &[Value]) {
        match self.parser().ack(self.ns(), id, args) {
            Ok(frame) => {
                let _ = self.send_frame(frame, false);
            }
            Err(e) => {
                tracing::warn!(target: "volley::socketio", sid = %self.id(), error = %e, "cannot encode ack")
            }
        }
    }

    /// Registers an awaited ack under `id` (ids are unique per namespace).
    pub(crate) fn expect_ack(&self, id: u64) -> Option<oneshot::Receiver<Vec<Value>>> {
        if self.0.gone.load(Ordering::Acquire) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.0.acks.lock().ok()?.insert(id, tx);
        Some(rx)
    }

    pub(crate) fn forget_ack(&self, id: u64) {
        if let Ok(mut acks) = self.0.acks.lock() {
            acks.remove(&id);
        }
    }

    pub(crate) fn on_ack(&self, id: u64, args: Vec<Value>) {
        let waiting = self.0.acks.lock().ok().and_then(|mut a| a.remove(&id));
        match waiting {
            Some(tx) => {
                let _ = tx.send(args);
            }
            None => {
                tracing::debug!(target: "volley::socketio", sid = %self.id(), id, "ack for no pending call")
            }
        }
    }

    /// Keeps a connected socket that left for a reason the client may come back from (its
    /// transport closed or broke, ping timeout, shutdown), for connection state recovery.
    fn persist(&self, reason: DisconnectReason, connected: bool) {
        let local = self.0.ns.manager.local();
        let (Some(recovery), Some(pid)) = (local.recovery(), self.0.pid.as_ref()) else {
            return;
        };
        let recoverable = matches!(
            reason,
            DisconnectReason::TransportClose
                | DisconnectReason::TransportError
                | DisconnectReason::PingTimeout
                | DisconnectReason::ServerShutdown
        );
        if !(connected && recoverable) {
            return;
        }
        let own = self.id();
        let rooms: Vec<String> = local
            .rooms(self.ns(), own)
            .into_iter()
            .filter(|r| r != own.as_str())
            .collect();
        let manager = &self.0.ns.manager;
        if manager.keeps_sessions() {
            let mut all = Vec::with_capacity(rooms.len() + 1);
            all.push(own.as_str().to_owned());
            all.extend(rooms);
            let session = crate::manager::cluster::StoredSession {
                sid: own.as_str().to_owned(),
                pid: pid.to_string(),
                rooms: all,
                data: crate::io::session_transfer(self.0.session.take()),
            };
            manager.persist_session(self.ns(), session, recovery.config.max_disconnection);
            return;
        }
        recovery.persist(Persisted::new(
            own,
            pid.clone(),
            self.ns().to_owned(),
            rooms,
            self.0.session.take(),
            self.0.log_base.get().copied().unwrap_or(0),
        ));
    }

    /// Leaves the namespace: forgets the socket everywhere and runs the disconnect handler, once.
    pub(crate) fn on_disconnect(&self, reason: DisconnectReason) {
        if self.0.gone.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(target: "volley::socketio", sid = %self.id(), ns = self.ns(), %reason, "socket disconnected");
        if let Ok(mut acks) = self.0.acks.lock() {
            acks.clear();
        }
        let connected = self.0.accepted.load(Ordering::Acquire);
        self.persist(reason, connected);
        self.0.session.clear();
        if connected {
            // Observers see a socket leave (before its rooms) only if they saw it join.
            self.0
                .ns
                .manager
                .local()
                .observers()
                .each(|o| o.socket_disconnected(self, reason));
        }
        self.0.ns.manager.remove_socket(self.ns(), self.id());
        if connected {
            if let Some(handler) = self.0.ns.disconnect_handler() {
                handler.call(self.clone(), reason);
            }
        }
    }
}
