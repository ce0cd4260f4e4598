//! Rooms across many nodes: bus bytes each node receives with Redis pub/sub (every node gets
//! every broadcast) and with sharded pub/sub (a node gets the broadcasts of the rooms it has
//! members in), for the same load and the same deliveries.
//!
//! [`NODES`] Volley nodes in this process, each serving [`ROOMS_PER_NODE`] rooms of its own
//! ([`CLIENTS_PER_ROOM`] clients each) and one client in a room that every node shares. Each
//! broadcast is emitted by the node after the room's own (so every delivery crosses the bus);
//! one in [`SHARED_EVERY`] goes to the shared room. A node's bus bytes are what its cluster
//! manager received from the bus ([`ClusterManager::received_bytes`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley::manager::cluster::{ClusterConfig, ClusterManager};
use volley::{Server, Socket};
use volley_redis::RedisBus;

use crate::loadgen::sio::{Client, Target};

/// Nodes of the cluster.
pub const NODES: usize = 8;
/// Rooms of each node's own.
pub const ROOMS_PER_NODE: usize = 4;
/// Clients in each of those rooms.
pub const CLIENTS_PER_ROOM: usize = 2;
/// One broadcast in this many goes to the room every node shares.
pub const SHARED_EVERY: u64 = 20;
/// Broadcasts in flight at once.
const IN_FLIGHT: usize = 64;

/// What one bus did.
#[derive(Debug, Clone)]
pub struct RoomsResult {
    /// `pubsub` or `sharded`.
    pub bus: &'static str,
    /// Broadcasts emitted.
    pub emits: u64,
    /// Deliveries the clients counted, and how many the broadcasts should have made.
    pub delivered: u64,
    /// See `delivered`.
    pub expected: u64,
    /// Bus bytes each node received during the run.
    pub bytes_per_node: Vec<u64>,
    /// How long the emits took: from the first until every emit had returned (on both buses
    /// an emit returns once Redis has answered its publish).
    pub elapsed: Duration,
    /// From the first emit until the last delivery reached its client.
    pub delivered_in: Duration,
}

impl RoomsResult {
    /// The mean of [`bytes_per_node`](RoomsResult::bytes_per_node).
    pub fn mean_bytes(&self) -> f64 {
        let n = self.bytes_per_node.len().max(1) as f64;
        self.bytes_per_node.iter().sum::<u64>() as f64 / n
    }
}

fn room(node: usize, r: usize) -> String {
    format!("n{node}-r{r}")
}

/// Runs `emits` broadcasts over Redis at `redis` (`redis://host:port`), classic pub/sub
/// (`sharded: false`) or sharded.
pub async fn run(redis: &str, sharded: bool, emits: u64) -> Result<RoomsResult, String> {
    let prefix = format!("volley-bench-rooms-{}-{}", std::process::id(), sharded);
    let mut managers = Vec::new();
    let mut servers: Vec<Server> = Vec::new();
    let mut targets = Vec::new();
    for _ in 0..NODES {
        let bus = RedisBus::builder(redis)
            .sharded(sharded)
            .build()
            .map_err(|e| e.to_string())?;
        let manager = ClusterManager::new(bus, ClusterConfig::default().prefix(prefix.clone()));
        managers.push(manager.clone());
        let io = Server::builder().client_manager(manager).build();
        io.of("/").on("join", |s: Socket, room: String| {
            s.enter_room(&room);
            true
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let service = io.service();
        tokio::spawn(async move { axum::serve(listener, service).await });
        targets.push(Target::local(port));
        servers.push(io);
    }
    for m in &managers {
        if !m.ready(Duration::from_secs(10)).await {
            return Err("a node could not subscribe".into());
        }
    }
    // clients: CLIENTS_PER_ROOM in each own room, one per node in the shared room
    let delivered = Arc::new(AtomicU64::new(0));
    // when the last delivery arrived, in nanoseconds after `epoch`
    let epoch = std::time::Instant::now();
    let last_delivery = Arc::new(AtomicU64::new(0));
    let mut n = 0;
    for (node, target) in targets.iter().enumerate() {
        let mut rooms: Vec<String> = (0..ROOMS_PER_NODE)
            .flat_map(|r| std::iter::repeat_n(room(node, r), CLIENTS_PER_ROOM))
            .collect();
        rooms.push("shared".into());
        for name in rooms {
            let mut client = Client::connect(target, n)
                .await
                .map_err(|e| e.to_string())?;
            n += 1;
            let join = format!(r#"["join","{name}"]"#);
            client
                .call(1, join.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let delivered = delivered.clone();
            let last_delivery = last_delivery.clone();
            tokio::spawn(async move {
                while client.next_event().await.is_ok() {
                    delivered.fetch_add(1, Ordering::Relaxed);
                    let at = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    last_delivery.fetch_max(at, Ordering::Relaxed);
                }
            });
        }
    }
    // every node knows every other, and listens to its rooms' channels
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while servers.iter().any(|s| s.server_count() < NODES) {
        if tokio::time::Instant::now() > deadline {
            return Err("the nodes did not all see each other".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before: Vec<u64> = managers
        .iter()
        .map(ClusterManager::received_bytes)
        .collect();
    let start = std::time::Instant::now();
    let mut expected = 0u64;
    let mut jobs = Vec::new();
    for k in 0..emits {
        let owner = (k as usize) % NODES;
        let (target_room, recipients) = if k % SHARED_EVERY == 0 {
            ("shared".to_owned(), NODES)
        } else {
            let r = (k as usize / NODES) % ROOMS_PER_NODE;
            (room(owner, r), CLIENTS_PER_ROOM)
        };
        expected += recipients as u64;
        // emitted by the next node: every delivery crosses the bus
        let ns = servers[(owner + 1) % NODES].of("/");
        jobs.push(async move { ns.to(target_room).emit("m", &k).await.is_ok() });
        if jobs.len() == IN_FLIGHT {
            futures_util::future::join_all(jobs.drain(..)).await;
        }
    }
    futures_util::future::join_all(jobs).await;
    let elapsed = start.elapsed();
    // the last deliveries and bus messages
    let settle = tokio::time::Instant::now() + Duration::from_secs(5);
    while delivered.load(Ordering::Relaxed) < expected && tokio::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bytes_per_node = managers
        .iter()
        .zip(before)
        .map(|(m, b)| m.received_bytes().saturating_sub(b))
        .collect();
    for m in &managers {
        m.halt();
    }
    drop(servers);
    Ok(RoomsResult {
        bus: if sharded { "sharded" } else { "pubsub" },
        emits,
        delivered: delivered.load(Ordering::Relaxed),
        expected,
        bytes_per_node,
        elapsed,
        delivered_in: Duration::from_nanos(last_delivery.load(Ordering::Relaxed))
            .saturating_sub(start.duration_since(epoch)),
    })
}
