//! Markdown pieces of `BENCHMARKS.md`: numbers, tables, target checks, and the report's words:
//! its head (`report::header`) and the paragraphs of the scenarios' sections
//! (`report::prose`). The scenarios ([`crate::scenarios`]) measure and fill the tables; what the
//! report says about them is written here.

use std::fmt::Write as _;
use std::time::Duration;

pub(crate) mod header;
pub(crate) mod prose;

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// More is better (throughput).
    Higher,
    /// Less is better (memory, latency).
    Lower,
}

/// How many times better `volley` is than `other` (above 1: Volley is better).
pub fn advantage(better: Better, volley: f64, other: f64) -> f64 {
    match better {
        Better::Higher => volley / other.max(1e-12),
        Better::Lower => other / volley.max(1e-12),
    }
}

/// The median (the mean of the two middle values for an even count) of the finite values; NaN
/// for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A number with thousands separators and about three significant digits.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".to_owned();
    }
    let abs = x.abs();
    if abs >= 1000.0 {
        let rounded = x.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if rounded < 0 {
            out.insert(0, '-');
        }
        out
    } else if abs >= 100.0 {
        format!("{x:.0}")
    } else if abs >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A ratio such as `6.2×`.
pub fn times(x: f64) -> String {
    if !x.is_finite() {
        return "–".to_owned();
    }
    if x >= 10.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.1}×")
    }
}

/// A share of one core as a percentage.
pub fn pct(share: f64) -> String {
    if !share.is_finite() {
        return "–".to_owned();
    }
    format!("{:.0} %", share * 100.0)
}

/// Bytes as KB (1000 bytes) with one decimal.
pub fn kb(bytes: f64) -> String {
    if !bytes.is_finite() {
        return "–".to_owned();
    }
    format!("{:.1} KB", bytes / 1000.0)
}

/// A duration in seconds, or minutes and seconds from one minute: "2 s", "0.5 s", "1 min 5 s".
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{:.0} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    } else if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// `s` with its first letter in upper case (a title made from a scenario's name).
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A markdown table.
pub fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        headers.iter().map(|_| " --- |").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

/// One benchmark target (a ratio against a baseline, or an absolute figure), checked against a
/// measurement.
#[derive(Debug, Clone)]
pub struct Check {
    /// The scenario.
    pub scenario: String,
    /// What is compared: "vs Node socket.io", "absolute", ….
    pub against: String,
    /// The target in words.
    pub target: String,
    /// The measured value in words.
    pub measured: String,
    /// Whether it is met (`None`: not measured).
    pub met: Option<bool>,
}

impl Check {
    /// A ratio target: Volley's `advantage` must be at least `min`.
    pub fn ratio(scenario: &str, against: &str, target: &str, advantage: f64, min: f64) -> Check {
        Check {
            scenario: scenario.to_owned(),
            against: against.to_owned(),
            target: target.to_owned(),
            measured: times(advantage),
            met: advantage.is_finite().then_some(advantage >= min),
        }
    }

    /// The table row of this check.
    pub fn row(&self) -> Vec<String> {
        vec![
            self.scenario.clone(),
            self.against.clone(),
            self.target.clone(),
            self.measured.clone(),
            match self.met {
                Some(true) => "met".to_owned(),
                Some(false) => "**missed**".to_owned(),
                None if self.target == "no target" => "—".to_owned(),
                None => "not measured".to_owned(),
            },
        ]
    }

    /// A plain sentence when the target is missed.
    pub fn missed_sentence(&self) -> Option<String> {
        (self.met == Some(false)).then(|| {
            format!(
                "Target missed: {} {}: the target is {}, measured {}.",
                self.scenario, self.against, self.target, self.measured
            )
        })
    }
}
