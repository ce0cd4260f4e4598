//! Turning a connection away past the listener's cap: a `503 Service Unavailable` written at
//! once, then the socket closed, without ever waiting on the client.

use std::net::Shutdown;
use std::time::Duration;

use tokio::net::TcpStream;

/// What the refused client reads.
const BODY: &str = "too many connections: this server is busy, retry later\n";

/// How much of what the client already sent is read and dropped before closing, at most (a
/// socket closed with unread bytes sends a reset, which may destroy the response in flight).
const DRAIN: usize = 16 << 10;

/// The `503` response, telling the client to retry after `retry_after` (whole seconds, rounded
/// up).
pub(super) fn response(retry_after: Duration) -> Vec<u8> {
    let secs = retry_after
        .as_secs()
        .saturating_add(u64::from(retry_after.subsec_nanos() > 0));
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: {secs}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// Writes `response` to `tcp` as far as the socket takes it at once (all of it, on a new
/// connection's empty send buffer), and closes the connection.
pub(super) fn refuse(tcp: TcpStream, response: &[u8]) {
    let mut sink = [0; 4096];
    let mut drained = 0;
    while drained < DRAIN {
        match tcp.try_read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
    let mut sent = 0;
    while sent < response.len() {
        match tcp.try_write(&response[sent..]) {
            Ok(n) if n > 0 => sent += n,
            _ => break,
        }
    }
    // the end of the response goes out before the socket closes, even if bytes arrive meanwhile
    if let Ok(tcp) = tcp.into_std() {
        let _ = tcp.shutdown(Shutdown::Write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_says_when_to_retry() {
        let text = String::from_utf8(response(Duration::from_millis(1500))).unwrap_or_default();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nretry-after: 2\r\n"), "{text}");
        assert!(text.ends_with(&format!("\r\n\r\n{BODY}")), "{text}");
        let max = String::from_utf8(response(Duration::MAX)).unwrap_or_default();
        assert!(
            max.contains(&format!("retry-after: {}\r\n", u64::MAX)),
            "{max}"
        );
    }
}
