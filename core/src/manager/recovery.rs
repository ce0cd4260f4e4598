//! Connection state recovery: a client whose connection drops comes back as the same socket, in
//! the same rooms, with its session, and receives every broadcast it missed, in order, before
//! new ones (Socket.IO's `connectionStateRecovery`).
//!
//! How it works, on one node:
//! - every socket gets a private id (`pid`) beside its public one; the CONNECT acknowledgement
//!   carries both, and the client sends the `pid` back when it reconnects;
//! - every broadcast that can be recovered (not volatile, not asking for acks) gets an offset,
//!   a string the client receives as the event's last argument; the official clients keep the
//!   last one and send it with the `pid`;
//! - the node keeps a log of those broadcasts per namespace (their encoded frames, shared with
//!   the deliveries, so the log costs no second copy) for `max_disconnection_duration`, and a
//!   socket that leaves for a recoverable reason (the transport closed or broke, a ping
//!   timeout, a shutdown) leaves its id, rooms and session behind for as long;
//! - a reconnect that presents a known `pid` and an offset still in the log gets them back, and
//!   the frames logged after that offset for its rooms are queued behind the CONNECT
//!   acknowledgement. Appending to the log and delivering happen under one lock per namespace,
//!   so a broadcast is either in what a returning socket is sent from the log or delivered to
//!   it live, never both and never neither.
//!
//! In a cluster, offsets are made by the node that emits (`{node}-{sequence}`) and travel with
//! the broadcast, so every node logs the same offset for the same packet.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::{Frame, Sid};
use volley_protocol::cluster::RecoveredSession;
use volley_protocol::Value;

/// Connection state recovery settings, given to
/// [`ServerBuilder::connection_state_recovery`](crate::ServerBuilder::connection_state_recovery).
/// Off unless that is called.
///
/// ```
/// use std::time::Duration;
/// use volley::{ConnectionStateRecovery, Server};
/// let io = Server::builder()
///     .connection_state_recovery(
///         ConnectionStateRecovery::default().max_disconnection_duration(Duration::from_secs(60)),
///     )
///     .build();
/// # let _ = io;
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionStateRecovery {
    pub(crate) max_disconnection: Duration,
    pub(crate) skip_connect_handler: bool,
    pub(crate) max_packets: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_sessions: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        ConnectionStateRecovery {
            max_disconnection: Duration::from_secs(120),
            skip_connect_handler: true,
            max_packets: 10_000,
            max_bytes: 64 * 1024 * 1024,
            max_sessions: 100_000,
        }
    }
}

impl ConnectionStateRecovery {
    /// How long a disconnected socket can be recovered (default 2 minutes): its session is kept
    /// that long, and so is every broadcast it might have missed.
    pub fn max_disconnection_duration(mut self, duration: Duration) -> Self {
        self.max_disconnection = duration;
        self
    }

    /// Whether a recovered socket skips the namespace's connect handler (default `true`, as
    /// Node's `skipMiddlewares`): it was accepted once. With `false`, the handler runs again
    /// and may refuse; [`Socket::recovered`](crate::Socket::recovered) tells it apart.
    pub fn skip_connect_handler(mut self, skip: bool) -> Self {
        self.skip_connect_handler = skip;
        self
    }

    /// The most broadcasts one namespace's log keeps (default 10,000); older ones are dropped
    /// sooner than `max_disconnection_duration` when more arrive, and a client whose offset was
    /// dropped reconnects as a new socket.
    pub fn max_packets(mut self, packets: usize) -> Self {
        self.max_packets = packets.max(1);
        self
    }

    /// The most bytes of encoded broadcasts one namespace's log keeps (default 64 MiB).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// The most disconnected sockets kept for recovery at once, on this node (default 100,000);
    /// past it the oldest is forgotten.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions.max(1);
        self
    }
}

/// The most missed frames a node hands to another with a recovered socket (the default outgoing
/// queue holds 1,024; the socket's new node checks against its own queue again).
pub(crate) const TRANSFER_FRAMES: usize = 1000;
/// The most bytes of missed frames a node hands to another with a recovered socket (three
/// quarters of the default outgoing queue's bytes).
pub(crate) const TRANSFER_BYTES: usize = 6 * 1024 * 1024;

/// Random bytes in a private id (written as hex).
const PID_BYTES: usize = 15;

/// Offsets longer than this, from the bus, are not trusted: the packet gets one of this node's.
const MAX_OFFSET_LEN: usize = 80;

/// A broadcast in a namespace's log.
struct Entry {
    /// Its place in this node's log of the namespace (consecutive).
    pos: u64,
    offset: Arc<str>,
    /// The node that made the offset and its sequence number there; `None` for an offset this
    /// node made for a packet that came without one (from an emitter): other nodes log that
    /// packet under offsets of their own.
    origin: Option<(Arc<str>, u64)>,
    at: Instant,
    rooms: Vec<String>,
    except: Vec<String>,
    frame: Frame,
    bytes: usize,
}

impl Entry {
    /// Whether a socket in `rooms` (its own id among them) was a target.
    fn reaches(&self, rooms: &[String]) -> bool {
        let included = self.rooms.is_empty() || rooms.iter().any(|r| self.rooms.contains(r));
        included && !rooms.iter().any(|r| self.except.contains(r))
    }
}

/// One namespace's recent broadcasts.
#[derive(Default)]
pub(crate) struct Log {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// The position the next entry takes.
    next: u64,
    /// The highest Redis stream id logged (kept when its entry is dropped).
    last_stream_id: Option<(u64, u64)>,
    /// Sockets recovered from another node lately, oldest first (see [`Log::hold`]).
    held: VecDeque<Held>,
}

/// How long a socket recovered from another node is kept from receiving live a broadcast that
/// node had already logged (see [`Log::hold`]): a broadcast overtaken by the handover arrives
/// within milliseconds.
const HELD_FOR: Duration = Duration::from_secs(10);

/// A socket recovered from another node, and how far that node's log went for each node that
/// made offsets when it handed the socket over.
struct Held {
    sid: Sid,
    marks: std::collections::BTreeMap<String, u64>,
    at: Instant,
}

impl Log {
    /// The position a socket registered now starts after.
    pub(crate) fn head(&self) -> u64 {
        self.next
    }

    fn prune(&mut self, config: &ConnectionStateRecovery, now: Instant) {
        while let Some(first) = self.entries.front() {
            let old = first.at + config.max_disconnection < now;
            if !(old || self.entries.len() > config.max_packets || self.bytes > config.max_bytes) {
                break;
            }
            self.bytes -= first.bytes;
            self.entries.pop_front();
        }
    }

    /// The position of the entry with this offset, searched from the newest.
    fn position(&self, offset: &str) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| &*e.offset == offset)
            .map(|e| e.pos)
    }

    /// For each node that made offsets, the highest sequence number logged here.
    pub(crate) fn marks(&self) -> std::collections::BTreeMap<String, u64> {
        let mut marks = std::collections::BTreeMap::new();
        for (node, seq) in self.entries.iter().filter_map(|e| e.origin.as_ref()) {
            let mark = marks.entry(node.to_string()).or_insert(0);
            *mark = (*mark).max(*seq);
        }
        marks
    }

    /// Notes that `sid` came back from another node whose log went up to `marks`: it was sent
    /// what that node logged up to there (or had it before), so for [`HELD_FOR`] a broadcast
    /// they cover that reaches this node only now is not delivered to it again (see
    /// [`already_sent`](Log::already_sent)). Holds only where each node's broadcasts reach
    /// every node in the order they were made (one channel for all of them): on a bus whose
    /// rooms have channels, a broadcast below a mark may not have reached the other node yet.
    /// At most `cap` sockets are held, the oldest let go first.
    pub(crate) fn hold(
        &mut self,
        sid: Sid,
        marks: std::collections::BTreeMap<String, u64>,
        cap: usize,
    ) {
        if marks.is_empty() {
            return;
        }
        let now = Instant::now();
        self.let_go(now);
        while self.held.len() >= cap.max(1) {
            self.held.pop_front();
        }
        self.held.push_back(Held {
            sid,
            marks,
            at: now,
        });
    }

    /// The held sockets (see [`hold`](Log::hold)) that already have the broadcast with `offset`.
    pub(crate) fn already_sent(&mut self, offset: &str) -> Vec<Sid> {
        if self.held.is_empty() {
            return Vec::new();
        }
        self.let_go(Instant::now());
        let Some((node, seq)) = parse_offset(offset) else {
            return Vec::new();
        };
        self.held
            .iter()
            .filter(|h| h.marks.get(&*node).is_some_and(|mark| seq <= *mark))
            .map(|h| h.sid)
            .collect()
    }

    fn let_go(&mut self, now: Instant) {
        while self.held.front().is_some_and(|h| h.at + HELD_FOR < now) {
            self.held.pop_front();
        }
    }

    /// The frames logged here for a socket in `rooms` that another node's `marks` do not cover:
    /// broadcasts that reached this node before the other one, or never reached it.
    fn beyond(
        &self,
        marks: &std::collections::BTreeMap<String, u64>,
        rooms: &[String],
    ) -> Vec<Frame> {
        self.entries
            .iter()
            .filter(|e| match &e.origin {
                Some((node, seq)) => marks.get(&**node).is_none_or(|mark| seq > mark),
                None => false,
            })
            .filter(|e| e.reaches(rooms))
            .map(|e| e.frame.clone())
            .collect()
    }

    /// The frames logged under Redis stream ids after `last` (another stream id) for a socket in
    /// `rooms`.
    fn after_stream_id(&self, last: &str, rooms: &[String]) -> Vec<Frame> {
        let Some(last) = stream_id(last) else {
            return Vec::new();
        };
        self.entries
            .iter()
            .filter(|e| stream_id(&e.offset).is_some_and(|id| id > last))
            .filter(|e| e.reaches(rooms))
            .map(|e| e.frame.clone())
            .collect()
    }

    /// The frames after position `after` that reached a socket in `rooms`; `None` when some of
    /// them were already dropped from the log.
    fn since(&self, after: u64, rooms: &[String]) -> Option<Vec<(Frame, usize)>> {
        match self.entries.front() {
            Some(first) if first.pos > after + 1 => return None,
            None if self.next > after + 1 => return None,
            _ => {}
        }
        Some(
            self.entries
                .iter()
                .filter(|e| e.pos > after && e.reaches(rooms))
                .map(|e| (e.frame.clone(), e.bytes))
                .collect(),
        )
    }
}

/// A socket that left for a recoverable reason, kept until it returns or expires.
pub(crate) struct Persisted {
    pub(crate) sid: Sid,
    pub(crate) pid: Arc<str>,
    pub(crate) ns: String,
    /// Its rooms, its own id not included.
    pub(crate) rooms: Vec<String>,
    pub(crate) session: Option<Box<dyn Any + Send + Sync>>,
    /// The log position it was registered after: what it could not have received.
    pub(crate) base: u64,
    at: Instant,
}

impl Persisted {
    pub(crate) fn new(
        sid: Sid,
        pid: Arc<str>,
        ns: String,
        rooms: Vec<String>,
        session: Option<Box<dyn Any + Send + Sync>>,
        base: u64,
    ) -> Self {
        Persisted {
            sid,
            pid,
            ns,
            rooms,
            session,
            base,
            at: Instant::now(),
        }
    }
}

#[derive(Default)]
struct Sessions {
    by_pid: HashMap<Arc<str>, Persisted>,
    /// Persisted sessions, oldest first (an entry whose session was taken is skipped).
    order: VecDeque<(Arc<str>, Instant)>,
}

/// A recovery that cannot be made: the client connects as a new socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unrecoverable {
    /// The offset is not in the log (too old, or never sent by this cluster).
    UnknownOffset,
    /// Broadcasts it missed were dropped from the log already.
    Gone,
    /// What it missed is more than its outgoing queue takes.
    TooMuch,
}

/// This node's recovery state: the logs and the disconnected sockets.
pub(crate) struct Recoverer {
    pub(crate) config: ConnectionStateRecovery,
    /// The name offsets made on this node start with.
    node: Arc<str>,
    next_seq: std::sync::atomic::AtomicU64,
    logs: Mutex<HashMap<String, Arc<Mutex<Log>>>>,
    sessions: Mutex<Sessions>,
    /// Sockets handed to another node lately, on a bus that listens per room (see
    /// [`Recoverer::handed_window`]), oldest first: at most `max_sessions`, for [`HANDED_FOR`].
    handed: Mutex<VecDeque<Handed>>,
}

/// How long a socket handed to another node is remembered (see [`Recoverer::handed_window`]).
const HANDED_FOR: Duration = Duration::from_secs(30);

/// A socket handed to another node: what it was sent, to send what followed.
struct Handed {
    ns: String,
    pid: Arc<str>,
    sid: String,
    /// Its rooms, its own id not included.
    rooms: Vec<String>,
    /// How far the log went for each node when it was handed.
    marks: std::collections::BTreeMap<String, u64>,
    at: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // nothing panics while holding these locks; a poisoned one still holds valid data
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a broadcast's offset is.
#[derive(Debug, Clone, Copy)]
pub enum OffsetSource<'a> {
    /// Emitted on this node: make one.
    Here,
    /// Received from another node, with the offset it made (`None` when the sender made none,
    /// as an emitter: this node makes one).
    Remote(Option<&'a str>),
}

impl Recoverer {
    pub(crate) fn new(config: ConnectionStateRecovery, node: Arc<str>) -> Self {
        Recoverer {
            config,
            node,
            next_seq: std::sync::atomic::AtomicU64::new(1),
            logs: Mutex::new(HashMap::new()),
            sessions: Mutex::new(Sessions::default()),
            handed: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether `pid` has the shape of an id [`Recoverer::new_pid`] makes, or of one a Node
    /// server makes (20 characters of base64url, as socket ids).
    pub(crate) fn is_pid(pid: &str) -> bool {
        (pid.len() == 2 * PID_BYTES && pid.bytes().all(|b| b.is_ascii_hexdigit()))
            || Sid::parse(pid).is_some()
    }

    /// A fresh private id.
    pub(crate) fn new_pid() -> Arc<str> {
        let raw: [u8; PID_BYTES] = rand::random();
        raw.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into()
    }

    /// The namespace's log, made on first use.
    pub(crate) fn log(&self, ns: &str) -> Arc<Mutex<Log>> {
        let mut logs = lock(&self.logs);
        if let Some(log) = logs.get(ns) {
            return log.clone();
        }
        // namespaces come and go: drop the logs that hold nothing before adding one
        if logs.len() >= 64 {
            logs.retain(|_, log| Arc::strong_count(log) > 1 || !lock(log).entries.is_empty());
        }
        logs.entry(ns.to_owned()).or_default().clone()
    }

    /// The offset a broadcast carries, and whether it is shared by every node (made by the
    /// node that emitted) rather than made here for a packet that came without one.
    pub(crate) fn offset(&self, source: OffsetSource<'_>) -> (Arc<str>, bool) {
        match source {
            OffsetSource::Remote(Some(offset)) if valid_offset(offset) => (offset.into(), true),
            OffsetSource::Here => (self.make_offset(), true),
            OffsetSource::Remote(_) => (self.make_offset(), false),
        }
    }

    fn make_offset(&self) -> Arc<str> {
        let seq = self
            .next_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{seq:x}", self.node).into()
    }

    /// Appends a delivered broadcast to its namespace's log (the caller holds the log's lock
    /// across the delivery).
    pub(crate) fn append(
        &self,
        log: &mut Log,
        (offset, shared): (Arc<str>, bool),
        opts: &crate::manager::BroadcastOptions,
        frame: Frame,
    ) {
        let now = Instant::now();
        let bytes = frame.wire_len() + offset.len() + 64;
        log.bytes += bytes;
        let origin = shared.then(|| parse_offset(&offset)).flatten();
        if let Some(id) = stream_id(&offset) {
            log.last_stream_id = log.last_stream_id.max(Some(id));
        }
        log.entries.push_back(Entry {
            pos: log.next,
            offset,
            origin,
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            frame,
            bytes,
        });
        log.next += 1;
        log.prune(&self.config, now);
    }

    /// What a returning socket missed, from the log it holds the lock of: the frames after
    /// `offset` (or, without one, after the position it was registered at) for its rooms, within
    /// `max_frames` and `max_bytes`.
    pub(crate) fn missed(
        &self,
        log: &mut Log,
        offset: Option<&str>,
        base: u64,
        rooms: &[String],
        max_frames: usize,
        max_bytes: usize,
    ) -> Result<Vec<Frame>, Unrecoverable> {
        log.prune(&self.config, Instant::now());
        let after = match offset {
            Some(offset) => log.position(offset).ok_or(Unrecoverable::UnknownOffset)?,
            // nothing received since it connected
            None => base.checked_sub(1).unwrap_or(u64::MAX),
        };
        let missed = if after == u64::MAX {
            // registered before anything was logged: everything logged since is missed
            match log.entries.front() {
                Some(first) if first.pos > 0 => return Err(Unrecoverable::Gone),
                _ => log
                    .entries
                    .iter()
                    .filter(|e| e.reaches(rooms))
                    .map(|e| (e.frame.clone(), e.bytes))
                    .collect(),
            }
        } else {
            log.since(after, rooms).ok_or(Unrecoverable::Gone)?
        };
        let bytes: usize = missed.iter().map(|(_, b)| b).sum();
        if missed.len() > max_frames || bytes > max_bytes {
            return Err(Unrecoverable::TooMuch);
        }
        Ok(missed.into_iter().map(|(frame, _)| frame).collect())
    }

    /// Hands a departed socket of this node to the node its client reconnected to: its id,
    /// rooms, session values (serialized under their type names), what it missed here (within
    /// [`TRANSFER_FRAMES`] and [`TRANSFER_BYTES`]) and how far this node's log goes for each
    /// node that made offsets. `None` when this node does not hold it or it cannot be recovered.
    ///
    /// With `remember`, the socket is remembered for a while after (see
    /// [`handed_window`](Recoverer::handed_window)).
    pub(crate) fn export(
        &self,
        ns: &str,
        pid: &str,
        offset: Option<&str>,
        remember: bool,
    ) -> Option<RecoveredSession> {
        let mut persisted = self.take(ns, pid)?;
        let log = self.log(ns);
        let mut log = lock(&log);
        let mut rooms = Vec::with_capacity(persisted.rooms.len() + 1);
        rooms.push(persisted.sid.as_str().to_owned());
        rooms.extend(persisted.rooms.iter().cloned());
        let missed = self
            .missed(
                &mut log,
                offset,
                persisted.base,
                &rooms,
                TRANSFER_FRAMES,
                TRANSFER_BYTES,
            )
            .ok()?;
        let data = crate::io::session_transfer(persisted.session.take());
        let marks = log.marks();
        drop(log);
        if remember {
            let now = Instant::now();
            let mut handed = lock(&self.handed);
            while handed.front().is_some_and(|h| {
                h.at + HANDED_FOR < now || handed.len() >= self.config.max_sessions.max(1)
            }) {
                handed.pop_front();
            }
            handed.push_back(Handed {
                ns: ns.to_owned(),
                pid: persisted.pid.clone(),
                sid: persisted.sid.as_str().to_owned(),
                rooms: persisted.rooms.clone(),
                marks: marks.clone(),
                at: now,
            });
        }
        Some(RecoveredSession {
            sid: persisted.sid.as_str().to_owned(),
            rooms: persisted.rooms,
            data,
            missed: missed.iter().map(frame_to_value).collect(),
            marks,
            last: None,
        })
    }

    /// What this node logged for a socket it handed to another node (with `remember`, see
    /// [`export`](Recoverer::export)) since it handed it: the broadcasts to its rooms in the
    /// instant the other node did not listen to them yet (a bus that listens per room), which
    /// that node asks for once it does. The session carries no data, and the marks of the log
    /// now. `None` when no such socket was handed within [`HANDED_FOR`], or it missed more
    /// than [`TRANSFER_FRAMES`] meanwhile; each handed socket is asked for once.
    pub(crate) fn handed_window(&self, ns: &str, pid: &str) -> Option<RecoveredSession> {
        let handed = {
            let mut handed = lock(&self.handed);
            let at = handed.iter().position(|h| h.ns == ns && &*h.pid == pid)?;
            handed.remove(at)?
        };
        if handed.at + HANDED_FOR < Instant::now() {
            return None;
        }
        let log = self.log(ns);
        let log = lock(&log);
        let mut rooms = Vec::with_capacity(handed.rooms.len() + 1);
        rooms.push(handed.sid.clone());
        rooms.extend(handed.rooms.iter().cloned());
        let missed = log.beyond(&handed.marks, &rooms);
        if missed.len() > TRANSFER_FRAMES {
            return None;
        }
        Some(RecoveredSession {
            sid: handed.sid,
            rooms: handed.rooms,
            data: Value::Nil,
            missed: missed.iter().map(frame_to_value).collect(),
            marks: log.marks(),
            last: None,
        })
    }

    /// What this node logged for a socket recovered from elsewhere that `session` does not
    /// hold: past the other node's `marks`, or past the stream id `missed` goes up to (the
    /// caller holds the log's lock).
    pub(crate) fn beyond(
        &self,
        log: &Log,
        session: &RecoveredSession,
        rooms: &[String],
    ) -> Vec<Frame> {
        match &session.last {
            Some(last) => log.after_stream_id(last, rooms),
            None => log.beyond(&session.marks, rooms),
        }
    }

    /// The highest Redis stream id logged in namespace `ns`, as text: what this node has
    /// delivered of a stream that numbers broadcasts (see
    /// [`PubSub::numbers_broadcasts`](crate::manager::cluster::PubSub::numbers_broadcasts)).
    pub(crate) fn last_stream_id(&self, ns: &str) -> Option<String> {
        let log = self.log(ns);
        let last = lock(&log).last_stream_id;
        last.map(|(ms, seq)| format!("{ms}-{seq}"))
    }

    /// Keeps a departed socket for recovery.
    pub(crate) fn persist(&self, session: Persisted) {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let s = &mut *sessions;
        while let Some((pid, at)) = s.order.front() {
            let expired = *at + self.config.max_disconnection < now;
            if !expired && s.by_pid.len() < self.config.max_sessions {
                break;
            }
            if s.by_pid.get(pid).is_some_and(|p| p.at == *at) {
                s.by_pid.remove(pid);
            }
            s.order.pop_front();
        }
        s.order.push_back((session.pid.clone(), session.at));
        s.by_pid.insert(session.pid.clone(), session);
    }

    /// Takes back a departed socket of namespace `ns` by its private id, if it has not expired.
    pub(crate) fn take(&self, ns: &str, pid: &str) -> Option<Persisted> {
        let mut sessions = lock(&self.sessions);
        let found = sessions.by_pid.get(pid)?;
        if found.ns != ns {
            return None;
        }
        let session = sessions.by_pid.remove(pid)?;
        (session.at + self.config.max_disconnection >= Instant::now()).then_some(session)
    }

    /// How many departed sockets are kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        lock(&self.sessions).by_pid.len()
    }
}

/// A Redis stream id, `{milliseconds}-{sequence}`, as numbers.
pub(crate) fn stream_id(offset: &str) -> Option<(u64, u64)> {
    let (ms, seq) = offset.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The node and sequence number of an offset made as `{node}-{sequence in hex}`.
fn parse_offset(offset: &str) -> Option<(Arc<str>, u64)> {
    let (node, seq) = offset.rsplit_once('-')?;
    Some((node.into(), u64::from_str_radix(seq, 16).ok()?))
}

/// A frame as it travels to another node in a [`RecoveredSession`].
pub(crate) fn frame_to_value(frame: &Frame) -> Value {
    match frame {
        Frame::Text(text) => Value::from(text.as_str()),
        Frame::Binary(bytes) => Value::Binary(bytes.to_vec()),
        Frame::Group(group) => {
            let mut parts = vec![Value::from(group.text.as_str())];
            parts.extend(group.attachments.iter().map(|b| Value::Binary(b.to_vec())));
            Value::Array(parts)
        }
        Frame::Ping | Frame::Close => Value::Nil,
    }
}

/// A frame from another node: only messages (a text packet starting with `4`, a binary
/// message, or a text packet with its attachments) are taken.
pub(crate) fn frame_from_value(value: Value) -> Option<Frame> {
    let text = |v: &Value| v.as_str().filter(|t| t.starts_with('4')).map(str::to_owned);
    match value {
        Value::String(_) => Some(Frame::Text(text(&value)?.into())),
        Value::Binary(bytes) => Some(Frame::Binary(bytes.into())),
        Value::Array(parts) => {
            let (first, rest) = parts.split_first()?;
            let attachments = rest
                .iter()
                .map(|p| match p {
                    Value::Binary(b) => Some(bytes::Bytes::from(b.clone())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Frame::group(text(first)?, attachments))
        }
        _ => None,
    }
}

/// Whether an offset from another node can be used as it is.
fn valid_offset(offset: &str) -> bool {
    !offset.is_empty()
        && offset.len() <= MAX_OFFSET_LEN
        && offset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::manager::BroadcastOptions;

    fn recoverer(config: ConnectionStateRecovery) -> Recoverer {
        Recoverer::new(config, "n1".into())
    }

    fn to(rooms: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    fn text(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Text(t) => t.as_str().to_owned(),
                _ => String::new(),
            })
            .collect()
    }

    fn append(r: &Recoverer, log: &mut Log, rooms: &[&str], body: &str) -> Arc<str> {
        let offset = r.offset(OffsetSource::Here);
        r.append(log, offset.clone(), &to(rooms), Frame::message(body));
        offset.0
    }

    #[test]
    fn missed_is_what_followed_the_offset_in_the_socket_rooms() {
        let r = recoverer(ConnectionStateRecovery::default());
        let mut log = Log::default();
        let first = append(&r, &mut log, &["a"], "1");
        append(&r, &mut log, &["b"], "2");
        append(&r, &mut log, &[], "3");
        append(&r, &mut log, &["a"], "4");
        let rooms = vec!["sid".to_owned(), "a".to_owned()];
        let missed = r
            .missed(&mut log, Some(&first), 0, &rooms, 100, usize::MAX)
            .unwrap();
        assert_eq!(text(&missed), ["43", "44"]);
        assert_eq!(
            r.missed(&mut log, Some("n1-ff"), 0, &rooms, 100, usize::MAX)
                .unwrap_err(),
            Unrecoverable::UnknownOffset
        );
        // without an offset: everything since it was registered
        let missed = r
            .missed(&mut log, None, 2, &rooms, 100, usize::MAX)
            .unwrap();
        assert_eq!(text(&missed), ["43", "44"]);
        assert_eq!(
            r.missed(&mut log, Some(&first), 0, &rooms, 1, usize::MAX)
                .unwrap_err(),
            Unrecoverable::TooMuch
        );
    }

    #[test]
    fn excluded_rooms_are_left_out() {
        let r = recoverer(ConnectionStateRecovery::default());
        let mut log = Log::default();
        let first = append(&r, &mut log, &[], "1");
        let offset = r.offset(OffsetSource::Here);
        let opts = BroadcastOptions {
            except: vec!["sid".into()],
            ..Default::default()
        };
        r.append(&mut log, offset, &opts, Frame::message("2"));
        let rooms = vec!["sid".to_owned()];
        let missed = r
            .missed(&mut log, Some(&first), 0, &rooms, 100, usize::MAX)
            .unwrap();
        assert!(missed.is_empty());
    }

    #[test]
    fn the_log_is_bounded_and_a_dropped_offset_cannot_recover() {
        let r = recoverer(ConnectionStateRecovery::default().max_packets(3));
        let mut log = Log::default();
        let first = append(&r, &mut log, &[], "1");
        let second = append(&r, &mut log, &[], "2");
        for i in 3..10 {
            append(&r, &mut log, &[], &i.to_string());
        }
        assert_eq!(log.entries.len(), 3);
        let rooms = vec!["sid".to_owned()];
        assert!(r
            .missed(&mut log, Some(&first), 0, &rooms, 100, usize::MAX)
            .is_err());
        assert!(r
            .missed(&mut log, Some(&second), 0, &rooms, 100, usize::MAX)
            .is_err());
        // registered at position 1: entries 1 and 2 were dropped
        assert_eq!(
            r.missed(&mut log, None, 1, &rooms, 100, usize::MAX)
                .unwrap_err(),
            Unrecoverable::Gone
        );
    }

    #[test]
    fn offsets_from_the_bus_are_kept_only_when_sane() {
        let r = recoverer(ConnectionStateRecovery::default());
        let (kept, shared) = r.offset(OffsetSource::Remote(Some("ab12-3f")));
        assert_eq!((&*kept, shared), ("ab12-3f", true));
        let (made, shared) = r.offset(OffsetSource::Remote(Some("\"; injected")));
        assert!(made.starts_with("n1-") && !shared);
        let long = "a".repeat(MAX_OFFSET_LEN + 1);
        assert!(r
            .offset(OffsetSource::Remote(Some(&long)))
            .0
            .starts_with("n1-"));
        let (made, shared) = r.offset(OffsetSource::Remote(None));
        assert!(made.starts_with("n1-") && !shared);
    }

    #[test]
    fn another_node_gets_what_its_marks_do_not_cover() {
        let r = recoverer(ConnectionStateRecovery::default());
        let mut log = Log::default();
        for (offset, body) in [("a-1", "1"), ("b-1", "2"), ("a-2", "3"), ("b-2", "4")] {
            r.append(
                &mut log,
                (offset.into(), true),
                &to(&[]),
                Frame::message(body),
            );
        }
        // an emitter's packet, under an offset of this node: never handed on
        r.append(
            &mut log,
            r.offset(OffsetSource::Remote(None)),
            &to(&[]),
            Frame::message("5"),
        );
        assert_eq!(
            log.marks(),
            [("a".to_owned(), 2), ("b".to_owned(), 2)]
                .into_iter()
                .collect()
        );
        let marks = [("a".to_owned(), 1), ("b".to_owned(), 2)]
            .into_iter()
            .collect();
        let rooms = vec!["sid".to_owned()];
        let from = |marks, last: Option<&str>| RecoveredSession {
            sid: "sid".into(),
            rooms: Vec::new(),
            data: Value::Nil,
            missed: Vec::new(),
            marks,
            last: last.map(str::to_owned),
        };
        assert_eq!(text(&r.beyond(&log, &from(marks, None), &rooms)), ["43"]);
        assert_eq!(
            text(&r.beyond(&log, &from(Default::default(), None), &rooms)),
            ["41", "42", "43", "44"]
        );
    }

    #[test]
    fn a_socket_from_another_node_is_not_sent_again_what_that_node_had_logged() {
        let mut log = Log::default();
        let sid = Sid::new();
        let other = Sid::new();
        assert!(log.already_sent("a-1").is_empty(), "nobody held");
        log.hold(sid, Default::default(), 8);
        assert!(log.already_sent("a-1").is_empty(), "no marks, nothing held");
        let marks = [("a".to_owned(), 5), ("b".to_owned(), 2)]
            .into_iter()
            .collect();
        log.hold(sid, marks, 8);
        assert_eq!(log.already_sent("a-5"), [sid]);
        assert_eq!(log.already_sent("a-3"), [sid]);
        assert!(log.already_sent("a-6").is_empty(), "past the mark");
        assert!(
            log.already_sent("c-1").is_empty(),
            "a node the other never heard"
        );
        assert!(log.already_sent("no offset").is_empty());
        // bounded: the oldest held goes first
        log.hold(other, [("a".to_owned(), 9)].into_iter().collect(), 1);
        assert_eq!(log.already_sent("a-5"), [other]);
    }

    #[test]
    fn a_held_socket_is_let_go_after_a_while() {
        let mut log = Log::default();
        let sid = Sid::new();
        log.hold(sid, [("a".to_owned(), 5)].into_iter().collect(), 8);
        log.let_go(Instant::now() + HELD_FOR / 2);
        assert_eq!(log.already_sent("a-1"), [sid]);
        log.let_go(Instant::now() + HELD_FOR + Duration::from_millis(1));
        assert!(log.already_sent("a-1").is_empty());
        assert!(log.held.is_empty());
    }

    #[test]
    fn a_session_from_a_stream_gets_what_was_logged_after_its_last_id() {
        let r = recoverer(ConnectionStateRecovery::default());
        let log = r.log("/");
        let mut log = log.lock().unwrap();
        for (id, body) in [("5-0", "1"), ("5-1", "2"), ("10-0", "3")] {
            r.append(
                &mut log,
                r.offset(OffsetSource::Remote(Some(id))),
                &to(&[]),
                Frame::message(body),
            );
        }
        let session = |last: &str| RecoveredSession {
            sid: "sid".into(),
            rooms: Vec::new(),
            data: Value::Nil,
            missed: Vec::new(),
            marks: Default::default(),
            last: Some(last.into()),
        };
        let rooms = vec!["sid".to_owned()];
        assert_eq!(text(&r.beyond(&log, &session("5-0"), &rooms)), ["42", "43"]);
        assert_eq!(
            text(&r.beyond(&log, &session("10-0"), &rooms)),
            Vec::<String>::new()
        );
        assert_eq!(
            text(&r.beyond(&log, &session("not-an-id"), &rooms)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn frames_travel_between_nodes_and_only_messages_are_taken() {
        let frames = [
            Frame::message("2[\"e\"]"),
            Frame::Binary(vec![1u8, 2].into()),
            Frame::group(
                "451-[\"e\",{\"_placeholder\":true,\"num\":0}]",
                vec![vec![3u8].into()],
            ),
        ];
        for frame in frames {
            let back = frame_from_value(frame_to_value(&frame)).unwrap();
            assert_eq!(format!("{back:?}"), format!("{frame:?}"));
        }
        assert!(
            frame_from_value(Value::from("1")).is_none(),
            "a close is not a message"
        );
        assert!(frame_from_value(Value::Array(vec![Value::from("4x"), Value::from(1)])).is_none());
        assert!(frame_from_value(Value::Nil).is_none());
    }

    #[test]
    fn private_ids_have_one_shape() {
        let pid = Recoverer::new_pid();
        assert!(Recoverer::is_pid(&pid));
        assert!(!Recoverer::is_pid("p1"));
        assert!(!Recoverer::is_pid(&"z".repeat(30)));
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let r = recoverer(ConnectionStateRecovery::default().max_sessions(2));
        for pid in ["p1", "p2", "p3"] {
            r.persist(Persisted::new(
                Sid::new(),
                pid.into(),
                "/".into(),
                vec![],
                None,
                0,
            ));
        }
        assert_eq!(r.kept(), 2);
        assert!(r.take("/", "p1").is_none(), "the oldest was forgotten");
        assert!(r.take("/other", "p3").is_none(), "another namespace's");
        assert!(r.take("/", "p3").is_some());
        assert!(r.take("/", "p3").is_none(), "taken once");
    }
}
