//! The fault kit: a broker dies and comes back under steady cross-node traffic, and the test
//! checks what the emitting code was told against what the clients received.
//!
//! [`run`] starts two `cluster_node` processes on an adapter URL, one receiving client (an
//! official `socket.io-client`, see [`Puppet`]) per node in one room, and one driving client per
//! node that keeps asking its node to emit numbered messages to that room at a steady pace (the
//! `pump` handler of [`cluster_app`](crate::cluster_app): each emit's `Result` comes back in the
//! handler's ack). Meanwhile it kills the broker ([`Broker::kill`]), leaves it down for
//! [`FaultPlan::outage`], restarts it ([`Broker::restart`]) and waits for emits to succeed
//! again, [`FaultPlan::cycles`] times. Then it stops the traffic, lets the clients drain, and
//! checks:
//!
//! - every emit that returned `Ok` reached every receiving client exactly once (none lost; with
//!   [`FaultPlan::allow_loss_at_kill`], except emits in flight at the instant of a kill);
//! - no emit reached a client twice, whatever its result;
//! - every emit made while the broker was down returned an error;
//! - after each restart both nodes emit successfully again within [`FaultPlan::recovery`];
//! - each node's resident memory (`VmRSS` of `/proc/PID/status`) after the last cycle is within
//!   [`FaultPlan::rss_growth_kib`] of what it was after the first, and its count of live tokio
//!   tasks within [`FaultPlan::task_growth`] of what it was before the first outage.
//!
//! It prints a short [`FaultReport`] whatever the outcome, and returns it when every check held.
//!
//! ```no_run
//! use volley_tests::brokers::redis::{Persistence, RedisServer};
//! use volley_tests::fault::{self, FaultPlan};
//!
//! # async fn test() -> volley_tests::TestResult {
//! let mut redis = RedisServer::start(Persistence::None).await?;
//! let report = fault::run(&mut redis, "path/to/cluster_node", &FaultPlan::default()).await?;
//! assert!(report.ok_emits() > 0);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::brokers::Broker;
use crate::cluster::{self, Backend};
use crate::cluster_app::Pumped;
use crate::puppet::Puppet;
use crate::{Failure, TestResult};

/// The room the receiving clients are in.
const ROOM: &str = "fault";
/// The event the nodes emit.
const EVENT: &str = "fault";
/// Emits made this soon after the kill returned may still have been in flight: they are not
/// required to fail.
const KILL_GRACE: Duration = Duration::from_millis(300);

/// How a fault run goes. The defaults: 3 cycles of a 5 s outage under 200 emits a second from
/// each of the two nodes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FaultPlan {
    /// How many times the broker is killed and restarted (default 3).
    pub cycles: usize,
    /// How long the broker stays down each time (default 5 s).
    pub outage: Duration,
    /// Emits per second each node makes, all the time (default 200).
    pub rate: u32,
    /// Traffic before the first kill (default 2 s).
    pub warmup: Duration,
    /// Traffic after each recovery, before memory and tasks are measured (default 3 s).
    pub settle: Duration,
    /// How long after a restart both nodes may take to emit successfully again (default 30 s).
    pub recovery: Duration,
    /// How much a node's RSS may grow from after the first cycle to after the last, in KiB
    /// (default 16 MiB).
    pub rss_growth_kib: u64,
    /// How many more tokio tasks a node may have after the last cycle than before the first
    /// outage (default 32).
    pub task_growth: usize,
    /// Whether `Ok` emits in flight at the instant the broker was killed may be lost (default
    /// `false`): a broker that acknowledged a message and crashed before its subscribers read
    /// it, as pub/sub without storage can. Other losses still fail the run.
    pub loss_at_kill_allowed: bool,
    /// The URL the nodes' `--adapter` takes, when not the broker's own ([`Broker::url`]): one
    /// that chooses another bus on the same broker (default `None`).
    pub adapter_url: Option<String>,
    /// The nodes' channel prefix, when not one of their own ([`cluster::unique_prefix`]): a
    /// Redis Cluster hash tag (`{tag}`) puts every channel of the run on one master, say
    /// (default `None`).
    pub prefix: Option<String>,
    /// The bound of the whole run (default 300 s).
    pub limit: Duration,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            cycles: 3,
            outage: Duration::from_secs(5),
            rate: 200,
            warmup: Duration::from_secs(2),
            settle: Duration::from_secs(3),
            recovery: Duration::from_secs(30),
            rss_growth_kib: 16 * 1024,
            task_growth: 32,
            loss_at_kill_allowed: false,
            adapter_url: None,
            prefix: None,
            limit: Duration::from_secs(300),
        }
    }
}

impl FaultPlan {
    /// Sets the number of kill / restart cycles.
    pub fn cycles(mut self, cycles: usize) -> Self {
        self.cycles = cycles;
        self
    }

    /// Sets how long the broker stays down each time.
    pub fn outage(mut self, outage: Duration) -> Self {
        self.outage = outage;
        self
    }

    /// Sets how many more tokio tasks a node may have after the last cycle than before the
    /// first outage.
    pub fn task_growth(mut self, tasks: usize) -> Self {
        self.task_growth = tasks;
        self
    }

    /// Sets the emits per second of each node.
    pub fn rate(mut self, per_second: u32) -> Self {
        self.rate = per_second;
        self
    }

    /// Allows the loss of `Ok` emits in flight at a kill (see
    /// [`loss_at_kill_allowed`](FaultPlan::loss_at_kill_allowed)).
    pub fn allow_loss_at_kill(mut self) -> Self {
        self.loss_at_kill_allowed = true;
        self
    }

    /// Sets the URL the nodes' `--adapter` takes (see
    /// [`adapter_url`](FaultPlan::adapter_url)).
    pub fn adapter_url(mut self, url: impl Into<String>) -> Self {
        self.adapter_url = Some(url.into());
        self
    }

    /// Sets the nodes' channel prefix (see [`prefix`](FaultPlan::prefix)).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets the bound of the whole run.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }
}

/// One node's resources at one point of the run.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// When: `baseline` (before the first kill) or `cycle N` (after its recovery).
    pub label: String,
    /// Each node's resident memory, KiB.
    pub rss_kib: Vec<u64>,
    /// Each node's live tokio tasks.
    pub tasks: Vec<usize>,
}

/// What one node's emits returned, and what its receiving client got.
#[derive(Debug, Clone, Default)]
pub struct NodeReport {
    /// Emits made.
    pub emits: usize,
    /// Emits that returned `Ok`.
    pub ok: usize,
    /// Emits that returned an error.
    pub err: usize,
    /// Emits made while the broker was down (after the kill, before the restart).
    pub outage_emits: usize,
    /// Of those, how many returned `Ok` (must be 0).
    pub outage_ok: usize,
    /// The first error an emit returned.
    pub first_error: Option<String>,
    /// Messages this node's receiving client got (from both nodes).
    pub received: usize,
    /// `Ok` emits (of either node) this node's client never got.
    pub lost: usize,
    /// Of those, how many were made in a batch in flight when the broker was killed.
    pub lost_at_kill: usize,
    /// A few of the lost emits, as `node#seq`.
    pub lost_examples: Vec<String>,
    /// Messages this node's client got more than once.
    pub duplicated: usize,
    /// Emits of the other node that returned an error but reached this node's client anyway.
    pub err_delivered: usize,
}

/// What a fault run saw.
#[derive(Debug, Clone, Default)]
pub struct FaultReport {
    /// The broker's name.
    pub broker: String,
    /// The adapter URL.
    pub url: String,
    /// Per node.
    pub nodes: Vec<NodeReport>,
    /// Per cycle, per node: from the end of the restart to the end of the first emit batch that
    /// succeeded.
    pub recoveries: Vec<Vec<Duration>>,
    /// Per cycle: how long the broker's restart took, until it took connections again.
    pub restarts: Vec<Duration>,
    /// Resources before the first kill and after each cycle.
    pub checkpoints: Vec<Checkpoint>,
    /// The checks that failed.
    pub failures: Vec<String>,
}

impl FaultReport {
    /// Emits that returned `Ok`, over all nodes.
    pub fn ok_emits(&self) -> usize {
        self.nodes.iter().map(|n| n.ok).sum()
    }

    /// Emits that returned an error, over all nodes.
    pub fn failed_emits(&self) -> usize {
        self.nodes.iter().map(|n| n.err).sum()
    }

    /// `Ok` emits some client never got, over all clients.
    pub fn lost(&self) -> usize {
        self.nodes.iter().map(|n| n.lost).sum()
    }

    /// Messages some client got more than once, over all clients.
    pub fn duplicated(&self) -> usize {
        self.nodes.iter().map(|n| n.duplicated).sum()
    }
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fault run: {} via {}", self.broker, self.url)?;
        for (i, n) in self.nodes.iter().enumerate() {
            writeln!(
                f,
                "  node{i}: {} emits, {} ok, {} err ({} during outages, {} of them ok); \
                 client got {}, lost {} ({} in flight at a kill), duplicated {}, \
                 err-but-delivered {}",
                n.emits,
                n.ok,
                n.err,
                n.outage_emits,
                n.outage_ok,
                n.received,
                n.lost,
                n.lost_at_kill,
                n.duplicated,
                n.err_delivered
            )?;
            if !n.lost_examples.is_empty() {
                writeln!(f, "         lost: {}", n.lost_examples.join(", "))?;
            }
            if let Some(e) = &n.first_error {
                writeln!(f, "         first error: {e}")?;
            }
        }
        for (i, r) in self.recoveries.iter().enumerate() {
            let ms: Vec<String> = r.iter().map(|d| format!("{} ms", d.as_millis())).collect();
            let restart = self
                .restarts
                .get(i)
                .map(|d| format!("restart took {} ms, ", d.as_millis()))
                .unwrap_or_default();
            writeln!(
                f,
                "  cycle {}: {restart}emits ok again after {}",
                i + 1,
                ms.join(" / ")
            )?;
        }
        for c in &self.checkpoints {
            writeln!(
                f,
                "  {:<9} rss KiB {:?}, tasks {:?}",
                c.label, c.rss_kib, c.tasks
            )?;
        }
        if self.failures.is_empty() {
            writeln!(f, "  every check held")
        } else {
            for failure in &self.failures {
                writeln!(f, "  FAILED: {failure}")?;
            }
            Ok(())
        }
    }
}

/// One `pump` call: when it was made, when it was answered, what it answered.
struct Batch {
    start: Instant,
    end: Instant,
    pumped: Pumped,
}

/// A node's driving client, asking for emits until told to stop.
async fn drive(
    mut puppet: Puppet,
    origin: String,
    rate: u32,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Batch>>>,
) -> TestResult<Puppet> {
    // batches of a fifth of a second
    let count = (rate / 5).max(1);
    let mut next: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        let args = json!([EVENT, ROOM, origin, next, count, rate]);
        let ack = puppet
            .emit_ack_within("/", "pump", args, Duration::from_secs(60))
            .await?;
        let pumped: Pumped = serde_json::from_value(ack[0].clone())
            .map_err(|e| Failure::msg(format!("bad pump answer {ack}: {e}")))?;
        if pumped.ok.len() + pumped.err.len() != count as usize {
            return Err(Failure::msg(format!(
                "the pump answered for {} emits of {count}",
                pumped.ok.len() + pumped.err.len()
            )));
        }
        next += u64::from(count);
        let end = Instant::now();
        if let Ok(mut log) = log.lock() {
            log.push(Batch { start, end, pumped });
        }
    }
    Ok(puppet)
}

fn rss_kib(pid: u32) -> TestResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Failure::msg(format!("no VmRSS for process {pid}")))
}

async fn checkpoint(label: String, nodes: &[cluster::Node]) -> TestResult<Checkpoint> {
    let mut rss = Vec::new();
    let mut tasks = Vec::new();
    for node in nodes {
        let pid = node
            .pid()
            .ok_or_else(|| Failure::msg("the fault kit needs node processes"))?;
        rss.push(rss_kib(pid)?);
        tasks.push(cluster::task_count(&node.url).await?);
    }
    Ok(Checkpoint {
        label,
        rss_kib: rss,
        tasks,
    })
}

/// One outage: when the kill had returned and when the restart began.
struct Outage {
    killing: Instant,
    killed: Instant,
    restarting: Instant,
}

/// Runs the fault scenario described in the [module documentation](self) against `broker`,
/// with nodes of `node_bin` (the `cluster_node` binary: `env!("CARGO_BIN_EXE_cluster_node")`)
/// started with `--adapter` and the broker's URL (or [`FaultPlan::adapter_url`]), within
/// [`FaultPlan::limit`]. Leaves the broker running.
pub async fn run(
    broker: &mut dyn Broker,
    node_bin: &'static str,
    plan: &FaultPlan,
) -> TestResult<FaultReport> {
    let adapter_url = plan.adapter_url.clone().unwrap_or_else(|| broker.url());
    tokio::time::timeout(
        plan.limit,
        run_unbounded(broker, &adapter_url, node_bin, plan),
    )
    .await
    .map_err(|_| Failure::msg(format!("the fault run took more than {:?}", plan.limit)))?
}

async fn run_unbounded(
    broker: &mut dyn Broker,
    adapter_url: &str,
    node_bin: &'static str,
    plan: &FaultPlan,
) -> TestResult<FaultReport> {
    let backend = Backend::Url {
        url: adapter_url.to_owned(),
        node_bin,
    };
    let nodes = match &plan.prefix {
        Some(prefix) => cluster::start_with_prefix(&backend, 2, prefix).await?,
        None => cluster::start(&backend, 2).await?,
    };
    let mut receivers = Vec::new();
    for node in &nodes {
        let mut r = Puppet::spawn(&node.url, "websocket").await?;
        r.connect("/", None).await?;
        r.emit_ack("/", "join", json!([ROOM])).await?;
        receivers.push(r);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let logs: Vec<Arc<Mutex<Vec<Batch>>>> = nodes.iter().map(|_| Arc::default()).collect();
    let mut drivers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut d = Puppet::spawn(&node.url, "websocket").await?;
        d.connect("/", None).await?;
        drivers.push(tokio::spawn(drive(
            d,
            format!("node{i}"),
            plan.rate,
            stop.clone(),
            logs[i].clone(),
        )));
    }

    let mut report = FaultReport {
        broker: broker.name().to_owned(),
        url: adapter_url.to_owned(),
        ..FaultReport::default()
    };
    let scenario = async {
        tokio::time::sleep(plan.warmup).await;
        report
            .checkpoints
            .push(checkpoint("baseline".into(), &nodes).await?);
        let mut outages = Vec::new();
        for cycle in 1..=plan.cycles {
            let killing = Instant::now();
            broker.kill().await?;
            let killed = Instant::now();
            tokio::time::sleep(plan.outage).await;
            let restarting = Instant::now();
            broker.restart().await?;
            let restarted = Instant::now();
            report.restarts.push(restarted - restarting);
            outages.push(Outage {
                killing,
                killed,
                restarting,
            });
            // both nodes emit successfully again
            let mut recovered = Vec::new();
            for log in &logs {
                loop {
                    let first_ok = log.lock().ok().and_then(|l| {
                        l.iter()
                            .find(|b| b.start >= restarted && !b.pumped.ok.is_empty())
                            .map(|b| b.end - restarted)
                    });
                    if let Some(after) = first_ok {
                        recovered.push(after);
                        break;
                    }
                    if restarted.elapsed() > plan.recovery {
                        return Err(Failure::msg(format!(
                            "cycle {cycle}: no emit succeeded within {:?} of the restart",
                            plan.recovery
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            report.recoveries.push(recovered);
            tokio::time::sleep(plan.settle).await;
            report
                .checkpoints
                .push(checkpoint(format!("cycle {cycle}"), &nodes).await?);
        }
        Ok(outages)
    };
    let outcome = scenario.await;
    stop.store(true, Ordering::Relaxed);
    for driver in drivers {
        match driver.await {
            Ok(Ok(puppet)) => puppet.close().await,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(Failure::msg(format!("a driving client panicked: {e}"))),
        }
    }
    let outages = match outcome {
        Ok(outages) => outages,
        Err(e) => {
            println!("{report}");
            return Err(e);
        }
    };

    // what each receiving client got
    let mut received: Vec<HashMap<(String, u64), usize>> = Vec::new();
    for r in receivers.iter_mut() {
        let events = r
            .drain_events("/", EVENT, Duration::from_secs(3), Duration::from_secs(90))
            .await?;
        let mut counts = HashMap::new();
        for args in events {
            let origin = args[0].as_str().unwrap_or_default().to_owned();
            let seq = args[1]
                .as_u64()
                .ok_or_else(|| Failure::msg(format!("bad message {args}")))?;
            *counts.entry((origin, seq)).or_insert(0) += 1;
        }
        received.push(counts);
    }
    for r in receivers {
        r.close().await;
    }

    // what each node's emits returned
    // per emit: its result, and whether it was in flight when the broker was killed
    let mut results: HashMap<(String, u64), (bool, bool)> = HashMap::new();
    for (i, log) in logs.iter().enumerate() {
        let origin = format!("node{i}");
        let mut n = NodeReport::default();
        let log = log.lock().map_err(|_| Failure::msg("poisoned log"))?;
        for b in log.iter() {
            n.emits += b.pumped.ok.len() + b.pumped.err.len();
            n.ok += b.pumped.ok.len();
            n.err += b.pumped.err.len();
            if n.first_error.is_none() {
                n.first_error.clone_from(&b.pumped.error);
            }
            let during = outages
                .iter()
                .any(|o| b.start >= o.killed + KILL_GRACE && b.end <= o.restarting);
            if during {
                n.outage_emits += b.pumped.ok.len() + b.pumped.err.len();
                n.outage_ok += b.pumped.ok.len();
            }
            let at_kill = outages
                .iter()
                .any(|o| b.start <= o.killed && b.end >= o.killing);
            for &seq in &b.pumped.ok {
                results.insert((origin.clone(), seq), (true, at_kill));
            }
            for &seq in &b.pumped.err {
                results.insert((origin.clone(), seq), (false, at_kill));
            }
        }
        report.nodes.push(n);
    }
    for (i, counts) in received.iter().enumerate() {
        let n = &mut report.nodes[i];
        n.received = counts.values().sum();
        n.duplicated = counts.values().filter(|&&c| c > 1).count();
        for (key, (ok, at_kill)) in &results {
            let got = counts.get(key).copied().unwrap_or(0);
            if *ok && got == 0 {
                n.lost += 1;
                if *at_kill {
                    n.lost_at_kill += 1;
                }
                if n.lost_examples.len() < 5 {
                    n.lost_examples.push(format!("{}#{}", key.0, key.1));
                }
            }
            // the emitting node's own clients get every emit, whatever the bus said
            if !*ok && got > 0 && key.0 != format!("node{i}") {
                n.err_delivered += 1;
            }
        }
    }

    // the checks
    let mut failures = Vec::new();
    let lost_at_kill: usize = report.nodes.iter().map(|n| n.lost_at_kill).sum();
    let unexplained = if plan.loss_at_kill_allowed {
        report.lost() - lost_at_kill
    } else {
        report.lost()
    };
    if unexplained > 0 {
        failures.push(format!(
            "{unexplained} Ok emits were not delivered to every client"
        ));
    }
    if report.duplicated() > 0 {
        failures.push(format!(
            "{} messages were delivered twice",
            report.duplicated()
        ));
    }
    for (i, n) in report.nodes.iter().enumerate() {
        if n.outage_ok > 0 {
            failures.push(format!(
                "node{i}: {} emits returned Ok while the broker was down",
                n.outage_ok
            ));
        }
        if plan.cycles > 0 && n.outage_emits == 0 {
            failures.push(format!("node{i} made no emit while the broker was down"));
        }
        if n.ok == 0 {
            failures.push(format!("node{i}: no emit succeeded"));
        }
    }
    if let (Some(base), Some(first), Some(last)) = (
        report.checkpoints.first(),
        report.checkpoints.get(1),
        report.checkpoints.last(),
    ) {
        for i in 0..nodes.len() {
            let grown = last.rss_kib[i].saturating_sub(first.rss_kib[i]);
            if grown > plan.rss_growth_kib {
                failures.push(format!(
                    "node{i}: RSS grew by {grown} KiB from cycle 1 to the last (limit {} KiB)",
                    plan.rss_growth_kib
                ));
            }
            let more = last.tasks[i].saturating_sub(base.tasks[i]);
            if more > plan.task_growth {
                failures.push(format!(
                    "node{i}: {more} more tasks after the last cycle than before the first \
                     (limit {})",
                    plan.task_growth
                ));
            }
        }
    }
    report.failures = failures;
    println!("{report}");
    for node in nodes {
        node.kill().await;
    }
    if report.failures.is_empty() {
        Ok(report)
    } else {
        Err(Failure::msg(format!("{report}")))
    }
}
