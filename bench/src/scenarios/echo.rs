//! Ack echo: round trips per server CPU-second at full speed, then the latency at two fixed
//! offered rates.

use super::{kernel_bound, p99_of_runs, Bench, Series};
use crate::loadgen::{self, sio::Target, Latency};
use crate::report::{self, advantage, median, num, pct, prose, times, Better};
use crate::servers::Kind;
use crate::steal;

impl Bench {
    /// Ack echo at full speed, then at half and a quarter of Node's maximum.
    pub(super) async fn echo(&mut self) {
        let (conns, depth) = (self.cfg.echo_conns, self.cfg.echo_depth);
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("ack echo, full speed: {}", kind.name()));
            let mut s = Series::default();
            let server = match self.start_memory(kind) {
                Ok(server) => server,
                Err(why) => {
                    all.push((kind, Series::failed(why)));
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
        let mut out = prose::echo(conns, depth, warmup, duration);
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
                    false,
                )
                .await,
        );
        out.push_str(
            &self
                .echo_latency(
                    (half / 2.0).round(),
                    &format!("a quarter of {base_name} maximum"),
                    "ack echo p99 latency at ¼ of the maximum",
                    true,
                )
                .await,
        );
        self.sections.push_str(&out);
    }

    /// Ack echo latency at `rate` round trips/s (`share` says of what) against every server: its
    /// section of the report, whose method is told in full unless this is the table `again` at
    /// half the rate of the one before; the p99 ratios are checked as `check`.
    async fn echo_latency(&mut self, rate: f64, share: &str, check: &str, again: bool) -> String {
        let conns = self.cfg.echo_conns;
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let mut lat: Vec<(Kind, Vec<Latency>, Option<String>)> = Vec::new();
        let mut gates = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("ack echo at {rate}/s: {}", kind.name()));
            let server = match self.start_memory(kind) {
                Ok(server) => server,
                Err(why) => {
                    lat.push((kind, Vec::new(), Some(why)));
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
        let mut out = prose::echo_latency(rate, share, again);
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
}
