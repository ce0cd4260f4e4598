//! Why a socket left its namespace.

use crate::engine::CloseReason;

/// Why a socket was disconnected from its namespace, as given to disconnect handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientDisconnect,
    /// The server disconnected the socket (`Socket::disconnect`).
    ServerDisconnect,
    /// The client stopped answering pings.
    PingTimeout,
    /// The connection was closed by the client or the network.
    TransportClose,
    /// The connection broke or carried something the Engine.IO protocol does not allow.
    TransportError,
    /// The client sent a packet that is not valid Socket.IO.
    ParseError,
    /// The server is shutting down.
    ServerShutdown,
    /// The client read too slowly and its outgoing queue filled up.
    SlowClient,
    /// The client went past one of the server's limits (see [`Limit`] and the README's
    /// "Limits" section).
    LimitExceeded(Limit),
}

/// A per-connection limit whose breach disconnects a client; carried by
/// [`DisconnectReason::LimitExceeded`].
///
/// ```
/// use volley::{DisconnectReason, Limit};
/// let reason = DisconnectReason::LimitExceeded(Limit::Handlers);
/// assert_eq!(reason.to_string(), "limit exceeded: handlers in flight");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Too many packets (or bytes) arrived for a namespace whose connect was not yet accepted
    /// ([`crate::ServerBuilder::max_pending_packets`]).
    PendingPackets,
    /// The connection kept more handlers running than allowed for longer than the stall
    /// timeout ([`crate::ServerBuilder::max_handlers_per_connection`],
    /// [`crate::ServerBuilder::handler_stall_timeout`]).
    Handlers,
    /// A binary packet's attachments went past the byte bound
    /// ([`crate::ServerBuilder::max_attachment_bytes`]).
    AttachmentBytes,
    /// A binary packet's attachments did not all arrive in time
    /// ([`crate::ServerBuilder::attachment_timeout`]).
    AttachmentTimeout,
    /// The client asked to join more namespaces than allowed
    /// ([`crate::ServerBuilder::max_namespaces_per_connection`]).
    Namespaces,
}

impl Limit {
    /// What was exceeded, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::PendingPackets => "packets before connect",
            Limit::Handlers => "handlers in flight",
            Limit::AttachmentBytes => "attachment bytes",
            Limit::AttachmentTimeout => "attachment timeout",
            Limit::Namespaces => "namespaces per connection",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DisconnectReason {
    /// The reason's name, as the reference server spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientDisconnect => "client namespace disconnect",
            DisconnectReason::ServerDisconnect => "server namespace disconnect",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ServerShutdown => "server shutting down",
            DisconnectReason::SlowClient => "slow client",
            DisconnectReason::LimitExceeded(limit) => match limit {
                Limit::PendingPackets => "limit exceeded: packets before connect",
                Limit::Handlers => "limit exceeded: handlers in flight",
                Limit::AttachmentBytes => "limit exceeded: attachment bytes",
                Limit::AttachmentTimeout => "limit exceeded: attachment timeout",
                Limit::Namespaces => "limit exceeded: namespaces per connection",
            },
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::ClientClose | CloseReason::TransportClose => {
                DisconnectReason::TransportClose
            }
            CloseReason::TransportError => DisconnectReason::TransportError,
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ServerClose => DisconnectReason::ServerDisconnect,
            CloseReason::ServerShutdown => DisconnectReason::ServerShutdown,
            CloseReason::SlowClient => DisconnectReason::SlowClient,
        }
    }
}
