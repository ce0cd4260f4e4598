//! The traits that turn plain closures and async fns into Socket.IO handlers.
//!
//! A handler may be sync (`|socket, args| value`) or async (`|socket, args| async move { value }`):
//! a sync one runs inline on the connection's reader, so it must be quick; an async one runs in
//! its own task. Both are registered with the same methods of [`crate::Namespace`].

mod connect;
mod disconnect;
mod event;
mod methods;
mod set;

pub use connect::{ConnectHandler, ConnectOutcome};
pub use disconnect::DisconnectHandler;
pub use event::{AckSender, EventHandler};
pub use methods::{Events, NamespaceHandler};

pub(crate) use methods::install as install_methods;

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
}
