//! Engine.IO settings shared by every session of one server.

use std::time::Duration;

use super::HttpCompression;

/// The two Engine.IO transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling: GET to receive, POST to send.
    Polling,
    /// One WebSocket connection.
    Websocket,
}

impl Transport {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::Websocket => "websocket",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "polling" => Some(Transport::Polling),
            "websocket" => Some(Transport::Websocket),
            _ => None,
        }
    }
}

/// Engine.IO settings. Built by [`crate::ServerBuilder`]; the defaults match the reference server.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// URL path of the endpoint, with a trailing slash (default `/socket.io/`).
    pub path: String,
    /// Time between two pings sent by the server (default 25 s).
    pub ping_interval: Duration,
    /// Time the client has to answer a ping before the session is closed (default 20 s).
    pub ping_timeout: Duration,
    /// Largest accepted message or polling body, in bytes (default 1 000 000).
    pub max_payload: u64,
    /// Accepted transports (default both).
    pub polling: bool,
    /// See [`EngineConfig::polling`].
    pub websocket: bool,
    /// Time a client has to finish an upgrade after its probe (default 10 s).
    pub upgrade_timeout: Duration,
    /// Frames that may wait in one session's outgoing queue (default 1024). A session whose queue
    /// is full when a frame must be sent is closed with [`super::CloseReason::SlowClient`];
    /// volatile frames are dropped instead.
    pub queue_capacity: usize,
    /// Bytes that may wait in one session's outgoing queue, counted as written (default 8 MiB);
    /// past it the session is treated as for [`EngineConfig::queue_capacity`]. A frame larger
    /// than this still goes into an empty queue.
    pub queue_bytes: usize,
    /// Read buffer of one WebSocket connection, in bytes (default 512: it is allocated for every
    /// connection, most Socket.IO packets fit, and it grows while a larger message is read).
    pub ws_read_buffer: usize,
    /// Write buffer of one WebSocket connection, in bytes (default 4 KiB).
    pub ws_write_buffer: usize,
    /// Accept Engine.IO v3 clients (`EIO=3`: `socket.io-client` 2.x) besides v4 ones (default
    /// off, as on the reference server; see [`crate::ServerBuilder::allow_eio3`]).
    pub allow_eio3: bool,
    /// How long-polling responses are compressed (default [`HttpCompression::default`]: gzip
    /// or deflate from 1024 bytes on, as on the reference server); `None` sends them as they
    /// are.
    pub http_compression: Option<HttpCompression>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            polling: true,
            websocket: true,
            upgrade_timeout: Duration::from_secs(10),
            queue_capacity: 1024,
            queue_bytes: 8 * 1024 * 1024,
            ws_read_buffer: 512,
            ws_write_buffer: 4 * 1024,
            allow_eio3: false,
            http_compression: Some(HttpCompression::default()),
        }
    }
}

impl EngineConfig {
    pub(crate) fn allows(&self, transport: Transport) -> bool {
        match transport {
            Transport::Polling => self.polling,
            Transport::Websocket => self.websocket,
        }
    }

    /// Sets which transports are accepted.
    pub fn set_transports(&mut self, transports: impl IntoIterator<Item = Transport>) {
        self.polling = false;
        self.websocket = false;
        for t in transports {
            match t {
                Transport::Polling => self.polling = true,
                Transport::Websocket => self.websocket = true,
            }
        }
    }
}
