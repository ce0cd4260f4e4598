//! The cluster manager: every node publishes its broadcasts and requests once on a message bus
//! and applies what the others publish. The logic is written once, over any [`PubSub`]
//! transport; an adapter crate only supplies the transport.
//!
//! Delivery to this node's sockets never waits for the bus: an emit is delivered locally first,
//! then published once, whatever the number of rooms or recipients. A publish that fails is
//! reported to the caller. Publishes leave one at a time, in order; what piles up for one channel
//! while a publish is in flight goes out as one batch (see [`ClusterConfig::batch_bytes`]), so a
//! busy node makes one broker round trip for many messages and an idle one never waits.
//! Requests to other nodes (fetching sockets, collecting acks, server-side
//! calls) wait only for the nodes known to be alive, and never longer than their timeout.

mod addresses;
mod dispatch;
mod liveness;
mod outbox;
mod python;
mod requests;
mod rooms;

/// The bus seam and the cluster settings live in `volley-cluster`, a crate without HTTP that the
/// adapters depend on; they are re-exported here, where the manager that uses them is.
pub use volley_cluster::{
    BusError, BusMessage, ClusterConfig, MemoryBus, MissedBroadcast, PubSub, RestoredSession,
    SideChannel, StoredSession, Subscription,
};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use volley_protocol::cluster::{AckRequest, Body, BroadcastRef, Message, NodeInfo};
use volley_protocol::Value;

use self::requests::{Collected, Expected, Requests};
use super::{BroadcastOptions, ClientManager, LocalAdapter, OffsetSource, ServerHooks, SocketInfo};
use crate::engine::Sid;
use crate::{AckResponse, EmitError};

/// A [`ClientManager`] that makes many nodes behave as one server, over any [`PubSub`] bus.
///
/// ```
/// use volley::manager::cluster::{ClusterConfig, ClusterManager, MemoryBus};
/// let bus = MemoryBus::new();
/// let io = volley::Server::builder()
///     .client_manager(ClusterManager::new(bus.clone(), ClusterConfig::default()))
///     .build();
/// # let _ = io;
/// ```
pub struct ClusterManager<B: PubSub> {
    node: Arc<Node<B>>,
}

/// A clone is the same node (to read [`received_bytes`](ClusterManager::received_bytes) after the
/// manager was given to a server, say).
impl<B: PubSub> Clone for ClusterManager<B> {
    fn clone(&self) -> Self {
        ClusterManager {
            node: self.node.clone(),
        }
    }
}

impl<B: PubSub> std::fmt::Debug for ClusterManager<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterManager")
            .field("uid", &self.node.uid)
            .field("nodes", &self.node.alive())
            .finish_non_exhaustive()
    }
}

/// The state of this node in the cluster.
pub(crate) struct Node<B> {
    bus: Arc<B>,
    uid: String,
    config: ClusterConfig,
    /// The bus channels this node listens to, named once (every received message is sorted by
    /// them).
    channels: Channels,
    local: LocalAdapter,
    hooks: OnceLock<Weak<dyn ServerHooks>>,
    /// Namespaces this node has had sockets in (see [`PubSub::serve`]).
    served: Mutex<HashSet<String>>,
    /// How many nodes the bus last counted, this one included (0: the bus does not count them;
    /// see [`PubSub::peers`]).
    counted: std::sync::atomic::AtomicUsize,
    /// The bytes of every message received from the bus (see
    /// [`ClusterManager::received_bytes`]).
    received_bytes: std::sync::atomic::AtomicU64,
    /// Other nodes, with when they were last heard from.
    nodes: Mutex<HashMap<String, Instant>>,
    /// The addresses other nodes advertise (see [`ClusterConfig::advertise`]).
    addresses: addresses::Addresses,
    requests: Requests,
    /// Answers to other nodes' requests in progress (see [`ClusterConfig::answers_in_flight`]).
    answers: Arc<tokio::sync::Semaphore>,
    /// Publishes queue here; one task sends them, batching what piles up.
    outbox: outbox::Outbox,
    /// The outbox's receiving end until [`Node::start`] hands it to that task.
    outbox_rx: Mutex<Option<mpsc::Receiver<outbox::Pending>>>,
    last_publish: Mutex<Instant>,
    /// When the bus last refused a publish (broker unreachable): other nodes' silence before
    /// then does not count against them (see [`liveness`]).
    bus_failed: Mutex<Option<Instant>>,
    /// On a bus whose rooms have channels: since the bus last failed (or a message on the
    /// channel of every node reached too few nodes), no message on that channel has reached
    /// every node. A node may then not listen to its rooms' channels again yet, and a broadcast
    /// to one room goes on the channel of every node, where its delivery is counted.
    rooms_unproven: std::sync::atomic::AtomicBool,
    started: OnceLock<()>,
    /// Becomes true once the bus subscription is in place.
    ready: watch::Sender<bool>,
    /// Stops this node's tasks.
    stop: CancellationToken,
}

/// The names of the channels a node listens to.
struct Channels {
    /// Every node's channel: `{prefix}#` (shared with each publish, not copied).
    main: Arc<str>,
    /// This node's own channel: `{prefix}#{uid}#`.
    own: String,
    /// Node-format broadcasts (`{key}#`) and requests (`{key}-request#`), when accepted.
    compat: Option<(String, String)>,
    /// python-socketio's channel, when this node takes part in a python cluster.
    python: Option<python::PythonChannel>,
}

impl Channels {
    fn new(config: &ClusterConfig, uid: &str) -> Self {
        Channels {
            main: format!("{}#", config.prefix).into(),
            own: format!("{}#{}#", config.prefix, uid),
            compat: config
                .node_compat_key
                .as_ref()
                .map(|key| (format!("{key}#"), format!("{key}-request#"))),
            python: config
                .python_channel
                .clone()
                .map(python::PythonChannel::new),
        }
    }
}

/// Records how long a cross-node request took and how it ended.
fn record(kind: &'static str, deadline: Instant, timeout: Duration, outcome: &requests::Outcome) {
    let started = deadline.checked_sub(timeout).unwrap_or(deadline);
    let result = if outcome.missing_nodes == 0 && outcome.missing_sids.is_empty() {
        crate::metrics::RequestOutcome::Ok
    } else {
        crate::metrics::RequestOutcome::Timeout
    };
    crate::metrics::cluster_request(kind, started.elapsed(), result);
}

fn random_uid() -> String {
    let raw: [u8; 8] = rand::random();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

impl<B: PubSub> ClusterManager<B> {
    /// A manager publishing on `bus`. It starts when the server built with it is bound (at
    /// [`crate::ServerBuilder::build`], inside a tokio runtime).
    pub fn new(bus: B, config: ClusterConfig) -> Self {
        let (ready, _) = watch::channel(false);
        let uid = random_uid();
        let (outbox, outbox_rx) = outbox::Outbox::new(config.publish_buffer);
        let answers = Arc::new(tokio::sync::Semaphore::new(config.answers_in_flight));
        let local = LocalAdapter::default();
        // offsets made here name this node, so that every node logs a broadcast under the same
        local.set_node_id(&uid);
        ClusterManager {
            node: Arc::new(Node {
                bus: Arc::new(bus),
                channels: Channels::new(&config, &uid),
                uid,
                config,
                local,
                hooks: OnceLock::new(),
                served: Mutex::new(HashSet::new()),
                counted: std::sync::atomic::AtomicUsize::new(0),
                received_bytes: std::sync::atomic::AtomicU64::new(0),
                nodes: Mutex::new(HashMap::new()),
                addresses: addresses::Addresses::default(),
                requests: Requests::default(),
                answers,
                outbox,
                outbox_rx: Mutex::new(Some(outbox_rx)),
                last_publish: Mutex::new(Instant::now()),
                bus_failed: Mutex::new(None),
                rooms_unproven: std::sync::atomic::AtomicBool::new(false),
                started: OnceLock::new(),
                ready,
                stop: CancellationToken::new(),
            }),
        }
    }

    /// How many bytes this node has received from the bus so far: the payloads handed to it,
    /// its own messages that the bus hands back included (also counted, over every node of the
    /// process, in `volley_bus_received_bytes_total`). A bus whose rooms have channels
    /// ([`PubSub::rooms_have_channels`]) hands a node less.
    pub fn received_bytes(&self) -> u64 {
        self.node
            .received_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This node's id on the bus.
    pub fn uid(&self) -> &str {
        &self.node.uid
    }

    /// Waits until the bus subscription is in place (or `timeout` passes); `true` when it is.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let mut rx = self.node.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Stops taking part in the cluster at once, without telling the other nodes (they notice
    /// when its heartbeats stop): what a crash looks like to them.
    pub fn halt(&self) {
        self.node.stop.cancel();
    }
}

impl<B: PubSub> Node<B> {
    fn node_channel(&self, uid: &str) -> Arc<str> {
        format!("{}#{}#", self.config.prefix, uid).into()
    }

    /// Whom a request about namespace `ns` waits for: as many nodes as the bus counts, when it
    /// counts them, else the nodes heard from.
    async fn expected(&self, ns: &str) -> Expected {
        match self.bus.peers(ns).await {
            Some(n) => Expected::Count(n),
            None => Expected::Nodes(self.alive()),
        }
    }

    /// What this node says of itself in its heartbeats.
    fn node_info(&self) -> NodeInfo {
        NodeInfo {
            address: self.config.advertise.clone(),
        }
    }

    fn alive(&self) -> HashSet<String> {
        match self.nodes.lock() {
            Ok(n) => n.keys().cloned().collect(),
            Err(p) => p.into_inner().keys().cloned().collect(),
        }
    }

    /// Publishes a message to every node (`to: None`) or to one node's own channel.
    async fn publish(&self, to: Option<&str>, nsp: &str, body: Body) -> Result<(), EmitError> {
        self.check_running()?;
        let msg = Message {
            uid: self.uid.clone(),
            nsp: nsp.to_owned(),
            body,
        };
        self.publish_encoded(to, msg.encode()?).await
    }

    /// Publishes a broadcast to every node, encoded from the caller's borrowed parts: the emit
    /// path copies nothing into a [`Message`] first.
    async fn publish_broadcast(
        &self,
        nsp: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
        offset: Option<&str>,
        ack: Option<AckRequest>,
    ) -> Result<(), EmitError> {
        self.check_running()?;
        // a broadcast to one room, without acks, goes on that room's channel when the bus gives
        // rooms channels: only the nodes with members there receive it
        let room_channel = match opts.rooms.as_slice() {
            [room] if ack.is_none() => self.bus.room_channel(nsp, room).filter(|_| {
                !self
                    .rooms_unproven
                    .load(std::sync::atomic::Ordering::Acquire)
            }),
            _ => None,
        };
        let broadcast = BroadcastRef {
            uid: &self.uid,
            nsp,
            opts,
            event,
            args,
            offset,
            ack,
        };
        let bytes = broadcast.encode()?;
        match room_channel {
            Some(channel) => self.publish_on(channel.into(), bytes).await,
            None => self.publish_encoded(None, bytes).await,
        }
    }

    /// Whether this node delivers its own broadcasts to its sockets when the bus hands them
    /// back, under the offset the bus gave them (see [`PubSub::numbers_broadcasts`]), rather
    /// than before publishing: with connection state recovery on, for what can be recovered.
    fn reads_back(&self, volatile: bool) -> bool {
        !volatile && self.local.recovery().is_some() && self.bus.numbers_broadcasts()
    }

    /// A disconnected socket from the bus's store, with what it missed encoded for it.
    async fn restore_stored(
        &self,
        ns: &str,
        pid: &str,
        offset: &str,
    ) -> Option<volley_protocol::cluster::RecoveredSession> {
        let max = crate::manager::recovery_parts::TRANSFER_FRAMES;
        let restored = match self.bus.restore_session(ns, pid, offset, max).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot read a disconnected socket from the bus");
                return None;
            }
        };
        // What this node has delivered already is logged here: the missed broadcasts up to it
        // go with the session, those after it are sent from the log when the socket is
        // registered (or reach it live), so none comes twice.
        use crate::manager::recovery_parts::stream_id;
        let mut cut = restored.last.clone();
        if let Some(here) = self.local.recovery().and_then(|r| r.last_stream_id(ns)) {
            if stream_id(&here) < stream_id(&cut) {
                cut = here;
            }
        }
        if stream_id(offset) > stream_id(&cut) {
            // the client received more than this node has delivered yet: the rest comes live
            offset.clone_into(&mut cut);
        }
        tracing::debug!(target: "volley::cluster", offset, last = %restored.last, cut = %cut, missed = restored.missed.len(), "restoring a stored session");
        let parser = self.local.parser();
        let mut missed = Vec::with_capacity(restored.missed.len());
        for m in restored
            .missed
            .into_iter()
            .filter(|m| stream_id(&m.offset) <= stream_id(&cut))
        {
            let mut args = m.args;
            args.push(Value::from(m.offset));
            match parser.event(ns, &m.event, &args, None) {
                Ok(frame) => missed.push(crate::manager::recovery_parts::frame_to_value(&frame)),
                Err(e) => {
                    tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a missed broadcast: the socket is not recovered");
                    return None;
                }
            }
        }
        let StoredSession {
            sid, rooms, data, ..
        } = restored.session;
        let rooms = rooms.into_iter().filter(|r| *r != sid).collect();
        Some(volley_protocol::cluster::RecoveredSession {
            sid,
            rooms,
            data,
            missed,
            marks: Default::default(),
            last: Some(cut),
        })
    }

    /// Asks the other nodes for the disconnected socket of namespace `ns` under private id
    /// `pid` (see [`ClientManager::restore_session`]).
    async fn ask_session(
        &self,
        ns: &str,
        pid: &str,
        offset: Option<&str>,
    ) -> Option<volley_protocol::cluster::RecoveredSession> {
        let others = self.expected(ns).await;
        if others.is_empty() {
            return None;
        }
        let deadline = Instant::now() + self.config.request_timeout;
        let id = self.requests.open(others, Collected::Session(None));
        let body = Body::RestoreSession {
            request_id: id,
            pid: pid.to_owned(),
            offset: offset.map(str::to_owned),
        };
        if let Err(e) = self.publish(None, ns, body).await {
            tracing::debug!(target: "volley::cluster", error = %e, "cannot ask the other nodes for a session");
            self.requests.wait(id, Instant::now()).await;
            return None;
        }
        let outcome = self.requests.wait(id, deadline).await;
        record(
            "restore_session",
            deadline,
            self.config.request_timeout,
            &outcome,
        );
        match outcome.collected {
            Collected::Session(found) => found,
            _ => None,
        }
    }

    /// Tells the bus about a namespace's first socket here.
    fn serve(self: &Arc<Self>, ns: &str) {
        let fresh = match self.served.lock() {
            Ok(mut served) => !served.contains(ns) && served.insert(ns.to_owned()),
            Err(_) => false,
        };
        if fresh {
            let bus = self.bus.clone();
            let ns = ns.to_owned();
            tokio::spawn(async move { bus.serve(&ns).await });
        }
    }

    fn check_running(&self) -> Result<(), EmitError> {
        if self.stop.is_cancelled() {
            return Err(EmitError::Manager("the cluster manager is closed".into()));
        }
        Ok(())
    }

    async fn publish_encoded(&self, to: Option<&str>, bytes: Bytes) -> Result<(), EmitError> {
        let channel = match to {
            None => self.channels.main.clone(),
            Some(uid) => self.node_channel(uid),
        };
        self.publish_on(channel, bytes).await
    }

    async fn publish_on(&self, channel: Arc<str>, bytes: Bytes) -> Result<(), EmitError> {
        self.outbox
            .publish(channel, bytes)
            .await
            .map_err(|e| EmitError::Manager(e.to_string()))?;
        if let Ok(mut last) = self.last_publish.lock() {
            *last = Instant::now();
        }
        Ok(())
    }

    /// Whether `opts` targets exactly one socket, and it is connected here: then the bus is not
    /// involved at all (a socket's own emits stay off the bus).
    fn only_local(&self, ns: &str, opts: &BroadcastOptions) -> bool {
        if opts.local {
            return true;
        }
        match opts.rooms.as_slice() {
            [room] => Sid::parse(room).is_some_and(|sid| self.local.socket(ns, sid).is_some()),
            _ => false,
        }
    }

    fn start(self: &Arc<Self>) {
        if self.started.set(()).is_err() {
            return;
        }
        let (tx, rx) = mpsc::channel(self.config.receive_buffer.max(1));
        let mut subscriptions = vec![
            Subscription::Channel(self.channels.main.to_string()),
            Subscription::Channel(self.channels.own.clone()),
        ];
        if let Some((broadcasts, requests)) = &self.channels.compat {
            subscriptions.push(Subscription::Prefix(broadcasts.clone()));
            subscriptions.push(Subscription::Prefix(requests.clone()));
        }
        if let Some(python) = &self.channels.python {
            subscriptions.push(Subscription::Channel(python.name.clone()));
        }
        let node = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match node.bus.subscribe(&subscriptions, tx.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(target: "volley::cluster", error = %e, "cannot subscribe, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            node.ready.send_replace(true);
            if let Err(e) = node
                .publish(None, "/", Body::InitialHeartbeat(node.node_info()))
                .await
            {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot announce this node");
            }
        });
        let outbox = self.outbox_rx.lock().ok().and_then(|mut rx| rx.take());
        if let Some(outbox) = outbox {
            let stop = self.stop.clone();
            let bus = Arc::downgrade(&self.bus);
            let max_bytes = self.config.batch_bytes.min(self.bus.max_message_size());
            let audience = Audience(Arc::downgrade(self));
            tokio::spawn(async move {
                tokio::select! {
                    _ = outbox::run(bus, outbox, max_bytes, audience) => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
        let stop = self.stop.clone();
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = dispatch::run(node, rx) => {}
                _ = stop.cancelled() => {}
            }
        });
        let stop = self.stop.clone();
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = liveness::run(node) => {}
                _ = stop.cancelled() => {}
            }
        });
        // recovery across nodes holds a returning socket against what the old node handed over
        // only where each node's broadcasts come in order; with a channel per room it asks the
        // old node again instead (see `restore_session`)
        if !self.bus.keeps_each_nodes_order() || self.bus.rooms_have_channels() {
            self.local.broadcasts_unordered();
        }
        if self.bus.rooms_have_channels() {
            // noted from now on, before any socket joins a room
            self.local.watch_rooms();
            let stop = self.stop.clone();
            let node = Arc::downgrade(self);
            tokio::spawn(async move {
                tokio::select! {
                    _ = rooms::run(node) => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
        tracing::info!(target: "volley::cluster", uid = %self.uid, "cluster node starting");
    }
}

/// What a node's outbox checks publishes against: the channel of every node must reach this
/// node and every other node it believes alive (nothing when it knows of none), a node's own
/// channel that node.
struct Audience<B>(Weak<Node<B>>);

impl<B: PubSub> outbox::Audience for Audience<B> {
    fn expected(&self, channel: &str) -> usize {
        let Some(node) = self.0.upgrade() else {
            return 0;
        };
        if channel == &*node.channels.main {
            let others = match node.nodes.lock() {
                Ok(n) => n.len(),
                Err(p) => p.into_inner().len(),
            };
            match others {
                0 => 0,
                others => others + 1,
            }
        } else {
            1
        }
    }

    fn bus_failed(&self) {
        if let Some(node) = self.0.upgrade() {
            if let Ok(mut failed) = node.bus_failed.lock() {
                *failed = Some(Instant::now());
            }
            node.rooms_unproven
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    fn counted(&self, channel: &str, complete: bool) {
        if let Some(node) = self.0.upgrade().filter(|n| channel == &*n.channels.main) {
            // every node listens to the channel of every node again (and, subscribed again to
            // their rooms' channels first, to those too), or not
            node.rooms_unproven
                .store(!complete, std::sync::atomic::Ordering::Release);
        }
    }
}

#[async_trait]
impl<B: PubSub> ClientManager for ClusterManager<B> {
    fn local(&self) -> &LocalAdapter {
        &self.node.local
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), super::ReadyError> {
        if self.ready(timeout).await {
            Ok(())
        } else {
            Err(super::ReadyError::Unreachable(timeout))
        }
    }

    fn bind(&self, hooks: Weak<dyn ServerHooks>) {
        let _ = self.node.hooks.set(hooks);
        if tokio::runtime::Handle::try_current().is_ok() {
            self.node.start();
        } else {
            tracing::warn!(target: "volley::cluster", "server built outside a tokio runtime: the cluster manager starts on first use");
        }
    }

    fn session_tag(&self) -> Option<&str> {
        self.node.config.advertise.as_ref()?;
        addresses::tag_of(&self.node.uid)
    }

    fn session_owner(&self, tag: &str) -> Option<String> {
        self.node.addresses.get(tag)
    }

    fn add_socket(&self, socket: &crate::Socket) {
        self.node.start();
        self.node.serve(socket.ns());
        self.node.local.add_socket(socket)
    }

    fn add_recovered_socket(&self, _socket: &crate::Socket) {
        self.node.start();
    }

    fn server_count(&self) -> usize {
        match self.node.counted.load(std::sync::atomic::Ordering::Relaxed) {
            0 => 1 + self.node.alive().len(),
            counted => counted,
        }
    }

    async fn close(&self) {
        if let Err(e) = self.node.publish(None, "/", Body::AdapterClose).await {
            tracing::debug!(target: "volley::cluster", error = %e, "goodbye not sent");
        }
        self.node.stop.cancel();
    }

    async fn add_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
        rooms: &[String],
    ) -> Result<(), EmitError> {
        self.node.local.add_sockets(ns, opts, rooms);
        // on a bus that listens per room, the join is done once this node listens to the rooms
        // it opened here
        if let Some(wait) = self.node.local.rooms_settled(self.node.local.rooms_noted()) {
            wait.await;
        }
        if self.node.only_local(ns, opts) {
            return Ok(());
        }
        let body = Body::SocketsJoin {
            opts: opts.clone(),
            rooms: rooms.to_vec(),
        };
        self.node.publish(None, ns, body).await?;
        if self.node.bus.rooms_have_channels() {
            // and once the other nodes listen to the rooms they opened: a node answers a request
            // only when its bus listens to the rooms it had when the request came, which was
            // after the join (both went on the channel of every node, in order)
            if let Err(e) = self.fetch_sockets(ns, opts).await {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot tell whether every node listens to the rooms joined: a broadcast to them may miss their new members");
            }
        }
        let change = python::SocketChange::Rooms { enter: true, rooms };
        self.node.python_sockets(ns, opts, change).await
    }

    async fn del_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
        rooms: &[String],
    ) -> Result<(), EmitError> {
        self.node.local.del_sockets(ns, opts, rooms);
        if self.node.only_local(ns, opts) {
            return Ok(());
        }
        let body = Body::SocketsLeave {
            opts: opts.clone(),
            rooms: rooms.to_vec(),
        };
        self.node.publish(None, ns, body).await?;
        let change = python::SocketChange::Rooms {
            enter: false,
            rooms,
        };
        self.node.python_sockets(ns, opts, change).await
    }

    async fn disconnect_sockets(&self, ns: &str, opts: &BroadcastOptions) -> Result<(), EmitError> {
        let local_only = self.node.only_local(ns, opts);
        for socket in self.node.local.select(ns, opts) {
            socket.disconnect();
        }
        if local_only {
            return Ok(());
        }
        let body = Body::DisconnectSockets {
            opts: opts.clone(),
            close: false,
        };
        self.node.publish(None, ns, body).await?;
        let change = python::SocketChange::Disconnect;
        self.node.python_sockets(ns, opts, change).await
    }

    async fn fetch_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, EmitError> {
        let mine: Vec<SocketInfo> = self
            .node
            .local
            .select(ns, opts)
            .iter()
            .map(crate::Socket::info)
            .collect();
        if self.node.only_local(ns, opts) {
            return Ok(mine);
        }
        let others = self.node.expected(ns).await;
        if others.is_empty() {
            return Ok(mine);
        }
        let deadline = Instant::now() + self.node.config.request_timeout;
        let id = self.node.requests.open(others, Collected::Sockets(mine));
        let body = Body::FetchSockets {
            opts: opts.clone(),
            request_id: id,
        };
        if let Err(e) = self.node.publish(None, ns, body).await {
            self.node.requests.wait(id, Instant::now()).await;
            return Err(e);
        }
        let outcome = self.node.requests.wait(id, deadline).await;
        record(
            "fetch_sockets",
            deadline,
            self.node.config.request_timeout,
            &outcome,
        );
        match outcome.collected {
            Collected::Sockets(all) if outcome.missing_nodes == 0 => Ok(all),
            _ => Err(EmitError::Timeout {
                missing: outcome.missing_nodes,
            }),
        }
    }

    async fn emit(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
    ) -> Result<(), EmitError> {
        if self.node.reads_back(opts.volatile) && !self.node.only_local(ns, opts) {
            // delivered here when the bus hands it back with its offset (see `dispatch`)
            self.node
                .publish_broadcast(ns, event, args, opts, None, None)
                .await?;
            return self.node.python_broadcast(ns, event, args, opts).await;
        }
        let (_, offset) = self
            .node
            .local
            .deliver(ns, event, args, opts, OffsetSource::Here)?;
        if self.node.only_local(ns, opts) {
            return Ok(());
        }
        self.node
            .publish_broadcast(ns, event, args, opts, offset.as_deref(), None)
            .await?;
        self.node.python_broadcast(ns, event, args, opts).await
    }

    async fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Result<Vec<AckResponse>, EmitError> {
        let pending = self.node.local.broadcast_with_ack(ns, event, args, opts)?;
        if self.node.only_local(ns, opts) {
            return Ok(pending.collect(timeout).await);
        }
        let others = self.node.expected(ns).await;
        if others.is_empty() {
            return Ok(pending.collect(timeout).await);
        }
        let deadline = Instant::now() + timeout;
        let id = self.node.requests.open(others, Collected::Acks(Vec::new()));
        let ack = AckRequest {
            id,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let published = self
            .node
            .publish_broadcast(ns, event, args, opts, None, Some(ack))
            .await;
        if let Err(e) = published {
            self.node.requests.wait(id, Instant::now()).await;
            return Err(e);
        }
        let (mut responses, outcome) = tokio::join!(
            pending.collect(timeout),
            self.node.requests.wait(id, deadline)
        );
        record("broadcast_ack", deadline, timeout, &outcome);
        if let Collected::Acks(remote) = outcome.collected {
            responses.extend(remote);
        }
        responses.extend(requests::timed_out(
            outcome.missing_sids,
            outcome.missing_unnamed,
        ));
        if outcome.missing_nodes > 0 {
            tracing::warn!(target: "volley::cluster", missing = outcome.missing_nodes, "nodes did not report their recipients in time");
        }
        Ok(responses)
    }

    fn keeps_sessions(&self) -> bool {
        self.node.bus.keeps_sessions()
    }

    fn persist_session(&self, ns: &str, session: StoredSession, ttl: Duration) {
        let bus = self.node.bus.clone();
        let ns = ns.to_owned();
        tokio::spawn(async move {
            if let Err(e) = bus.persist_session(&ns, session, ttl).await {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot store a disconnected socket: it will not be recovered");
            }
        });
    }

    async fn restore_session(
        &self,
        ns: &str,
        pid: &str,
        offset: Option<&str>,
    ) -> Option<volley_protocol::cluster::RecoveredSession> {
        if self.node.bus.keeps_sessions() {
            return self.node.restore_stored(ns, pid, offset?).await;
        }
        let mut found = self.node.ask_session(ns, pid, offset).await?;
        let changes = match self.node.local.room_changes() {
            Some(changes) if !found.rooms.is_empty() => changes.clone(),
            _ => return Some(found),
        };
        // The bus listens per room: the socket's rooms have no member here yet, and a broadcast
        // to them reaches neither this node nor (since it handed the socket over) the old one.
        // Listen to them first, then ask the old node for what it logged for the socket since
        // it handed it over. Released at once: the rooms are listened to a while longer with
        // recovery on (see `rooms`), by when the socket has entered them.
        let (held, seq) = changes.hold_while(ns, found.rooms.clone());
        let timeout = crate::manager::room_changes::SETTLE_TIMEOUT;
        let listened = changes.settled(seq, timeout).await;
        drop(held);
        if !listened {
            tracing::warn!(target: "volley::cluster", ?timeout, "the bus did not start listening to a recovered socket's rooms in time: it may miss broadcasts");
        }
        match self.node.ask_session(ns, pid, None).await {
            Some(window) if window.sid == found.sid => {
                tracing::debug!(target: "volley::cluster", missed = window.missed.len(), "what a recovered socket's rooms received while this node started listening");
                found.missed.extend(window.missed);
                found.marks = window.marks;
            }
            _ => {
                tracing::debug!(target: "volley::cluster", "the old node did not say what a recovered socket's rooms received since it handed it over");
            }
        }
        Some(found)
    }

    async fn server_side_emit(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
    ) -> Result<(), EmitError> {
        let body = Body::ServerSideEmit {
            event: event.to_owned(),
            args: args.to_vec(),
            request_id: None,
        };
        self.node.publish(None, ns, body).await
    }

    async fn server_side_call(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        timeout: Duration,
    ) -> Result<Vec<Vec<Value>>, EmitError> {
        let others = self.node.expected(ns).await;
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + timeout;
        let id = self
            .node
            .requests
            .open(others, Collected::Answers(Vec::new()));
        let body = Body::ServerSideEmit {
            event: event.to_owned(),
            args: args.to_vec(),
            request_id: Some(id),
        };
        if let Err(e) = self.node.publish(None, ns, body).await {
            self.node.requests.wait(id, Instant::now()).await;
            return Err(e);
        }
        let outcome = self.node.requests.wait(id, deadline).await;
        record("server_side_call", deadline, timeout, &outcome);
        match outcome.collected {
            Collected::Answers(all) if outcome.missing_nodes == 0 => Ok(all),
            _ => Err(EmitError::Timeout {
                missing: outcome.missing_nodes,
            }),
        }
    }
}
