//! Emitting to many sockets: rooms, skips, volatile delivery and collected acks.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use volley_protocol::Value;

use super::namespace::NamespaceInner;
use crate::engine::Sid;
use crate::manager::{BroadcastOptions, SocketInfo};
use crate::{AckError, EmitError, IntoRooms};

/// One client's answer to an emit that asked for acks.
#[derive(Debug)]
pub struct AckResponse {
    /// The socket that answered (or failed to).
    pub sid: Sid,
    /// Its ack arguments, or why there are none.
    pub result: Result<Vec<Value>, AckError>,
}

/// An emit being described: which rooms, which to skip, how to deliver. Made by
/// [`crate::Namespace::to`], [`crate::Namespace::except`] and [`crate::Namespace::broadcast`].
///
/// ```
/// # async fn f(io: volley::Server) -> Result<(), volley::EmitError> {
/// io.of("/").to("room1").to("room2").except("room3").emit("news", "hello").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an emit does nothing until `.emit(..)` is awaited"]
pub struct BroadcastOperator {
    ns: Arc<NamespaceInner>,
    opts: BroadcastOptions,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for NamespaceInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Namespace").field(&self.name).finish()
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<NamespaceInner>) -> Self {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
            timeout: None,
        }
    }

    /// Adds target rooms (or socket ids). With no room, every socket is a target.
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        rooms.into_rooms(&mut self.opts.rooms);
        self
    }

    /// Leaves out the sockets of rooms (or sockets by id): Node's `except`, python-socketio's
    /// `skip_sid`.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        rooms.into_rooms(&mut self.opts.except);
        self
    }

    /// Allows the packet to be dropped for clients whose outgoing queue is full, instead of
    /// disconnecting them.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Only the sockets connected to this node (in a cluster, nothing is published).
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// How long [`BroadcastOperator::emit_with_ack`] waits (default: the server's ack timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits the event to the targets. `data` becomes the arguments as in [`crate::Socket::emit`].
    pub async fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> Result<(), EmitError> {
        super::error::refuse_reserved(event)?;
        let args = volley_protocol::args::to_args(data)?;
        self.ns
            .manager
            .emit(&self.ns.name, event, &args, &self.opts)
            .await
    }

    /// Sends a `message` event to the targets (python-socketio's `send`).
    ///
    /// ```
    /// # async fn f(io: volley::Server) -> Result<(), volley::EmitError> {
    /// io.of("/").to("lobby").send("hello, lobby").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data).await
    }

    /// Puts the targeted sockets, on every node, in `rooms`.
    pub async fn join(self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms = super::rooms::rooms(rooms);
        self.ns
            .manager
            .add_sockets(&self.ns.name, &self.opts, &rooms)
            .await
    }

    /// Takes the targeted sockets, on every node, out of `rooms`.
    pub async fn leave(self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms = super::rooms::rooms(rooms);
        self.ns
            .manager
            .del_sockets(&self.ns.name, &self.opts, &rooms)
            .await
    }

    /// Describes the targeted sockets, on every node.
    ///
    /// ```
    /// # async fn f(io: volley::Server) -> Result<(), volley::EmitError> {
    /// let members = io.of("/").to("lobby").fetch_sockets().await?.len();
    /// # Ok(()) }
    /// ```
    pub async fn fetch_sockets(self) -> Result<Vec<SocketInfo>, EmitError> {
        self.ns
            .manager
            .fetch_sockets(&self.ns.name, &self.opts)
            .await
    }

    /// Disconnects the targeted sockets, on every node, from the namespace.
    pub async fn disconnect(self) -> Result<(), EmitError> {
        self.ns
            .manager
            .disconnect_sockets(&self.ns.name, &self.opts)
            .await
    }

    /// Emits the event to the targets and waits for each one's ack, all within one timeout.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        data: &T,
    ) -> Result<Vec<AckResponse>, EmitError> {
        super::error::refuse_reserved(event)?;
        let args = volley_protocol::args::to_args(data)?;
        let timeout = self.timeout.unwrap_or(self.ns.config.ack_timeout);
        self.ns
            .manager
            .emit_with_ack(&self.ns.name, event, &args, &self.opts, timeout)
            .await
    }
}
