//! Latency runs the hypervisor left alone.
//!
//! On a virtual machine the hypervisor may hold a core back while it has work (steal time):
//! for a few milliseconds at a time, during which every message that needs that core waits.
//! Latency percentiles from p99 up then measure the neighbours on the host more than the
//! server: on the benchmark machine, the same server's ack echo p99 went from 1.9 ms in a run
//! with 0.02 cores of steal to 12 ms in one with 0.37. Throughput per server CPU-second does not
//! move with it (steal is not counted as the server's CPU time), so only latency runs are
//! gated.
//!
//! A [`StealGate`] decides, run by run, whether a latency run counts: one with more than
//! [`STEAL_LIMIT`] cores of steal is set aside and run again, up to as many extra runs as were
//! wanted; after that every run counts, steal or not. The report says which runs were set
//! aside and their steal, and the steal of every run that counts is in its table.
//!
//! ```
//! use volley_bench::steal::StealGate;
//!
//! let mut gate = StealGate::new(2);
//! assert!(gate.keep(0.01));
//! assert!(!gate.keep(0.40)); // set aside: run it again
//! assert!(gate.keep(0.00));
//! assert!(gate.done());
//! assert_eq!(gate.set_aside(), &[0.40]);
//! ```

use std::future::Future;

use crate::loadgen::Latency;

/// Steal above which a latency run is set aside, in cores (steal seconds per wall-clock second,
/// every core added up): 0.05 is 2.5 % of a two-core machine.
pub const STEAL_LIMIT: f64 = 0.05;

/// Counts the latency runs of one server (or cluster) in one scenario and says whether each
/// one counts.
#[derive(Debug, Clone)]
pub struct StealGate {
    wanted: usize,
    kept: usize,
    extra_left: usize,
    set_aside: Vec<f64>,
}

impl StealGate {
    /// A gate for `wanted` runs, with as many extra runs for those set aside.
    pub fn new(wanted: usize) -> StealGate {
        StealGate {
            wanted,
            kept: 0,
            extra_left: wanted,
            set_aside: Vec::new(),
        }
    }

    /// After a run with `steal` cores of steal: `true` if it counts, `false` if it is set aside
    /// (and should be run again).
    pub fn keep(&mut self, steal: f64) -> bool {
        if steal > STEAL_LIMIT && self.extra_left > 0 {
            self.extra_left -= 1;
            self.set_aside.push(steal);
            false
        } else {
            self.kept += 1;
            true
        }
    }

    /// Whether the wanted runs have been counted.
    pub fn done(&self) -> bool {
        self.kept >= self.wanted
    }

    /// The steal of each run set aside, in order.
    pub fn set_aside(&self) -> &[f64] {
        &self.set_aside
    }
}

/// Runs `run` until `wanted` runs count, setting aside those a [`StealGate`] rejects (`steal`
/// reads a run's steal). Stops at the first error, which comes back beside the runs counted
/// until then; the gate says which runs were set aside.
pub async fn gated_runs<T, E, Fut>(
    wanted: usize,
    steal: impl Fn(&T) -> f64,
    mut run: impl FnMut() -> Fut,
) -> (Vec<T>, Option<E>, StealGate)
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut gate = StealGate::new(wanted);
    let mut runs = Vec::new();
    while !gate.done() {
        match run().await {
            Ok(r) => {
                if gate.keep(steal(&r)) {
                    runs.push(r);
                }
            }
            Err(e) => return (runs, Some(e), gate),
        }
    }
    (runs, None, gate)
}

/// One sentence on the runs set aside, for the report: each gate with the server or cluster
/// it counted runs for.
pub fn sentence(gates: &[(String, StealGate)]) -> String {
    let parts: Vec<String> = gates
        .iter()
        .filter(|(_, g)| !g.set_aside.is_empty())
        .map(|(name, g)| {
            let each: Vec<String> = g.set_aside.iter().map(|s| format!("{s:.2}")).collect();
            format!("{name} {} ({})", g.set_aside.len(), each.join(", "))
        })
        .collect();
    if parts.is_empty() {
        format!(
            "No run was set aside for steal (more than {STEAL_LIMIT:.2} cores of it), so every \
             run is shown.\n\n"
        )
    } else {
        format!(
            "Runs set aside and run again because the hypervisor took more than \
             {STEAL_LIMIT:.2} cores of steal during them (their steal in brackets): {}. At most \
             as many runs as wanted are set aside; after that every run counts.\n\n",
            parts.join("; ")
        )
    }
}

/// Each run's steal, in cores, in run order: "0.01 / 0.12 / 0.02", for a latency table's steal
/// column.
pub fn of_runs<'a>(runs: impl IntoIterator<Item = &'a Latency>) -> String {
    let each: Vec<String> = runs
        .into_iter()
        .map(|l| format!("{:.2}", l.window.steal))
        .collect();
    each.join(" / ")
}

/// What the steal column of a latency table counts, for the paragraph above the table.
pub const COLUMN: &str = "\"Steal\" is the machine's steal time during each run, in cores \
     (time the hypervisor held this machine's cores back while they had work): a core held back \
     for a few milliseconds delays every message that needs it then, so a run with steal has a \
     tail that is partly the machine's.\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_stolen_runs_until_the_extra_runs_are_spent() {
        let mut gate = StealGate::new(2);
        assert!(!gate.keep(0.3));
        assert!(!gate.keep(0.2));
        assert!(!gate.done());
        // no extra runs left: this one counts, steal or not
        assert!(gate.keep(0.4));
        assert!(gate.keep(0.01));
        assert!(gate.done());
        assert_eq!(gate.set_aside(), &[0.3, 0.2]);
    }

    #[test]
    fn the_sentence_names_each_server_with_runs_set_aside() {
        let quiet = StealGate::new(1);
        let mut noisy = StealGate::new(1);
        noisy.keep(0.37);
        let s = sentence(&[
            ("Volley".to_owned(), quiet.clone()),
            ("Node".to_owned(), noisy),
        ]);
        assert!(s.contains("Node 1 (0.37)"), "{s}");
        assert!(!s.contains("Volley"), "{s}");
        let s = sentence(&[("Volley".to_owned(), quiet)]);
        assert!(s.starts_with("No run was set aside"), "{s}");
    }
}
