//! The handlers of one namespace (shared by the children of a dynamic namespace), and how an
//! event finds its handler.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use volley_protocol::Value;

use super::packet::PacketMiddlewares;
use super::{BoxedConnectHandler, BoxedDisconnectHandler, BoxedEventHandler};

/// Event name of the catch-all handler.
pub(crate) const CATCH_ALL: &str = "*";

/// A handler of a server-side event: arguments in, answer out.
pub(crate) type ServerEventHandler =
    Arc<dyn Fn(Vec<Value>) -> crate::manager::ServerEventFuture + Send + Sync>;

/// Handlers by event name. Every received event looks its name up here, so the table hashes with
/// foldhash rather than SipHash (a tenth of the work for a short name). Only the server adds
/// names, so a client choosing colliding names can at most make its own lookups miss.
type ByName<H> = HashMap<String, H, foldhash::fast::RandomState>;

#[derive(Default)]
struct Handlers {
    /// Handlers of events sent by other nodes to the servers themselves.
    server_events: ByName<ServerEventHandler>,
    /// Function handlers, by event name (`*` is the catch-all).
    events: ByName<BoxedEventHandler>,
    /// Methods of a trait-based namespace, by event name; function handlers win over them.
    methods: ByName<BoxedEventHandler>,
    connect: Option<BoxedConnectHandler>,
    /// Connect middlewares, in the order they run.
    middlewares: Arc<[BoxedConnectHandler]>,
    disconnect: Option<BoxedDisconnectHandler>,
    method_connect: Option<BoxedConnectHandler>,
    method_disconnect: Option<BoxedDisconnectHandler>,
}

/// The handlers of a namespace. Cheap to clone; clones share the same handlers.
#[derive(Clone, Default)]
pub(crate) struct HandlerSet(Arc<RwLock<Handlers>>, Arc<PacketMiddlewares>);

impl HandlerSet {
    fn read<T>(&self, f: impl FnOnce(&Handlers) -> Option<T>) -> Option<T> {
        let h = match self.0.read() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&h)
    }

    fn write(&self, f: impl FnOnce(&mut Handlers)) {
        let mut h = match self.0.write() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut h)
    }

    /// Whether no handler at all was registered (a namespace made only to emit to).
    pub(crate) fn is_empty(&self) -> bool {
        self.1.is_empty()
            && self
                .read(|h| {
                    Some(
                        h.events.is_empty()
                            && h.methods.is_empty()
                            && h.connect.is_none()
                            && h.middlewares.is_empty()
                            && h.disconnect.is_none()
                            && h.method_connect.is_none(),
                    )
                })
                .unwrap_or(true)
    }

    pub(crate) fn set_server_event(&self, event: String, handler: ServerEventHandler) {
        self.write(|h| {
            h.server_events.insert(event, handler);
        });
    }

    pub(crate) fn server_event(&self, event: &str) -> Option<ServerEventHandler> {
        self.read(|h| h.server_events.get(event).cloned())
    }

    pub(crate) fn set_event(&self, event: String, handler: BoxedEventHandler) {
        self.write(|h| {
            h.events.insert(event, handler);
        });
    }

    pub(crate) fn set_method(&self, event: String, handler: BoxedEventHandler) {
        self.write(|h| {
            h.methods.insert(event, handler);
        });
    }

    pub(crate) fn set_connect(&self, handler: BoxedConnectHandler, method: bool) {
        self.write(|h| match method {
            false => h.connect = Some(handler),
            true => h.method_connect = Some(handler),
        });
    }

    pub(crate) fn set_disconnect(&self, handler: BoxedDisconnectHandler, method: bool) {
        self.write(|h| match method {
            false => h.disconnect = Some(handler),
            true => h.method_disconnect = Some(handler),
        });
    }

    pub(crate) fn add_middleware(&self, middleware: BoxedConnectHandler) {
        self.write(|h| {
            let mut all = h.middlewares.to_vec();
            all.push(middleware);
            h.middlewares = all.into();
        });
    }

    /// The connect handler and the middlewares that run before it.
    pub(crate) fn connect(&self) -> (Option<BoxedConnectHandler>, Arc<[BoxedConnectHandler]>) {
        let h = match self.0.read() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        let handler = h.connect.clone().or_else(|| h.method_connect.clone());
        (handler, h.middlewares.clone())
    }

    /// The incoming-packet middlewares.
    pub(crate) fn packets(&self) -> &PacketMiddlewares {
        &self.1
    }

    pub(crate) fn disconnect(&self) -> Option<BoxedDisconnectHandler> {
        self.read(|h| h.disconnect.clone().or_else(|| h.method_disconnect.clone()))
    }

    /// Finds the handler of `event`: a function handler, else a method, else the catch-all (which
    /// receives the event name as its first argument).
    pub(crate) fn resolve(
        &self,
        event: String,
        args: Vec<Value>,
    ) -> Option<(BoxedEventHandler, Vec<Value>)> {
        self.read(|h| {
            if let Some(handler) = h.events.get(&event).or_else(|| h.methods.get(&event)) {
                return Some((handler.clone(), args));
            }
            let handler = h.events.get(CATCH_ALL)?.clone();
            let mut with_name = Vec::with_capacity(args.len() + 1);
            with_name.push(Value::from(event));
            with_name.extend(args);
            Some((handler, with_name))
        })
    }
}
