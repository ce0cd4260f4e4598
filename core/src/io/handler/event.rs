//! Event handlers: `(extractors..., args) -> ack`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use volley_protocol::Value;

use super::extract::{all_arities, FromEvent, FromSocket, Rejection};
use super::markers;
use crate::io::args::as_list;
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

/// A function that handles one event: it takes any number of [`FromSocket`] arguments (the
/// [`Socket`], [`super::State`], ...) and last the event's arguments ([`FromEvent`]: any
/// `Deserialize` type, see [`volley_protocol::args::from_args`]), and returns the value
/// acknowledged to the client when it asked for an ack.
///
/// Arguments that cannot be taken do not run the handler: the rejection is logged at debug
/// level, and a client that asked for an ack gets one argument,
/// `{"error": "<kind>", "message": "<what did not fit>"}` (the kind is `"invalid arguments"` when
/// the event's arguments do not deserialize).
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
    note = "an event handler is a closure or fn taking `FromSocket` arguments (`Socket`, `State<T>`, ...) then one `T: DeserializeOwned` (the event's arguments), returning a `Serialize` value (the ack) or a future of one"
)]
pub trait EventHandler<M>: Send + Sync + 'static {
    /// Runs the handler for one event.
    fn call(&self, socket: Socket, args: Vec<Value>, ack: Option<AckSender>);
}

/// The ack a client gets when an argument of the handler cannot be taken.
#[derive(Serialize)]
struct Rejected<'a> {
    error: &'static str,
    message: &'a str,
}

/// Answers a rejected argument: logged at debug level, and a client that asked for an ack gets
/// `{"error": kind, "message": ...}` instead of waiting for its ack timeout.
fn reject(socket: &Socket, rejection: &Rejection, ack: &mut Option<AckSender>) {
    tracing::debug!(target: "volley::socketio", sid = %socket.id(), error = %rejection, "a handler argument cannot be taken");
    if let Some(ack) = ack.take() {
        ack.send(&Rejected {
            error: rejection.kind(),
            message: rejection.message(),
        });
    }
}

/// Takes one [`FromSocket`] argument, answering a rejection.
fn part<T: FromSocket>(socket: &Socket, ack: &mut Option<AckSender>) -> Option<T> {
    T::from_socket(socket)
        .map_err(|r| reject(socket, &r, ack))
        .ok()
}

/// Takes the event's own argument, answering a rejection.
fn data<A: FromEvent<M>, M>(
    socket: &Socket,
    args: Vec<Value>,
    ack: &mut Option<AckSender>,
) -> Option<A> {
    A::from_event(socket, args)
        .map_err(|r| reject(socket, &r, ack))
        .ok()
}

macro_rules! event_handler {
    ($($T:ident),*) => {
        #[allow(non_snake_case)]
        impl<F, $($T,)* A, MA, R> EventHandler<(markers::Sync, ($($T,)*), A, MA, R)> for F
        where
            F: Fn($($T,)* A) -> R + Send + Sync + 'static,
            $($T: FromSocket,)*
            A: FromEvent<MA>,
            MA: 'static,
            R: Serialize + Send + 'static,
        {
            fn call(&self, socket: Socket, args: Vec<Value>, mut ack: Option<AckSender>) {
                $(let Some($T) = part::<$T>(&socket, &mut ack) else { return };)*
                let Some(a) = data::<A, MA>(&socket, args, &mut ack) else { return };
                let r = self($($T,)* a);
                if let Some(ack) = ack {
                    ack.send_result(&r);
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, $($T,)* A, MA, Fut, R> EventHandler<(markers::Async, ($($T,)*), A, MA, R)> for F
        where
            F: Fn($($T,)* A) -> Fut + Send + Sync + 'static,
            $($T: FromSocket,)*
            A: FromEvent<MA>,
            MA: 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: Serialize + Send + 'static,
        {
            fn call(&self, socket: Socket, args: Vec<Value>, mut ack: Option<AckSender>) {
                $(let Some($T) = part::<$T>(&socket, &mut ack) else { return };)*
                let Some(a) = data::<A, MA>(&socket, args, &mut ack) else { return };
                let fut = self($($T,)* a);
                socket.spawn_handler(async move {
                    let r = fut.await;
                    if let Some(ack) = ack {
                        ack.send_result(&r);
                    }
                });
            }
        }
    };
}

all_arities!(event_handler);

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
