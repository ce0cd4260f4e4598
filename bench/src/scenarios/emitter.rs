//! The emitter → client scenario: publish-to-receive latency of events published
//! into Redis in the format of Node's `@socket.io/redis-emitter`, read by clients of one server.

use super::{p99_of_runs, Bench};
use crate::loadgen::emitter::{emitter_latency, redis_floor, EmitterLatency, EmitterLoad, ROOM};
use crate::loadgen::{sio::Target, PAYLOAD};
use crate::procfs;
use crate::report::{self, advantage, median, num, pct, prose, times, Better, Check};
use crate::servers::{self, Kind};
use crate::steal;

/// The broker the emitter publishes on and the servers' adapter listens to.
const REDIS: &str = "redis://127.0.0.1:6379";
/// Emits per second.
const RATE: f64 = 2_000.0;
/// Clients in the room.
const CLIENTS: usize = 10;
/// The scenario's name in the targets table.
const SCENARIO: &str = "emitter → client p99 latency";

impl Bench {
    /// Emitter → client: for each server, one process on the server core with the Redis
    /// adapter, [`CLIENTS`] clients in one room, and the load generator publishing to that room
    /// with `volley-emitter` at [`RATE`] emits per second.
    pub(super) async fn emitter(&mut self) {
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let broker = procfs::find_process("redis-server");
        let mut results: Vec<(Kind, Vec<EmitterLatency>, Option<String>)> = Vec::new();
        let mut gates = Vec::new();
        for kind in self.cfg.servers.clone() {
            if kind == Kind::Python {
                results.push((
                    kind,
                    Vec::new(),
                    Some("not measured (its emitter format is its own)".to_owned()),
                ));
                continue;
            }
            self.log(&format!("emitter → client: {}", kind.name()));
            if let Err(why) = self.available(kind) {
                results.push((kind, Vec::new(), Some(why)));
                continue;
            }
            // Node's adapter takes the prefix as its key; Volley is told to accept emitter
            // input on that key too (its own channels keep the prefix, as in the other
            // scenarios)
            let prefix = self.new_prefix();
            let extra: &[&str] = match kind {
                Kind::Volley => &["--emitter-key", &prefix],
                _ => &[],
            };
            let server = match servers::start_with(
                &self.env,
                self.env.server_core,
                kind,
                REDIS,
                &prefix,
                extra,
            ) {
                Ok(server) => server,
                Err(e) => {
                    results.push((kind, Vec::new(), Some(e.to_string())));
                    continue;
                }
            };
            let target = Target::local(server.port);
            let load = EmitterLoad {
                redis_url: REDIS,
                key: &prefix,
                clients: CLIENTS,
                rate: RATE,
                warmup,
                duration,
            };
            let (runs, failure, gate) = steal::gated_runs(
                self.cfg.runs,
                |r: &EmitterLatency| r.latency.window.steal,
                || emitter_latency(&target, server.pid, broker, &load),
            )
            .await;
            self.servers_cpu += server.stop();
            results.push((kind, runs, failure.map(|e| e.to_string())));
            gates.push((kind.cluster_name(REDIS), gate));
        }
        self.log("emitter → client: the emitter and Redis alone");
        let floor_load = EmitterLoad {
            redis_url: REDIS,
            key: &self.new_prefix(),
            clients: 1,
            rate: RATE,
            warmup,
            duration,
        };
        let (mut floor, failure, gate) = steal::gated_runs(
            self.cfg.runs,
            |r: &EmitterLatency| r.latency.window.steal,
            || redis_floor(broker, &floor_load),
        )
        .await;
        if let Some(e) = failure {
            self.log(&format!("the floor could not be measured: {e}"));
            floor.clear();
        }

        let p99 = |runs: &[EmitterLatency]| {
            median(&runs.iter().map(|r| r.latency.us(0.99)).collect::<Vec<_>>())
        };
        let measured = |k: Kind| {
            results
                .iter()
                .find(|(kind, runs, f)| *kind == k && f.is_none() && !runs.is_empty())
                .map(|(_, runs, _)| p99(runs))
        };
        let volley_p99 = measured(Kind::Volley);
        let mut rows = Vec::new();
        let mut failed_publishes = 0;
        for (kind, runs, failure) in &results {
            let mut row = vec![kind.cluster_name(REDIS)];
            let failure = failure
                .clone()
                .or_else(|| runs.is_empty().then(|| "no result".to_owned()));
            if let Some(f) = failure {
                row.push(f);
                row.extend(std::iter::repeat_n(String::new(), 10));
                rows.push(row);
                continue;
            }
            let m = |f: &dyn Fn(&EmitterLatency) -> f64| {
                median(&runs.iter().map(f).collect::<Vec<_>>())
            };
            let us = |q: f64| m(&|r: &EmitterLatency| r.latency.us(q));
            row.push(format!("{} µs", num(us(0.5))));
            row.push(format!("**{} µs**", num(us(0.99))));
            row.push(p99_of_runs(runs.iter().map(|r| &r.latency)));
            row.push(format!("{} µs", num(us(0.999))));
            row.push(match (kind, volley_p99) {
                (Kind::Volley, _) => "—".to_owned(),
                (_, Some(v)) => times(advantage(Better::Lower, v, us(0.99))),
                _ => "–".to_owned(),
            });
            row.push(format!("{}/s", num(m(&|r| r.latency.achieved))));
            row.push(pct(m(&|r| {
                r.latency.window.server_cpu / r.latency.window.wall.as_secs_f64().max(1e-9)
            })));
            row.push(pct(m(&|r| r.latency.window.loadgen_share)));
            row.push(pct(m(&|r| r.broker_share)));
            row.push(steal::of_runs(runs.iter().map(|r| &r.latency)));
            row.push(runs.iter().map(|r| r.not_received).sum::<u64>().to_string());
            failed_publishes += runs.iter().map(|r| r.failed_publishes).sum::<u64>();
            rows.push(row);
        }
        if self.cfg.servers.contains(&Kind::Node) {
            let adv = match (volley_p99, measured(Kind::Node)) {
                (Some(v), Some(n)) => advantage(Better::Lower, v, n),
                _ => f64::NAN,
            };
            self.checks.push(Check::ratio(
                SCENARIO,
                "vs Node socket.io",
                "≤ ⅓ of Node's p99",
                adv,
                3.0,
            ));
        }

        let mut out = prose::emitter(&prose::EmitterSetup {
            redis: REDIS,
            clients: CLIENTS,
            room: ROOM,
            payload: PAYLOAD.len(),
            rate: RATE,
            warmup,
            duration,
        });
        report::table(
            &mut out,
            &[
                "server",
                "p50",
                "p99 (median)",
                "p99 of each run",
                "p99.9",
                "Volley's advantage (p99)",
                &format!("deliveries/s (of {} offered)", num(RATE * CLIENTS as f64)),
                "server CPU",
                "load generator CPU",
                "Redis CPU",
                "steal",
                "not received",
            ],
            &rows,
        );
        gates.push(("the emitter and Redis alone (below)".to_owned(), gate));
        out.push_str(&steal::sentence(&gates));
        out.push_str(&floor_paragraph(&floor, measured(Kind::Node)));
        out.push_str(&prose::failed_publishes(failed_publishes));
        out.push_str(&self.missed_sentences(SCENARIO));
        self.sections.push_str(&out);
    }
}

/// The paragraph on the emitter and Redis alone ([`prose::emitter_floor`]), from its runs.
fn floor_paragraph(floor: &[EmitterLatency], node_p99: Option<f64>) -> String {
    if floor.is_empty() {
        return String::new();
    }
    let us = |q: f64| median(&floor.iter().map(|r| r.latency.us(q)).collect::<Vec<_>>());
    let percentiles = prose::Floor {
        p50: us(0.5),
        p99: us(0.99),
        p999: us(0.999),
        runs: floor.len(),
    };
    prose::emitter_floor(percentiles, node_p99)
}
