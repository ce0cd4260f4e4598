//! One Engine.IO connection seen from Socket.IO: packet dispatch to namespaces, binary
//! reassembly, namespace connects, and the connect timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use volley_protocol::packet::{decode, Decoded, Packet, PacketData, PartialPacket};
use volley_protocol::Value;

use super::handler::AckSender;
use super::parser::Parser;
use super::server::Shared;
use crate::engine::{CloseReason, EngineHandler, EngineSocket};
use crate::{ConnectError, DisconnectReason, Socket};

/// The Socket.IO state of one Engine.IO session.
#[derive(Default)]
pub struct Client {
    pub(crate) state: Mutex<ClientState>,
    /// Set once the client joined a namespace: the connect timeout no longer applies, even if
    /// it leaves every namespace later.
    joined: AtomicBool,
    /// Set when the Socket.IO layer itself closed the session, to report a finer reason.
    reason: OnceLock<DisconnectReason>,
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
    partial: Option<Box<PartialPacket>>,
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

    fn dispatch(&self, session: &Session, packet: Packet) {
        match packet.data {
            PacketData::Connect(auth) => self.connect(session, packet.ns, auth),
            PacketData::Disconnect => {
                let socket = session
                    .data
                    .state
                    .lock()
                    .ok()
                    .and_then(|mut s| s.sockets.remove(&packet.ns));
                if let Some(socket) = socket {
                    socket.on_disconnect(DisconnectReason::ClientDisconnect);
                }
            }
            PacketData::Event { event, args } => {
                let Some(socket) = Self::socket(session, &packet.ns) else {
                    tracing::debug!(target: "volley::socketio", ns = packet.ns, "event for a namespace not joined");
                    return;
                };
                tracing::trace!(target: "volley::socketio", sid = %socket.id(), event, "event received");
                socket
                    .0
                    .ns
                    .manager
                    .local()
                    .observers()
                    .each(|o| o.event_received(&socket, &event, &args));
                let sid = socket.id();
                match socket.0.ns.resolve(event, args) {
                    Some((handler, args)) => {
                        let ack = packet.id.map(|id| AckSender::new(socket.clone(), id));
                        handler.call(socket, args, ack);
                    }
                    None => {
                        tracing::debug!(target: "volley::socketio", %sid, "no handler for event")
                    }
                }
            }
            PacketData::Ack(args) => match (packet.id, Self::socket(session, &packet.ns)) {
                (Some(id), Some(socket)) => socket.on_ack(id, args),
                (None, _) => self.parse_error(session, &"ack without id"),
                (Some(_), None) => {}
            },
            PacketData::ConnectError(_) => {
                self.parse_error(session, &"CONNECT_ERROR from a client")
            }
        }
    }

    fn connect(&self, session: &Session, ns: String, auth: Option<Value>) {
        let Some(nsp) = self.shared.namespace(&ns) else {
            let refusal = ConnectError::new("Invalid namespace").to_value();
            if let Ok(frame) = self.shared.config.parser.connect_error(&ns, &refusal) {
                let _ = session.send(frame);
            }
            return;
        };
        let socket = {
            let Ok(mut state) = session.data.state.lock() else {
                return;
            };
            if state.sockets.get(&ns).is_some() {
                tracing::debug!(target: "volley::socketio", ns, "already connected to namespace");
                return;
            }
            let socket = Socket::new(nsp.clone(), session.clone(), auth.clone());
            state.sockets.insert(socket.clone());
            socket
        };
        nsp.manager.add_socket(&socket);
        match nsp.connect_handler() {
            None => finish_connect(session, socket, Ok(())),
            Some(handler) => match handler.call(socket.clone(), auth) {
                Ok(outcome) => finish_connect(session, socket, outcome),
                Err(pending) => {
                    let session = session.clone();
                    tokio::spawn(async move {
                        let outcome = pending.await;
                        finish_connect(&session, socket, outcome);
                    });
                }
            },
        }
    }
}

/// Disconnects every socket of a session from its namespace, telling the client.
pub(crate) fn disconnect_all(session: &Session, reason: DisconnectReason) {
    let sockets: Vec<Socket> = session
        .data
        .state
        .lock()
        .map(|mut s| s.sockets.take())
        .unwrap_or_default();
    for socket in sockets {
        if let Ok(frame) = socket.parser().disconnect(socket.ns()) {
            let _ = session.send(frame);
        }
        socket.on_disconnect(reason);
    }
}

/// Confirms or refuses a connect once the connect handler has decided.
fn finish_connect(session: &Session, socket: Socket, outcome: Result<(), ConnectError>) {
    match outcome {
        Ok(()) => {
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
            }
        }
        Err(refusal) => {
            tracing::debug!(target: "volley::socketio", ns = socket.ns(), message = refusal.message(), "connect refused");
            if let Ok(mut state) = session.data.state.lock() {
                state.sockets.remove(socket.ns());
            }
            socket.on_disconnect(DisconnectReason::ServerDisconnect);
            if let Ok(frame) = socket
                .parser()
                .connect_error(socket.ns(), &refusal.to_value())
            {
                let _ = session.send(frame);
            }
        }
    }
}

impl EngineHandler for Dispatcher {
    type Data = Client;

    fn on_open(&self, session: &Session) {
        let transport = session.transport();
        self.observers().each(|o| o.connection_opened(transport));
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
            .map(|s| s.sockets.is_empty())
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
            Ok(Decoded::Complete(packet)) => self.dispatch(session, packet),
            Ok(Decoded::Partial(partial)) => {
                if let Ok(mut state) = session.data.state.lock() {
                    state.partial = Some(Box::new(partial));
                }
            }
            Err(e) => self.parse_error(session, &e),
        }
    }

    fn on_binary(&self, session: &Session, data: Bytes) {
        self.observers().each(|o| o.packet_received(data.len()));
        if self.shared.config.parser == Parser::MsgPack {
            return match volley_protocol::msgpack::decode(&data) {
                Ok(packet) => self.dispatch(session, packet),
                Err(e) => self.parse_error(session, &e),
            };
        }
        let result = {
            let Ok(mut state) = session.data.state.lock() else {
                return;
            };
            match state.partial.as_mut() {
                None => Err(None),
                Some(partial) => match partial.push(data) {
                    Ok(Some(packet)) => {
                        state.partial = None;
                        Ok(Some(packet))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(Some(e)),
                },
            }
        };
        match result {
            Ok(Some(packet)) => self.dispatch(session, packet),
            Ok(None) => {}
            Err(None) => self.parse_error(session, &"unexpected binary message"),
            Err(Some(e)) => self.parse_error(session, &e),
        }
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
