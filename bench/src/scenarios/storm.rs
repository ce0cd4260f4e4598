//! Connect storm: connections established per second, a given number connecting at once.

use std::time::Duration;

use super::{kernel_bound, Bench, Series};
use crate::loadgen::{self, sio::Target};
use crate::report::{self, median, num, pct, prose, Better};

impl Bench {
    /// One server per implementation, a warm-up storm, then the measured storms.
    pub(super) async fn storm(&mut self) {
        let (n, conc) = (self.cfg.storm_conns, self.cfg.storm_concurrency);
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("connect storm: {} × {n}", kind.name()));
            let mut s = Series::default();
            let server = match self.start_memory(kind) {
                Ok(server) => server,
                Err(why) => {
                    all.push((kind, Series::failed(why)));
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
        let mut out = prose::storm(n, conc);
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
}
