//! Cross-node broadcast: two nodes of one implementation through each broker, broadcasts/s and
//! the latency the second node adds.

use std::fmt::Write as _;

use super::{p99_of_runs, Bench, Series};
use crate::loadgen::{self, sio::Target};
use crate::procfs;
use crate::report::{self, advantage, median, num, pct, prose, times, Better, Check};
use crate::servers::{self, Env, Kind};
use crate::steal::{self, StealGate};

/// One broker of the cross-node scenario and its targets.
#[derive(Debug, Clone, Copy)]
pub struct Broker {
    /// The name in the report.
    pub name: &'static str,
    /// The adapter URL given to every server.
    pub url: &'static str,
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
    url: "redis://127.0.0.1:6379",
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
        url: "redis://127.0.0.1:6379?bus=streams&stream=volley-bench",
        ..REDIS
    },
    // the same server speaking Node's classic adapter protocol (Node's channels and shapes, one
    // message per publish): what joining a Node cluster costs against Volley's own format; Node
    // runs its own adapter, as in the Redis row
    Broker {
        name: "Redis node-protocol",
        url: "redis://127.0.0.1:6379?protocol=node",
        ..REDIS
    },
    Broker {
        name: "RabbitMQ",
        url: "amqp://guest:guest@127.0.0.1:5672",
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
        url: "kafka://127.0.0.1:9092",
        process: "tansu",
        target_rate: 50_000.0,
        target_p99_us: 20_000.0,
        // tansu keeps every record in memory and each fetch slows as the log grows: every
        // server meets the same empty broker
        restart: Some("scripts/kafka.sh restart"),
        probe: Some("baselines/python/kafka_probe.py"),
        latency_note: Some(prose::TANSU_FETCH),
        // its round trip is ~25 ms (tansu): 800 in flight would cap any server at ~32,000/s
        window: 4_000,
    },
    // the machine's nats-server (with JetStream): core NATS subjects, nothing stored; Node and
    // python-socketio have no NATS adapter, their columns say so
    NATS,
    // the same server through one JetStream stream: what storing every message costs
    Broker {
        name: "NATS JetStream",
        url: "nats://127.0.0.1:4222?bus=jetstream&key=volley-bench",
        target_rate: 20_000.0,
        target_p99_us: 10_000.0,
        ..NATS
    },
];

/// Core NATS, and the settings the NATS rows share.
const NATS: Broker = Broker {
    name: "NATS",
    url: "nats://127.0.0.1:4222",
    process: "nats-server",
    target_rate: 50_000.0,
    target_p99_us: 2_000.0,
    restart: None,
    probe: None,
    latency_note: None,
    window: 800,
};

/// A broker's name as `--brokers` takes it: lower case, dashes for spaces (`redis-streams`).
pub fn broker_key(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}

impl Bench {
    /// Each broker asked for, in [`BROKERS`]' order: a pair of nodes per server, broadcasts/s
    /// and the added latency.
    pub(super) async fn cross(&mut self) {
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let mut out = prose::cross();
        for spec in BROKERS {
            let broker = spec.name;
            if !self.cfg.wants_broker(broker) {
                continue;
            }
            let url = spec.url;
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
                if kind != Kind::Volley && url.starts_with("nats://") {
                    let why = match kind {
                        Kind::Node => "Node socket.io has no NATS adapter",
                        _ => "python-socketio has no NATS manager",
                    };
                    all.push((kind, Series::failed(why)));
                    continue;
                }
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
                if kind == Kind::Python && url.contains("protocol=node") {
                    all.push((
                        kind,
                        Series::failed("python-socketio does not speak Node's adapter protocol"),
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
                // python-socketio has no streams manager and no NATS manager: nothing to
                // compare with
                (!streams && !url.starts_with("nats://")).then_some(10.0),
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
            out.push_str(&prose::broker_window(broker, window));
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
            out.push_str(&prose::added_latency());
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
            out.push_str(&prose::broker_cpu(broker, &broker_notes));
            out.push_str(&prose::broker_process(spec.process, spec.restart));
            if let (Some(script), Some(line)) = (spec.probe, probed) {
                out.push_str(&prose::broker_probe(script, &line));
            }
            if let Some(note) = spec.latency_note {
                let _ = writeln!(out, "{note}\n");
            }
            out.push_str(&self.missed_sentences(&scenario));
        }
        self.sections.push_str(&out);
    }
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
