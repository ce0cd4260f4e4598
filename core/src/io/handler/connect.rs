//! Connect handlers: `(Socket, auth) -> accept or refuse`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use volley_protocol::Value;

use super::markers;
use crate::{ConnectError, Socket};

/// What a connect handler decides.
///
/// `()` and `true` accept, `false` refuses with the message "Connection rejected by server",
/// `Err(ConnectError)` refuses with its message and data.
pub trait ConnectOutcome: Send + 'static {
    /// The decision.
    fn into_result(self) -> Result<(), ConnectError>;
}

impl ConnectOutcome for () {
    fn into_result(self) -> Result<(), ConnectError> {
        Ok(())
    }
}

impl ConnectOutcome for bool {
    fn into_result(self) -> Result<(), ConnectError> {
        if self {
            Ok(())
        } else {
            Err(ConnectError::new("Connection rejected by server"))
        }
    }
}

impl ConnectOutcome for Result<(), ConnectError> {
    fn into_result(self) -> Result<(), ConnectError> {
        self
    }
}

/// A function run when a client connects to a namespace, before the connection is confirmed to
/// the client. It receives the socket (whose [`Socket::request`] is the opening HTTP request) and
/// the client's `auth` payload, and decides with a [`ConnectOutcome`]. Emits made while it runs
/// reach the client right after the confirmation.
///
/// ```
/// # let io = volley::Server::builder().build();
/// use volley::{ConnectError, Socket, Value};
/// io.of("/").on_connect(|_s: Socket, auth: Option<Value>| async move {
///     match auth {
///         Some(_) => Ok(()),
///         None => Err(ConnectError::new("no token")),
///     }
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Socket.IO connect handler",
    note = "a connect handler is a closure or fn taking `(Socket, Option<Value>)` and returning `()`, `bool` or `Result<(), ConnectError>`, or a future of one"
)]
pub trait ConnectHandler<M>: Send + Sync + 'static {
    /// Runs the handler; a sync handler answers at once (`Ok`), an async one with a future.
    fn call(
        &self,
        socket: Socket,
        auth: Option<Value>,
    ) -> Result<Result<(), ConnectError>, ConnectFuture>;
}

/// The pending decision of an async connect handler.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send>>;

impl<F, R> ConnectHandler<(markers::Sync, R)> for F
where
    F: Fn(Socket, Option<Value>) -> R + Send + Sync + 'static,
    R: ConnectOutcome,
{
    fn call(
        &self,
        socket: Socket,
        auth: Option<Value>,
    ) -> Result<Result<(), ConnectError>, ConnectFuture> {
        Ok(self(socket, auth).into_result())
    }
}

impl<F, Fut, R> ConnectHandler<(markers::Async, R)> for F
where
    F: Fn(Socket, Option<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: ConnectOutcome,
{
    fn call(
        &self,
        socket: Socket,
        auth: Option<Value>,
    ) -> Result<Result<(), ConnectError>, ConnectFuture> {
        let fut = self(socket, auth);
        Err(Box::pin(async move { fut.await.into_result() }))
    }
}

pub(crate) trait ErasedConnectHandler: Send + Sync + 'static {
    fn call(
        &self,
        socket: Socket,
        auth: Option<Value>,
    ) -> Result<Result<(), ConnectError>, ConnectFuture>;
}

struct Erased<H, M>(H, PhantomData<fn() -> M>);

impl<H: ConnectHandler<M>, M: 'static> ErasedConnectHandler for Erased<H, M> {
    fn call(
        &self,
        socket: Socket,
        auth: Option<Value>,
    ) -> Result<Result<(), ConnectError>, ConnectFuture> {
        self.0.call(socket, auth)
    }
}

pub(crate) type BoxedConnectHandler = Arc<dyn ErasedConnectHandler>;

pub(crate) fn boxed<H: ConnectHandler<M>, M: 'static>(handler: H) -> BoxedConnectHandler {
    Arc::new(Erased(handler, PhantomData))
}
