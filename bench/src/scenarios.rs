//! The benchmark scenarios, run against Volley and the baselines, and the report they make.
//!
//! Every scenario starts its servers fresh, pinned to the server core, measures after a warm-up,
//! several runs, and keeps the medians. Throughput is counted per CPU-second of the server
//! (read from `/proc/<pid>/stat`), so that a load generator slower than the server cannot flatter
//! or hide it; the wall-clock rate and both CPU shares are shown beside it.
//!
//! The floods ([`floods`]) are the exception: Volley alone, one abusive client per flood, and
//! the node's RSS growth rather than a rate.

use std::fmt::Write as _;
use std::time::Duration;

use crate::loadgen::{self, pacer, sio::Target, Latency, Rate};
use crate::procfs;
use crate::report::{self, advantage, median, num, pct, times, Better, Check};
use crate::servers::{self, Env, Kind};
use crate::steal::{self, StealGate};

mod compression;
mod emitter;
pub mod floods;

/// One broker of the cross-node scenario and its targets.
#[derive(Debug, Clone, Copy)]
pub struct Broker {
    /// The name in the report.
    pub name: &'static str,
    /// The adapter URL given to every server (`None`: not measured yet).
    pub url: Option<&'static str>,
    /// The broker's process name (`/proc/<pid>/comm`), whose CPU share is shown.
    pub process: &'static str,
    /// Target rate (broadcasts/s), at which Volley's added latency is measured too.
    pub target_rate: f64,
    /// Target added latency p99 at `target_rate`, in microseconds.
    pub target_p99_us: f64,
    /// A script (from the repository root) that restarts the broker empty before each server's
    /// runs, for a broker whose speed depends on what it holds.
    pub restart: Option<&'static str>,
    /// A script of the python baseline's virtualenv (from `bench/`) that measures the broker
    /// alone, without any Socket.IO server, and prints one line: shown in the broker's section.
    pub probe: Option<&'static str>,
    /// What the report says of the broker's own latency, where it sets a floor that no server
    /// can go under (shown in the broker's section).
    pub latency_note: Option<&'static str>,
    /// Broadcasts kept in flight in the broadcasts/s scenario. A closed loop carries at most
    /// the window per broker round trip, so a broker with a longer round trip gets a larger one
    /// (or its figure is its latency, not its rate).
    pub window: u64,
}

/// Redis pub/sub, and the targets the Redis rows share.
const REDIS: Broker = Broker {
    name: "Redis",
    url: Some("redis://127.0.0.1:6379"),
    process: "redis-server",
    target_rate: 50_000.0,
    target_p99_us: 2_000.0,
    restart: None,
    probe: None,
    latency_note: None,
    window: 800,
};

/// The brokers of the cross-node scenario. Adding a broker to the report is adding it here.
pub const BROKERS: &[Broker] = &[
    REDIS,
    // the same server through the streams bus: what keeping every message in Redis costs; Node
    // runs @socket.io/redis-streams-adapter on a stream of its own (bench/baselines/node)
    Broker {
        name: "Redis Streams",
        url: Some("redis://127.0.0.1:6379?bus=streams&stream=volley-bench"),
        ..REDIS
    },
    Broker {
        name: "RabbitMQ",
        url: Some("amqp://guest:guest@127.0.0.1:5672"),
        process: "beam.smp",
        target_rate: 30_000.0,
        target_p99_us: 5_000.0,
        restart: None,
        probe: None,
        latency_note: None,
        window: 800,
    },
    Broker {
        name: "Kafka",
        url: Some("kafka://127.0.0.1:9092"),
        process: "tansu",
        target_rate: 50_000.0,
        target_p99_us: 20_000.0,
        // tansu keeps every record in memory and each fetch slows as the log grows: every
        // server meets the same empty broker
        restart: Some("scripts/kafka.sh restart"),
        probe: Some("baselines/python/kafka_probe.py"),
        // read in tansu-storage 0.6.0, src/service/fetch.rs, and borne out by the probe: with a
        // 50 ms wait, its p50 is ~80 ms
        latency_note: Some(
            "tansu 0.6 answers a fetch only when the consumer's whole `fetch.wait.max.ms` has \
             passed (10 ms for Volley's nodes and for the probe), with the records the partition \
             held when the fetch arrived: its fetch loop reads once, then sleeps out the rest of \
             the wait, even when records are there or arrive meanwhile. A record published \
             while a fetch waits is read by the next one, and reaches the consumer when that one \
             has waited in turn: one to two waits after its publish, before any server work. \
             Kafka itself answers a waiting fetch as soon as records arrive.",
        ),
        // its round trip is ~25 ms (tansu): 800 in flight would cap any server at ~32,000/s
        window: 4_000,
    },
];

/// A broker's name as `--brokers` takes it: lower case, dashes for spaces (`redis-streams`).
pub fn broker_key(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}

/// What the run does.
#[derive(Debug, Clone)]
pub struct Config {
    /// One run per measurement and smaller sizes.
    pub quick: bool,
    /// Runs per measurement (medians are reported).
    pub runs: usize,
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub duration: Duration,
    /// The servers compared.
    pub servers: Vec<Kind>,
    /// Scenarios to run (all when `None`): idle, storm, echo, fanout, rooms, cross, emitter,
    /// floods.
    pub only: Option<Vec<String>>,
    /// Brokers of the cross-node scenario to run (all when `None`), by [`broker_key`].
    pub brokers: Option<Vec<String>>,
    /// Idle connections held, one scenario per size (a size the open-file limit does not
    /// allow is reported as not measured).
    pub idle_sizes: Vec<usize>,
    /// Connections of one connect storm, and how many connect at once.
    pub storm_conns: usize,
    /// See [`Config::storm_conns`].
    pub storm_concurrency: usize,
    /// Ack-echo clients, and the events each keeps waiting at full speed.
    pub echo_conns: usize,
    /// See [`Config::echo_conns`].
    pub echo_depth: usize,
    /// Members of the one big room.
    pub big_room: usize,
    /// Rooms of the many-rooms fan-out, and members of each.
    pub rooms: usize,
    /// See [`Config::rooms`].
    pub room_size: usize,
    /// Cross-node added latency is measured at this rate for every server (and for Volley at
    /// each broker's [`Broker::target_rate`] too).
    pub cross_rate: f64,
}

impl Config {
    /// The full run (`bench/run.sh`).
    pub fn full() -> Config {
        Config {
            quick: false,
            runs: 3,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(5),
            servers: Kind::ALL.to_vec(),
            only: None,
            brokers: None,
            idle_sizes: vec![10_000, 50_000],
            storm_conns: 5_000,
            storm_concurrency: 500,
            echo_conns: 50,
            echo_depth: 4,
            big_room: 10_000,
            rooms: 1_000,
            room_size: 10,
            cross_rate: 5_000.0,
        }
    }

    /// `bench/run.sh --quick`: one run each, smaller sizes, shorter windows.
    pub fn quick() -> Config {
        Config {
            quick: true,
            runs: 1,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            idle_sizes: vec![2_000],
            storm_conns: 2_000,
            big_room: 2_000,
            rooms: 200,
            ..Config::full()
        }
    }

    /// Whether the cross-node scenario runs through `broker` (a [`Broker::name`]).
    fn wants_broker(&self, broker: &str) -> bool {
        self.brokers
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| *k == broker_key(broker)))
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scenario))
    }
}

/// One server's measurements in one scenario.
#[derive(Debug, Default, Clone)]
struct Series {
    /// The figure, one per run.
    values: Vec<f64>,
    /// A second figure (wall-clock rate), one per run.
    wall: Vec<f64>,
    /// The server's CPU share, one per run.
    server: Vec<f64>,
    /// The part of the server's CPU time spent in the kernel, one per run.
    kernel: Vec<f64>,
    /// The load generator's CPU share, one per run.
    loadgen: Vec<f64>,
    /// Data packets the clients received per message they read, one per run where counted.
    packets: Vec<f64>,
    /// Errors (failed or lost connections), added up.
    errors: u64,
    /// Why it could not be measured.
    failure: Option<String>,
}

impl Series {
    fn failed(why: impl Into<String>) -> Series {
        Series {
            failure: Some(why.into()),
            ..Series::default()
        }
    }

    /// Adds a run whose figure is per server CPU-second, the wall-clock rate beside it.
    fn push_rate(&mut self, r: &Rate) {
        self.push(r, r.per_cpu_sec(), r.per_sec());
    }

    /// Adds a run: its `figure`, the second figure `beside` it, and its CPU shares and errors.
    fn push(&mut self, r: &Rate, figure: f64, beside: f64) {
        self.values.push(figure);
        self.wall.push(beside);
        self.server.push(r.server_share());
        self.kernel.push(r.kernel_share());
        self.loadgen.push(r.window.loadgen_share);
        self.errors += r.errors;
    }

    fn median(&self) -> Option<f64> {
        (self.failure.is_none() && !self.values.is_empty()).then(|| median(&self.values))
    }
}

/// What else kept the machine busy during a run, in cores (1.0 = one core busy throughout).
#[derive(Debug, Clone, Copy)]
struct MachineLoad {
    /// Everything but the harness, its servers and the broker, steal included.
    others: f64,
    /// Steal alone.
    steal: f64,
    /// CPU seconds of the kernel's DAMON thread (`kdamond.0`), if the machine runs one.
    kdamond: Option<f64>,
}

/// The whole benchmark: runs the scenarios and writes the report.
pub struct Bench {
    env: Env,
    cfg: Config,
    sections: String,
    checks: Vec<Check>,
    /// Scenarios this machine could not run, and why: stated under the targets.
    not_measured: Vec<String>,
    prefixes: usize,
    /// CPU seconds used by the servers started so far.
    servers_cpu: f64,
}

impl Bench {
    /// A benchmark of `cfg` with the servers of `env`.
    pub fn new(env: Env, cfg: Config) -> Bench {
        Bench {
            env,
            cfg,
            sections: String::new(),
            checks: Vec::new(),
            not_measured: Vec::new(),
            prefixes: 0,
            servers_cpu: 0.0,
        }
    }

    /// A channel prefix no other cluster on the broker uses.
    fn new_prefix(&mut self) -> String {
        self.prefixes += 1;
        format!("volley-bench-{}-{}", std::process::id(), self.prefixes)
    }

    fn start(&mut self, kind: Kind, adapter: &str) -> std::io::Result<servers::Server> {
        let prefix = self.new_prefix();
        servers::start(&self.env, kind, adapter, &prefix)
    }

    fn available(&self, kind: Kind) -> Result<(), String> {
        match self.env.missing(kind) {
            Some(why) => Err(format!("not installed: {why}")),
            None => Ok(()),
        }
    }

    /// Runs every scenario asked for and returns the report.
    pub async fn run(mut self) -> String {
        let busy0 = procfs::machine_busy_seconds();
        let steal0 = procfs::machine_steal_seconds();
        let own0 = procfs::cpu_seconds(None);
        let brokers: Vec<u32> = BROKERS
            .iter()
            .filter_map(|b| procfs::find_process(b.process))
            .collect();
        let brokers_cpu = || -> f64 { brokers.iter().map(|p| procfs::cpu_seconds(Some(*p))).sum() };
        let broker0 = brokers_cpu();
        // the kernel's DAMON memory monitor, where the machine runs one: its bursts delay
        // whatever shares their core
        let kdamond = procfs::find_process("kdamond.0");
        let kdamond0 = kdamond.map(|p| procfs::cpu_seconds(Some(p)));
        let started = std::time::Instant::now();
        if self.cfg.wants("idle") {
            self.idle().await;
        }
        if self.cfg.wants("storm") {
            self.storm().await;
        }
        if self.cfg.wants("echo") {
            self.echo().await;
        }
        if self.cfg.wants("fanout") {
            let (members, rooms) = (self.cfg.big_room, 1);
            self.fanout(members, rooms, 4).await;
        }
        if self.cfg.wants("rooms") {
            let (members, rooms) = (self.cfg.rooms * self.cfg.room_size, self.cfg.rooms);
            self.fanout(members, rooms, 64).await;
        }
        if self.cfg.wants("cross") {
            self.cross().await;
        }
        if self.cfg.wants("emitter") {
            self.emitter().await;
        }
        if self.cfg.wants("floods") {
            self.floods().await;
        }
        if self.cfg.wants("compression") {
            self.compression().await;
        }
        let took = started.elapsed();
        // what the rest of the machine did meanwhile: all busy time but the harness's own
        let own = procfs::cpu_seconds(None) - own0 + self.servers_cpu + (brokers_cpu() - broker0);
        let others = (procfs::machine_busy_seconds() - busy0 - own).max(0.0);
        // `/proc` counts in ticks of 10 ms: over a run shorter than a few seconds the share is noise
        let steal = procfs::machine_steal_seconds() - steal0;
        let load = (took >= Duration::from_secs(5)).then(|| MachineLoad {
            others: others / took.as_secs_f64(),
            steal: steal / took.as_secs_f64(),
            kdamond: kdamond
                .zip(kdamond0)
                .map(|(p, c0)| procfs::cpu_seconds(Some(p)) - c0),
        });
        self.document(load, took)
    }

    fn log(&self, what: &str) {
        eprintln!("[bench] {what}");
    }

    /// Rows "figure | Volley's advantage" for each server, and the medians.
    fn comparison_rows(
        &self,
        better: Better,
        series: &[(Kind, Series)],
        fmt: impl Fn(f64) -> String,
        extra: impl Fn(&Series) -> Vec<String>,
    ) -> Vec<Vec<String>> {
        let volley = series
            .iter()
            .find(|(k, _)| *k == Kind::Volley)
            .and_then(|(_, s)| s.median());
        series
            .iter()
            .map(|(kind, s)| {
                let mut row = vec![kind.name().to_owned()];
                match (s.median(), &s.failure) {
                    (Some(m), _) => {
                        row.push(format!("**{}**", fmt(m)));
                        row.push(
                            s.values
                                .iter()
                                .map(|v| fmt(*v))
                                .collect::<Vec<_>>()
                                .join(" / "),
                        );
                        row.push(match (kind, volley) {
                            (Kind::Volley, _) => "—".to_owned(),
                            (_, Some(v)) => times(advantage(better, v, m)),
                            (_, None) => "–".to_owned(),
                        });
                    }
                    (None, why) => {
                        row.push(why.clone().unwrap_or_else(|| "no result".to_owned()));
                        row.push(String::new());
                        row.push("–".to_owned());
                    }
                }
                row.extend(extra(s));
                row
            })
            .collect()
    }

    /// Checks Volley's advantage over Node (`node_min`) and python-socketio (`python_min`).
    fn ratio_checks(
        &mut self,
        scenario: &str,
        better: Better,
        series: &[(Kind, Series)],
        node_min: Option<(f64, &str)>,
        python_min: Option<f64>,
    ) {
        let get = |k: Kind| {
            series
                .iter()
                .find(|(kind, _)| *kind == k)
                .and_then(|(_, s)| s.median())
        };
        let volley = get(Kind::Volley);
        if let Some((min, target)) = node_min {
            let adv = match (volley, get(Kind::Node)) {
                (Some(v), Some(n)) => advantage(better, v, n),
                _ => f64::NAN,
            };
            self.checks.push(Check::ratio(
                scenario,
                "vs Node socket.io",
                target,
                adv,
                min,
            ));
        }
        // `None`: no python-socketio setup to compare with (no check at all)
        let Some(python_min) = python_min else {
            return;
        };
        let adv = match (volley, get(Kind::Python)) {
            (Some(v), Some(p)) => advantage(better, v, p),
            _ => f64::NAN,
        };
        let target = match better {
            Better::Higher => format!("≥ {python_min:.0}×"),
            Better::Lower => format!("≤ 1/{python_min:.0}"),
        };
        self.checks.push(Check::ratio(
            scenario,
            "vs python-socketio",
            &target,
            adv,
            python_min,
        ));
    }

    fn missed_sentences(&self, scenario: &str) -> String {
        let mut out = String::new();
        for c in self.checks.iter().filter(|c| c.scenario == scenario) {
            if let Some(s) = c.missed_sentence() {
                let _ = writeln!(out, "- {s}");
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }

    async fn idle(&mut self) {
        for n in self.cfg.idle_sizes.clone() {
            // The load generator (this process) and each server hold a descriptor per
            // connection; both inherit this process's limit (`bench/run.sh` raises it to the
            // hard limit).
            match procfs::open_file_limit() {
                Some(limit) if limit < n as u64 + 1_000 => {
                    self.not_measured.push(format!(
                        "{} idle connections (the open-file limit of this process is {} and \
                         it needs about {}: raise the hard limit, `ulimit -Hn`, to measure it)",
                        num(n as f64),
                        num(limit as f64),
                        num(n as f64 + 1_000.0)
                    ));
                }
                _ => self.idle_size(n).await,
            }
        }
    }

    async fn idle_size(&mut self, n: usize) {
        let settle = if self.cfg.quick {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(3)
        };
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("idle connections: {} × {n}", kind.name()));
            let mut s = Series::default();
            if let Err(why) = self.available(kind) {
                all.push((kind, Series::failed(why)));
                continue;
            }
            for _ in 0..self.cfg.runs {
                let server = match self.start(kind, "memory") {
                    Ok(server) => server,
                    Err(e) => {
                        s.failure = Some(e.to_string());
                        break;
                    }
                };
                let target = Target::local_for(server.port, n);
                let r = loadgen::idle(&target, server.pid, n, settle).await;
                self.servers_cpu += server.stop();
                s.values.push(r.per_conn());
                s.loadgen.push(r.loadgen_share);
                s.errors += r.failed as u64;
                s.wall.push(r.rss_after as f64);
            }
            all.push((kind, s));
        }
        let rows = self.comparison_rows(Better::Lower, &all, report::kb, |s| {
            vec![
                report::kb(median(&s.wall)),
                pct(median(&s.loadgen)),
                s.errors.to_string(),
            ]
        });
        let title = format!("idle connections ({}k)", n / 1000);
        self.ratio_checks(
            &title,
            Better::Lower,
            &all,
            Some((4.0, "≤ ¼ of Node's RSS per connection")),
            Some(10.0),
        );
        let volley = all
            .iter()
            .find(|(k, _)| *k == Kind::Volley)
            .and_then(|(_, s)| s.median());
        self.checks.push(Check {
            scenario: title.clone(),
            against: "absolute".to_owned(),
            target: "≤ 10 KB per connection".to_owned(),
            measured: volley.map_or("–".to_owned(), report::kb),
            met: volley.map(|v| v <= 10_000.0),
        });
        let mut out =
            format!("## Idle connections: server memory per connection ({n} connections)\n\n");
        out.push_str(
            "Each run starts a fresh server, opens and closes 200 connections (warm-up), reads its \
             RSS (`VmRSS`), opens the connections (WebSocket, Socket.IO CONNECT to `/`), waits for \
             the server to settle and reads RSS again: the figure is the growth divided by the \
             connections held. \"Advantage\" is how many times less memory Volley uses.\n\n",
        );
        report::table(
            &mut out,
            &[
                "server",
                "RSS growth per connection (median)",
                "runs",
                "Volley's advantage",
                "RSS with all connected",
                "load generator CPU",
                "failed connections",
            ],
            &rows,
        );
        out.push_str(&self.missed_sentences(&title));
        self.sections.push_str(&out);
    }

    async fn storm(&mut self) {
        let (n, conc) = (self.cfg.storm_conns, self.cfg.storm_concurrency);
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("connect storm: {} × {n}", kind.name()));
            let mut s = Series::default();
            if let Err(why) = self.available(kind) {
                all.push((kind, Series::failed(why)));
                continue;
            }
            let server = match self.start(kind, "memory") {
                Ok(server) => server,
                Err(e) => {
                    all.push((kind, Series::failed(e.to_string())));
                    continue;
                }
            };
            let target = Target::local(server.port);
            let _ = loadgen::storm(&target, server.pid, 0, n / 4, conc).await;
            for run in 0..self.cfg.runs {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let r = loadgen::storm(&target, server.pid, (run + 1) * n, n, conc).await;
                s.push(&r, r.per_sec(), r.per_cpu_sec());
            }
            self.servers_cpu += server.stop();
            all.push((kind, s));
        }
        let rows = self.comparison_rows(
            Better::Higher,
            &all,
            |v| format!("{}/s", num(v)),
            |s| {
                vec![
                    num(median(&s.wall)),
                    pct(median(&s.server)),
                    pct(median(&s.kernel)),
                    pct(median(&s.loadgen)),
                    s.errors.to_string(),
                ]
            },
        );
        self.ratio_checks(
            "connect storm",
            Better::Higher,
            &all,
            Some((5.0, "≥ 5×")),
            Some(10.0),
        );
        let mut out = format!("## Connect storm ({n} clients, {conc} connecting at once)\n\n");
        out.push_str(
            "One server per implementation; a warm-up storm of a quarter of the size, then each run \
             opens the clients as fast as the server takes them, with at most the given number in \
             flight. A connection counts once the server acknowledged its Socket.IO CONNECT. The \
             figure is connections established per wall-clock second; per server CPU-second \
             beside it.\n\n",
        );
        report::table(
            &mut out,
            &[
                "server",
                "connections/s (median)",
                "runs",
                "Volley's advantage",
                "per server CPU-second",
                "server CPU",
                "of it in the kernel",
                "load generator CPU",
                "failed",
            ],
            &rows,
        );
        out.push_str(&kernel_bound(&all, "connections", |s| median(&s.wall)));
        out.push_str(&self.missed_sentences("connect storm"));
        self.sections.push_str(&out);
    }

    async fn echo(&mut self) {
        let (conns, depth) = (self.cfg.echo_conns, self.cfg.echo_depth);
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("ack echo, full speed: {}", kind.name()));
            let mut s = Series::default();
            if let Err(why) = self.available(kind) {
                all.push((kind, Series::failed(why)));
                continue;
            }
            let server = match self.start(kind, "memory") {
                Ok(server) => server,
                Err(e) => {
                    all.push((kind, Series::failed(e.to_string())));
                    continue;
                }
            };
            let target = Target::local(server.port);
            for _ in 0..self.cfg.runs {
                match loadgen::echo_max(&target, server.pid, conns, depth, warmup, duration).await {
                    Ok(r) => s.push_rate(&r),
                    Err(e) => {
                        s.failure = Some(e.to_string());
                        break;
                    }
                }
            }
            self.servers_cpu += server.stop();
            all.push((kind, s));
        }
        // the fixed offered load: half of Node's maximum (or of the first server measured)
        let max_of = |k: Kind| {
            all.iter()
                .find(|(kind, _)| *kind == k)
                .filter(|(_, s)| s.failure.is_none() && !s.wall.is_empty())
                .map(|(_, s)| median(&s.wall))
        };
        let (base_name, base_max) = match max_of(Kind::Node) {
            Some(m) => ("Node's", m),
            None => (
                "the first server's",
                all.iter().find_map(|(k, _)| max_of(*k)).unwrap_or(10_000.0),
            ),
        };
        // throughput table
        let rows = self.comparison_rows(Better::Higher, &all, num, |s| {
            vec![
                format!("{}/s", num(median(&s.wall))),
                pct(median(&s.server)),
                pct(median(&s.kernel)),
                pct(median(&s.loadgen)),
                s.errors.to_string(),
            ]
        });
        self.ratio_checks(
            "ack echo throughput",
            Better::Higher,
            &all,
            Some((5.0, "≥ 5×")),
            Some(10.0),
        );
        let mut out = format!(
            "## Ack echo\n\n{conns} clients send `echo` events asking for an ack; the server acks \
             with the same arguments.\n\n### Round trips per server CPU-second (full speed)\n\n\
             Each client keeps {depth} events waiting for their acks. Warm-up {}, then {} measured, \
             per run.\n\n",
            secs(warmup),
            secs(duration)
        );
        report::table(
            &mut out,
            &[
                "server",
                "round trips per server CPU-s (median)",
                "runs",
                "Volley's advantage",
                "wall-clock rate",
                "server CPU",
                "of it in the kernel",
                "load generator CPU",
                "lost connections",
            ],
            &rows,
        );
        out.push_str(&kernel_bound(&all, "round trips", |s| median(&s.values)));
        out.push_str(&self.missed_sentences("ack echo throughput"));
        // latency at a fixed offered load: the target rate, half of Node's maximum, and half
        // of that, where no server runs near its limit at this pace
        let half = (base_max / 2.0).max(100.0).round();
        out.push_str(
            &self
                .echo_latency(
                    half,
                    &format!("half of {base_name} maximum"),
                    "ack echo p99 latency",
                    None,
                )
                .await,
        );
        out.push_str(
            &self
                .echo_latency(
                    (half / 2.0).round(),
                    &format!("a quarter of {base_name} maximum"),
                    "ack echo p99 latency at ¼ of the maximum",
                    Some(
                        "The same, at half the rate above, which leaves every server further from \
                         its limit at this pace (see the server CPU column).",
                    ),
                )
                .await,
        );
        self.sections.push_str(&out);
    }

    /// Ack echo latency at `rate` round trips/s (`share` says of what) against every server: its
    /// section of the report, whose method is told in full unless `same` says how it differs
    /// from the one before; the p99 ratios are checked as `check`.
    async fn echo_latency(
        &mut self,
        rate: f64,
        share: &str,
        check: &str,
        same: Option<&str>,
    ) -> String {
        let conns = self.cfg.echo_conns;
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let mut lat: Vec<(Kind, Vec<Latency>, Option<String>)> = Vec::new();
        let mut gates = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("ack echo at {rate}/s: {}", kind.name()));
            if let Err(why) = self.available(kind) {
                lat.push((kind, Vec::new(), Some(why)));
                continue;
            }
            let server = match self.start(kind, "memory") {
                Ok(server) => server,
                Err(e) => {
                    lat.push((kind, Vec::new(), Some(e.to_string())));
                    continue;
                }
            };
            let target = Target::local(server.port);
            let (runs, failure, gate) = steal::gated_runs(
                self.cfg.runs,
                |l: &Latency| l.window.steal,
                || loadgen::echo_latency(&target, server.pid, conns, rate, warmup, duration),
            )
            .await;
            self.servers_cpu += server.stop();
            lat.push((kind, runs, failure.map(|e| e.to_string())));
            gates.push((kind.name().to_owned(), gate));
        }
        let p99 = |runs: &[Latency]| median(&runs.iter().map(|l| l.us(0.99)).collect::<Vec<_>>());
        let volley_p99 = lat
            .iter()
            .find(|(k, r, f)| *k == Kind::Volley && f.is_none() && !r.is_empty())
            .map(|(_, r, _)| p99(r));
        let mut rows = Vec::new();
        let mut p99s: Vec<(Kind, Series)> = Vec::new();
        for (kind, runs, failure) in &lat {
            let mut s = Series::default();
            if let Some(f) = failure {
                s.failure = Some(f.clone());
            } else if runs.is_empty() {
                s.failure = Some("no result".to_owned());
            }
            s.values = runs.iter().map(|l| l.us(0.99)).collect();
            p99s.push((*kind, s.clone()));
            let m = |q: f64| median(&runs.iter().map(|l| l.us(q)).collect::<Vec<_>>());
            let mut row = vec![kind.name().to_owned()];
            if let Some(f) = &s.failure {
                row.push(f.clone());
                row.extend(std::iter::repeat_n(String::new(), 9));
            } else {
                row.push(format!("{} µs", num(m(0.5))));
                row.push(format!("**{} µs**", num(m(0.99))));
                row.push(p99_of_runs(runs));
                row.push(format!("{} µs", num(m(0.999))));
                row.push(match (kind, volley_p99) {
                    (Kind::Volley, _) => "—".to_owned(),
                    (_, Some(v)) => times(advantage(Better::Lower, v, m(0.99))),
                    _ => "–".to_owned(),
                });
                row.push(format!(
                    "{}/s",
                    num(median(&runs.iter().map(|l| l.achieved).collect::<Vec<_>>()))
                ));
                row.push(pct(median(
                    &runs
                        .iter()
                        .map(|l| l.window.server_cpu / l.window.wall.as_secs_f64().max(1e-9))
                        .collect::<Vec<_>>(),
                )));
                row.push(pct(median(
                    &runs
                        .iter()
                        .map(|l| l.window.loadgen_share)
                        .collect::<Vec<_>>(),
                )));
                row.push(steal::of_runs(runs));
                row.push(runs.iter().map(|l| l.shed).sum::<u64>().to_string());
            }
            rows.push(row);
        }
        self.ratio_checks(
            check,
            Better::Lower,
            &p99s,
            Some((5.0, "≤ ⅕ of Node's p99")),
            Some(10.0),
        );
        let mut out = format!(
            "### Latency at a fixed offered load: {} round trips/s ({share})\n\n",
            num(rate)
        );
        match same {
            Some(same) => {
                let _ = write!(out, "{same} {}", steal::COLUMN);
            }
            None => {
                let _ = write!(
                    out,
                    "\
                     The events go out at an even pace: every {} µs, the {:.0} or so that fell \
                     due, dealt to the clients in turn (open loop: a client does not wait for an \
                     ack before its next event). A `timerfd` paces them: tokio's timer counts \
                     whole milliseconds, and a group every millisecond would keep the first acks \
                     of each waiting while the load generator wrote the rest; a finer pace would \
                     cost the load generator a wake-up per event. A server reads these events a \
                     few at a time, not four per client as at full speed, so it spends more CPU on \
                     each than there: the server CPU column shows how close to its limit each one \
                     ran. A latency runs from writing the event to reading its ack, recorded in an \
                     HdrHistogram. Medians over the runs of each percentile. \"Not sent\" counts \
                     events skipped because 10,000 were already waiting on one client (the server \
                     could not keep up). {}",
                    num(pacer::FINEST.as_secs_f64() * 1e6),
                    rate * pacer::FINEST.as_secs_f64(),
                    steal::COLUMN
                );
            }
        }
        report::table(
            &mut out,
            &[
                "server",
                "p50",
                "p99 (median)",
                "p99 of each run",
                "p99.9",
                "Volley's advantage (p99)",
                "acks received",
                "server CPU",
                "load generator CPU",
                "steal",
                "not sent",
            ],
            &rows,
        );
        out.push_str(&steal::sentence(&gates));
        out.push_str(&self.missed_sentences(check));
        out
    }

    async fn fanout(&mut self, members: usize, rooms: usize, window: u64) {
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let title = if rooms == 1 {
            format!("room fan-out (1 room × {members})")
        } else {
            format!("room fan-out ({rooms} rooms × {})", members / rooms)
        };
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("{title}: {}", kind.name()));
            if let Err(why) = self.available(kind) {
                all.push((kind, Series::failed(why)));
                continue;
            }
            let server = match self.start(kind, "memory") {
                Ok(server) => server,
                Err(e) => {
                    all.push((kind, Series::failed(e.to_string())));
                    continue;
                }
            };
            let target = Target::local(server.port);
            let mut s = Series::default();
            match loadgen::fanout(
                &target,
                server.pid,
                members,
                rooms,
                window,
                self.cfg.runs,
                warmup,
                duration,
            )
            .await
            {
                Ok(runs) => {
                    for run in runs {
                        s.push_rate(&run.rate);
                        s.packets.extend(run.packets_per_delivery);
                    }
                }
                Err(e) => s.failure = Some(e.to_string()),
            }
            self.servers_cpu += server.stop();
            all.push((kind, s));
        }
        let rows = self.comparison_rows(Better::Higher, &all, num, |s| {
            vec![
                format!("{}/s", num(median(&s.wall))),
                packets(s),
                pct(median(&s.server)),
                pct(median(&s.kernel)),
                pct(median(&s.loadgen)),
                s.errors.to_string(),
            ]
        });
        let node_target = "≥ 5× (aim 8×)";
        self.ratio_checks(
            &title,
            Better::Higher,
            &all,
            Some((5.0, node_target)),
            Some(10.0),
        );
        let mut out = format!("## {}\n\n", capitalise(&title));
        let _ = write!(
            out,
            "{members} clients join {}; one more client sends `fanout` events (`{{room, seq, \
             payload}}`, a 64-byte string payload) {}, keeping at most {window} messages not yet \
             delivered to every member; the server emits `msg` to the room. A delivery is one `msg` \
             read by one member. Warm-up {}, then {} measured, per run (the members stay connected \
             between runs).\n\n",
            if rooms == 1 {
                "one room".to_owned()
            } else {
                format!("{rooms} rooms ({} each)", members / rooms)
            },
            if rooms == 1 {
                "to that room"
            } else {
                "to the rooms in turn"
            },
            secs(warmup),
            secs(duration),
        );
        report::table(
            &mut out,
            &[
                "server",
                "deliveries per server CPU-s (median)",
                "runs",
                "Volley's advantage",
                "wall-clock deliveries",
                "packets per delivery",
                "server CPU",
                "of it in the kernel",
                "load generator CPU",
                "lost connections",
            ],
            &rows,
        );
        out.push_str(&packets_paragraph(&all));
        out.push_str(&kernel_bound(&all, "deliveries", |s| median(&s.values)));
        out.push_str(&self.missed_sentences(&title));
        self.sections.push_str(&out);
    }

    async fn cross(&mut self) {
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let mut out = String::from("## Cross-node broadcast (2 nodes through a broker)\n\n");
        let _ = write!(
            out,
            "Two server processes (A and B) of one implementation share a broker. A is pinned to \
             the server core, B to the load generator's core (the load generator is light here, \
             see its CPU share; with both nodes on one core they take turns in scheduler time \
             slices, which adds milliseconds to the latency). A client on A sends `burst` events: each makes A emit `msg` to \
             room `x` `count` times, as a server-side loop, each server in its fastest form: Volley \
             keeps 64 emits in flight (an emit resolves once published), Node's emits do not \
             wait for Redis, python-socketio awaits each emit in turn (faster than gathering them \
             with its Redis manager). Room `x` \
             has one member on A and one on B.\n\n\
             - **Broadcasts/s**: bursts of a quarter of the window, with at most the window of \
             broadcasts not yet received by both members (given in each broker's section: larger \
             for a broker with a longer round trip, as a closed loop carries at most one window \
             per round trip); the figure is broadcasts received on B per wall-clock second (each \
             is one delivery), with the same count per CPU-second of A and B together beside it. \
             Volley's nodes run with an outgoing queue of twice the window per client (its default, \
             1024 frames, closes a client that falls further behind; Node's and python-socketio's \
             queues have no bound).\n\
             - **Added latency**: at a fixed offered rate (one burst per millisecond), for each \
             broadcast B's receive time minus A's receive time (a broadcast B received first \
             counts as 0). Same rate for every server; Volley also at the broker's target rate.\n\n",
        );
        for spec in BROKERS {
            let broker = spec.name;
            if !self.cfg.wants_broker(broker) {
                continue;
            }
            let Some(url) = spec.url else {
                let _ = writeln!(
                    out,
                    "### {broker}\n\nNot measured yet: the adapter is being written. To add it, set \
                     its URL in `BROKERS` (bench/src/scenarios.rs).\n"
                );
                self.checks.push(Check {
                    scenario: format!("cross-node via {broker}"),
                    against: "vs python-socketio".to_owned(),
                    target: "≥ 10×".to_owned(),
                    measured: "–".to_owned(),
                    met: None,
                });
                continue;
            };
            let streams = url.contains("bus=streams");
            let window = spec.window;
            let queue = (2 * window).to_string();
            let probed = spec.probe.map(|script| {
                if let Some(restart) = spec.restart {
                    let _ = restart_broker(&self.env, restart);
                }
                self.log(&format!("cross-node via {broker}: the broker alone"));
                probe_broker(&self.env, script, self.cfg.cross_rate)
            });
            let mut all: Vec<(Kind, Series)> = Vec::new();
            let mut lat_rows = Vec::new();
            let mut p99_common: Vec<(Kind, Series)> = Vec::new();
            let mut broker_notes: Vec<String> = Vec::new();
            let mut gates = Vec::new();
            for kind in self.cfg.servers.clone() {
                let name = kind.cluster_name(url);
                self.log(&format!("cross-node via {broker}: {name}"));
                if kind == Kind::Node && !url.starts_with("redis://") {
                    all.push((kind, Series::failed("no such adapter for Node here")));
                    continue;
                }
                if kind == Kind::Python && streams {
                    all.push((
                        kind,
                        Series::failed("python-socketio has no Redis Streams manager"),
                    ));
                    continue;
                }
                if let Err(why) = self.available(kind) {
                    all.push((kind, Series::failed(why)));
                    continue;
                }
                let extra: &[&str] = match kind {
                    Kind::Volley => &["--queue-capacity", &queue],
                    _ => &[],
                };
                let mut rates = vec![self.cfg.cross_rate];
                if kind == Kind::Volley && spec.target_rate > self.cfg.cross_rate {
                    rates.push(spec.target_rate);
                }
                let mut s = Series::default();
                let mut runs: Vec<loadgen::Cross> = Vec::new();
                let mut broker_share = Vec::new();
                // A broker restarted empty gets fresh servers for every run, and for each of
                // the two phases of a run (its reads slow as its log grows: the second phase
                // would measure what the first left behind); others one pair for everything.
                let (rounds, per_round) = match spec.restart {
                    Some(_) => (2 * self.cfg.runs, 1),
                    None => (1, self.cfg.runs),
                };
                let mut gate = StealGate::new(self.cfg.runs);
                let mut round = 0;
                while round < rounds {
                    let (full_speed, phase_rates): (bool, &[f64]) = match spec.restart {
                        Some(_) if round % 2 == 0 => (true, &[]),
                        Some(_) => (false, &rates),
                        None => (true, &rates),
                    };
                    if let Some(script) = spec.restart {
                        if let Err(why) = restart_broker(&self.env, script) {
                            s.failure = Some(why);
                            break;
                        }
                    }
                    let broker_pid = procfs::find_process(spec.process);
                    let prefix = self.new_prefix();
                    let (a, b) = match (
                        servers::start_with(
                            &self.env,
                            self.env.server_core,
                            kind,
                            url,
                            &prefix,
                            extra,
                        ),
                        servers::start_with(
                            &self.env,
                            self.env.loadgen_core,
                            kind,
                            url,
                            &prefix,
                            extra,
                        ),
                    ) {
                        (Ok(a), Ok(b)) => (a, b),
                        (a, b) => {
                            let why = [a.as_ref().err(), b.as_ref().err()]
                                .into_iter()
                                .flatten()
                                .map(|e| e.to_string())
                                .collect::<Vec<_>>()
                                .join("; ");
                            if let Ok(a) = a {
                                self.servers_cpu += a.stop();
                            }
                            if let Ok(b) = b {
                                self.servers_cpu += b.stop();
                            }
                            s.failure = Some(why);
                            break;
                        }
                    };
                    // the broker's CPU is shown, not counted: it is the same broker for everyone
                    let pids = [a.pid, b.pid];
                    let mut left = per_round;
                    // a run set aside for steal, whose round (broker restart and all) is redone
                    let mut redo_round = false;
                    while left > 0 {
                        let broker0 = broker_pid.map(|p| procfs::cpu_seconds(Some(p)));
                        let t0 = std::time::Instant::now();
                        match loadgen::cross_node(
                            &Target::local(a.port),
                            &Target::local(b.port),
                            &pids,
                            window,
                            phase_rates,
                            full_speed,
                            warmup,
                            duration,
                        )
                        .await
                        {
                            Ok(c) => {
                                let steal = c
                                    .latencies
                                    .iter()
                                    .map(|l| l.latency.window.steal)
                                    .fold(0.0, f64::max);
                                if c.latencies.is_empty() || gate.keep(steal) {
                                    if full_speed {
                                        s.values.push(c.rate.per_sec());
                                        s.wall.push(c.rate.per_cpu_sec());
                                        s.server.push(c.rate.server_share());
                                        s.loadgen.push(c.rate.window.loadgen_share);
                                    }
                                    s.errors += c.errors;
                                    runs.push(c);
                                    left -= 1;
                                } else if spec.restart.is_some() {
                                    redo_round = true;
                                    left = 0;
                                }
                            }
                            Err(e) => {
                                s.failure = Some(e.to_string());
                                break;
                            }
                        }
                        if let (Some(p), Some(c0)) = (broker_pid, broker0) {
                            broker_share.push(
                                (procfs::cpu_seconds(Some(p)) - c0) / t0.elapsed().as_secs_f64(),
                            );
                        }
                    }
                    self.servers_cpu += a.stop() + b.stop();
                    if let (Some(_), Some(p)) = (spec.restart, broker_pid) {
                        // a broker started by the harness: all its work is the harness's
                        self.servers_cpu += procfs::cpu_seconds(Some(p));
                    }
                    if s.failure.is_some() {
                        break;
                    }
                    if !redo_round {
                        round += 1;
                    }
                }
                gates.push((name.clone(), gate));
                for (i, rate) in rates.iter().enumerate() {
                    let ls: Vec<&loadgen::CrossLatency> =
                        runs.iter().filter_map(|c| c.latencies.get(i)).collect();
                    if ls.is_empty() {
                        continue;
                    }
                    let m =
                        |q: f64| median(&ls.iter().map(|l| l.latency.us(q)).collect::<Vec<_>>());
                    if i == 0 {
                        p99_common.push((
                            kind,
                            Series {
                                values: ls.iter().map(|l| l.latency.us(0.99)).collect(),
                                ..Series::default()
                            },
                        ));
                    }
                    lat_rows.push(vec![
                        name.clone(),
                        format!("{}/s", num(*rate)),
                        format!("{} µs", num(m(0.5))),
                        format!("**{} µs**", num(m(0.99))),
                        p99_of_runs(ls.iter().map(|l| &l.latency)),
                        format!("{} µs", num(m(0.999))),
                        format!(
                            "{}/s",
                            num(median(
                                &ls.iter().map(|l| l.latency.achieved).collect::<Vec<_>>()
                            ))
                        ),
                        pct(median(
                            &ls.iter()
                                .map(|l| {
                                    l.latency.window.server_cpu
                                        / l.latency.window.wall.as_secs_f64().max(1e-9)
                                })
                                .collect::<Vec<_>>(),
                        )),
                        steal::of_runs(ls.iter().map(|l| &l.latency)),
                        ls.iter().map(|l| l.b_first).sum::<u64>().to_string(),
                        ls.iter().map(|l| l.lost).sum::<u64>().to_string(),
                    ]);
                }
                if !broker_share.is_empty() {
                    broker_notes.push(format!("{name}: {}", pct(median(&broker_share))));
                }
                all.push((kind, s));
            }
            let rows = self.comparison_rows(
                Better::Higher,
                &all,
                |v| format!("{}/s", num(v)),
                |s| {
                    vec![
                        num(median(&s.wall)),
                        pct(median(&s.server)),
                        pct(median(&s.loadgen)),
                        s.errors.to_string(),
                    ]
                },
            );
            let scenario = format!("cross-node via {broker}");
            self.ratio_checks(
                &scenario,
                Better::Higher,
                &all,
                match broker {
                    "Redis" => Some((5.0, "≥ 5× Node + redis-adapter")),
                    "Redis Streams" => Some((5.0, "≥ 5× Node + redis-streams-adapter")),
                    _ => None,
                },
                // python-socketio has no streams manager: nothing to compare with
                (!streams).then_some(10.0),
            );
            // the broker's targets: a rate, and an added latency p99 at that rate
            let volley_rate = all
                .iter()
                .find(|(k, _)| *k == Kind::Volley)
                .and_then(|(_, s)| s.median());
            self.checks.push(Check {
                scenario: scenario.clone(),
                against: "absolute".to_owned(),
                target: format!("≥ {} broadcasts/s", num(spec.target_rate)),
                measured: volley_rate.map_or("–".to_owned(), |v| format!("{}/s", num(v))),
                met: volley_rate.map(|v| v >= spec.target_rate),
            });
            let volley_name = Kind::Volley.cluster_name(url);
            let target_rate = format!("{}/s", num(spec.target_rate));
            let at_target = lat_rows
                .iter()
                .find(|r| r[0] == volley_name && r[1] == target_rate)
                .map(|r| r[3].trim_matches('*').to_owned());
            let at_target_us = at_target.as_ref().and_then(|s| {
                s.trim_end_matches(" µs")
                    .replace(',', "")
                    .parse::<f64>()
                    .ok()
            });
            self.checks.push(Check {
                scenario: scenario.clone(),
                against: "absolute".to_owned(),
                target: format!(
                    "added latency p99 < {} ms at {target_rate}",
                    num(spec.target_p99_us / 1000.0)
                ),
                measured: at_target.unwrap_or_else(|| "–".to_owned()),
                met: at_target_us.map(|us| us < spec.target_p99_us),
            });
            let volley_p99 = p99_common
                .iter()
                .find(|(k, _)| *k == Kind::Volley)
                .map(|(_, s)| median(&s.values));
            for (kind, s) in &p99_common {
                if *kind == Kind::Volley {
                    continue;
                }
                if let Some(v) = volley_p99 {
                    let adv = advantage(Better::Lower, v, median(&s.values));
                    self.checks.push(Check {
                        scenario: scenario.clone(),
                        against: format!("added latency p99 vs {}", kind.name()),
                        target: "no target".to_owned(),
                        measured: times(adv),
                        met: None,
                    });
                }
            }
            let _ = writeln!(
                out,
                "### {broker}\n\nWindow: {} broadcasts in flight, bursts of {}.\n",
                num(window as f64),
                window / 4
            );
            report::table(
                &mut out,
                &[
                    "cluster",
                    "broadcasts/s received on B (median)",
                    "runs",
                    "Volley's advantage",
                    "per CPU-s of A + B",
                    "A + B CPU",
                    "load generator CPU",
                    "lost connections",
                ],
                &rows
                    .into_iter()
                    .map(|mut r| {
                        if let Some(kind) = Kind::ALL.iter().find(|k| k.name() == r[0]) {
                            r[0] = kind.cluster_name(url);
                        }
                        r
                    })
                    .collect::<Vec<_>>(),
            );
            let _ = write!(out, "Added latency (B minus A). {}", steal::COLUMN);
            report::table(
                &mut out,
                &[
                    "cluster",
                    "offered",
                    "p50",
                    "p99 (median)",
                    "p99 of each run",
                    "p99.9",
                    "pairs measured",
                    "A + B CPU",
                    "steal",
                    "B first",
                    "not received on B",
                ],
                &lat_rows,
            );
            out.push_str(&steal::sentence(&gates));
            if !broker_notes.is_empty() {
                let _ = writeln!(
                    out,
                    "{broker}'s CPU share over the runs (whole run, both phases): {}.\n",
                    broker_notes.join("; ")
                );
            }
            let _ = writeln!(
                out,
                "The broker is the machine's `{}`, not pinned; its CPU is not counted in the \
                 per-CPU-second figures.{}\n",
                spec.process,
                spec.restart.map_or(String::new(), |script| format!(
                    " It is restarted empty (`{script}`), with fresh servers, before each run and \
                     before each of its two phases (broadcasts/s, added latency): its speed \
                     depends on how much it holds."
                ))
            );
            if let (Some(script), Some(line)) = (spec.probe, probed) {
                let _ = writeln!(
                    out,
                    "The broker alone, without any Socket.IO server (`bench/{script}`, a producer \
                     and a consumer through an empty broker at the same offered rate as above): \
                     {line}.\n"
                );
            }
            if let Some(note) = spec.latency_note {
                let _ = writeln!(out, "{note}\n");
            }
            out.push_str(&self.missed_sentences(&scenario));
        }
        self.sections.push_str(&out);
    }

    fn document(&self, load: Option<MachineLoad>, took: Duration) -> String {
        let mut out = String::from("# Benchmarks\n\n");
        let _ = write!(
            out,
            "Generated by `bench/run.sh{}` (`cargo run --release -p volley-bench -- run`) on {}. \
             Do not edit by hand: run it again.\n\n",
            if self.cfg.quick { " --quick" } else { "" },
            now_utc()
        );
        let _ = writeln!(out, "- Machine: {}.", procfs::machine());
        let _ = match load {
            Some(MachineLoad { others, steal, .. }) => writeln!(
                out,
                "- Other work on the machine during the run: {:.2} cores busy on average besides \
                 the servers, the broker and the load generator, {:.2} of them steal (time the \
                 hypervisor gave other guests while this machine's cores waited){}; the run took \
                 {}.",
                others,
                steal,
                if others > 0.2 {
                    " — **the machine was not idle: treat these figures as provisional**"
                } else {
                    " (idle)"
                },
                secs(took)
            ),
            None => writeln!(
                out,
                "- Other work on the machine during the run: not measured (the run took {}, too \
                 short to tell).",
                secs(took)
            ),
        };
        if let Some(MachineLoad {
            kdamond: Some(cpu), ..
        }) = load
        {
            let _ = writeln!(
                out,
                "- The kernel's DAMON memory monitor (`kdamond.0`) is active on this machine: \
                 {cpu:.1} CPU-seconds during the run, in bursts of a few milliseconds on either \
                 core (`perf sched timehist` shows them) that delay whatever runs there: latency \
                 percentiles from p99 up move with where they land."
            );
        }
        let _ = writeln!(out, "- Servers: {}.", versions(&self.env));
        let _ = writeln!(
            out,
            "- Pinning: {}.",
            match self.env.server_core {
                Some(c) =>
                    format!("servers on core {c}, the load generator on another core (`taskset`)"),
                None => "none (fewer than 2 cores)".to_owned(),
            }
        );
        let _ = writeln!(
            out,
            "- Priority: {}.",
            match self.env.niceness {
                Some(n) => format!(
                    "the load generator at niceness {n}, and the servers and brokers it starts \
                     with it, so that the machine's other processes run while these wait \
                     instead of preempting them (at the default priority, the machine's \
                     background services took a core from them for 0.1 to 0.3 ms several times \
                     a second, which showed in the latency tails); Redis and RabbitMQ run as \
                     the machine started them"
                ),
                None => "the default: the niceness could not be raised (it needs root or \
                         `CAP_SYS_NICE`), so the machine's other processes may preempt the \
                         servers and the load generator, which shows in the latency tails"
                    .to_owned(),
            }
        );
        let _ = writeln!(
            out,
            "- Method: {} run(s) per figure, medians shown (each run in the \"runs\" column); \
             warm-up {} and {} measured per run where a rate is measured. Throughput is counted \
             per CPU-second of the server (`utime + stime` of `/proc/<pid>/stat`, every thread), \
             latency in HdrHistogram at a fixed offered load, memory as RSS (`VmRSS`) growth per \
             connection. \"Volley's advantage\" is how many times better Volley's median is (more \
             throughput, or less memory or latency). The load generator (Rust, one thread, raw \
             Engine.IO/Socket.IO frames over a minimal WebSocket client) shows its own CPU share \
             (100 % = one core busy: then it, not the server, set the wall-clock pace).\n",
            self.cfg.runs,
            secs(self.cfg.warmup),
            secs(self.cfg.duration)
        );
        out.push_str("## Targets\n\n");
        out.push_str(
            "The targets: ratios against Node socket.io and python-socketio on this machine, and \
             absolute figures for cross-node delivery through one local Redis, RabbitMQ and \
             Kafka.\n\n",
        );
        let rows: Vec<Vec<String>> = self.checks.iter().map(Check::row).collect();
        report::table(
            &mut out,
            &["scenario", "compared with", "target", "measured", "status"],
            &rows,
        );
        let missed: Vec<String> = self
            .checks
            .iter()
            .filter_map(Check::missed_sentence)
            .collect();
        if missed.is_empty() {
            out.push_str("Every measured target is met.\n\n");
        } else {
            let _ = writeln!(out, "{} target(s) missed:\n", missed.len());
            for m in missed {
                let _ = writeln!(out, "- {m}");
            }
            out.push('\n');
        }
        for why in &self.not_measured {
            let _ = writeln!(out, "Not measured: {why}.\n");
        }
        out.push_str(
            "Node has no RabbitMQ or Kafka adapter of its own here, so those rows compare with \
             python-socketio only.\n\n",
        );
        out.push_str(&self.sections);
        out
    }
}

/// Where the servers' CPU went, in one paragraph: each one's share of kernel time and, from
/// Volley's, the most it could do per CPU-second if its own code cost nothing (the kernel's part
/// is the floor that the operating system sets for the same system calls). `per_cpu` is a
/// series' median figure per server CPU-second; `what` names what it counts.
fn kernel_bound(series: &[(Kind, Series)], what: &str, per_cpu: impl Fn(&Series) -> f64) -> String {
    let measured = |s: &Series| s.failure.is_none() && !s.kernel.is_empty();
    let shares: Vec<String> = series
        .iter()
        .filter(|(_, s)| measured(s))
        .map(|(k, s)| format!("{} {}", k.name(), pct(median(&s.kernel))))
        .collect();
    let Some((_, volley)) = series
        .iter()
        .find(|(k, s)| *k == Kind::Volley && measured(s))
    else {
        return String::new();
    };
    let kernel = median(&volley.kernel);
    let mut out = format!(
        "Share of each server's CPU time spent in the kernel (system time from `/proc`: its \
         system calls and, over loopback, the TCP work of the receiving side as well): {}.",
        shares.join(", ")
    );
    // kernel seconds per CPU-second over the figure per CPU-second: kernel time per unit
    let per_thousand: Vec<String> = series
        .iter()
        .filter(|(_, s)| measured(s) && per_cpu(s) > 0.0)
        .map(|(k, s)| {
            let ms = median(&s.kernel) / per_cpu(s) * 1e6;
            format!("{} {} ms", k.name(), num(ms))
        })
        .collect();
    if per_thousand.len() > 1 {
        let _ = write!(
            out,
            " Kernel time per 1,000 {what}: {}.",
            per_thousand.join(", ")
        );
    }
    if kernel > 0.0 {
        let ceiling = per_cpu(volley) / kernel;
        let _ = write!(
            out,
            " With that kernel time alone, and none in its own code, Volley would reach at most \
             {} {what} per server CPU-second",
            num(ceiling)
        );
        let ratios: Vec<String> = series
            .iter()
            .filter(|(k, s)| *k != Kind::Volley && s.median().is_some())
            .map(|(k, s)| format!("{} {}'s figure", times(ceiling / per_cpu(s)), k.name()))
            .collect();
        if ratios.is_empty() {
            out.push('.');
        } else {
            let _ = write!(out, ": {}.", ratios.join(" and "));
        }
    }
    out.push_str("\n\n");
    out
}

/// Each run's p99, in run order: "430 / 512 / 1,534 µs".
fn p99_of_runs<'a>(runs: impl IntoIterator<Item = &'a Latency>) -> String {
    let each: Vec<String> = runs.into_iter().map(|l| num(l.us(0.99))).collect();
    format!("{} µs", each.join(" / "))
}

/// A series' median count of packets per delivery, to two decimals ("–" when not counted).
fn packets(s: &Series) -> String {
    if s.packets.is_empty() {
        "–".to_owned()
    } else {
        format!("{:.2}", median(&s.packets))
    }
}

/// Says what the packets-per-delivery column counts and, when every server sent each delivery
/// in a packet of its own, that the kernel's cost of a packet is then paid per delivery by all
/// of them alike.
fn packets_paragraph(series: &[(Kind, Series)]) -> String {
    let mut out =
        "Packets per delivery: TCP packets carrying data (`data_segs_in` of `ss -ti`) that \
                   the members' connections received, per `msg` they read, over each run and its \
                   warm-up. Below 1 when a server wrote several messages to a member with one \
                   system call, so that they travelled in one packet; 1 when each travelled in a \
                   packet of its own."
            .to_owned();
    let counted: Vec<f64> = series
        .iter()
        .filter(|(_, s)| s.failure.is_none() && !s.packets.is_empty())
        .map(|(_, s)| median(&s.packets))
        .collect();
    if counted.len() > 1 && counted.iter().all(|&p| p >= SEPARATE_PACKETS) {
        out.push_str(
            " Here every server sent each delivery in a packet of its own: each paid the \
             kernel's whole cost of a packet (over loopback, the receiving side's as well) for \
             every delivery, a cost that a server's own code cannot lower without holding messages \
             back, and that narrows the ratios between them.",
        );
    }
    out.push_str("\n\n");
    out
}

/// Packets per delivery from which a server counts as sending every delivery on its own.
const SEPARATE_PACKETS: f64 = 0.9;

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{:.0} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    } else if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or("an unknown date".to_owned(), |s| s.trim().to_owned())
}

fn command_line(prog: &str, args: &[&str], dir: &std::path::Path) -> Option<String> {
    let o = std::process::Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The versions of the servers compared.
fn versions(env: &Env) -> String {
    let node_dir = env.bench_dir.join("baselines/node");
    let py_dir = env.bench_dir.join("baselines/python");
    let mut parts = vec![format!(
        "Volley {} (release build)",
        env!("CARGO_PKG_VERSION")
    )];
    let node = command_line("node", &["--version"], &node_dir).unwrap_or_default();
    let sio = command_line(
        "node",
        &[
            "-p",
            "const v = (p) => require(p + '/package.json').version; \
             v('socket.io') + ' / redis-adapter ' + v('@socket.io/redis-adapter') + \
             ' / redis-streams-adapter ' + v('@socket.io/redis-streams-adapter')",
        ],
        &node_dir,
    );
    if let Some(v) = sio {
        parts.push(format!("Node {node} with socket.io {v}"));
    }
    let py = command_line(
        ".venv/bin/python",
        &[
            "-c",
            "import sys, socketio, engineio, uvicorn; from importlib.metadata import version as v; \
             print('Python %d.%d.%d with python-socketio %s, uvicorn %s' % (sys.version_info[:3] + (v('python-socketio'), uvicorn.__version__)))",
        ],
        &py_dir,
    );
    if let Some(v) = py {
        parts.push(v);
    }
    parts.join("; ")
}

/// Runs `script` (a command line, from the repository root) and waits for it.
fn restart_broker(env: &Env, script: &str) -> Result<(), String> {
    let root = env.bench_dir.parent().unwrap_or(&env.bench_dir);
    let mut words = script.split_whitespace();
    let program = words.next().ok_or("empty restart command")?;
    let status = std::process::Command::new("bash")
        .arg(program)
        .args(words)
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{script}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{script} failed ({status})"))
    }
}

/// Runs the broker probe `script` (from `bench/`, with the python baseline's interpreter) at
/// `rate` messages/s and returns the line it printed, or why it failed.
fn probe_broker(env: &Env, script: &str, rate: f64) -> String {
    let python = env.bench_dir.join("baselines/python/.venv/bin/python");
    let output = std::process::Command::new(&python)
        .arg(env.bench_dir.join(script))
        .args([format!("{rate:.0}"), "3".to_owned()])
        .output();
    match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(o) => format!(
            "the probe failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("the probe could not start ({}): {e}", python.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64], kernel: &[f64]) -> Series {
        Series {
            values: values.to_vec(),
            kernel: kernel.to_vec(),
            ..Series::default()
        }
    }

    #[test]
    fn kernel_bound_is_the_figure_over_the_kernel_share() {
        let all = vec![
            (
                Kind::Volley,
                series(&[90_000.0, 100_000.0, 110_000.0], &[0.5, 0.5, 0.6]),
            ),
            (Kind::Node, series(&[40_000.0], &[0.25])),
            (Kind::Python, series(&[8_000.0], &[0.2])),
        ];
        let text = kernel_bound(&all, "deliveries", |s| median(&s.values));
        assert!(
            text.contains("Volley 50 %, Node socket.io 25 %, python-socketio 20 %"),
            "{text}"
        );
        // 0.5 kernel seconds per 100,000 deliveries is 5 ms per 1,000; 0.25 per 40,000, 6.25 ms
        assert!(
            text.contains(
                "per 1,000 deliveries: Volley 5.00 ms, Node socket.io 6.25 ms, python-socketio 25.0 ms"
            ),
            "{text}"
        );
        // 100,000 per CPU-second with half of it in the kernel: at most 200,000, five times
        // Node's 40,000
        assert!(
            text.contains(
                "at most 200,000 deliveries per server CPU-second: 5.0× Node socket.io's figure and \
                 25× python-socketio's figure."
            ),
            "{text}"
        );
    }

    #[test]
    fn packets_paragraph_says_when_every_delivery_is_a_packet() {
        let with = |packets: &[f64]| Series {
            packets: packets.to_vec(),
            ..Series::default()
        };
        let each = vec![
            (Kind::Volley, with(&[1.0, 0.98, 1.01])),
            (Kind::Node, with(&[1.0])),
        ];
        assert!(packets_paragraph(&each).contains("a packet of its own: each paid"));
        let batched = vec![(Kind::Volley, with(&[0.2])), (Kind::Node, with(&[1.0]))];
        assert!(!packets_paragraph(&batched).contains("each paid"));
        assert_eq!(packets(&with(&[0.25, 0.1, 0.3])), "0.25");
        assert_eq!(packets(&Series::default()), "–");
    }

    #[test]
    fn kernel_bound_needs_volley_measured() {
        let all = vec![
            (Kind::Volley, Series::failed("not installed")),
            (Kind::Node, series(&[40.0], &[0.25])),
        ];
        assert_eq!(kernel_bound(&all, "deliveries", |s| median(&s.values)), "");
    }
}
