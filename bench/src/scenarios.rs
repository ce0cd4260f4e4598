//! The benchmark scenarios, run against Volley and the baselines, and the report they make.
//!
//! Every scenario starts its servers fresh, pinned to the server core, measures after a warm-up,
//! several runs, and keeps the medians. Throughput is counted per CPU-second of the server
//! (read from `/proc/<pid>/stat`), so that a load generator slower than the server cannot flatter
//! or hide it; the wall-clock rate and both CPU shares are shown beside it.
//!
//! Each scenario is a file of its own under `scenarios/`: `idle` connections, connect `storm`,
//! ack `echo`, room `fanout` (one big room, and many small ones), `cross`-node broadcast through
//! each of the [`BROKERS`], `emitter` → client latency, and the [`floods`]. The words of the
//! report around their tables are in [`crate::report`].
//!
//! The floods ([`floods`]) are the exception: Volley alone, one abusive client per flood, and
//! the node's RSS growth rather than a rate.

use std::fmt::Write as _;
use std::time::Duration;

use crate::loadgen::{Latency, Rate};
use crate::procfs;
use crate::report::header::{self, MachineLoad};
use crate::report::prose::{self, KernelTime};
use crate::report::{advantage, median, num, times, Better, Check};
use crate::servers::{self, Env, Kind};

mod compression;
mod cross;
mod echo;
mod emitter;
mod fanout;
pub mod floods;
pub mod forward;
mod idle;
pub mod rooms;
mod storm;

pub use cross::{broker_key, Broker, BROKERS};

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

    /// A fresh server of `kind` on the in-memory adapter, or why there is none: not installed,
    /// or it did not start.
    fn start_memory(&mut self, kind: Kind) -> Result<servers::Server, String> {
        self.available(kind)?;
        self.start(kind, "memory").map_err(|e| e.to_string())
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
        let run = header::Run {
            env: &self.env,
            quick: self.cfg.quick,
            runs: self.cfg.runs,
            warmup: self.cfg.warmup,
            duration: self.cfg.duration,
            load,
            took,
        };
        header::document(&run, &self.checks, &self.not_measured, &self.sections)
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
}

/// Where the servers' CPU went ([`prose::kernel_bound`]), from the series of each server in
/// `series` measured with its kernel time. `per_cpu` is a series' median figure per server
/// CPU-second; `what` names what it counts.
fn kernel_bound(series: &[(Kind, Series)], what: &str, per_cpu: impl Fn(&Series) -> f64) -> String {
    let measured: Vec<KernelTime<'_>> = series
        .iter()
        .filter(|(_, s)| s.failure.is_none() && !s.kernel.is_empty())
        .map(|(k, s)| KernelTime {
            server: k.name(),
            volley: *k == Kind::Volley,
            kernel: median(&s.kernel),
            per_cpu: per_cpu(s),
        })
        .collect();
    prose::kernel_bound(&measured, what)
}

/// Each run's p99, in run order: "430 / 512 / 1,534 µs".
fn p99_of_runs<'a>(runs: impl IntoIterator<Item = &'a Latency>) -> String {
    let each: Vec<String> = runs.into_iter().map(|l| num(l.us(0.99))).collect();
    format!("{} µs", each.join(" / "))
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
    fn kernel_bound_needs_volley_measured() {
        let all = vec![
            (Kind::Volley, Series::failed("not installed")),
            (Kind::Node, series(&[40.0], &[0.25])),
        ];
        assert_eq!(kernel_bound(&all, "deliveries", |s| median(&s.values)), "");
    }
}
