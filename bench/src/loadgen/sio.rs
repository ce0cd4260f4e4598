//! A Socket.IO v5 client over Engine.IO v4 WebSocket frames, raw: it reads the open packet,
//! connects to the main namespace (`40`), answers pings (`2` → `3`), and hands over events
//! (`42[...]`) and acks (`43N[...]`) as byte slices. Nothing is parsed that a scenario does not
//! ask for.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use super::ws::{Opcode, Ws};

/// Where the clients connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// Source addresses to spread the connections over (none: the kernel's choice).
    pub sources: Vec<IpAddr>,
}

/// Clients per loopback source address, at most.
const PER_SOURCE: usize = 20_000;

impl Target {
    /// A server on `127.0.0.1:port`.
    pub fn local(port: u16) -> Target {
        Target {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            sources: Vec::new(),
        }
    }

    /// A server on `127.0.0.1:port` for `clients` connections: past 20,000 they come from
    /// several loopback source addresses (`127.0.0.2`, `127.0.0.3`, …), as one source address
    /// has one ephemeral port range (about 28,000 ports) towards one server address.
    pub fn local_for(port: u16, clients: usize) -> Target {
        let mut target = Target::local(port);
        if clients > PER_SOURCE {
            let count = clients.div_ceil(PER_SOURCE);
            target.sources = (0..count)
                .filter_map(|i| u8::try_from(i + 2).ok())
                .map(|last| IpAddr::from([127, 0, 0, last]))
                .collect();
        }
        target
    }

    fn source(&self, n: usize) -> Option<IpAddr> {
        if self.sources.is_empty() {
            None
        } else {
            Some(self.sources[n % self.sources.len()])
        }
    }
}

/// What a received Socket.IO packet is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// An event: the range of its JSON array (`["name",...]`).
    Event(Range<usize>),
    /// An ack with its id, and the range of its JSON array.
    Ack(u64, Range<usize>),
    /// Anything else (answered inside when it needs an answer).
    Other,
}

/// One connected Socket.IO client in the main namespace.
pub struct Client {
    ws: Ws,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Client {
    /// Connects client number `n` (which picks its source address) and waits until the server
    /// has accepted it in the main namespace.
    pub async fn connect(target: &Target, n: usize) -> io::Result<Client> {
        Ok(Client::connect_with_auth(target, n, None).await?.0)
    }

    /// Connects client number `n` as [`Client::connect`] does, sending `auth` (a JSON object)
    /// with its CONNECT; returns the client and the payload of the server's CONNECT
    /// acknowledgement (`{"sid":…}`, with `"pid"` when connection state recovery is on).
    pub async fn connect_with_auth(
        target: &Target,
        n: usize,
        auth: Option<&[u8]>,
    ) -> io::Result<(Client, Vec<u8>)> {
        let ws = Ws::connect(
            target.addr,
            target.source(n),
            "/socket.io/?EIO=4&transport=websocket",
        )
        .await?;
        let mut c = Client { ws };
        // Engine.IO open packet
        let open = c.next_raw().await?;
        if !open.starts_with(b"0") {
            return Err(invalid("no Engine.IO open packet"));
        }
        let mut connect = b"40".to_vec();
        connect.extend_from_slice(auth.unwrap_or_default());
        c.ws.queue_text(&connect);
        c.ws.flush().await?;
        loop {
            let mut p = c.next_raw().await?;
            if p.starts_with(b"40") {
                p.drain(..2);
                return Ok((c, p));
            }
            if p.starts_with(b"44") {
                return Err(invalid(String::from_utf8_lossy(&p).into_owned()));
            }
        }
    }

    /// The next data frame, reading as needed (only for the handshake: it copies).
    async fn next_raw(&mut self) -> io::Result<Vec<u8>> {
        loop {
            while let Some((op, range)) = self.ws.next_frame()? {
                match op {
                    Opcode::Data => {
                        let p = self.ws.payload(range);
                        if p == b"2" {
                            self.ws.queue_text(b"3");
                            continue;
                        }
                        return Ok(p.to_vec());
                    }
                    Opcode::Close => return Err(invalid("closed by the server")),
                    Opcode::Control => {}
                }
            }
            self.ws.flush().await?;
            if self.ws.fill().await? == 0 {
                return Err(invalid("connection closed"));
            }
        }
    }

    /// The local address of the client's connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.ws.local_addr()
    }

    /// Reads more from the connection; `Ok(false)` when it is closed. Cancel-safe.
    pub async fn fill(&mut self) -> io::Result<bool> {
        Ok(self.ws.fill().await? > 0)
    }

    /// The next packet already read, if any. Pings are answered (queued for [`Client::flush`]).
    pub fn next_packet(&mut self) -> io::Result<Option<Packet>> {
        loop {
            let Some((op, range)) = self.ws.next_frame()? else {
                return Ok(None);
            };
            match op {
                Opcode::Close => return Err(invalid("closed by the server")),
                Opcode::Control => continue,
                Opcode::Data => {}
            }
            let p = self.ws.payload(range.clone());
            return Ok(Some(match p {
                [b'2'] => {
                    self.ws.queue_text(b"3");
                    Packet::Other
                }
                [b'4', b'2', ..] => Packet::Event(range.start + 2..range.end),
                [b'4', b'3', rest @ ..] => {
                    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                    let id = parse_u64(&rest[..digits]).unwrap_or(u64::MAX);
                    Packet::Ack(id, range.start + 2 + digits..range.end)
                }
                [b'4', b'1', ..] | [b'1', ..] => return Err(invalid("disconnected by the server")),
                _ => Packet::Other,
            }));
        }
    }

    /// The bytes of a packet's range (valid until the next fill).
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.ws.payload(range)
    }

    /// Queues an event: `json` is the JSON array `["name",...]`; with `ack`, asks for an ack.
    pub fn queue_event(&mut self, ack: Option<u64>, json: &[u8]) {
        let mut buf = Vec::with_capacity(json.len() + 24);
        buf.extend_from_slice(b"42");
        if let Some(id) = ack {
            buf.extend_from_slice(id.to_string().as_bytes());
        }
        buf.extend_from_slice(json);
        self.ws.queue_text(&buf);
    }

    /// Whether frames wait to be sent.
    pub fn has_output(&self) -> bool {
        self.ws.has_output()
    }

    /// Sends what was queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.ws.flush().await
    }

    /// Sends an event asking for ack `id` and waits for that ack (answering pings meanwhile,
    /// dropping other packets); returns the ack's JSON array.
    pub async fn call(&mut self, id: u64, json: &[u8]) -> io::Result<Vec<u8>> {
        self.queue_event(Some(id), json);
        loop {
            while let Some(p) = self.next_packet()? {
                if let Packet::Ack(got, range) = p {
                    if got == id {
                        return Ok(self.bytes(range).to_vec());
                    }
                }
            }
            self.flush().await?;
            if !self.fill().await? {
                return Err(invalid("connection closed"));
            }
        }
    }

    /// Waits for the next event (answering pings meanwhile, dropping other packets) and
    /// returns its JSON array.
    pub async fn next_event(&mut self) -> io::Result<Vec<u8>> {
        loop {
            while let Some(p) = self.next_packet()? {
                if let Packet::Event(range) = p {
                    return Ok(self.bytes(range).to_vec());
                }
            }
            self.flush().await?;
            if !self.fill().await? {
                return Err(invalid("connection closed"));
            }
        }
    }

    /// Closes the connection (a WebSocket close, then a TCP shutdown).
    pub async fn close(self) {
        self.ws.close().await
    }

    /// Drops the connection as a network failure would: no WebSocket close, no Socket.IO
    /// disconnect, and a TCP reset rather than an orderly shutdown.
    pub fn abort(self) {
        self.ws.abort()
    }
}

/// Parses ASCII digits.
pub fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

/// The sequence number of a `msg` event (`["msg",SEQ,...]`), the first argument.
pub fn msg_seq(event: &[u8]) -> Option<u64> {
    let rest = event.strip_prefix(b"[\"msg\",")?;
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[start..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_u64(&rest[..digits])
}

/// The private id (`pid`) in a CONNECT acknowledgement's payload (`{"sid":…,"pid":…}`): what a
/// client sends back to recover its socket. `None` without one (recovery is off).
pub fn ack_pid(payload: &[u8]) -> Option<String> {
    let ack: serde_json::Value = serde_json::from_slice(payload).ok()?;
    Some(ack.get("pid")?.as_str()?.to_owned())
}

/// The last argument of an event (`["name",…,"offset"]`) when it is a string: the offset a
/// recoverable broadcast carries.
pub fn last_string_arg(event: &[u8]) -> Option<String> {
    let array: Vec<serde_json::Value> = serde_json::from_slice(event).ok()?;
    if array.len() < 2 {
        return None;
    }
    Some(array.last()?.as_str()?.to_owned())
}

/// The CONNECT auth of a client that recovers its socket: `{"pid":…,"offset":…}`.
pub fn recovery_auth(pid: &str, offset: &str) -> Vec<u8> {
    serde_json::json!({ "pid": pid, "offset": offset })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_read() {
        assert_eq!(msg_seq(b"[\"msg\",42,\"x\"]"), Some(42));
        assert_eq!(msg_seq(b"[\"msg\", 7, \"x\"]"), Some(7));
        assert_eq!(msg_seq(b"[\"other\",7]"), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn a_recoverable_broadcast_keeps_its_sequence_number_and_gives_its_offset() {
        let event = b"[\"msg\",42,\"payload\",\"a1b2-2a\"]";
        assert_eq!(msg_seq(event), Some(42));
        assert_eq!(last_string_arg(event).as_deref(), Some("a1b2-2a"));
        // without recovery the last argument is the payload: no offset to tell it apart, but
        // nothing that is not a string is taken for one
        assert_eq!(last_string_arg(b"[\"msg\",42]"), None);
        assert_eq!(last_string_arg(b"[\"msg\"]"), None);
        assert_eq!(last_string_arg(b"[\"msg\",4"), None);
    }

    #[test]
    fn the_connect_ack_gives_the_private_id_and_the_auth_sends_it_back() {
        let ack = b"{\"sid\":\"s1\",\"pid\":\"p1\"}";
        assert_eq!(ack_pid(ack).as_deref(), Some("p1"));
        assert_eq!(ack_pid(b"{\"sid\":\"s1\"}"), None);
        assert_eq!(ack_pid(b""), None);
        let auth: serde_json::Value =
            serde_json::from_slice(&recovery_auth("p1", "n-\"1")).unwrap_or_default();
        assert_eq!(auth, serde_json::json!({"pid": "p1", "offset": "n-\"1"}));
    }

    #[test]
    fn many_clients_come_from_several_source_addresses() {
        assert!(Target::local_for(3100, 10_000).sources.is_empty());
        let target = Target::local_for(3100, 50_000);
        let want: Vec<IpAddr> = (2..=4).map(|i| IpAddr::from([127, 0, 0, i])).collect();
        assert_eq!(target.sources, want);
        // clients are dealt round the addresses
        assert_eq!(target.source(0), Some(want[0]));
        assert_eq!(target.source(4), Some(want[1]));
    }
}
