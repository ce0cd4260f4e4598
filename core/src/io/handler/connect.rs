//! Connect handlers and middlewares: `(extractors..., auth) -> accept or refuse`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use volley_protocol::Value;

use super::extract::{all_arities, FromConnect, FromSocket, Rejection};
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
/// the client. It takes any number of [`FromSocket`] arguments (the [`Socket`], whose
/// [`Socket::request`] is the opening HTTP request, [`super::State`], ...) and last the client's
/// `auth` payload ([`FromConnect`]: any `Deserialize` type, such as `Option<T>` or
/// `Option<Value>`), and decides with a [`ConnectOutcome`]. Emits made while it runs reach the
/// client right after the confirmation.
///
/// An `auth` payload that does not fit its type refuses the connection without running the
/// handler: the client's `connect_error` says `"invalid auth"`, with `{"message": "<what did not
/// fit>"}` as its data.
///
/// The same functions are connect middlewares ([`crate::Namespace::with`]).
///
/// ```
/// # let io = volley::Server::builder().build();
/// use volley::{ConnectError, Socket};
///
/// #[derive(serde::Deserialize)]
/// struct Login { token: String }
///
/// io.of("/").on_connect(|_s: Socket, login: Option<Login>| async move {
///     match login {
///         Some(login) if login.token == "secret" => Ok(()),
///         Some(_) => Err(ConnectError::new("bad token").with_data(&serde_json::json!({"retry": false}))),
///         None => Err(ConnectError::new("no token")),
///     }
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Socket.IO connect handler",
    note = "a connect handler is a closure or fn taking `FromSocket` arguments (`Socket`, `State<T>`, ...) then the auth payload (`Option<T>` with `T: Deserialize`), returning `()`, `bool` or `Result<(), ConnectError>`, or a future of one"
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

/// Takes one [`FromSocket`] argument of a connect handler.
fn part<T: FromSocket>(socket: &Socket) -> Result<T, ConnectError> {
    T::from_socket(socket).map_err(refusal)
}

/// The refusal of a connect whose handler's arguments cannot be taken.
fn refusal(rejection: Rejection) -> ConnectError {
    tracing::debug!(target: "volley::socketio", error = %rejection, "a connect handler argument cannot be taken");
    rejection.into_connect_error()
}

/// The arguments of a connect handler: its extractors in order, then the auth payload.
macro_rules! take_args {
    ($socket:ident, $auth:ident, $($T:ident),*) => {
        (|| {
            $(let $T = part::<$T>(&$socket)?;)*
            let a = A::from_connect(&$socket, $auth).map_err(refusal)?;
            Ok(($($T,)* a,))
        })()
    };
}

macro_rules! connect_handler {
    ($($T:ident),*) => {
        #[allow(non_snake_case)]
        impl<F, $($T,)* A, MA, R> ConnectHandler<(markers::Sync, ($($T,)*), A, MA, R)> for F
        where
            F: Fn($($T,)* A) -> R + Send + Sync + 'static,
            $($T: FromSocket,)*
            A: FromConnect<MA>,
            MA: 'static,
            R: ConnectOutcome,
        {
            fn call(
                &self,
                socket: Socket,
                auth: Option<Value>,
            ) -> Result<Result<(), ConnectError>, ConnectFuture> {
                let args = take_args!(socket, auth, $($T),*);
                Ok(match args {
                    Ok(($($T,)* a,)) => self($($T,)* a).into_result(),
                    Err(refused) => Err(refused),
                })
            }
        }

        #[allow(non_snake_case)]
        impl<F, $($T,)* A, MA, Fut, R> ConnectHandler<(markers::Async, ($($T,)*), A, MA, R)> for F
        where
            F: Fn($($T,)* A) -> Fut + Send + Sync + 'static,
            $($T: FromSocket,)*
            A: FromConnect<MA>,
            MA: 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: ConnectOutcome,
        {
            fn call(
                &self,
                socket: Socket,
                auth: Option<Value>,
            ) -> Result<Result<(), ConnectError>, ConnectFuture> {
                let args = take_args!(socket, auth, $($T),*);
                match args {
                    Ok(($($T,)* a,)) => {
                        let fut = self($($T,)* a);
                        Err(Box::pin(async move { fut.await.into_result() }))
                    }
                    Err(refused) => Ok(Err(refused)),
                }
            }
        }
    };
}

all_arities!(connect_handler);

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
