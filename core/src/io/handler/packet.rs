//! Incoming-packet middlewares: functions that see every event a connected client sends to a
//! namespace before its handler, and may change it, drop it or refuse it (Node's `socket.use`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use volley_protocol::Value;

use super::Rejection;
use crate::Socket;

/// An event as a client sent it, on its way to its handler. A packet middleware may change its
/// name and arguments.
///
/// ```
/// use volley::handler::{IncomingEvent, PacketFlow};
/// # let io = volley::Server::builder().build();
/// io.of("/").use_packets(|_s: &volley::Socket, ev: &mut IncomingEvent| {
///     if ev.event() == "legacy-chat" {
///         ev.set_event("chat"); // renamed: the `chat` handler runs
///     }
///     PacketFlow::Pass
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    event: String,
    args: Vec<Value>,
    wants_ack: bool,
}

impl IncomingEvent {
    pub(crate) fn new(event: String, args: Vec<Value>, wants_ack: bool) -> Self {
        IncomingEvent {
            event,
            args,
            wants_ack,
        }
    }

    pub(crate) fn into_parts(self) -> (String, Vec<Value>) {
        (self.event, self.args)
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Renames the event: the handler of the new name runs.
    pub fn set_event(&mut self, event: impl Into<String>) {
        self.event = event.into();
    }

    /// The event's arguments.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The event's arguments, to change.
    pub fn args_mut(&mut self) -> &mut Vec<Value> {
        &mut self.args
    }

    /// Whether the client asked for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.wants_ack
    }
}

/// What a packet middleware decides about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketFlow {
    /// Hand the event (as the middleware left it) to the next middleware, then its handler.
    Pass,
    /// Drop the event silently: no handler runs, a requested ack never comes.
    Drop,
    /// Refuse the event: no handler runs, and a client that asked for an ack gets
    /// `{"error": kind, "message": message}` at once.
    Refuse(Rejection),
}

/// The form every packet middleware takes: a sync function of the socket and the event. It runs
/// on the connection's reader, in the order the events arrive, so it must be quick; its socket
/// was accepted by the connect middlewares and handler (it never sees packets of a socket that
/// was not).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use volley::handler::{IncomingEvent, PacketFlow};
/// use volley::Socket;
///
/// static EVENTS: AtomicU64 = AtomicU64::new(0);
///
/// fn count(_socket: &Socket, _event: &mut IncomingEvent) -> PacketFlow {
///     EVENTS.fetch_add(1, Ordering::Relaxed);
///     PacketFlow::Pass
/// }
///
/// let io = volley::Server::builder().build();
/// io.of("/").use_packets(count);
/// ```
pub trait PacketMiddleware:
    Fn(&Socket, &mut IncomingEvent) -> PacketFlow + Send + Sync + 'static
{
}

impl<F> PacketMiddleware for F where
    F: Fn(&Socket, &mut IncomingEvent) -> PacketFlow + Send + Sync + 'static
{
}

type Boxed = Arc<dyn Fn(&Socket, &mut IncomingEvent) -> PacketFlow + Send + Sync>;

/// The packet middlewares of a namespace. Checking that there is none costs one atomic load per
/// event.
#[derive(Default)]
pub(crate) struct PacketMiddlewares {
    any: AtomicBool,
    list: RwLock<Arc<[Boxed]>>,
}

/// The ack of a refused event.
#[derive(Serialize)]
struct Refused<'a> {
    error: &'static str,
    message: &'a str,
}

impl PacketMiddlewares {
    pub(crate) fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    pub(crate) fn push(&self, middleware: impl PacketMiddleware) {
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Boxed> = list.iter().cloned().collect();
        all.push(Arc::new(middleware));
        *list = all.into();
        self.any.store(true, Ordering::Release);
    }

    /// Runs the middlewares on an event; `None` when one dropped or refused it (the refusal is
    /// answered through `refuse` when the client asked for an ack).
    pub(crate) fn run(
        &self,
        socket: &Socket,
        event: String,
        args: Vec<Value>,
        wants_ack: bool,
    ) -> Result<(String, Vec<Value>), Option<Vec<Value>>> {
        if self.is_empty() {
            return Ok((event, args));
        }
        let list = self.list.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut incoming = IncomingEvent::new(event, args, wants_ack);
        for middleware in list.iter() {
            match middleware(socket, &mut incoming) {
                PacketFlow::Pass => {}
                PacketFlow::Drop => {
                    tracing::debug!(target: "volley::socketio", sid = %socket.id(), event = incoming.event(), "event dropped by a packet middleware");
                    return Err(None);
                }
                PacketFlow::Refuse(rejection) => {
                    tracing::debug!(target: "volley::socketio", sid = %socket.id(), event = incoming.event(), error = %rejection, "event refused by a packet middleware");
                    let refused = Refused {
                        error: rejection.kind(),
                        message: rejection.message(),
                    };
                    return Err(volley_protocol::args::to_args(&refused).ok());
                }
            }
        }
        Ok(incoming.into_parts())
    }
}
