//! Where the HTTP/1 exchange on one connection stands, as far as its bytes tell, and so which of
//! the connection's time bounds applies.
//!
//! The bytes are read as little as needed: the request line, and the blank line that ends the
//! headers. A request's body is not followed: its bytes, and any written, count as traffic.
//!
//! - Before a request: the idle timeout, from the last byte either way.
//! - From a request's first byte to the end of its headers: the header timeout, from that byte.
//! - A request of an Engine.IO session (a long poll, a WebSocket upgrade): no bound until its
//!   answer starts, then none at all if it was a `101`; the engine's ping timeout governs it.
//! - Any other request: the idle timeout, as between requests.

use tokio::time::Instant;

use super::limits::Timeouts;
use super::request_line::Target;

/// The longest request line looked at; a longer one is [`Target::Other`].
const MAX_LINE: usize = 8 << 10;

/// Room kept for a request line arriving in pieces: an Engine.IO request line with a few query
/// parameters fits.
const LINE_GUESS: usize = 256;

/// What a response starts with when it is a `101 Switching Protocols`, as hyper writes it.
pub(super) const SWITCHING: &[u8] = b"HTTP/1.1 101 ";

/// An interim `100 Continue`, after which the request goes on.
const CONTINUE: &[u8] = b"HTTP/1.1 100 ";

/// The exchange on one connection.
#[derive(Debug)]
pub(super) struct Exchange {
    phase: Phase,
    /// When the headers being read started arriving; in every other phase, the last traffic.
    since: Instant,
}

#[derive(Debug)]
enum Phase {
    /// No request is being read or answered.
    Between,
    /// A request's headers are arriving.
    Head(Head),
    /// A request has been read and is not answered yet.
    Request(Target),
    /// The connection carries another protocol now (after a `101`): no bound of HTTP's applies.
    Upgraded,
    /// HTTP/2: only the idle timeout applies.
    Multiplexed,
}

/// The headers of a request, as they arrive.
#[derive(Debug, Default)]
struct Head {
    /// The request line, while it arrives in pieces.
    line: Vec<u8>,
    /// What the request line said, once it is complete.
    target: Option<Target>,
    /// How far into a blank line the bytes are: 1 after a `\n`, 2 after `\n\r`.
    blank: u8,
}

impl Head {
    /// Reads `bytes` of the headers: the target of the request if they end in `bytes`.
    fn read(&mut self, bytes: &[u8]) -> Option<Target> {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' && self.target.is_none() {
                self.target = Some(self.line_ends(&bytes[..i]));
            }
            self.blank = match (self.blank, b) {
                (1 | 2, b'\n') => return Some(self.target.unwrap_or(Target::Other)),
                (_, b'\n') => 1,
                (1, b'\r') => 2,
                _ => 0,
            };
        }
        if self.target.is_none() {
            self.line_continues(bytes);
        }
        None
    }

    /// The target of the request line that ends with `end`.
    fn line_ends(&mut self, end: &[u8]) -> Target {
        if self.line.is_empty() {
            return Target::of(end);
        }
        self.line.extend_from_slice(end);
        let target = Target::of(&self.line);
        self.line = Vec::new();
        target
    }

    /// Keeps `more` of a request line that is still arriving.
    fn line_continues(&mut self, more: &[u8]) {
        if self.line.len() + more.len() > MAX_LINE {
            self.target = Some(Target::Other);
            self.line = Vec::new();
            return;
        }
        if self.line.is_empty() {
            self.line.reserve(LINE_GUESS.max(more.len()));
        }
        self.line.extend_from_slice(more);
    }
}

impl Exchange {
    /// A connection accepted at `now`.
    pub(super) fn new(now: Instant) -> Self {
        Exchange {
            phase: Phase::Between,
            since: now,
        }
    }

    /// Follows `bytes` read at `now`; returns the target of a request whose headers end in them.
    pub(super) fn read(&mut self, bytes: &[u8], now: Instant) -> Option<Target> {
        match &mut self.phase {
            Phase::Between => {
                self.since = now;
                // blank lines before a request line are tolerated, and are not a request
                let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n')?;
                self.phase = Phase::Head(Head::default());
                self.read(&bytes[start..], now)
            }
            Phase::Head(head) => {
                let target = head.read(bytes)?;
                self.since = now;
                self.phase = match target {
                    Target::Http2 => Phase::Multiplexed,
                    _ => Phase::Request(target),
                };
                Some(target)
            }
            Phase::Request(_) | Phase::Multiplexed => {
                self.since = now;
                None
            }
            Phase::Upgraded => None,
        }
    }

    /// Follows a write at `now` whose bytes start with `first`.
    pub(super) fn wrote(&mut self, first: &[u8], now: Instant) {
        match self.phase {
            Phase::Request(_) if first.starts_with(SWITCHING) => self.phase = Phase::Upgraded,
            Phase::Request(_) if first.starts_with(CONTINUE) => self.since = now,
            Phase::Request(_) => {
                self.phase = Phase::Between;
                self.since = now;
            }
            Phase::Between | Phase::Multiplexed => self.since = now,
            Phase::Head(_) | Phase::Upgraded => {}
        }
    }

    /// When the connection must be closed if nothing moves it on; `None` when never. A timeout
    /// too large to add to an instant is no bound.
    pub(super) fn deadline(&self, timeouts: &Timeouts) -> Option<Instant> {
        match self.phase {
            Phase::Head(_) => self.since.checked_add(timeouts.header),
            Phase::Request(target) if target.is_session() => None,
            Phase::Upgraded => None,
            Phase::Between | Phase::Request(_) | Phase::Multiplexed => {
                self.since.checked_add(timeouts.idle)
            }
        }
    }

    /// Whether a request's headers are arriving (the header timeout applies).
    pub(super) fn reading_head(&self) -> bool {
        matches!(self.phase, Phase::Head(_))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    fn after(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn a_new_connection_may_stay_silent_for_the_idle_timeout() {
        let start = Instant::now();
        let exchange = Exchange::new(start);
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 60)));
        assert!(!exchange.reading_head());
    }

    #[test]
    fn headers_must_arrive_within_the_header_timeout_of_their_first_byte() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        assert_eq!(exchange.read(b"\r\n", after(start, 1)), None);
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 61)));
        assert_eq!(exchange.read(b"GET / HT", after(start, 2)), None);
        assert_eq!(
            exchange.read(b"TP/1.1\r\nHost: x\r\n", after(start, 3)),
            None
        );
        assert!(exchange.reading_head());
        // dribbling does not push the bound back
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 12)));
        assert_eq!(exchange.read(b"\r", after(start, 4)), None);
        assert_eq!(
            exchange.read(b"\nbody", after(start, 5)),
            Some(Target::Other)
        );
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 65)));
        exchange.read(b"more body", after(start, 6));
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 66)));
        exchange.wrote(b"HTTP/1.1 200 OK\r\n", after(start, 7));
        exchange.wrote(b"rest of it", after(start, 8));
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 68)));
        // the next request starts another header bound
        exchange.read(b"GET", after(start, 9));
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 19)));
    }

    #[test]
    fn bare_line_feeds_end_headers_too() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        assert_eq!(
            exchange.read(b"GET /?EIO=4&sid=a HTTP/1.1\nHost: x\n\n", start),
            Some(Target::Session)
        );
    }

    #[test]
    fn a_session_request_is_unbounded_until_answered() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        let poll = b"GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(exchange.read(poll, start), Some(Target::Session));
        assert_eq!(exchange.deadline(&TIMEOUTS), None);
        exchange.wrote(b"HTTP/1.1 200 OK\r\n", after(start, 25));
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 85)));
    }

    #[test]
    fn an_upgraded_connection_is_unbounded() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        let (line, rest) = (
            &b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"[..],
            &b"Upgrade: websocket\r\n\r\n"[..],
        );
        // the line arrives in pieces
        assert_eq!(exchange.read(&line[..10], start), None);
        assert_eq!(exchange.read(&line[10..], start), None);
        assert_eq!(
            exchange.read(rest, start),
            Some(Target::NewWebSocketSession)
        );
        exchange.wrote(b"HTTP/1.1 101 Switching Protocols\r\n", start);
        assert_eq!(exchange.deadline(&TIMEOUTS), None);
        assert_eq!(
            exchange.read(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", start),
            None
        );
        assert_eq!(exchange.deadline(&TIMEOUTS), None);
    }

    #[test]
    fn continue_keeps_the_request_going() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        exchange.read(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", start);
        exchange.wrote(b"HTTP/1.1 100 Continue\r\n\r\n", after(start, 1));
        exchange.read(b"body\r\n\r\n", after(start, 2));
        assert!(!exchange.reading_head());
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 62)));
    }

    #[test]
    fn http2_is_bounded_by_the_idle_timeout_only() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(exchange.read(preface, start), Some(Target::Http2));
        exchange.read(b"\x00\x00\x12\x04", after(start, 1));
        assert!(!exchange.reading_head());
        assert_eq!(exchange.deadline(&TIMEOUTS), Some(after(start, 61)));
    }

    #[test]
    fn a_long_request_line_is_not_kept() {
        let start = Instant::now();
        let mut exchange = Exchange::new(start);
        let long = [b"GET /".as_slice(), &[b'a'; MAX_LINE]].concat();
        exchange.read(&long, start);
        assert_eq!(
            exchange.read(b"?EIO=4&sid=a HTTP/1.1\r\n\r\n", start),
            Some(Target::Other)
        );
    }

    #[test]
    fn an_unbounded_timeout_is_no_deadline() {
        let exchange = Exchange::new(Instant::now());
        let never = Timeouts {
            header: Duration::MAX,
            idle: Duration::MAX,
        };
        assert_eq!(exchange.deadline(&never), None);
    }
}
