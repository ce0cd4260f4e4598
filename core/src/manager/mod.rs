//! The `ClientManager` seam: who is where (rooms) and how an emit reaches its sockets. Every emit
//! of the server goes through it, so a cluster manager can add a message bus without touching the
//! emit paths.

mod brokers;
pub mod cluster;
mod local;
mod memory;
mod options;
mod recovery;
mod room_changes;
mod url;

pub use local::{LocalAdapter, PendingAcks};
/// What the socket layer uses of recovery.
pub(crate) mod recovery_parts {
    pub(crate) use super::recovery::{
        frame_to_value, stream_id, Persisted, Recoverer, TRANSFER_FRAMES,
    };
}
#[cfg(feature = "amqp")]
pub use brokers::AmqpManager;
#[cfg(feature = "kafka")]
pub use brokers::KafkaManager;
#[cfg(feature = "nats")]
pub use brokers::NatsManager;
#[cfg(feature = "redis")]
pub use brokers::RedisManager;
pub use cluster::ClusterConfig;
pub use memory::MemoryManager;
pub use options::{BroadcastOptions, SocketInfo};
pub use recovery::{ConnectionStateRecovery, OffsetSource};
pub use url::{from_url, AdapterError};

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use volley_protocol::Value;

use crate::engine::Sid;
use crate::{AckResponse, EmitError, Socket};

/// The answer of a server-side event handler, when it has one.
pub type ServerEventFuture = Pin<Box<dyn Future<Output = Vec<Value>> + Send>>;

/// What a manager may call on the server it serves: the handlers of server-side events (events
/// that other nodes send to the servers themselves, not to clients).
pub trait ServerHooks: Send + Sync + 'static {
    /// Runs the handler of a server-side event, if the namespace has one; the future resolves to
    /// its answer.
    fn server_event(&self, ns: &str, event: &str, args: Vec<Value>) -> Option<ServerEventFuture>;
}

/// Why [`Server::ready`](crate::Server::ready) says the client manager cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadyError {
    /// The manager's URL cannot be used.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The manager did not reach its broker within the timeout (it keeps trying).
    #[error("the client manager could not reach its broker within {0:?}; it keeps trying")]
    Unreachable(Duration),
}

/// What [`ServerBuilder::client_manager`](crate::ServerBuilder::client_manager) takes: every
/// [`ClientManager`], and the managers made from a URL ([`RedisManager`](crate::manager) and
/// its siblings, with the `redis`, `amqp` and `kafka` features), which make theirs when the
/// server takes them.
pub trait IntoClientManager {
    /// The manager the server will use.
    fn into_client_manager(self) -> Arc<dyn ClientManager>;
}

impl<M: ClientManager> IntoClientManager for M {
    fn into_client_manager(self) -> Arc<dyn ClientManager> {
        Arc::new(self)
    }
}

/// Decides where emits go and keeps the room bookkeeping. The default, [`MemoryManager`], serves a
/// single node; cluster managers publish to a message bus as well.
///
/// Every manager keeps this node's sockets and rooms in a [`LocalAdapter`]; the provided methods
/// keep that bookkeeping, and implementations override them only to add to it.
#[async_trait]
pub trait ClientManager: Send + Sync + 'static {
    /// This node's sockets and rooms.
    fn local(&self) -> &LocalAdapter;

    /// Called once by the server built with this manager: a cluster manager starts here (it
    /// subscribes to its bus and announces itself), and keeps `hooks` to run server-side events.
    fn bind(&self, hooks: Weak<dyn ServerHooks>) {
        let _ = hooks;
    }

    /// Waits until the manager can serve (a cluster manager: until it is subscribed to its bus),
    /// at most `timeout`. A single-node manager is always ready.
    async fn wait_ready(&self, timeout: Duration) -> Result<(), ReadyError> {
        let _ = timeout;
        Ok(())
    }

    /// How many nodes serve the cluster, this one included.
    fn server_count(&self) -> usize {
        1
    }

    /// The tag this node ends its session ids with, when the other nodes forward it the requests
    /// of its sessions (a cluster manager whose [`ClusterConfig::advertise`] is set: no sticky
    /// sessions needed); `None` (the default) when they do not.
    fn session_tag(&self) -> Option<&str> {
        None
    }

    /// Where to forward a request for a session this node does not hold, whose id ends with
    /// `tag`: the address its node advertised (see [`ClientManager::session_tag`]).
    fn session_owner(&self, tag: &str) -> Option<String> {
        let _ = tag;
        None
    }

    /// The server is shutting down: a cluster manager says goodbye to the other nodes and stops.
    async fn close(&self) {}

    /// Sends an event to the other nodes' server-side handlers (not to clients).
    async fn server_side_emit(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
    ) -> Result<(), EmitError> {
        let _ = (ns, event, args);
        Ok(())
    }

    /// Sends an event to the other nodes' server-side handlers and collects one answer per node.
    async fn server_side_call(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        timeout: Duration,
    ) -> Result<Vec<Vec<Value>>, EmitError> {
        let _ = (ns, event, args, timeout);
        Ok(Vec::new())
    }

    /// A socket joined its namespace on this node.
    fn add_socket(&self, socket: &Socket) {
        self.local().add_socket(socket)
    }

    /// A recovered socket is back on this node (connection state recovery): it is registered in
    /// its rooms already; a manager only starts here if it starts on its first socket.
    fn add_recovered_socket(&self, socket: &Socket) {
        let _ = socket;
    }

    /// Whether this manager keeps disconnected sockets for connection state recovery itself (in
    /// its bus, where every node finds them) rather than each node in memory; then sockets are
    /// handed to [`persist_session`](ClientManager::persist_session) and always asked back with
    /// [`restore_session`](ClientManager::restore_session).
    fn keeps_sessions(&self) -> bool {
        false
    }

    /// Stores a disconnected socket for `ttl`, when [`keeps_sessions`](ClientManager::keeps_sessions).
    fn persist_session(&self, ns: &str, session: cluster::StoredSession, ttl: Duration) {
        let _ = (ns, session, ttl);
    }

    /// Asks the other nodes for the disconnected socket a client presents the private id `pid`
    /// of (connection state recovery, when this node does not hold it): the node that holds it
    /// hands it over, with what the client missed since `offset`. `None` when no node does.
    async fn restore_session(
        &self,
        ns: &str,
        pid: &str,
        offset: Option<&str>,
    ) -> Option<volley_protocol::cluster::RecoveredSession> {
        let _ = (ns, pid, offset);
        None
    }

    /// A socket left its namespace on this node.
    fn remove_socket(&self, ns: &str, sid: Sid) {
        self.local().remove_socket(ns, sid)
    }

    /// Puts the sockets `opts` selects in `rooms`.
    async fn add_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
        rooms: &[String],
    ) -> Result<(), EmitError> {
        self.local().add_sockets(ns, opts, rooms);
        Ok(())
    }

    /// Takes the sockets `opts` selects out of `rooms`.
    async fn del_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
        rooms: &[String],
    ) -> Result<(), EmitError> {
        self.local().del_sockets(ns, opts, rooms);
        Ok(())
    }

    /// Disconnects the sockets `opts` selects from their namespace.
    async fn disconnect_sockets(&self, ns: &str, opts: &BroadcastOptions) -> Result<(), EmitError> {
        for socket in self.local().select(ns, opts) {
            socket.disconnect();
        }
        Ok(())
    }

    /// Describes the sockets `opts` selects, on every node.
    async fn fetch_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, EmitError> {
        Ok(self
            .local()
            .select(ns, opts)
            .iter()
            .map(Socket::info)
            .collect())
    }

    /// Emits an event to the sockets `opts` selects.
    async fn emit(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
    ) -> Result<(), EmitError>;

    /// Emits an event to the sockets `opts` selects and collects their acks within `timeout`.
    async fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Result<Vec<AckResponse>, EmitError>;
}
