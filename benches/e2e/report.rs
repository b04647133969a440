//! Figures, their targets and pass marks; the table on stdout and the JSON list.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    AtMost,
    AtLeast,
}

impl Cmp {
    fn as_str(self) -> &'static str {
        match self {
            Cmp::AtMost => "<=",
            Cmp::AtLeast => ">=",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub target: f64,
    pub cmp: Cmp,
    /// What the value was computed from (side-by-side measures, sizes); table only.
    pub detail: String,
}

impl Figure {
    /// One line of the table: name, value, unit, comparison, target, mark.
    fn row(&self) -> String {
        format!(
            "{:<58} {:>12} {:<6} {:>2} {:>9}  {}",
            self.name,
            fmt_value(self.value),
            self.unit,
            self.cmp.as_str(),
            fmt_value(self.target),
            if self.pass() { "pass" } else { "MISS" }
        )
    }

    pub fn pass(&self) -> bool {
        self.value.is_finite()
            && match self.cmp {
                Cmp::AtMost => self.value <= self.target,
                Cmp::AtLeast => self.value >= self.target,
            }
    }
}

#[derive(Default)]
pub struct Report {
    pub figures: Vec<Figure>,
    /// Sections that could not run, with the reason (reported as failures).
    pub failures: Vec<(String, String)>,
}

impl Report {
    pub fn add(
        &mut self,
        name: &str,
        value: f64,
        unit: &str,
        cmp: Cmp,
        target: f64,
        detail: String,
    ) {
        let f = Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            target,
            cmp,
            detail,
        };
        eprintln!("  {}", f.row());
        self.figures.push(f);
    }

    pub fn print_table(&self) {
        println!(
            "{:<58} {:>12} {:<6} {:>12}  {:<4}",
            "figure", "value", "unit", "target", "pass"
        );
        println!("{}", "-".repeat(97));
        for f in &self.figures {
            println!("{}", f.row());
        }
        println!();
        for f in &self.figures {
            if !f.detail.is_empty() {
                println!("{}: {}", f.name, f.detail);
            }
        }
        for (section, why) in &self.failures {
            println!("SECTION FAILED: {section}: {why}");
        }
        let missed = self.figures.iter().filter(|f| !f.pass()).count();
        println!(
            "\n{} figures, {} pass, {} miss{}",
            self.figures.len(),
            self.figures.len() - missed,
            missed,
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(", {} section(s) failed", self.failures.len())
            }
        );
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.figures
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name,
                        "value": round(f.value),
                        "unit": f.unit,
                        "target": f.target,
                        "comparison": f.cmp.as_str(),
                        "pass": f.pass(),
                    })
                })
                .collect(),
        )
    }
}

fn round(v: f64) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let digits = if v.abs() >= 100.0 { 1 } else { 4 };
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Latencies, sorted once, with percentiles.
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut v: Vec<Duration>) -> Samples {
        v.sort_unstable();
        Samples(v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile, p in 0..=100.
    pub fn pct(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn us(&self, p: f64) -> f64 {
        self.pct(p).as_secs_f64() * 1e6
    }

    pub fn ms(&self, p: f64) -> f64 {
        self.pct(p).as_secs_f64() * 1e3
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
