//! What a request line says about the Engine.IO traffic it starts, read as the engine reads it.

use crate::engine::{QueryParams, Transport};

/// What a request is, as far as serving it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// A request that opens an Engine.IO session over WebSocket: `GET …?EIO=…&transport=websocket`
    /// without a `sid`.
    NewWebSocketSession,
    /// A request of an existing Engine.IO session: `GET …?EIO=…&sid=…` (a long poll, or the
    /// upgrade of a polling session to WebSocket).
    Session,
    /// The HTTP/2 connection preface (`PRI * HTTP/2.0`): what follows is not HTTP/1.
    Http2,
    /// Anything else.
    Other,
}

impl Target {
    /// Reads a request line, with or without its line ending.
    pub(super) fn of(line: &[u8]) -> Target {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line == b"PRI * HTTP/2.0" {
            return Target::Http2;
        }
        let Some(target) = line
            .strip_prefix(b"GET ")
            .and_then(|rest| rest.strip_suffix(b" HTTP/1.1"))
        else {
            return Target::Other;
        };
        let Some(query) = target
            .iter()
            .position(|&b| b == b'?')
            .map(|q| &target[q + 1..])
        else {
            return Target::Other;
        };
        // read as the engine reads them; the engine then checks the version and the sid
        let params = QueryParams::read(query);
        let websocket =
            params.transport.as_deref().and_then(Transport::parse) == Some(Transport::Websocket);
        match (params.eio.is_some(), params.sid.is_some(), websocket) {
            (true, true, _) => Target::Session,
            (true, false, true) => Target::NewWebSocketSession,
            _ => Target::Other,
        }
    }

    /// Whether the request belongs to an Engine.IO session, whose ping timeout then governs the
    /// connection while the request lasts: a long poll waits for the next packet or ping, a
    /// WebSocket lives as long as the session.
    pub(super) fn is_session(self) -> bool {
        matches!(self, Target::Session | Target::NewWebSocketSession)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_io_requests_are_told_apart() {
        for (line, target) in [
            (
                &b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"[..],
                Target::NewWebSocketSession,
            ),
            (
                b"GET /chat/?transport=websocket&EIO=4&token=a%26b HTTP/1.1\r",
                Target::NewWebSocketSession,
            ),
            (
                b"GET /socket.io/?EIO=4&transport=websocket&sid=abc HTTP/1.1",
                Target::Session,
            ),
            (
                b"GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n",
                Target::Session,
            ),
            (
                b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n",
                Target::Other,
            ),
            (
                b"GET /socket.io/?transport=websocket HTTP/1.1\r\n",
                Target::Other,
            ),
            (b"GET /ws HTTP/1.1\r\n", Target::Other),
            (
                b"POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n",
                Target::Other,
            ),
            (b"GET /socket.io/?EIO=4&transport=websock", Target::Other),
            (b"PRI * HTTP/2.0\r\n", Target::Http2),
            (b"", Target::Other),
        ] {
            assert_eq!(
                Target::of(line),
                target,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
