//! Why an Engine.IO session ended.

/// Why an Engine.IO session was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent a close packet or closed its WebSocket.
    ClientClose,
    /// The transport broke (connection reset, WebSocket error).
    TransportClose,
    /// The client sent something the protocol does not allow (bad packet, overlapping polls).
    TransportError,
    /// No pong arrived within `pingTimeout` of a ping.
    PingTimeout,
    /// The server closed the session.
    ServerClose,
    /// The server is shutting down.
    ServerShutdown,
    /// The client read too slowly: its outgoing queue filled up.
    SlowClient,
}

impl CloseReason {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClose => "client close",
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ServerClose => "server close",
            CloseReason::ServerShutdown => "server shutdown",
            CloseReason::SlowClient => "slow client",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
