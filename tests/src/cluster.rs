//! Multi-node test clusters and the suite every cluster backend must pass.
//!
//! A [`Backend`] is the bus: the in-process [`MemoryBus`] (nodes in this process) or a broker URL
//! (nodes are `cluster_node` processes). The suite's scenarios take a backend, so the same tests
//! run unchanged against each adapter; [`cluster_suite!`](macro@crate::cluster_suite) instantiates them.

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
}

impl Backend {
    /// A fresh in-process bus.
    pub fn memory() -> Self {
        Backend::Memory(MemoryBus::new())
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
    // every node has heard of every other one
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for node in &nodes {
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
    Ok(nodes)
}

/// Starts one more node on `backend` (with the same prefix as `like`'s cluster, taken from
/// `prefix`).
pub async fn start_node(backend: &Backend, prefix: &str, name: &str) -> TestResult<Node> {
    match backend {
        Backend::Memory(bus) => {
            let manager = Arc::new(ClusterManager::new(bus.clone(), test_config(prefix)));
            let shared: Arc<dyn ClientManager> = manager.clone();
            let io = crate::cluster_app::server(name, shared);
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
            let mut child = Command::new(node_bin)
                .args(["--adapter", url, "--prefix", prefix, "--name", name])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| Failure::msg(format!("cannot start cluster_node: {e}")))?;
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
            let url = line
                .strip_prefix("listening ")
                .ok_or_else(|| Failure::msg(format!("{name} said {line:?}")))?
                .to_owned();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(Node {
                url,
                name: name.to_owned(),
                running: Running::Process(child),
            })
        }
    }
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
