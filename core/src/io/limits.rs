//! The bounds a single client meets on a node, set on [`crate::ServerBuilder`] and listed with
//! their defaults in the README's "Limits" section.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Packets held for a namespace whose connect handler has not decided yet.
pub(crate) const PENDING_PACKETS: usize = 16;
/// Async handlers one connection may run at once.
pub(crate) const HANDLERS_PER_CONNECTION: usize = 64;
/// Handlers of one connection that may wait for a slot before its reads pause.
pub(crate) const BACKLOG: usize = 16;
/// Async handlers the whole node may run at once.
pub(crate) const HANDLERS_PER_NODE: usize = 16_384;
/// How long a connection's reads may stay paused behind its running handlers. Shorter than the
/// default ping interval plus timeout, so that a stalled client hears why it was dropped rather
/// than timing out on an unread pong.
pub(crate) const HANDLER_STALL: Duration = Duration::from_secs(20);
/// Time the attachments of one binary packet have to arrive.
pub(crate) const ATTACHMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Namespaces one connection may join at once.
pub(crate) const NAMESPACES_PER_CONNECTION: usize = 32;

/// The per-client bounds of one server, and the node-wide handler budget they draw on.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Packets held for a pending namespace connect.
    pub(crate) pending_packets: usize,
    /// Bytes held for a pending namespace connect (default: the max payload).
    pub(crate) pending_bytes: usize,
    /// Async handlers one connection may run at once.
    pub(crate) handlers_per_connection: usize,
    /// Handlers of one connection waiting for a slot before its reads pause.
    pub(crate) backlog: usize,
    /// How long reads may stay paused behind a connection's handlers before it is dropped.
    pub(crate) handler_stall: Duration,
    /// The node's handler budget, shared by every connection.
    pub(crate) node_handlers: Arc<Semaphore>,
    /// Bytes of attachments buffered for one binary packet (default: the max payload).
    pub(crate) attachment_bytes: usize,
    /// Time the attachments of one binary packet have to arrive.
    pub(crate) attachment_timeout: Duration,
    /// Namespaces one connection may join at once.
    pub(crate) namespaces: usize,
}

impl Limits {
    /// The defaults, with byte bounds taken from the max payload.
    pub(crate) fn new(max_payload: u64) -> Self {
        let payload = usize::try_from(max_payload).unwrap_or(usize::MAX);
        Limits {
            pending_packets: PENDING_PACKETS,
            pending_bytes: payload,
            handlers_per_connection: HANDLERS_PER_CONNECTION,
            backlog: BACKLOG,
            handler_stall: HANDLER_STALL,
            node_handlers: Arc::new(Semaphore::new(HANDLERS_PER_NODE)),
            attachment_bytes: payload,
            attachment_timeout: ATTACHMENT_TIMEOUT,
            namespaces: NAMESPACES_PER_CONNECTION,
        }
    }
}
