//! Handler arguments: what a handler asks for by type, taken from the socket or the packet.
//!
//! A handler is a function of any number of *extractors* followed by at most one *data*
//! argument. Extractors ([`FromSocket`]) come from the socket and the server: [`crate::Socket`]
//! itself, [`State`], or a type of your own. The data argument is the event's arguments
//! ([`FromEvent`]), the connect's `auth` payload ([`FromConnect`]) or the disconnect's reason
//! ([`FromDisconnect`]); any `Deserialize` type takes it.
//!
//! ```
//! use volley::handler::State;
//! use volley::{Server, Socket};
//!
//! #[derive(Clone, Default)]
//! struct Greeting(&'static str);
//!
//! let io = Server::builder().state(Greeting("hello")).build();
//! // an extractor, then the data: the event's first argument as a String
//! io.of("/").on("greet", |State(g): State<Greeting>, name: String| format!("{} {name}", g.0));
//! // extractors only: the arguments are not read
//! io.of("/").on("whoami", |s: Socket| s.id().to_string());
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use volley_protocol::Value;

use super::markers;
use crate::io::args::take_list;
use crate::{DisconnectReason, Socket};

/// Why an argument could not be given to a handler; the handler does not run.
///
/// What the client sees depends on the handler: an event's ack (when it asked for one) is
/// `{"error": kind, "message": message}`; a refused connect's `connect_error` has `kind` as its
/// message and `{"message": message}` as its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: &'static str,
    message: String,
}

impl Rejection {
    /// A rejection of a kind (a short fixed text, such as `"invalid auth"`) with what went wrong.
    ///
    /// ```
    /// let r = volley::handler::Rejection::new("not logged in", "save a user first");
    /// assert_eq!((r.kind(), r.message()), ("not logged in", "save a user first"));
    /// ```
    pub fn new(kind: &'static str, message: impl fmt::Display) -> Self {
        Rejection {
            kind,
            message: message.to_string(),
        }
    }

    /// The kind of rejection.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The refusal a connecting client gets.
    pub(crate) fn into_connect_error(self) -> crate::ConnectError {
        #[derive(serde::Serialize)]
        struct Data<'a> {
            message: &'a str,
        }
        crate::ConnectError::new(self.kind).with_data(&Data {
            message: &self.message,
        })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Rejection {}

/// An argument any handler can ask for, taken from the socket it runs for (and the server's
/// [`State`]). Implement it to give handlers your own arguments.
///
/// ```
/// use volley::handler::{FromSocket, Rejection};
/// use volley::Socket;
///
/// /// The nickname a socket saved in its session; handlers asking for it do not run without one.
/// struct Nick(String);
///
/// impl FromSocket for Nick {
///     fn from_socket(socket: &Socket) -> Result<Self, Rejection> {
///         socket
///             .get_session::<String>()
///             .map(Nick)
///             .ok_or_else(|| Rejection::new("no nickname", "send `nick` first"))
///     }
/// }
///
/// let io = volley::Server::builder().build();
/// io.of("/").on("say", |Nick(nick): Nick, text: String| format!("{nick}: {text}"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a socket",
    note = "a handler's arguments before the last must implement `volley::handler::FromSocket` (`Socket`, `State<T>`, or your own)"
)]
pub trait FromSocket: Sized + Send + 'static {
    /// Takes the argument from the socket; a rejection keeps the handler from running.
    fn from_socket(socket: &Socket) -> Result<Self, Rejection>;
}

impl FromSocket for Socket {
    fn from_socket(socket: &Socket) -> Result<Self, Rejection> {
        Ok(socket.clone())
    }
}

/// A value shared by every handler of the server, set with [`crate::ServerBuilder::state`] and
/// copied into each handler that asks for it (put what is costly to copy behind an `Arc`).
///
/// ```
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use volley::handler::State;
/// use volley::Server;
///
/// #[derive(Clone, Default)]
/// struct Hits(Arc<AtomicU64>);
///
/// let io = Server::builder().state(Hits::default()).build();
/// io.of("/").on("hit", |State(hits): State<Hits>, ()| hits.0.fetch_add(1, Ordering::Relaxed) + 1);
/// ```
///
/// A handler asking for a type the builder was not given does not run: the server logs a
/// warning, and the client gets a rejection (see [`Rejection`]) of kind `"missing state"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromSocket for State<T> {
    fn from_socket(socket: &Socket) -> Result<Self, Rejection> {
        match socket.state::<T>() {
            Some(value) => Ok(State(value.clone())),
            None => {
                let name = std::any::type_name::<T>();
                tracing::warn!(target: "volley::socketio", state = name, "a handler asks for a state the server builder was not given");
                Err(Rejection::new(
                    "missing state",
                    format_args!("the server has no state of type {name}"),
                ))
            }
        }
    }
}

/// The last argument of an event handler: the event's arguments as a `Deserialize` type (see
/// [`volley_protocol::args::from_args`]; [`crate::Args`] takes them all as they came), or any
/// [`FromSocket`] type, when the handler does not read them.
///
/// Arguments that do not deserialize are rejected with the kind `"invalid arguments"`.
///
/// ```
/// use volley::{Args, Socket};
/// # let io = volley::Server::builder().build();
/// io.of("/").on("pair", |_s: Socket, (a, b): (u8, String)| format!("{a} {b}")); // two arguments
/// io.of("/").on("all", |_s: Socket, args: Args| args.0.len()); // every argument, as sent
/// io.of("/").on("ping", |s: Socket| s.id().to_string()); // none read
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from an event",
    note = "an event handler's last argument is a `Deserialize` type (the event's arguments) or a `FromSocket` type"
)]
pub trait FromEvent<M>: Sized + Send + 'static {
    /// Takes the argument from the event.
    fn from_event(socket: &Socket, args: Vec<Value>) -> Result<Self, Rejection>;
}

impl<T: DeserializeOwned + Send + 'static> FromEvent<markers::Data> for T {
    fn from_event(_socket: &Socket, args: Vec<Value>) -> Result<Self, Rejection> {
        take_list(args).map_err(|e| Rejection::new("invalid arguments", e))
    }
}

impl<T: FromSocket> FromEvent<markers::Part> for T {
    fn from_event(socket: &Socket, _args: Vec<Value>) -> Result<Self, Rejection> {
        T::from_socket(socket)
    }
}

/// The last argument of a connect handler or middleware: the client's `auth` payload as a
/// `Deserialize` type (`Option<T>` is `None` when the client sent none), or any [`FromSocket`]
/// type.
///
/// A payload that does not deserialize refuses the connection: the client's `connect_error`
/// has the message `"invalid auth"` and the data `{"message": "<what did not fit>"}`.
///
/// ```
/// use serde::Deserialize;
/// use volley::Socket;
///
/// #[derive(Deserialize)]
/// struct Login { token: String }
///
/// let io = volley::Server::builder().build();
/// // a client without auth connects; one with `{token: 42}` is refused
/// io.of("/").on_connect(|s: Socket, login: Option<Login>| {
///     if let Some(login) = login {
///         s.save_session(login.token);
///     }
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a connect",
    note = "a connect handler's last argument is a `Deserialize` type (the auth payload, such as `Option<T>`) or a `FromSocket` type"
)]
pub trait FromConnect<M>: Sized + Send + 'static {
    /// Takes the argument from the connect.
    fn from_connect(socket: &Socket, auth: Option<Value>) -> Result<Self, Rejection>;
}

impl<T: DeserializeOwned + Send + 'static> FromConnect<markers::Data> for T {
    fn from_connect(_socket: &Socket, auth: Option<Value>) -> Result<Self, Rejection> {
        volley_protocol::args::from_value(auth.unwrap_or(Value::Nil))
            .map_err(|e| Rejection::new("invalid auth", e))
    }
}

impl<T: FromSocket> FromConnect<markers::Part> for T {
    fn from_connect(socket: &Socket, _auth: Option<Value>) -> Result<Self, Rejection> {
        T::from_socket(socket)
    }
}

/// The last argument of a disconnect handler: the [`DisconnectReason`], or any [`FromSocket`]
/// type.
///
/// ```
/// use volley::{DisconnectReason, Socket};
/// # let io = volley::Server::builder().build();
/// io.of("/").on_disconnect(|s: Socket, reason: DisconnectReason| println!("{}: {reason}", s.id()));
/// io.of("/other").on_disconnect(|s: Socket| println!("{} left", s.id()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a disconnect",
    note = "a disconnect handler's last argument is `DisconnectReason` or a `FromSocket` type"
)]
pub trait FromDisconnect<M>: Sized + Send + 'static {
    /// Takes the argument from the disconnect.
    fn from_disconnect(socket: &Socket, reason: DisconnectReason) -> Result<Self, Rejection>;
}

impl FromDisconnect<markers::Data> for DisconnectReason {
    fn from_disconnect(_socket: &Socket, reason: DisconnectReason) -> Result<Self, Rejection> {
        Ok(reason)
    }
}

impl<T: FromSocket> FromDisconnect<markers::Part> for T {
    fn from_disconnect(socket: &Socket, _reason: DisconnectReason) -> Result<Self, Rejection> {
        T::from_socket(socket)
    }
}

/// Calls `$m!` with every arity of extractors a handler may have before its last argument.
macro_rules! all_arities {
    ($m:ident) => {
        $m!();
        $m!(T1);
        $m!(T1, T2);
        $m!(T1, T2, T3);
        $m!(T1, T2, T3, T4);
        $m!(T1, T2, T3, T4, T5);
        $m!(T1, T2, T3, T4, T5, T6);
    };
}
pub(crate) use all_arities;
