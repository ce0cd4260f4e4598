//! The traits that turn plain closures and async fns into Socket.IO handlers.
//!
//! A handler takes *extractors* first ([`FromSocket`]: the [`crate::Socket`], [`State`], ...)
//! and then its data (the event's arguments, the connect's `auth`, the disconnect's reason);
//! see [`extract`](FromSocket) for how each argument is taken.
//!
//! A handler may be sync (`|socket, args| value`) or async (`|socket, args| async move { value }`):
//! a sync one runs inline on the connection's reader, so it must be quick; an async one runs in
//! its own task. Both are registered with the same methods of [`crate::Namespace`].

mod chain;
mod connect;
mod disconnect;
mod event;
mod extract;
mod methods;
mod packet;
mod set;

pub use connect::{ConnectHandler, ConnectOutcome};
pub use disconnect::DisconnectHandler;
pub use event::{AckSender, EventHandler};
pub use extract::{FromConnect, FromDisconnect, FromEvent, FromSocket, Rejection, State};
pub use methods::{Events, NamespaceHandler};
pub use packet::{IncomingEvent, PacketFlow, PacketMiddleware};

pub(crate) use methods::install as install_methods;

pub(crate) use chain::ConnectChain;
pub use connect::ConnectFuture;
pub(crate) use connect::{boxed as boxed_connect, BoxedConnectHandler};
pub(crate) use disconnect::{boxed as boxed_disconnect, BoxedDisconnectHandler};
pub(crate) use event::{boxed as boxed_event, BoxedEventHandler};
pub(crate) use set::{HandlerSet, ServerEventHandler};

/// Marker types that tell the sync and async forms of a handler apart. They only appear in trait
/// bounds; users never name them.
pub mod markers {
    /// A handler that returns its result directly.
    #[derive(Debug)]
    pub struct Sync;
    /// A handler that returns a future.
    #[derive(Debug)]
    pub struct Async;
    /// A last argument taken from the packet's data (arguments, auth, reason).
    #[derive(Debug)]
    pub struct Data;
    /// A last argument taken from the socket, as the arguments before it are.
    #[derive(Debug)]
    pub struct Part;
}
