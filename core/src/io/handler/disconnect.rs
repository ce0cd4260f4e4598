//! Disconnect handlers: `(extractors..., reason)`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use super::extract::{all_arities, FromDisconnect, FromSocket, Rejection};
use super::markers;
use crate::{DisconnectReason, Socket};

/// A function run once when a socket leaves its namespace. It takes any number of
/// [`FromSocket`] arguments (the [`Socket`], [`super::State`], ...) and last the
/// [`DisconnectReason`] ([`FromDisconnect`]). An argument that cannot be taken keeps it from
/// running (logged at debug level).
///
/// ```
/// # let io = volley::Server::builder().build();
/// use volley::{DisconnectReason, Socket};
/// io.of("/").on_disconnect(|s: Socket, reason: DisconnectReason| {
///     println!("{} left: {reason}", s.id());
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Socket.IO disconnect handler",
    note = "a disconnect handler is a closure or fn taking `FromSocket` arguments (`Socket`, `State<T>`, ...) then `DisconnectReason`, returning `()` or a future of `()`"
)]
pub trait DisconnectHandler<M>: Send + Sync + 'static {
    /// Runs the handler.
    fn call(&self, socket: Socket, reason: DisconnectReason);
}

fn skipped(rejection: &Rejection) {
    tracing::debug!(target: "volley::socketio", error = %rejection, "a disconnect handler argument cannot be taken");
}

/// The arguments of a disconnect handler: its extractors in order, then the reason.
macro_rules! take_args {
    ($socket:ident, $reason:ident, $($T:ident),*) => {
        (|| {
            $(let $T = $T::from_socket(&$socket)?;)*
            let a = A::from_disconnect(&$socket, $reason)?;
            Ok::<_, Rejection>(($($T,)* a,))
        })()
    };
}

macro_rules! disconnect_handler {
    ($($T:ident),*) => {
        #[allow(non_snake_case)]
        impl<F, $($T,)* A, MA> DisconnectHandler<(markers::Sync, ($($T,)*), A, MA)> for F
        where
            F: Fn($($T,)* A) + Send + Sync + 'static,
            $($T: FromSocket,)*
            A: FromDisconnect<MA>,
            MA: 'static,
        {
            fn call(&self, socket: Socket, reason: DisconnectReason) {
                let args = take_args!(socket, reason, $($T),*);
                match args {
                    Ok(($($T,)* a,)) => self($($T,)* a),
                    Err(r) => skipped(&r),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, $($T,)* A, MA, Fut> DisconnectHandler<(markers::Async, ($($T,)*), A, MA, Fut)> for F
        where
            F: Fn($($T,)* A) -> Fut + Send + Sync + 'static,
            $($T: FromSocket,)*
            A: FromDisconnect<MA>,
            MA: 'static,
            Fut: Future<Output = ()> + Send + 'static,
        {
            fn call(&self, socket: Socket, reason: DisconnectReason) {
                let args = take_args!(socket, reason, $($T),*);
                let fut = match args {
                    Ok(($($T,)* a,)) => self($($T,)* a),
                    Err(r) => return skipped(&r),
                };
                if super::super::client::closing(&socket.0.engine) {
                    // bounded: one per namespace of a connection that is going away
                    tokio::spawn(fut);
                } else {
                    socket.spawn_handler(fut);
                }
            }
        }
    };
}

all_arities!(disconnect_handler);

pub(crate) trait ErasedDisconnectHandler: Send + Sync + 'static {
    fn call(&self, socket: Socket, reason: DisconnectReason);
}

struct Erased<H, M>(H, PhantomData<fn() -> M>);

impl<H: DisconnectHandler<M>, M: 'static> ErasedDisconnectHandler for Erased<H, M> {
    fn call(&self, socket: Socket, reason: DisconnectReason) {
        self.0.call(socket, reason)
    }
}

pub(crate) type BoxedDisconnectHandler = Arc<dyn ErasedDisconnectHandler>;

pub(crate) fn boxed<H: DisconnectHandler<M>, M: 'static>(handler: H) -> BoxedDisconnectHandler {
    Arc::new(Erased(handler, PhantomData))
}
