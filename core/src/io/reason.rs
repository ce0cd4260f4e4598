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
