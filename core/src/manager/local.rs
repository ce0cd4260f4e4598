//! This node's sockets and rooms, and delivery to them: each packet is encoded once and the same
//! frame is queued for every recipient.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;
use volley_protocol::{EncodeError, Value};

use super::recovery::{ConnectionStateRecovery, OffsetSource, Recoverer, Unrecoverable};
use super::BroadcastOptions;
use crate::engine::{Frame, SendError, Sid};
use crate::io::{Observers, Parser};
use crate::{AckError, AckResponse, Socket};
use volley_protocol::cluster::RecoveredSession;

/// Sets and maps keyed by socket id. A delivery looks its socket up by id, so these hash with
/// foldhash rather than SipHash (about a tenth of the work for a 20-byte id); the ids are
/// random and chosen by the server, so a client has no keys to collide with.
type SidSet = HashSet<Sid, foldhash::fast::RandomState>;
type SidMap<V> = HashMap<Sid, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Index {
    sockets: SidMap<Member>,
    /// Each room's members, with their sockets: a delivery to a room needs no lookup by id.
    rooms: HashMap<String, SidMap<Socket>>,
}

struct Member {
    socket: Socket,
    rooms: HashSet<String>,
}

#[derive(Default)]
struct NsIndex {
    index: RwLock<Index>,
    /// Ack ids are unique per namespace, so one encoded packet can ask every recipient for its ack.
    next_ack: AtomicU64,
}

/// This node's sockets and rooms, per namespace.
#[derive(Default)]
pub struct LocalAdapter {
    nsps: RwLock<HashMap<String, Arc<NsIndex>>>,
    parser: OnceLock<Parser>,
    observers: Observers,
    /// This node's name in the offsets it makes (a cluster node's uid; random otherwise).
    node_id: OnceLock<Arc<str>>,
    /// Connection state recovery, when the server turned it on.
    recovery: OnceLock<Arc<Recoverer>>,
    /// Where rooms created and deleted are noted, when a cluster manager listens per room.
    room_changes: OnceLock<Arc<super::room_changes::RoomChanges>>,
    /// Set when a cluster manager cannot count on each node's broadcasts coming in the order
    /// they were made (see [`LocalAdapter::restore_remote`]).
    unordered: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // nothing panics while holding the log's lock; a poisoned log is still a valid one
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAdapter").finish_non_exhaustive()
    }
}

impl Index {
    /// Calls `f` once for each socket `opts` selects.
    fn each_target(&self, opts: &BroadcastOptions, mut f: impl FnMut(&Socket)) {
        let mut excluded = SidSet::default();
        for room in &opts.except {
            self.members(room, |sid, _| {
                excluded.insert(sid);
            });
        }
        let mut visit = |sid: Sid, socket: &Socket| {
            if !excluded.contains(&sid) {
                f(socket);
            }
        };
        match opts.rooms.as_slice() {
            [] => self
                .sockets
                .iter()
                .for_each(|(sid, m)| visit(*sid, &m.socket)),
            [room] => self.members(room, visit),
            rooms => {
                let mut seen = SidSet::default();
                for room in rooms {
                    self.members(room, |sid, socket| {
                        if seen.insert(sid) {
                            visit(sid, socket)
                        }
                    });
                }
            }
        }
    }

    /// The members of a room; a socket id is a room holding that socket.
    fn members(&self, room: &str, mut f: impl FnMut(Sid, &Socket)) {
        if let Some(members) = self.rooms.get(room) {
            members.iter().for_each(|(sid, socket)| f(*sid, socket));
        } else if let Some(sid) = Sid::parse(room) {
            if let Some(m) = self.sockets.get(&sid) {
                f(sid, &m.socket)
            }
        }
    }
}

impl LocalAdapter {
    /// Sets the wire format of the packets this node encodes for its sockets; the server does
    /// this once when it is built (the default is JSON).
    pub fn use_parser(&self, parser: Parser) {
        let _ = self.parser.set(parser);
    }

    /// Turns connection state recovery on; the server does this once when it is built with
    /// [`crate::ServerBuilder::connection_state_recovery`].
    pub fn use_recovery(&self, config: ConnectionStateRecovery) {
        let node = self
            .node_id
            .get_or_init(|| {
                let raw: [u8; 8] = rand::random();
                raw.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into()
            })
            .clone();
        let _ = self.recovery.set(Arc::new(Recoverer::new(config, node)));
    }

    /// Names this node in the offsets it makes; a cluster manager gives its uid, before the
    /// server is built.
    pub(crate) fn set_node_id(&self, id: &str) {
        let _ = self.node_id.set(id.into());
    }

    /// Connection state recovery, when on.
    pub(crate) fn recovery(&self) -> Option<&Arc<Recoverer>> {
        self.recovery.get()
    }

    /// What watches this node (the server's observers).
    pub(crate) fn observers(&self) -> &Observers {
        &self.observers
    }

    /// The wire format of this node's sockets.
    pub fn parser(&self) -> Parser {
        self.parser.get().copied().unwrap_or_default()
    }

    fn ns(&self, ns: &str) -> Option<Arc<NsIndex>> {
        self.nsps.read().ok()?.get(ns).cloned()
    }

    /// Registers a connected socket.
    pub fn add_socket(&self, socket: &Socket) {
        match self.recovery.get() {
            Some(recovery) => {
                // registered under the log's lock, so that the position it starts after is
                // exactly what it cannot have received
                let log = recovery.log(socket.ns());
                let log = lock(&log);
                socket.set_log_base(log.head());
                self.register(socket);
            }
            None => self.register(socket),
        }
    }

    /// Brings back a recovered socket: registers it in its rooms and queues what it missed
    /// (behind its CONNECT acknowledgement), both under the log's lock so that every broadcast
    /// is either in what it is sent now or delivered to it later, never both.
    pub(crate) fn restore(
        &self,
        socket: &Socket,
        rooms: &[String],
        offset: Option<&str>,
        base: u64,
        max_frames: usize,
        max_bytes: usize,
    ) -> Result<usize, Unrecoverable> {
        let Some(recovery) = self.recovery.get() else {
            return Err(Unrecoverable::UnknownOffset);
        };
        let log = recovery.log(socket.ns());
        let mut log = lock(&log);
        let mut all = Vec::with_capacity(rooms.len() + 1);
        all.push(socket.id().as_str().to_owned());
        all.extend(rooms.iter().cloned());
        let missed = recovery.missed(&mut log, offset, base, &all, max_frames, max_bytes)?;
        socket.set_log_base(log.head());
        self.register(socket);
        for room in rooms {
            self.enter_room(socket.ns(), socket.id(), room);
        }
        let count = missed.len();
        for frame in missed {
            let _ = socket.send_frame(frame, false);
        }
        Ok(count)
    }

    /// Brings back a socket recovered from another node: queues what that node says it missed,
    /// then what this node logged that the other node's marks do not cover, and registers it
    /// in its rooms, all under the log's lock (see [`LocalAdapter::restore`]).
    pub(crate) fn restore_remote(
        &self,
        socket: &Socket,
        session: &RecoveredSession,
        max_frames: usize,
    ) -> Result<usize, Unrecoverable> {
        let Some(recovery) = self.recovery.get() else {
            return Err(Unrecoverable::UnknownOffset);
        };
        let missed: Vec<Frame> = session
            .missed
            .iter()
            .filter_map(|v| super::recovery::frame_from_value(v.clone()))
            .collect();
        let log = recovery.log(socket.ns());
        let mut log = lock(&log);
        let mut all = Vec::with_capacity(session.rooms.len() + 1);
        all.push(socket.id().as_str().to_owned());
        all.extend(session.rooms.iter().cloned());
        let beyond = recovery.beyond(&log, session, &all);
        if missed.len() + beyond.len() > max_frames {
            return Err(Unrecoverable::TooMuch);
        }
        // what the other node had logged may still be on its way here (its answer came on
        // another channel): not again, where each node's broadcasts come in order (else one
        // below a mark may not have reached the other node yet)
        if session.last.is_none() && !self.unordered.load(Ordering::Relaxed) {
            let cap = recovery.config.max_sessions;
            log.hold(socket.id(), session.marks.clone(), cap);
        }
        socket.set_log_base(log.head());
        self.register(socket);
        for room in &session.rooms {
            self.enter_room(socket.ns(), socket.id(), room);
        }
        let count = missed.len() + beyond.len();
        for frame in missed.into_iter().chain(beyond) {
            let _ = socket.send_frame(frame, false);
        }
        Ok(count)
    }

    fn register(&self, socket: &Socket) {
        // The map stays read-locked while the socket is inserted, so that `remove_socket` cannot
        // drop the namespace's index in between.
        loop {
            {
                let Ok(nsps) = self.nsps.read() else {
                    return;
                };
                if let Some(nsi) = nsps.get(socket.ns()) {
                    if let Ok(mut index) = nsi.index.write() {
                        index.sockets.insert(
                            socket.id(),
                            Member {
                                socket: socket.clone(),
                                rooms: HashSet::new(),
                            },
                        );
                    }
                    let id = socket.id();
                    self.observers
                        .each(|o| o.room_joined(socket.ns(), id.as_str(), id));
                    return;
                }
            }
            let Ok(mut nsps) = self.nsps.write() else {
                return;
            };
            nsps.entry(socket.ns().to_owned()).or_default();
        }
    }

    /// Forgets a socket and takes it out of all its rooms.
    pub fn remove_socket(&self, ns: &str, sid: Sid) {
        let Some(nsi) = self.ns(ns) else {
            return;
        };
        let Ok(mut index) = nsi.index.write() else {
            return;
        };
        if let Some(member) = index.sockets.remove(&sid) {
            self.observers.each(|o| {
                o.room_left(ns, sid.as_str(), sid);
                member
                    .rooms
                    .iter()
                    .for_each(|room| o.room_left(ns, room, sid));
            });
            for room in member.rooms {
                if let Some(members) = index.rooms.get_mut(&room) {
                    members.remove(&sid);
                    if members.is_empty() {
                        index.rooms.remove(&room);
                        self.room_changed(ns, &room);
                    }
                }
            }
        }
        let empty = index.sockets.is_empty();
        drop(index);
        if empty {
            // Namespaces come and go (dynamic ones are made by clients): drop empty indexes so
            // their number stays bounded by the live ones.
            if let Ok(mut nsps) = self.nsps.write() {
                let still_empty = nsps
                    .get(ns)
                    .and_then(|n| n.index.read().ok().map(|i| i.sockets.is_empty()))
                    .unwrap_or(false);
                if still_empty {
                    nsps.remove(ns);
                }
            }
        }
    }

    /// Puts a local socket in a room.
    pub fn enter_room(&self, ns: &str, sid: Sid, room: &str) {
        let Some(nsi) = self.ns(ns) else {
            return;
        };
        let Ok(mut index) = nsi.index.write() else {
            return;
        };
        let Some(member) = index.sockets.get_mut(&sid) else {
            return;
        };
        if member.rooms.insert(room.to_owned()) {
            let socket = member.socket.clone();
            let members = index.rooms.entry(room.to_owned()).or_default();
            let created = members.is_empty();
            if let Some(changes) = self.room_changes.get() {
                // the socket's next acknowledgement waits until the bus listens to the room (the
                // index stays locked: the manager's task sees the room once it looks)
                let seq = if created {
                    changes.note(ns, room)
                } else {
                    changes.awaiting(ns, room)
                };
                socket.await_rooms(seq);
            }
            members.insert(sid, socket);
            drop(index);
            self.observers.each(|o| o.room_joined(ns, room, sid));
        }
    }

    /// Takes a local socket out of a room.
    pub fn leave_room(&self, ns: &str, sid: Sid, room: &str) {
        let Some(nsi) = self.ns(ns) else {
            return;
        };
        let Ok(mut index) = nsi.index.write() else {
            return;
        };
        let left = index
            .sockets
            .get_mut(&sid)
            .is_some_and(|member| member.rooms.remove(room));
        if let Some(members) = index.rooms.get_mut(room) {
            members.remove(&sid);
            if members.is_empty() {
                index.rooms.remove(room);
                self.room_changed(ns, room);
            }
        }
        drop(index);
        if left {
            self.observers.each(|o| o.room_left(ns, room, sid));
        }
    }

    /// Says that the cluster's bus may hand a node's broadcasts over out of the order they were
    /// made (see [`PubSub::keeps_each_nodes_order`](super::cluster::PubSub::keeps_each_nodes_order)).
    pub(crate) fn broadcasts_unordered(&self) {
        self.unordered.store(true, Ordering::Relaxed);
    }

    /// Notes rooms created and deleted from now on in the returned list (once per adapter).
    pub(crate) fn watch_rooms(&self) -> Arc<super::room_changes::RoomChanges> {
        self.room_changes.get_or_init(Default::default).clone()
    }

    fn room_changed(&self, ns: &str, room: &str) {
        if let Some(changes) = self.room_changes.get() {
            changes.note(ns, room);
        }
    }

    /// What the rooms entered so far wait for before they are listened to, when a cluster
    /// manager listens per room and `seq` (a note's number) is not confirmed yet; `None` at once
    /// otherwise. Waits at most [`SETTLE_TIMEOUT`](super::room_changes::SETTLE_TIMEOUT), then
    /// logs a warning and lets the caller go on.
    pub(crate) fn rooms_settled(
        &self,
        seq: u64,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let changes = self.room_changes.get()?.clone();
        if seq == 0 || changes.is_settled(seq) {
            return None;
        }
        Some(async move {
            let timeout = super::room_changes::SETTLE_TIMEOUT;
            if !changes.settled(seq, timeout).await {
                tracing::warn!(target: "volley::cluster", ?timeout, "the bus did not start listening to a room in time: a broadcast to it may miss the new member");
            }
        })
    }

    /// The number that, once confirmed, means the bus listens to every room of this node now
    /// (0 when no manager listens per room).
    pub(crate) fn rooms_noted(&self) -> u64 {
        self.room_changes.get().map_or(0, |c| c.last())
    }

    /// The room notes, when a cluster manager listens per room.
    pub(crate) fn room_changes(&self) -> Option<&Arc<super::room_changes::RoomChanges>> {
        self.room_changes.get()
    }

    /// Whether room `room` of namespace `ns` has members here (a socket's own room excluded).
    pub(crate) fn has_room(&self, ns: &str, room: &str) -> bool {
        self.ns(ns)
            .and_then(|nsi| nsi.index.read().ok().map(|i| i.rooms.contains_key(room)))
            .unwrap_or(false)
    }

    /// Puts the local sockets `opts` selects in `rooms`.
    pub fn add_sockets(&self, ns: &str, opts: &BroadcastOptions, rooms: &[String]) {
        for socket in self.select(ns, opts) {
            for room in rooms {
                self.enter_room(ns, socket.id(), room);
            }
        }
    }

    /// Takes the local sockets `opts` selects out of `rooms`.
    pub fn del_sockets(&self, ns: &str, opts: &BroadcastOptions, rooms: &[String]) {
        for socket in self.select(ns, opts) {
            for room in rooms {
                self.leave_room(ns, socket.id(), room);
            }
        }
    }

    /// The rooms of a local socket, its own id first.
    pub fn rooms(&self, ns: &str, sid: Sid) -> Vec<String> {
        let mut out = vec![sid.as_str().to_owned()];
        if let Some(nsi) = self.ns(ns) {
            if let Ok(index) = nsi.index.read() {
                if let Some(member) = index.sockets.get(&sid) {
                    out.extend(member.rooms.iter().cloned());
                }
            }
        }
        out
    }

    /// The local socket `sid`.
    pub fn socket(&self, ns: &str, sid: Sid) -> Option<Socket> {
        let nsi = self.ns(ns)?;
        let index = nsi.index.read().ok()?;
        index.sockets.get(&sid).map(|m| m.socket.clone())
    }

    /// The local sockets of a namespace.
    pub fn sockets(&self, ns: &str) -> Vec<Socket> {
        self.select(ns, &BroadcastOptions::default())
    }

    /// The local sockets `opts` selects.
    pub fn select(&self, ns: &str, opts: &BroadcastOptions) -> Vec<Socket> {
        let mut out = Vec::new();
        if let Some(nsi) = self.ns(ns) {
            if let Ok(index) = nsi.index.read() {
                index.each_target(opts, |s| out.push(s.clone()));
            }
        }
        out
    }

    /// Delivers an event to the local sockets `opts` selects, encoding it once; returns how many
    /// sockets it was queued for.
    pub fn broadcast(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
    ) -> Result<usize, EncodeError> {
        self.deliver(ns, event, args, opts, OffsetSource::Here)
            .map(|(sent, _)| sent)
    }

    /// Delivers an event as [`LocalAdapter::broadcast`] does and, with connection state recovery
    /// on, logs it under an offset (made here, or the one another node made) that the clients
    /// receive as its last argument; returns how many sockets it was queued for and the offset.
    /// Volatile broadcasts are neither logged nor given an offset.
    pub fn deliver(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
        source: OffsetSource<'_>,
    ) -> Result<(usize, Option<Arc<str>>), EncodeError> {
        let Some(recovery) = self.recovery.get().filter(|_| !opts.volatile) else {
            let frame = self.parser().event(ns, event, args, None)?;
            return Ok((self.deliver_frame(ns, event, args, opts, &frame, &[]), None));
        };
        let log = recovery.log(ns);
        let mut log = lock(&log);
        let (offset, shared) = recovery.offset(source);
        let mut with_offset = Vec::with_capacity(args.len() + 1);
        with_offset.extend_from_slice(args);
        with_offset.push(Value::from(&*offset));
        let frame = self.parser().event(ns, event, &with_offset, None)?;
        let had_it = if shared {
            log.already_sent(&offset)
        } else {
            Vec::new()
        };
        let sent = self.deliver_frame(ns, event, args, opts, &frame, &had_it);
        recovery.append(&mut log, (offset.clone(), shared), opts, frame);
        Ok((sent, Some(offset)))
    }

    /// Queues an encoded event for the local sockets `opts` selects but those in `had_it`.
    fn deliver_frame(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
        frame: &Frame,
        had_it: &[Sid],
    ) -> usize {
        let Some(nsi) = self.ns(ns) else {
            return 0;
        };
        let Ok(index) = nsi.index.read() else {
            return 0;
        };
        let mut sent = 0;
        let watched = self.observers.active();
        index.each_target(opts, |socket| {
            if had_it.contains(&socket.id()) {
                return;
            }
            match socket.send_frame(frame.clone(), opts.volatile) {
                Ok(()) => sent += 1,
                Err(SendError::QueueFull) => self
                    .observers
                    .each(|o| o.queue_full(socket.id(), opts.volatile)),
                Err(_) => {}
            }
            if watched {
                self.observers
                    .each(|o| o.event_sent(ns, socket.id(), event, args));
            }
        });
        self.observers.each(|o| o.broadcast(ns, sent));
        sent
    }

    /// Delivers an event that asks for acks to the local sockets `opts` selects, encoding it once.
    pub fn broadcast_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
    ) -> Result<PendingAcks, EncodeError> {
        let mut waiting = Vec::new();
        let Some(nsi) = self.ns(ns) else {
            return Ok(PendingAcks { id: 0, waiting });
        };
        let id = nsi.next_ack.fetch_add(1, Ordering::Relaxed);
        let frame = self.parser().event(ns, event, args, Some(id))?;
        if let Ok(index) = nsi.index.read() {
            index.each_target(opts, |socket| {
                let Some(rx) = socket.expect_ack(id) else {
                    return;
                };
                if socket.send_frame(frame.clone(), opts.volatile).is_ok() {
                    self.observers
                        .each(|o| o.event_sent(ns, socket.id(), event, args));
                    waiting.push((socket.clone(), rx));
                } else {
                    socket.forget_ack(id);
                }
            });
        }
        Ok(PendingAcks { id, waiting })
    }
}

/// Acks awaited from local sockets for one emit.
#[derive(Debug)]
pub struct PendingAcks {
    id: u64,
    waiting: Vec<(Socket, oneshot::Receiver<Vec<Value>>)>,
}

impl PendingAcks {
    /// How many acks are awaited.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no ack is awaited.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The ids of the sockets whose acks are awaited.
    pub fn sids(&self) -> Vec<Sid> {
        self.waiting.iter().map(|(s, _)| s.id()).collect()
    }

    /// Calls `f` with each socket's ack (or its failure) as soon as it arrives, each in its own
    /// task, waiting at most `timeout`.
    pub fn each(self, timeout: Duration, f: impl Fn(AckResponse) + Clone + Send + 'static) {
        let id = self.id;
        for (socket, rx) in self.waiting {
            let f = f.clone();
            tokio::spawn(async move {
                let result = match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(args)) => Ok(args),
                    Ok(Err(_)) => Err(AckError::Disconnected),
                    Err(_) => {
                        socket.forget_ack(id);
                        Err(AckError::Timeout)
                    }
                };
                f(AckResponse {
                    sid: socket.id(),
                    result,
                });
            });
        }
    }

    /// Waits for every ack until `timeout`; late ones are reported as timed out and forgotten.
    pub async fn collect(self, timeout: Duration) -> Vec<AckResponse> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(self.waiting.len());
        for (socket, rx) in self.waiting {
            let result = match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(args)) => Ok(args),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    socket.forget_ack(self.id);
                    Err(AckError::Timeout)
                }
            };
            out.push(AckResponse {
                sid: socket.id(),
                result,
            });
        }
        out
    }
}
