//! One Engine.IO connection seen from Socket.IO: packet dispatch to namespaces, binary
//! reassembly, namespace connects, the connect timeout, and the per-connection bounds (handlers
//! in flight, attachments, namespaces) with the disconnect that enforces them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use volley_protocol::packet::{decode, Decoded, Packet, PacketData, PartialPacket};
use volley_protocol::Value;

use super::budget::Budget;
use super::gate::Gate;
use super::parser::Parser;
use super::server::Shared;
use crate::engine::{CloseReason, EngineHandler, EngineSocket, Pause};
use crate::manager::recovery_parts::{Persisted, Recoverer};
use crate::{ConnectError, DisconnectReason, Limit, Socket};

/// The Socket.IO state of one Engine.IO session.
#[derive(Default)]
pub struct Client {
    pub(crate) state: Mutex<ClientState>,
    /// Set once the client joined a namespace: the connect timeout no longer applies, even if
    /// it leaves every namespace later.
    joined: AtomicBool,
    /// Set when the Socket.IO layer itself closed the session, to report a finer reason.
    reason: OnceLock<DisconnectReason>,
    /// The connection's share of the handler budget.
    pub(crate) budget: Budget,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

#[derive(Default)]
pub(crate) struct ClientState {
    /// Sockets by namespace, connected or waiting for their connect handler.
    pub(crate) sockets: Joined,
    /// A binary packet waiting for its attachments (rare: kept behind a pointer).
    partial: Option<Box<Partial>>,
    /// A task watches the attachment deadline of this session's partial packets.
    attachment_timer: bool,
    /// Namespaces whose socket another node is being asked for (connection state recovery),
    /// with the packets the client sent them meanwhile.
    restoring: Vec<(String, Gate)>,
}

impl ClientState {
    fn restoring(&mut self, ns: &str) -> Option<&mut Gate> {
        self.restoring
            .iter_mut()
            .find(|(n, _)| n == ns)
            .map(|(_, gate)| gate)
    }
}

/// A binary packet waiting for its attachments, with what it has buffered and until when.
struct Partial {
    packet: PartialPacket,
    /// Bytes received: the text packet and the attachments so far.
    bytes: usize,
    deadline: Instant,
}

/// A client's sockets, one per namespace it joined. A handful at most, so a list: a map would
/// cost every connection a table and a copy of each namespace name.
#[derive(Default)]
pub(crate) struct Joined(Vec<Socket>);

impl Joined {
    fn get(&self, ns: &str) -> Option<&Socket> {
        self.0.iter().find(|s| s.ns() == ns)
    }

    fn insert(&mut self, socket: Socket) {
        self.0.push(socket);
    }

    pub(crate) fn remove(&mut self, ns: &str) -> Option<Socket> {
        let i = self.0.iter().position(|s| s.ns() == ns)?;
        Some(self.0.remove(i))
    }

    /// Removes the socket with this id, if it is still here.
    pub(crate) fn remove_socket(&mut self, id: crate::Sid) -> Option<Socket> {
        let i = self.0.iter().position(|s| s.id() == id)?;
        Some(self.0.remove(i))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every socket, in the order they joined.
    fn iter(&self) -> impl Iterator<Item = &Socket> {
        self.0.iter()
    }

    /// Every socket, leaving none.
    fn take(&mut self) -> Vec<Socket> {
        std::mem::take(&mut self.0)
    }
}

type Session = Arc<EngineSocket<Client>>;

/// Connects the Engine.IO layer to the namespaces of a server.
pub(crate) struct Dispatcher {
    pub(crate) shared: Arc<Shared>,
}

impl Dispatcher {
    fn observers(&self) -> &super::Observers {
        self.shared.manager.local().observers()
    }

    fn parse_error(&self, session: &Session, why: &dyn std::fmt::Display) {
        tracing::debug!(target: "volley::socketio", sid = %session.sid(), error = %why, "invalid packet, closing");
        let _ = session.data.reason.set(DisconnectReason::ParseError);
        session.close(CloseReason::TransportError);
    }

    fn socket(session: &Session, ns: &str) -> Option<Socket> {
        session.data.state.lock().ok()?.sockets.get(ns).cloned()
    }

    /// Hands a complete packet to its namespace; `len` is its size on the wire.
    fn dispatch(&self, session: &Session, packet: Packet, len: usize) {
        match packet.data {
            PacketData::Connect(auth) => {
                // a v2 client's auth is the query on the namespace's name
                let (ns, auth) = if session.eio3() {
                    super::v2::namespace_and_auth(packet.ns)
                } else {
                    (packet.ns, auth)
                };
                return self.connect(session, ns, auth);
            }
            PacketData::ConnectError(_) => {
                return self.parse_error(session, &"CONNECT_ERROR from a client")
            }
            PacketData::Ack(_) if packet.id.is_none() => {
                return self.parse_error(session, &"ack without id")
            }
            _ => {}
        }
        let Some(socket) = Self::socket(session, &packet.ns) else {
            let held = session.data.state.lock().ok().and_then(|mut state| {
                let limits = &self.shared.config.limits;
                let ns = packet.ns.clone();
                state
                    .restoring(&ns)
                    .map(|gate| gate.hold_incoming(packet, len, limits))
            });
            match held {
                Some(Ok(())) => {}
                Some(Err(limit)) => exceeded(session, limit),
                None => {
                    tracing::debug!(target: "volley::socketio", "packet for a namespace not joined")
                }
            }
            return;
        };
        if let Err(limit) = socket.receive(packet, len) {
            exceeded(session, limit);
        }
    }

    fn connect(&self, session: &Session, ns: String, auth: Option<Value>) {
        let Some(nsp) = self.shared.namespace(&ns) else {
            let refusal = ConnectError::new("Invalid namespace");
            let parser = self.shared.config.parser;
            if let Ok(frame) = super::v2::connect_error(parser, session, &ns, &refusal) {
                let _ = session.send(frame);
            }
            return;
        };
        let socket = {
            let Ok(mut state) = session.data.state.lock() else {
                return;
            };
            if state.sockets.get(&ns).is_some() || state.restoring(&ns).is_some() {
                tracing::debug!(target: "volley::socketio", ns, "already connected to namespace");
                return;
            }
            if state.sockets.len() + state.restoring.len() >= self.shared.config.limits.namespaces {
                drop(state);
                return exceeded(session, Limit::Namespaces);
            }
            // a v2 client cannot ask for recovery
            let recovery = if session.eio3() {
                Recovery::No
            } else {
                recover(&nsp, session, auth.as_ref())
            };
            let socket = match recovery {
                Recovery::Here(socket) => socket,
                Recovery::Ask { pid, offset } => {
                    state.restoring.push((ns, Gate::default()));
                    drop(state);
                    let session_ = session.clone();
                    let job = Box::pin(async move {
                        let found = nsp
                            .manager
                            .restore_session(&nsp.name, &pid, offset.as_deref())
                            .await;
                        resume_remote(&session_, nsp, auth, &pid, offset.as_deref(), found);
                    });
                    return super::budget::spawn(session, &self.shared.config.limits, job);
                }
                Recovery::No if session.eio3() => super::v2::socket(&nsp, session, auth.clone()),
                Recovery::No => Socket::new(nsp.clone(), session.clone(), auth.clone()),
            };
            state.sockets.insert(socket.clone());
            socket
        };
        admit(session, &nsp, socket, auth);
    }
}

/// Runs the namespace's connect handler for a new socket (skipped for a recovered one unless
/// configured otherwise), then confirms or refuses it.
fn admit(
    session: &Session,
    nsp: &Arc<super::namespace::NamespaceInner>,
    socket: Socket,
    auth: Option<Value>,
) {
    let skip_handler = socket.recovered()
        && nsp
            .manager
            .local()
            .recovery()
            .is_some_and(|r| r.config.skip_connect_handler);
    if socket.recovered() {
        // registered by the recovery already; a cluster manager starts on its first socket
        nsp.manager.add_recovered_socket(&socket);
    } else {
        nsp.manager.add_socket(&socket);
    }
    match nsp.connect_handler().filter(|_| !skip_handler) {
        None => finish_connect(session, socket, Ok(())),
        Some(handler) => match handler.call(socket.clone(), auth) {
            Ok(outcome) => finish_connect(session, socket, outcome),
            Err(pending) => {
                let session_ = session.clone();
                let job = Box::pin(async move {
                    let outcome = pending.await;
                    finish_connect(&session_, socket, outcome);
                });
                super::budget::spawn(session, &nsp.config.limits, job);
            }
        },
    }
}

impl Dispatcher {
    /// Takes a binary message as the next attachment of the packet waiting for them.
    fn attachment(&self, session: &Session, data: Bytes) {
        let limits = &self.shared.config.limits;
        let result = {
            let Ok(mut state) = session.data.state.lock() else {
                return;
            };
            let Some(partial) = state.partial.as_mut() else {
                drop(state);
                return self.parse_error(session, &"unexpected binary message");
            };
            partial.bytes = partial.bytes.saturating_add(data.len());
            if partial.bytes > limits.attachment_bytes {
                state.partial = None;
                drop(state);
                return exceeded(session, Limit::AttachmentBytes);
            }
            let bytes = partial.bytes;
            match partial.packet.push(data) {
                Ok(Some(packet)) => {
                    state.partial = None;
                    Ok(Some((packet, bytes)))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(Some((packet, bytes))) => self.dispatch(session, packet, bytes),
            Ok(None) => {}
            Err(e) => self.parse_error(session, &e),
        }
    }

    /// Starts waiting for a binary packet's attachments, within the attachment timeout.
    fn await_attachments(&self, session: &Session, packet: PartialPacket, len: usize) {
        let limits = &self.shared.config.limits;
        let Ok(mut state) = session.data.state.lock() else {
            return;
        };
        state.partial = Some(Box::new(Partial {
            packet,
            bytes: len,
            deadline: Instant::now() + limits.attachment_timeout,
        }));
        if !state.attachment_timer {
            state.attachment_timer = true;
            tokio::spawn(watch_attachments(Arc::downgrade(session)));
        }
    }
}

/// What becomes of a CONNECT, as far as connection state recovery goes.
enum Recovery {
    /// The socket this node held, recovered.
    Here(Socket),
    /// The client presents a private id this node does not hold: ask the other nodes.
    Ask { pid: String, offset: Option<String> },
    /// A new socket.
    No,
}

/// The socket a reconnecting client asks back (connection state recovery): its `auth` carries
/// the private id it was given (`pid`) and the offset of the last broadcast it received
/// (`offset`). A new socket when recovery is off, or the socket cannot be recovered (unknown or
/// expired id, offset no longer in the log, too much missed): the client then sees `recovered`
/// false.
fn recover(
    nsp: &Arc<super::namespace::NamespaceInner>,
    session: &Session,
    auth: Option<&Value>,
) -> Recovery {
    if nsp.manager.local().recovery().is_none() {
        return Recovery::No;
    }
    let field = |name: &str| match auth? {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    };
    // only an id this server could have made: anything else would cost the cluster a request
    let Some(pid) = field("pid").filter(|pid| Recoverer::is_pid(pid)) else {
        return Recovery::No;
    };
    let offset = field("offset");
    match recover_here(nsp, session, auth, pid, offset) {
        Some(Some(socket)) => Recovery::Here(socket),
        Some(None) => Recovery::No,
        None if nsp.manager.server_count() > 1 || nsp.manager.keeps_sessions() => Recovery::Ask {
            pid: pid.to_owned(),
            offset: offset.map(str::to_owned),
        },
        None => Recovery::No,
    }
}

/// Recovers the socket this node keeps for `pid`: `None` when it keeps none, `Some(None)` when
/// it does but cannot give it back (the missed traffic is gone or too much), and the socket.
fn recover_here(
    nsp: &Arc<super::namespace::NamespaceInner>,
    session: &Session,
    auth: Option<&Value>,
    pid: &str,
    offset: Option<&str>,
) -> Option<Option<Socket>> {
    let local = nsp.manager.local();
    let mut persisted = local.recovery()?.take(&nsp.name, pid)?;
    let socket = Socket::resume(nsp.clone(), session.clone(), auth.cloned(), &mut persisted);
    let (max_frames, max_bytes) = missed_bounds(session);
    match local.restore(
        &socket,
        &persisted.rooms,
        offset,
        persisted.base,
        max_frames,
        max_bytes,
    ) {
        Ok(missed) => {
            tracing::debug!(target: "volley::socketio", sid = %socket.id(), ns = %nsp.name, missed, "connection state recovered");
            Some(Some(socket))
        }
        Err(why) => {
            tracing::debug!(target: "volley::socketio", ns = %nsp.name, ?why, "connection state not recovered");
            Some(None)
        }
    }
}

/// How much missed traffic a recovered socket may be sent before anything new: it waits behind
/// the CONNECT acknowledgement, so it must fit the outgoing queue with room to spare for what
/// comes next (24 frames and a quarter of the bytes).
fn missed_bounds(session: &Session) -> (usize, usize) {
    let frames = session.queue.capacity().saturating_sub(24);
    let bytes = session.queue.max_bytes() / 4 * 3;
    (frames, bytes)
}

/// Ends a CONNECT that waited for another node's answer: the socket it handed over (or a new one
/// when none did, or it cannot be taken here), then the packets held meanwhile, then the connect
/// handler as for any socket.
fn resume_remote(
    session: &Session,
    nsp: Arc<super::namespace::NamespaceInner>,
    auth: Option<Value>,
    pid: &str,
    offset: Option<&str>,
    found: Option<volley_protocol::cluster::RecoveredSession>,
) {
    if closing(session) {
        return;
    }
    // No node had it: this one may have kept it meanwhile. A client that reconnects at once can
    // ask before this node has seen its old connection end (more so when the machine or the
    // broker is slow), and by the time the others have answered the old socket is kept here.
    let found_here = || {
        let socket = recover_here(&nsp, session, auth.as_ref(), pid, offset).flatten()?;
        tracing::debug!(target: "volley::socketio", sid = %socket.id(), ns = %nsp.name, "connection state recovered here while the cluster was asked");
        Some(socket)
    };
    let local = nsp.manager.local();
    let recovered = found.and_then(|found| {
        let sid = crate::Sid::parse(&found.sid)?;
        let mut persisted = Persisted::new(
            sid,
            pid.into(),
            nsp.name.clone(),
            found.rooms.clone(),
            super::session::from_transfer(found.data.clone()),
            0,
        );
        let socket = Socket::resume(nsp.clone(), session.clone(), auth.clone(), &mut persisted);
        match local.restore_remote(&socket, &found, missed_bounds(session).0) {
            Ok(missed) => {
                tracing::debug!(target: "volley::socketio", sid = %socket.id(), ns = %nsp.name, missed, "connection state recovered from another node");
                Some(socket)
            }
            Err(why) => {
                tracing::debug!(target: "volley::socketio", ns = %nsp.name, ?why, "connection state from another node not recovered");
                None
            }
        }
    });
    let socket = recovered
        .or_else(found_here)
        .unwrap_or_else(|| Socket::new(nsp.clone(), session.clone(), auth.clone()));
    let held = {
        let Ok(mut state) = session.data.state.lock() else {
            return;
        };
        let at = state.restoring.iter().position(|(n, _)| *n == nsp.name);
        let gate = at.map(|i| state.restoring.remove(i).1);
        state.sockets.insert(socket.clone());
        gate
    };
    if let Some(mut gate) = held {
        while let Some(packet) = gate.next_incoming() {
            // already counted against the pending bounds
            if let Err(limit) = socket.receive(packet, 0) {
                return exceeded(session, limit);
            }
        }
    }
    admit(session, &nsp, socket, auth);
}

/// Closes a session whose partial packet outlived its deadline. One task per session at most,
/// while the session has partial packets: it sleeps until the current one's deadline, and ends
/// when none waits (or the session is gone).
async fn watch_attachments(session: std::sync::Weak<EngineSocket<Client>>) {
    loop {
        let deadline = {
            let Some(session) = session.upgrade() else {
                return;
            };
            let Ok(mut state) = session.data.state.lock() else {
                return;
            };
            match state.partial.as_ref().map(|p| p.deadline) {
                Some(deadline) if deadline <= Instant::now() => {
                    state.partial = None;
                    state.attachment_timer = false;
                    drop(state);
                    return exceeded(&session, Limit::AttachmentTimeout);
                }
                Some(deadline) => deadline,
                None => {
                    state.attachment_timer = false;
                    return;
                }
            }
        };
        tokio::time::sleep_until(deadline).await;
    }
}

/// Disconnects a client that went past one of the server's limits: every namespace hears why
/// (a DISCONNECT, or a CONNECT_ERROR naming the limit for one still connecting), its disconnect
/// handlers get [`DisconnectReason::LimitExceeded`], and the session closes once that is written.
pub(crate) fn exceeded(session: &Session, limit: Limit) {
    let reason = DisconnectReason::LimitExceeded(limit);
    if session.data.reason.set(reason).is_err() || session.is_closed() {
        return;
    }
    let remote = session.request().remote_addr;
    tracing::warn!(target: "volley::socketio", sid = %session.sid(), ?remote, %limit, "client went past a limit, disconnecting");
    if limit == Limit::Handlers {
        session.data.budget.abandon();
    }
    disconnect_all(session, reason);
    session.close_gracefully();
}

/// Whether the session is closed or being closed by the server: its disconnect handlers then
/// run outside the handler budget (they are the last of it, and its slots may never free).
pub(crate) fn closing(session: &Session) -> bool {
    session.is_closed() || session.data.reason.get().is_some()
}

/// Disconnects every socket of a session from its namespace, telling the client: a DISCONNECT,
/// or for a socket still connecting a CONNECT_ERROR that names the reason.
pub(crate) fn disconnect_all(session: &Session, reason: DisconnectReason) {
    let sockets: Vec<Socket> = session
        .data
        .state
        .lock()
        .map(|mut s| s.sockets.take())
        .unwrap_or_default();
    for socket in sockets {
        let frame = if socket.is_confirmed() {
            socket.parser().disconnect(socket.ns())
        } else {
            let refusal = ConnectError::new(reason.as_str());
            super::v2::connect_error(socket.parser(), session, socket.ns(), &refusal)
        };
        if let Ok(frame) = frame {
            let _ = session.send(frame);
        }
        socket.on_disconnect(reason);
    }
}

/// Confirms or refuses a connect once the connect handler has decided.
fn finish_connect(session: &Session, socket: Socket, outcome: Result<(), ConnectError>) {
    match outcome {
        Ok(()) => {
            if let Some(wait) = socket.rooms_wait() {
                // the rooms entered on connect are listened to before the client hears it is in
                let session_ = session.clone();
                let nsp = socket.0.ns.clone();
                let job = Box::pin(async move {
                    wait.await;
                    confirm(&session_, socket);
                });
                return super::budget::spawn(session, &nsp.config.limits, job);
            }
            confirm(session, socket);
        }
        Err(refusal) => {
            tracing::debug!(target: "volley::socketio", ns = socket.ns(), message = refusal.message(), "connect refused");
            if let Ok(mut state) = session.data.state.lock() {
                state.sockets.remove(socket.ns());
            }
            socket.on_disconnect(DisconnectReason::ServerDisconnect);
            if let Ok(frame) = socket.refusal_frame(&refusal) {
                let _ = session.send(frame);
            }
        }
    }
}

/// Sends the CONNECT acknowledgement of an accepted socket and lets its held packets through.
fn confirm(session: &Session, socket: Socket) {
    if socket.confirm_connect().is_ok() {
        session.data.joined.store(true, Ordering::Release);
        socket
            .0
            .ns
            .manager
            .local()
            .observers()
            .each(|o| o.socket_connected(&socket));
        tracing::debug!(target: "volley::socketio", sid = %socket.id(), ns = socket.ns(), "socket connected");
        socket.open_gate();
    }
}

impl EngineHandler for Dispatcher {
    type Data = Client;

    fn on_open(&self, session: &Session) {
        let transport = session.transport();
        self.observers().each(|o| o.connection_opened(transport));
        if session.eio3() {
            // a v2 client is in `/` without asking, as Socket.IO 2 servers had it
            self.connect(session, "/".to_owned(), super::v2::handshake_auth(session));
        }
    }

    fn session_tag(&self) -> Option<&str> {
        self.shared.manager.session_tag()
    }

    fn session_owner(&self, tag: &str) -> Option<String> {
        self.shared.manager.session_owner(tag)
    }

    /// The connect timeout.
    fn open_check_after(&self) -> Option<Duration> {
        Some(self.shared.config.connect_timeout)
    }

    /// Closes a session that has not joined a namespace (nor is waiting for a connect handler)
    /// within the connect timeout.
    fn on_open_check(&self, session: &Session) {
        if session.data.joined.load(Ordering::Acquire) {
            return;
        }
        let idle = session
            .data
            .state
            .lock()
            .map(|s| s.sockets.is_empty() && s.restoring.is_empty())
            .unwrap_or(true);
        if idle {
            tracing::debug!(target: "volley::socketio", sid = %session.sid(), "no namespace joined in time, closing");
            session.close(CloseReason::ServerClose);
        }
    }

    fn on_message(&self, session: &Session, text: &str) {
        self.observers().each(|o| o.packet_received(text.len()));
        if self.shared.config.parser == Parser::MsgPack {
            return self.parse_error(session, &"text message with the msgpack parser");
        }
        let waiting = session
            .data
            .state
            .lock()
            .map(|s| s.partial.is_some())
            .unwrap_or(false);
        if waiting {
            return self.parse_error(session, &"text packet while attachments were expected");
        }
        match decode(text, self.shared.config.max_attachments) {
            Ok(Decoded::Complete(packet)) => self.dispatch(session, packet, text.len()),
            Ok(Decoded::Partial(partial)) => self.await_attachments(session, partial, text.len()),
            Err(e) => self.parse_error(session, &e),
        }
    }

    fn on_binary(&self, session: &Session, data: Bytes) {
        self.observers().each(|o| o.packet_received(data.len()));
        if self.shared.config.parser == Parser::MsgPack {
            return match volley_protocol::msgpack::decode(&data) {
                Ok(packet) => self.dispatch(session, packet, data.len()),
                Err(e) => self.parse_error(session, &e),
            };
        }
        self.attachment(session, data);
    }

    /// While the connection's handlers are backlogged: reads wait until they drain, and a
    /// connection that stays backlogged past the stall timeout is disconnected.
    fn pause(&self, session: &Session) -> Option<Pause> {
        let backlog = self.shared.config.limits.backlog;
        session.data.budget.congested(backlog)?;
        let session = session.clone();
        let stall = self.shared.config.limits.handler_stall;
        Some(Box::pin(async move {
            let wait = async {
                while let Some(drained) = session.data.budget.congested(backlog) {
                    drained.notified().await;
                }
            };
            if tokio::time::timeout(stall, wait).await.is_err() {
                exceeded(&session, Limit::Handlers);
            }
        }))
    }

    fn on_upgrade(&self, session: &Session) {
        let sockets: Vec<Socket> = session
            .data
            .state
            .lock()
            .map(|s| s.sockets.iter().cloned().collect())
            .unwrap_or_default();
        for socket in sockets {
            socket
                .0
                .ns
                .manager
                .local()
                .observers()
                .each(|o| o.socket_upgraded(&socket));
        }
    }

    fn on_close(&self, session: &Session, reason: CloseReason) {
        self.observers().each(|o| o.connection_closed(reason));
        let reason = session
            .data
            .reason
            .get()
            .copied()
            .unwrap_or(DisconnectReason::from(reason));
        let sockets: Vec<Socket> = session
            .data
            .state
            .lock()
            .map(|mut s| {
                s.partial = None;
                s.sockets.take()
            })
            .unwrap_or_default();
        for socket in sockets {
            socket.on_disconnect(reason);
        }
    }
}
