//! Room fan-out: deliveries per server CPU-second of `msg` emitted to one big room, or to many
//! small rooms in turn (the `fanout` and `rooms` scenarios).

use super::{kernel_bound, Bench, Series};
use crate::loadgen::{self, sio::Target};
use crate::report::{self, median, num, pct, prose, Better};
use crate::servers::Kind;

impl Bench {
    /// `members` clients over `rooms` rooms, `fanout` events to the rooms in turn with at most
    /// `window` messages not yet delivered.
    pub(super) async fn fanout(&mut self, members: usize, rooms: usize, window: u64) {
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let title = if rooms == 1 {
            format!("room fan-out (1 room × {members})")
        } else {
            format!("room fan-out ({rooms} rooms × {})", members / rooms)
        };
        let mut all = Vec::new();
        for kind in self.cfg.servers.clone() {
            self.log(&format!("{title}: {}", kind.name()));
            let server = match self.start_memory(kind) {
                Ok(server) => server,
                Err(why) => {
                    all.push((kind, Series::failed(why)));
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
        let mut out = prose::fanout(&title, members, rooms, window, warmup, duration);
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
}

/// A series' median count of packets per delivery, to two decimals ("–" when not counted).
fn packets(s: &Series) -> String {
    if s.packets.is_empty() {
        "–".to_owned()
    } else {
        format!("{:.2}", median(&s.packets))
    }
}

/// The paragraph on the packets-per-delivery column ([`prose::packets`]) from the servers'
/// series.
fn packets_paragraph(series: &[(Kind, Series)]) -> String {
    let counted: Vec<f64> = series
        .iter()
        .filter(|(_, s)| s.failure.is_none() && !s.packets.is_empty())
        .map(|(_, s)| median(&s.packets))
        .collect();
    prose::packets(&counted)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
