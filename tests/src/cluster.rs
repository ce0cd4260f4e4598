//! Multi-node test clusters and the suite every cluster backend must pass.
//!
//! A [`Backend`] is the bus: the in-process [`MemoryBus`] (nodes in this process), a broker URL
//! (nodes are `cluster_node` processes), or Redis shared with Node's socket.io (nodes are
//! `cluster_node` processes or Node processes, see [`crate::node_peer`]). The suite's scenarios
//! take a backend, so the same tests run unchanged against each adapter;
//! [`cluster_suite!`](macro@crate::cluster_suite) instantiates them.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use volley::manager::cluster::{ClusterConfig, ClusterManager, MemoryBus};
use volley::ClientManager;

use crate::server::TestServer;
use crate::{Failure, TestResult};

/// Heartbeats of test clusters: fast, so that node death shows quickly.
pub const HEARTBEAT: Duration = Duration::from_millis(300);
/// A test node not heard from for this long is dead.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a client waits for the ack of an emit made while the broker is down: the node answers
/// once its bus gives up on the publish, within the adapter's publish timeout (5 s by default),
/// which a loaded machine may stretch; the client's default wait is no longer than that.
pub const OUTAGE_ACK_WAIT: Duration = Duration::from_secs(15);

/// Where the nodes of a test cluster meet.
#[derive(Clone)]
pub enum Backend {
    /// An in-process bus; nodes run in this process.
    Memory(MemoryBus),
    /// A broker; nodes are processes of the `cluster_node` binary (its path, from the test's
    /// `env!("CARGO_BIN_EXE_cluster_node")`) started with `--adapter URL`.
    Url {
        /// The broker URL.
        url: String,
        /// The node binary.
        node_bin: &'static str,
    },
    /// A Redis cluster in the format of one of Node's Redis adapters, shared by Volley nodes and
    /// Node socket.io nodes: node `i` runs `kinds[i % kinds.len()]` (see
    /// [`Backend::node_streams`], [`Backend::node_classic`] and [`Backend::node_sharded`]).
    WithNode {
        /// The Redis URL, without a query (`redis://127.0.0.1:6379`).
        redis: String,
        /// Which of Node's adapters.
        adapter: NodeAdapter,
        /// Which implementation each node runs, in order of start.
        kinds: Vec<Kind>,
        /// The Volley node binary, for [`Kind::Volley`] nodes.
        node_bin: &'static str,
    },
}

/// Which of Node's Redis adapters a [`Backend::WithNode`] cluster speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAdapter {
    /// `@socket.io/redis-streams-adapter`: the stream and the channel prefix are the cluster's
    /// prefix.
    Streams,
    /// The classic `@socket.io/redis-adapter` (pub/sub): its `key` is the cluster's prefix.
    Classic,
    /// The sharded adapter of `@socket.io/redis-adapter` (`createShardedAdapter`, subscription
    /// mode "dynamic", on sharded pub/sub): its `channelPrefix` is the cluster's prefix.
    Sharded,
}

/// Which implementation a node of a [`Backend::WithNode`] cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `cluster_node` process speaking the Node adapter's protocol
    /// ([`crate::node_peer::volley_url`]).
    Volley,
    /// A Node socket.io process on that adapter ([`crate::node_peer`]).
    Node,
}

impl Backend {
    /// A fresh in-process bus.
    pub fn memory() -> Self {
        Backend::Memory(MemoryBus::new())
    }

    /// Whether some node of the cluster acknowledges a join before it listens to the room's
    /// channel: a Node node on Node's sharded adapter (`createShardedAdapter`) subscribes in the
    /// background when a room gains its first member there, so a broadcast sent at that instant
    /// may not reach it yet. Volley nodes acknowledge a join once they listen, on every bus.
    pub fn listens_per_room(&self) -> bool {
        match self {
            Backend::Url { .. } => false,
            Backend::WithNode { adapter, .. } => *adapter == NodeAdapter::Sharded,
            Backend::Memory(_) => false,
        }
    }

    /// Whether messages published on different channels arrive in the order they were
    /// published: not on a Redis Cluster's pub/sub (classic or sharded), where each channel goes
    /// through the shard its name hashes to and only each channel's own order is kept (the
    /// README says so). An emitter's room change and a later emit are on two channels there, on
    /// every bus: emitters publish on classic pub/sub, the streams bus's included.
    pub fn orders_across_channels(&self) -> bool {
        match self {
            Backend::Url { url, .. } => !url.starts_with("redis-cluster://"),
            Backend::WithNode { redis, .. } => !redis.starts_with("redis-cluster://"),
            Backend::Memory(_) => true,
        }
    }

    /// Whether node `asker` learns which socket of node `node` sent an ack to its broadcast:
    /// not when a Volley node asks and a Node node answers (Node's cluster protocol does not
    /// name the socket; the ack comes under [`volley::Sid::UNNAMED`]).
    pub fn names_acks(&self, asker: usize, node: usize) -> bool {
        match self {
            Backend::WithNode { kinds, .. } if !kinds.is_empty() => {
                let kind = |i: usize| kinds[i % kinds.len()];
                !(asker != node && kind(asker) == Kind::Volley && kind(node) == Kind::Node)
            }
            _ => true,
        }
    }

    /// A [`Backend::WithNode`] cluster on Node's Redis Streams adapter, on the Redis at `redis`
    /// (no query), whose nodes run `kinds` in turn; `node_bin` is
    /// `env!("CARGO_BIN_EXE_cluster_node")`.
    pub fn node_streams(redis: &str, kinds: &[Kind], node_bin: &'static str) -> Self {
        Backend::WithNode {
            redis: redis.to_owned(),
            adapter: NodeAdapter::Streams,
            kinds: kinds.to_vec(),
            node_bin,
        }
    }

    /// The same on Node's classic Redis adapter (pub/sub).
    pub fn node_classic(redis: &str, kinds: &[Kind], node_bin: &'static str) -> Self {
        Backend::WithNode {
            redis: redis.to_owned(),
            adapter: NodeAdapter::Classic,
            kinds: kinds.to_vec(),
            node_bin,
        }
    }

    /// The same on Node's sharded Redis adapter (sharded pub/sub, a channel per room).
    pub fn node_sharded(redis: &str, kinds: &[Kind], node_bin: &'static str) -> Self {
        Backend::WithNode {
            redis: redis.to_owned(),
            adapter: NodeAdapter::Sharded,
            kinds: kinds.to_vec(),
            node_bin,
        }
    }
}

/// The key under which test nodes accept what Node's emitters publish: private to one test.
pub fn compat_key(prefix: &str) -> String {
    format!("{prefix}-sio")
}

/// The cluster configuration of test nodes, with channel prefixes private to one test.
pub fn test_config(prefix: &str) -> ClusterConfig {
    ClusterConfig::default()
        .prefix(prefix)
        .node_compat_key(Some(compat_key(prefix)))
        .heartbeat(HEARTBEAT, HEARTBEAT_TIMEOUT)
        .request_timeout(Duration::from_secs(3))
}

enum Running {
    InProcess {
        _server: TestServer,
        io: volley::Server,
        manager: Arc<ClusterManager<MemoryBus>>,
    },
    Process(Child),
}

/// One node of a test cluster.
pub struct Node {
    /// Its base URL.
    pub url: String,
    /// Its name.
    pub name: String,
    running: Running,
}

impl Node {
    /// A node that is the process `child`, serving on `url`: killed with it.
    pub fn from_process(url: String, name: &str, child: Child) -> Self {
        Node {
            url,
            name: name.to_owned(),
            running: Running::Process(child),
        }
    }

    /// The process id of a node that is a process (`None` for an in-process node).
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Process(child) => child.id(),
            Running::InProcess { .. } => None,
        }
    }

    /// Kills the node at once (SIGKILL for a process; for an in-process node, its connections
    /// are dropped without a goodbye).
    pub async fn kill(self) {
        match self.running {
            Running::Process(mut child) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            Running::InProcess { io, manager, .. } => {
                // no goodbye: the others must notice the silence
                manager.halt();
                io.shutdown(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A channel prefix no other test uses.
pub fn unique_prefix() -> String {
    let n: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("volleytest{:x}{:04x}", n, std::process::id() & 0xffff)
}

/// Starts `n` nodes on `backend`, each ready (subscribed) when this returns.
pub async fn start(backend: &Backend, n: usize) -> TestResult<Vec<Node>> {
    start_with_prefix(backend, n, &unique_prefix()).await
}

/// [`start`] with a given channel prefix (to add nodes to the same cluster later).
pub async fn start_with_prefix(backend: &Backend, n: usize, prefix: &str) -> TestResult<Vec<Node>> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("node{i}");
        nodes.push(start_node(backend, prefix, &name).await?);
    }
    wait_until_all_count(&nodes).await?;
    Ok(nodes)
}

/// Starts `n` nodes on `backend` with connection state recovery on, as [`start`] does.
pub async fn start_recoverable(backend: &Backend, n: usize) -> TestResult<Vec<Node>> {
    let prefix = unique_prefix();
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(start_node_with(backend, &prefix, &format!("node{i}"), true).await?);
    }
    wait_until_all_count(&nodes).await?;
    Ok(nodes)
}

/// Waits until every node has heard of every other one.
async fn wait_until_all_count(nodes: &[Node]) -> TestResult {
    let n = nodes.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for node in nodes {
        loop {
            let count = server_count(&node.url).await?;
            if count == n {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Failure::msg(format!(
                    "{} sees {count} nodes, expected {n}",
                    node.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Starts one more node on `backend` (with the same prefix as `like`'s cluster, taken from
/// `prefix`).
pub async fn start_node(backend: &Backend, prefix: &str, name: &str) -> TestResult<Node> {
    start_node_with(backend, prefix, name, false).await
}

/// [`start_node`], with connection state recovery on when `recovery` is true.
pub async fn start_node_with(
    backend: &Backend,
    prefix: &str,
    name: &str,
    recovery: bool,
) -> TestResult<Node> {
    match backend {
        Backend::Memory(bus) => {
            let manager = Arc::new(ClusterManager::new(bus.clone(), test_config(prefix)));
            let shared: Arc<dyn ClientManager> = manager.clone();
            let io = crate::cluster_app::server_with(name, shared, recovery);
            let server = TestServer::spawn(crate::cluster_app::router(&io)).await?;
            Ok(Node {
                url: server.url().to_owned(),
                name: name.to_owned(),
                running: Running::InProcess {
                    _server: server,
                    io,
                    manager,
                },
            })
        }
        Backend::Url { url, node_bin } => {
            start_process(node_bin, url, prefix, name, recovery_flag(recovery)).await
        }
        Backend::WithNode {
            redis,
            adapter,
            kinds,
            node_bin,
        } => {
            // node `i` of `start` is named `node{i}`: it runs kind `i`
            let index: usize = name
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap_or(0);
            match kinds.get(index % kinds.len().max(1)) {
                Some(Kind::Node) => {
                    crate::node_peer::start(redis, *adapter, prefix, name, recovery).await
                }
                _ => {
                    let url = crate::node_peer::volley_url(redis, *adapter, prefix);
                    start_process(node_bin, &url, prefix, name, recovery_flag(recovery)).await
                }
            }
        }
    }
}

fn recovery_flag(recovery: bool) -> &'static [&'static str] {
    if recovery {
        &["--recovery"]
    } else {
        &[]
    }
}

/// Starts a `cluster_node` process (`node_bin`) on the bus at `url`, with more `flags` of its
/// command line (`--recovery`, `--forward`).
pub async fn start_process(
    node_bin: &str,
    url: &str,
    prefix: &str,
    name: &str,
    flags: &[&str],
) -> TestResult<Node> {
    let mut command = Command::new(node_bin);
    command.args(["--adapter", url, "--prefix", prefix, "--name", name]);
    command.args(flags);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::msg(format!("cannot start cluster_node: {e}")))?;
    let line = first_line(&mut child, name).await?;
    let url = line
        .strip_prefix("listening ")
        .ok_or_else(|| Failure::msg(format!("{name} said {line:?}")))?
        .to_owned();
    Ok(Node::from_process(url, name, child))
}

/// The first line node process `child` (named `name`) prints, within 20 s: the one saying it
/// listens. Later lines go to stderr.
pub(crate) async fn first_line(child: &mut Child, name: &str) -> TestResult<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::msg("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .map_err(|_| Failure::msg(format!("{name} did not start within 20 s")))?
        .map_err(|e| Failure::msg(e.to_string()))?
        .ok_or_else(|| Failure::msg(format!("{name} exited before listening")))?;
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
        }
    });
    Ok(line)
}

/// The number of tokio tasks alive in a node, asked over HTTP.
pub async fn task_count(url: &str) -> TestResult<usize> {
    let body = reqwest::get(format!("{url}/tasks")).await?.text().await?;
    body.trim()
        .parse()
        .map_err(|_| Failure::msg(format!("bad task count {body:?}")))
}

/// The number of nodes a node counts, asked over HTTP (no Socket.IO client needed).
pub async fn server_count(url: &str) -> TestResult<usize> {
    let body = reqwest::get(format!("{url}/count")).await?.text().await?;
    body.trim()
        .parse()
        .map_err(|_| Failure::msg(format!("bad count {body:?}")))
}
