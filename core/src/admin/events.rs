//! What the Admin UI is told as it happens: an [`Observer`] turns this node's sockets, rooms and
//! events into jobs, and one task emits them to the admin namespace in order. The observer only
//! queues (it runs on the server's hot paths); the emit goes through the client manager, so in a
//! cluster it reaches the admins connected to every node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use tokio::sync::mpsc;
use volley_protocol::Value;

use super::serialize::{self, object};
use super::stats::{Identity, Traffic};
use super::{auth::Sessions, time, AdminAuth, AdminMode, Upgrade};
use crate::engine::{CloseReason, Sid, Transport};
use crate::{Args, DisconnectReason, Namespace, Observer, Socket};

/// Jobs waiting for the emitting task; past this, events are dropped (and counted).
pub(crate) const QUEUE: usize = 4096;

/// One thing to tell the admins.
pub(crate) enum Job {
    /// Emit an event with these arguments to the admin namespace.
    Emit(&'static str, Vec<Value>),
    /// A new admin socket: send it `config`, then (in development mode) `all_sockets`.
    Welcome(Socket),
}

/// The Admin UI support of one server: settings, the observer's state and the job queue.
pub(crate) struct Admin {
    pub(crate) namespace: String,
    pub(crate) mode: AdminMode,
    pub(crate) read_only: bool,
    pub(crate) auth: Option<AdminAuth>,
    pub(crate) sessions: Sessions,
    /// Bounds the bcrypt comparisons running at once.
    pub(crate) verifications: tokio::sync::Semaphore,
    /// Failed logins per address, holding back the next ones.
    pub(crate) throttle: super::throttle::Throttle,
    pub(crate) identity: Identity,
    pub(crate) traffic: Traffic,
    jobs: mpsc::Sender<Job>,
    /// Admin sockets connected to this node.
    watchers: AtomicUsize,
    /// Nodes in the cluster, refreshed every second by the statistics task.
    pub(crate) cluster_size: AtomicUsize,
    /// When each socket of this node joined its namespace (development mode only).
    issued: Mutex<HashMap<Sid, SystemTime>>,
    dropped: AtomicU64,
}

impl Admin {
    pub(crate) fn new(
        options: super::AdminOptions,
        namespace: String,
    ) -> (Self, mpsc::Receiver<Job>) {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let admin = Admin {
            namespace,
            mode: options.mode,
            read_only: options.read_only,
            auth: options.auth,
            sessions: Sessions::default(),
            verifications: tokio::sync::Semaphore::new(super::auth::CONCURRENT_VERIFICATIONS),
            throttle: super::throttle::Throttle::new(options.login_throttle),
            identity: Identity::new(options.server_id),
            traffic: Traffic::default(),
            jobs,
            watchers: AtomicUsize::new(0),
            cluster_size: AtomicUsize::new(1),
            issued: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        };
        (admin, rx)
    }

    /// The `supportedFeatures` of `config`, as the reference computes them.
    pub(crate) fn features(&self) -> Vec<&'static str> {
        let mut features = Vec::new();
        if !self.read_only {
            features.extend([
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
            ]);
        }
        features.push("AGGREGATED_EVENTS");
        if self.mode == AdminMode::Development {
            features.push("ALL_EVENTS");
        }
        features
    }

    /// Whether anyone may be watching: an admin on this node, or other nodes (whose admins the
    /// emits reach through the bus).
    pub(crate) fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0 || self.cluster_size.load(Ordering::Relaxed) > 1
    }

    fn verbose(&self) -> bool {
        self.mode == AdminMode::Development && self.watched()
    }

    fn queue(&self, job: Job) {
        if self.jobs.try_send(job).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(target: "volley::socketio", dropped, "Admin UI events dropped: the admins cannot keep up");
            }
        }
    }

    fn emit(&self, event: &'static str, args: Vec<Value>) {
        self.queue(Job::Emit(event, args));
    }

    /// When the local socket `sid` joined its namespace (now, if it joined before instrumenting).
    pub(crate) fn issued(&self, sid: Sid) -> SystemTime {
        self.issued
            .lock()
            .ok()
            .and_then(|m| m.get(&sid).copied())
            .unwrap_or_else(SystemTime::now)
    }

    fn room_event(&self, event: &'static str, ns: &str, room: &str, sid: Sid) {
        // A socket's own room is reported with its connect and disconnect, in the reference's
        // order, and never for a socket whose connection was refused.
        if room == sid.as_str() || !self.verbose() {
            return;
        }
        let at = time::iso(SystemTime::now());
        self.emit(
            event,
            vec![ns.into(), room.into(), sid.as_str().into(), at.into()],
        );
    }

    fn event(&self, event: &'static str, ns: &str, sid: Sid, name: &str, args: &[Value]) {
        // The admins' own traffic is not reported: it would feed itself.
        if ns == self.namespace || !self.verbose() {
            return;
        }
        let mut list = Vec::with_capacity(args.len() + 1);
        list.push(Value::from(name));
        list.extend_from_slice(args);
        let at = time::iso(SystemTime::now());
        self.emit(
            event,
            vec![
                ns.into(),
                sid.as_str().into(),
                Value::Array(list),
                at.into(),
            ],
        );
    }
}

/// A closed connection's reason as Node's Engine.IO server names it (the `subType` of the UI's
/// `rawDisconnection` events).
fn engine_reason(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::ClientClose | CloseReason::TransportClose => "transport close",
        CloseReason::TransportError => "transport error",
        CloseReason::PingTimeout => "ping timeout",
        CloseReason::ServerClose => "forced close",
        CloseReason::ServerShutdown => "server shutting down",
        other => other.as_str(),
    }
}

impl Observer for Admin {
    fn socket_connected(&self, socket: &Socket) {
        let at = SystemTime::now();
        let is_admin = socket.ns() == self.namespace;
        if is_admin {
            self.watchers.fetch_add(1, Ordering::Relaxed);
        }
        if self.mode == AdminMode::Development {
            if let Ok(mut issued) = self.issued.lock() {
                issued.insert(socket.id(), at);
            }
            if self.watched() {
                let (sid, stamp) = (socket.id(), time::iso(at));
                self.emit(
                    "room_joined",
                    vec![
                        socket.ns().into(),
                        sid.as_str().into(),
                        sid.as_str().into(),
                        stamp.clone().into(),
                    ],
                );
                self.emit(
                    "socket_connected",
                    vec![serialize::local_socket(socket, at), stamp.into()],
                );
            }
        }
        if is_admin {
            self.queue(Job::Welcome(socket.clone()));
        }
    }

    fn socket_disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        if socket.ns() == self.namespace {
            self.watchers.fetch_sub(1, Ordering::Relaxed);
        }
        if self.mode != AdminMode::Development {
            return;
        }
        if let Ok(mut issued) = self.issued.lock() {
            issued.remove(&socket.id());
        }
        if self.watched() {
            let (sid, at) = (socket.id(), time::iso(SystemTime::now()));
            self.emit(
                "socket_disconnected",
                vec![
                    socket.ns().into(),
                    sid.as_str().into(),
                    reason.as_str().into(),
                    at.clone().into(),
                ],
            );
            self.emit(
                "room_left",
                vec![
                    socket.ns().into(),
                    sid.as_str().into(),
                    sid.as_str().into(),
                    at.into(),
                ],
            );
        }
    }

    fn socket_upgraded(&self, socket: &Socket) {
        if self.verbose() {
            let update = object(vec![
                ("id", socket.id().as_str().into()),
                ("nsp", socket.ns().into()),
                ("transport", socket.transport().as_str().into()),
            ]);
            self.emit("socket_updated", vec![update]);
        }
    }

    fn room_joined(&self, ns: &str, room: &str, sid: Sid) {
        self.room_event("room_joined", ns, room, sid);
    }

    fn room_left(&self, ns: &str, room: &str, sid: Sid) {
        self.room_event("room_left", ns, room, sid);
    }

    fn event_received(&self, socket: &Socket, event: &str, args: &[Value]) {
        self.event("event_received", socket.ns(), socket.id(), event, args);
    }

    fn event_sent(&self, ns: &str, sid: Sid, event: &str, args: &[Value]) {
        self.event("event_sent", ns, sid, event, args);
    }

    fn connection_opened(&self, _transport: Transport) {
        self.traffic.connection();
    }

    fn connection_closed(&self, reason: CloseReason) {
        self.traffic.disconnection(engine_reason(reason));
    }

    fn packet_received(&self, bytes: usize) {
        self.traffic.packet_in(bytes);
    }

    fn packet_sent(&self, bytes: usize) {
        self.traffic.packet_out(bytes);
    }
}

/// Every socket of every namespace, on every node: this node's in full, the others' as the
/// cluster describes them.
async fn all_sockets(admin: &Admin, namespaces: Vec<Namespace>) -> Value {
    let fetches = namespaces.iter().map(|ns| ns.broadcast().fetch_sockets());
    let answers = futures_util::future::join_all(fetches).await;
    let mut out = Vec::new();
    for (ns, answer) in namespaces.into_iter().zip(answers) {
        let infos = match answer {
            Ok(infos) => infos,
            Err(e) => {
                tracing::debug!(target: "volley::socketio", ns = ns.name(), error = %e, "Admin UI: cannot list the sockets of a namespace");
                continue;
            }
        };
        for info in infos {
            let local = Sid::parse(&info.id).and_then(|sid| ns.socket(sid));
            out.push(match local {
                Some(socket) => serialize::local_socket(&socket, admin.issued(socket.id())),
                None => serialize::remote_socket(&info),
            });
        }
    }
    Value::Array(out)
}

/// Greets a new admin socket: `config`, then `all_sockets` in development mode.
async fn welcome(admin: Arc<Admin>, socket: Socket, namespaces: Vec<Namespace>) {
    let features: Vec<Value> = admin.features().into_iter().map(Value::from).collect();
    let config = object(vec![("supportedFeatures", Value::Array(features))]);
    if let Err(e) = socket.emit("config", &Args(vec![config])).await {
        tracing::debug!(target: "volley::socketio", error = %e, "Admin UI: cannot send the config");
    }
    if admin.mode == AdminMode::Development {
        let sockets = all_sockets(&admin, namespaces).await;
        if let Err(e) = socket.emit("all_sockets", &Args(vec![sockets])).await {
            tracing::debug!(target: "volley::socketio", error = %e, "Admin UI: cannot send the sockets");
        }
    }
}

/// Emits the queued jobs in order until the server is gone.
pub(crate) async fn run(admin: Weak<Admin>, upgrade: Upgrade, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let (Some(admin), Some(io)) = (admin.upgrade(), upgrade()) else {
            break;
        };
        match job {
            Job::Emit(event, args) => {
                let ns = io.of(&admin.namespace);
                if let Err(e) = ns.emit(event, &Args(args)).await {
                    tracing::debug!(target: "volley::socketio", event, error = %e, "Admin UI: cannot emit");
                }
            }
            Job::Welcome(socket) => {
                let namespaces = super::namespaces(&io);
                if io.server_count() > 1 {
                    // other nodes may take a while to answer: do not hold the events back
                    tokio::spawn(welcome(admin, socket, namespaces));
                } else {
                    welcome(admin, socket, namespaces).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::AdminOptions;

    fn features(read_only: bool, mode: AdminMode) -> Vec<&'static str> {
        let options = AdminOptions {
            read_only,
            mode,
            ..AdminOptions::default()
        };
        Admin::new(options, "/admin".to_owned()).0.features()
    }

    #[test]
    fn features_follow_the_reference() {
        assert_eq!(
            features(false, AdminMode::Development),
            [
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
                "AGGREGATED_EVENTS",
                "ALL_EVENTS"
            ]
        );
        assert_eq!(
            features(true, AdminMode::Development),
            ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        );
        assert_eq!(features(true, AdminMode::Production), ["AGGREGATED_EVENTS"]);
        assert_eq!(features(false, AdminMode::Production).len(), 8);
    }

    #[test]
    fn engine_reasons_use_the_reference_names() {
        assert_eq!(engine_reason(CloseReason::ClientClose), "transport close");
        assert_eq!(engine_reason(CloseReason::PingTimeout), "ping timeout");
        assert_eq!(engine_reason(CloseReason::SlowClient), "slow client");
    }
}
