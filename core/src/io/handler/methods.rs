//! Trait-based namespaces: one value, shared by every client, whose methods handle events.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use volley_protocol::Value;

use super::{boxed_connect, boxed_disconnect, boxed_event, markers, BoxedEventHandler};
use crate::{ConnectError, DisconnectReason, Namespace, Socket};

/// A namespace written as a type. One value serves every client of the namespace; its methods
/// handle events by name, as listed in [`NamespaceHandler::events`]. Register it with
/// [`crate::Server::register_namespace`]. A function handler registered with
/// [`Namespace::on`] for the same event wins over the method.
///
/// ```
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use volley::handler::{Events, NamespaceHandler};
/// use volley::{Socket, Value};
///
/// #[derive(Default)]
/// struct Counter { hits: AtomicU64 }
///
/// impl Counter {
///     async fn hit(self: Arc<Self>, _socket: Socket, by: u64) -> u64 {
///         self.hits.fetch_add(by, Ordering::Relaxed) + by
///     }
/// }
///
/// impl NamespaceHandler for Counter {
///     fn events(events: &mut Events<Self>) {
///         events.on("hit", Self::hit);
///     }
///     async fn on_connect(&self, _socket: &Socket, auth: Option<Value>) -> Result<(), volley::ConnectError> {
///         auth.map(|_| ()).ok_or_else(|| volley::ConnectError::new("auth required"))
///     }
/// }
///
/// let io = volley::Server::builder().build();
/// io.register_namespace("/counter", Counter::default());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a trait-based namespace",
    note = "implement `volley::handler::NamespaceHandler` for it, listing its event methods in `events`"
)]
pub trait NamespaceHandler: Send + Sync + Sized + 'static {
    /// Lists the methods that handle events, by event name.
    fn events(events: &mut Events<Self>);

    /// Decides on a client's connection (accepts by default).
    fn on_connect(
        &self,
        socket: &Socket,
        auth: Option<Value>,
    ) -> impl Future<Output = Result<(), ConnectError>> + Send {
        let _ = (socket, auth);
        async { Ok(()) }
    }

    /// Runs when a socket leaves the namespace.
    fn on_disconnect(
        &self,
        socket: &Socket,
        reason: DisconnectReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (socket, reason);
        async {}
    }
}

/// The event table of a [`NamespaceHandler`].
pub struct Events<T> {
    this: Arc<T>,
    list: Vec<(String, BoxedEventHandler)>,
}

impl<T> std::fmt::Debug for Events<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.list.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Events").field("events", &names).finish()
    }
}

impl<T: Send + Sync + 'static> Events<T> {
    /// Routes `event` to an async method taking `self: Arc<Self>`, the socket and the arguments;
    /// its result is the ack.
    pub fn on<F, A, Fut, R>(&mut self, event: &str, method: F) -> &mut Self
    where
        F: Fn(Arc<T>, Socket, A) -> Fut + Send + Sync + 'static,
        A: DeserializeOwned + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let this = self.this.clone();
        let handler = move |socket: Socket, args: A| method(this.clone(), socket, args);
        self.list.push((
            event.to_owned(),
            boxed_event::<_, (markers::Async, (Socket,), A, markers::Data, R)>(handler),
        ));
        self
    }
}

/// Installs a trait-based namespace's methods on `ns`.
pub(crate) fn install<T: NamespaceHandler>(ns: &Namespace, value: T) {
    let this = Arc::new(value);
    let mut events = Events {
        this: this.clone(),
        list: Vec::new(),
    };
    T::events(&mut events);
    let handlers = &ns.0.handlers;
    for (event, handler) in events.list {
        handlers.set_method(event, handler);
    }
    let t = this.clone();
    handlers.set_connect(
        boxed_connect::<
            _,
            (
                markers::Async,
                (Socket,),
                Option<Value>,
                markers::Data,
                Result<(), ConnectError>,
            ),
        >(move |socket: Socket, auth: Option<Value>| {
            let t = t.clone();
            async move { t.on_connect(&socket, auth).await }
        }),
        true,
    );
    handlers.set_disconnect(
        boxed_disconnect::<
            _,
            (
                markers::Async,
                (Socket,),
                DisconnectReason,
                markers::Data,
                _,
            ),
        >(move |socket: Socket, reason: DisconnectReason| {
            let t = this.clone();
            async move { t.on_disconnect(&socket, reason).await }
        }),
        true,
    );
}
