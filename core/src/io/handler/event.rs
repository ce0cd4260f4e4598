//! Event handlers: `(Socket, args) -> ack`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use volley_protocol::Value;

use super::markers;
use crate::io::args::{as_list, take_list};
use crate::Socket;

/// Sends the acknowledgement a client asked for with its event.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: u64,
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: u64) -> Self {
        AckSender { socket, id }
    }

    /// Sends `data` as the ack: `()` is no argument, a tuple one argument per element, anything
    /// else one argument.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) {
        match volley_protocol::args::to_args(data) {
            Ok(args) => self.socket.send_ack(self.id, &args),
            Err(e) => self.cannot_encode(&e),
        }
    }

    /// Sends a handler's result as the ack (an [`crate::Args`] result is sent as it is).
    fn send_result<R: Serialize + 'static>(self, result: &R) {
        match as_list(result) {
            Ok(args) => self.socket.send_ack(self.id, &args),
            Err(e) => self.cannot_encode(&e),
        }
    }

    fn cannot_encode(&self, e: &volley_protocol::EncodeError) {
        tracing::warn!(target: "volley::socketio", sid = %self.socket.id(), error = %e, "cannot encode ack")
    }
}

/// A function that handles one event: it receives the socket and the event's arguments
/// (deserialized into `T`, see [`volley_protocol::args::from_args`]) and returns the value
/// acknowledged to the client when it asked for an ack.
///
/// Arguments that do not deserialize into `T` do not run the handler: the mismatch is logged at
/// debug level, and a client that asked for an ack gets one argument,
/// `{"error": "invalid arguments", "message": "<what did not fit>"}`.
///
/// An async handler runs in a task of its own, within the connection's and the node's handler
/// budgets ([`crate::ServerBuilder::max_handlers_per_connection`]): past them the connection's
/// reads pause until a handler finishes.
///
/// ```
/// # let io = volley::Server::builder().build();
/// use volley::{Socket, Value};
/// // sync: the return value is the ack
/// io.of("/").on("add", |_s: Socket, (a, b): (i64, i64)| a + b);
/// // async
/// io.of("/").on("echo", |s: Socket, args: Vec<Value>| async move {
///     let _ = s.emit("echo", &args).await;
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Socket.IO event handler",
    note = "an event handler is a closure or fn taking `(Socket, T)` where `T: DeserializeOwned`, returning a `Serialize` value (the ack) or a future of one"
)]
pub trait EventHandler<M>: Send + Sync + 'static {
    /// Runs the handler for one event.
    fn call(&self, socket: Socket, args: Vec<Value>, ack: Option<AckSender>);
}

/// The ack a client gets when its event's arguments do not fit the handler's types.
#[derive(Serialize)]
struct InvalidArguments {
    error: &'static str,
    message: String,
}

/// The event's arguments as the handler's type. When they do not fit, the mismatch is logged at
/// debug level and a client that asked for an ack gets one carrying
/// `{"error": "invalid arguments", "message": "<what did not fit>"}` instead of waiting for its
/// ack timeout.
fn decode<A: DeserializeOwned + 'static>(
    socket: &Socket,
    args: Vec<Value>,
    ack: &mut Option<AckSender>,
) -> Option<A> {
    match take_list(args) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::debug!(target: "volley::socketio", sid = %socket.id(), error = %e, "event arguments do not fit the handler");
            if let Some(ack) = ack.take() {
                ack.send(&InvalidArguments {
                    error: "invalid arguments",
                    message: e.to_string(),
                });
            }
            None
        }
    }
}

impl<F, A, R> EventHandler<(markers::Sync, A, R)> for F
where
    F: Fn(Socket, A) -> R + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
{
    fn call(&self, socket: Socket, args: Vec<Value>, mut ack: Option<AckSender>) {
        let Some(a) = decode(&socket, args, &mut ack) else {
            return;
        };
        let r = self(socket, a);
        if let Some(ack) = ack {
            ack.send_result(&r);
        }
    }
}

impl<F, A, Fut, R> EventHandler<(markers::Async, A, R)> for F
where
    F: Fn(Socket, A) -> Fut + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Serialize + Send + 'static,
{
    fn call(&self, socket: Socket, args: Vec<Value>, mut ack: Option<AckSender>) {
        let Some(a) = decode(&socket, args, &mut ack) else {
            return;
        };
        let fut = self(socket.clone(), a);
        socket.spawn_handler(async move {
            let r = fut.await;
            if let Some(ack) = ack {
                ack.send_result(&r);
            }
        });
    }
}

/// Object-safe form of an [`EventHandler`], stored in a namespace.
pub(crate) trait ErasedEventHandler: Send + Sync + 'static {
    fn call(&self, socket: Socket, args: Vec<Value>, ack: Option<AckSender>);
}

struct Erased<H, M>(H, PhantomData<fn() -> M>);

impl<H: EventHandler<M>, M: 'static> ErasedEventHandler for Erased<H, M> {
    fn call(&self, socket: Socket, args: Vec<Value>, ack: Option<AckSender>) {
        self.0.call(socket, args, ack)
    }
}

pub(crate) type BoxedEventHandler = Arc<dyn ErasedEventHandler>;

pub(crate) fn boxed<H: EventHandler<M>, M: 'static>(handler: H) -> BoxedEventHandler {
    Arc::new(Erased(handler, PhantomData))
}
