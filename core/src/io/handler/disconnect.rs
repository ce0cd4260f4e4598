//! Disconnect handlers: `(Socket, reason)`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use super::markers;
use crate::{DisconnectReason, Socket};

/// A function run once when a socket leaves its namespace, with the reason.
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
    note = "a disconnect handler is a closure or fn taking `(Socket, DisconnectReason)` and returning `()` or a future of `()`"
)]
pub trait DisconnectHandler<M>: Send + Sync + 'static {
    /// Runs the handler.
    fn call(&self, socket: Socket, reason: DisconnectReason);
}

impl<F> DisconnectHandler<markers::Sync> for F
where
    F: Fn(Socket, DisconnectReason) + Send + Sync + 'static,
{
    fn call(&self, socket: Socket, reason: DisconnectReason) {
        self(socket, reason)
    }
}

impl<F, Fut> DisconnectHandler<(markers::Async, Fut)> for F
where
    F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, socket: Socket, reason: DisconnectReason) {
        let fut = self(socket.clone(), reason);
        if super::super::client::closing(&socket.0.engine) {
            // bounded: one per namespace of a connection that is going away
            tokio::spawn(fut);
        } else {
            socket.spawn_handler(fut);
        }
    }
}

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
