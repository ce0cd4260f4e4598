//! Idle connections: the servers' memory per connection held, at each of the configured sizes.

use std::time::Duration;

use super::{Bench, Series};
use crate::loadgen::{self, sio::Target};
use crate::procfs;
use crate::report::{self, median, pct, prose, Better, Check};
use crate::servers::Kind;

impl Bench {
    /// Idle connections at each of [`Config::idle_sizes`](super::Config::idle_sizes) that the
    /// open-file limit allows.
    pub(super) async fn idle(&mut self) {
        for n in self.cfg.idle_sizes.clone() {
            // The load generator (this process) and each server hold a descriptor per
            // connection; both inherit this process's limit (`bench/run.sh` raises it to the
            // hard limit).
            match procfs::open_file_limit() {
                Some(limit) if limit < n as u64 + 1_000 => {
                    self.not_measured.push(prose::idle_not_measured(n, limit));
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
        let mut out = prose::idle(n);
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
}
