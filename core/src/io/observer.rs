//! Watching what the server does: the seam the Admin UI support and the metrics hang on. With
//! no observer registered, the cost on the hot paths is one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use volley_protocol::Value;

use crate::engine::{CloseReason, Sid, Transport};
use crate::{DisconnectReason, Socket};

/// Receives what happens on this node. Every method has an empty default; they are called on
/// the server's hot paths, so they must be quick and must not block.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use volley::{Observer, Socket};
///
/// #[derive(Default)]
/// struct Counter(AtomicU64);
///
/// impl Observer for Counter {
///     fn socket_connected(&self, _socket: &Socket) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let io = volley::Server::builder().build();
/// io.observe(std::sync::Arc::new(Counter::default()));
/// ```
pub trait Observer: Send + Sync + 'static {
    /// A socket joined its namespace (after the connect handler accepted it).
    fn socket_connected(&self, socket: &Socket) {
        let _ = socket;
    }

    /// A socket left its namespace: called for the sockets `socket_connected` reported (not for
    /// refused connections), before the `room_left` of its rooms.
    fn socket_disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        let _ = (socket, reason);
    }

    /// A socket's connection moved to another transport (polling to WebSocket).
    fn socket_upgraded(&self, socket: &Socket) {
        let _ = socket;
    }

    /// A local socket entered a room.
    fn room_joined(&self, ns: &str, room: &str, sid: Sid) {
        let _ = (ns, room, sid);
    }

    /// A local socket left a room (also when it disconnects).
    fn room_left(&self, ns: &str, room: &str, sid: Sid) {
        let _ = (ns, room, sid);
    }

    /// A client sent an event.
    fn event_received(&self, socket: &Socket, event: &str, args: &[Value]) {
        let _ = (socket, event, args);
    }

    /// An event was queued for a local socket.
    fn event_sent(&self, ns: &str, sid: Sid, event: &str, args: &[Value]) {
        let _ = (ns, sid, event, args);
    }

    /// A broadcast was delivered to `recipients` local sockets.
    fn broadcast(&self, ns: &str, recipients: usize) {
        let _ = (ns, recipients);
    }

    /// A frame could not be queued because a client's queue was full (`dropped` when the emit was
    /// volatile, else the client was disconnected).
    fn queue_full(&self, sid: Sid, dropped: bool) {
        let _ = (sid, dropped);
    }

    /// An Engine.IO connection opened, before it joins any namespace.
    fn connection_opened(&self, transport: Transport) {
        let _ = transport;
    }

    /// An Engine.IO connection closed.
    fn connection_closed(&self, reason: CloseReason) {
        let _ = reason;
    }

    /// A client sent a message of `bytes` bytes (one Socket.IO packet, or one binary attachment).
    fn packet_received(&self, bytes: usize) {
        let _ = bytes;
    }

    /// A Socket.IO packet of about `bytes` bytes (as written on the wire) was queued for a socket.
    fn packet_sent(&self, bytes: usize) {
        let _ = bytes;
    }
}

/// The observers of one server.
#[derive(Default)]
pub(crate) struct Observers {
    any: AtomicBool,
    list: RwLock<Vec<Arc<dyn Observer>>>,
}

impl Observers {
    pub(crate) fn add(&self, observer: Arc<dyn Observer>) {
        if let Ok(mut list) = self.list.write() {
            list.push(observer);
            self.any.store(true, Ordering::Release);
        }
    }

    /// Calls `f` on every observer; nearly free when there is none.
    #[inline]
    pub(crate) fn each(&self, f: impl Fn(&dyn Observer)) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        if let Ok(list) = self.list.read() {
            for o in list.iter() {
                f(o.as_ref());
            }
        }
    }

    /// Whether any observer is registered.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }
}
