//! picket-report: stored scans (the daemon's `show` answers) turned into files for other
//! tools, SARIF for code scanning, one self-contained HTML page, Markdown for tickets, CSV
//! for spreadsheets, JUnit XML for CI, and the diff of two scans (`DiffDoc`). Shared by
//! `picket report`/`picket diff` and picketd's `/v1/reports`/`/v1/diff`, so both print the
//! same bytes. Owns the merged view of several scans (`Report`) and the one place a
//! finding's location is spelled. Must not talk to the daemon nor print: callers fetch the
//! scans, and each format returns its text.

mod csv;
pub mod diff;
mod html;
mod junit;
mod markdown;
mod sarif;

pub use diff::diff;

use std::collections::BTreeMap;

use picket_protocol::{Finding, Host, ScanDetail, Service, Severity};

/// The formats `picket report --format` and `/v1/reports?format=` take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Sarif,
    Html,
    Markdown,
    Csv,
    Junit,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Sarif,
        Format::Html,
        Format::Markdown,
        Format::Csv,
        Format::Junit,
    ];

    /// The word `--format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sarif => "sarif",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Junit => "junit",
        }
    }

    /// The media type a report of this format is served as: SARIF's registered one
    /// (application/sarif+json), text types with their charset, JUnit as plain XML (it has
    /// no registered type of its own).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Sarif => "application/sarif+json",
            Format::Html => "text/html; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Junit => "application/xml; charset=utf-8",
        }
    }

    /// A file extension for downloads (`picket-report.sarif`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Sarif => "sarif",
            Format::Html => "html",
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Junit => "xml",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(word: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == word)
            .ok_or_else(|| {
                format!(
                    "unknown report format {word:?}: use one of sarif, html, markdown, csv, junit"
                )
            })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("HTML template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Several scans seen as one: each host, service and finding once (the newest scan's copy
/// wins, so a finding seen in five scans is one row with its latest detail), findings most
/// severe first. The scans themselves stay as they were for per-scan views (JUnit suites).
#[derive(Debug, Clone)]
pub struct Report {
    pub scans: Vec<ScanDetail>,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(mut scans: Vec<ScanDetail>) -> Report {
        scans.sort_by_key(|s| s.id);
        let mut hosts = BTreeMap::new();
        let mut services = BTreeMap::new();
        let mut findings = BTreeMap::new();
        for scan in &scans {
            for h in &scan.hosts {
                hosts.insert(h.address.clone(), h.clone());
            }
            for s in &scan.services {
                services.insert((s.host.clone(), s.port, s.proto.clone()), s.clone());
            }
            for f in &scan.findings {
                findings.insert(f.fingerprint.clone(), f.clone());
            }
        }
        let mut findings: Vec<Finding> = findings.into_values().collect();
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| (&a.host, a.port, &a.title).cmp(&(&b.host, b.port, &b.title)))
        });
        Report {
            scans,
            hosts: hosts.into_values().collect(),
            services: services.into_values().collect(),
            findings,
        }
    }

    /// Findings per severity, most severe first, zeros included (summaries show all five).
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        Severity::ALL
            .iter()
            .rev()
            .map(|s| {
                (
                    *s,
                    self.findings.iter().filter(|f| f.severity == *s).count(),
                )
            })
            .collect()
    }

    /// Where a finding is, as a URI: the service's scheme when one is known on that port
    /// (`https://127.0.0.1:8443/`, `tcp://127.0.0.1:22`), the host alone otherwise.
    pub fn location(&self, f: &Finding) -> String {
        location(&self.services, f)
    }

    /// The scan targets, deduplicated, in scan order.
    pub fn targets(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for t in self.scans.iter().flat_map(|s| &s.targets) {
            if !seen.contains(t) {
                seen.push(t.clone());
            }
        }
        seen
    }
}

pub fn location(services: &[Service], f: &Finding) -> String {
    let host = if f.host.contains(':') && !f.host.starts_with('[') {
        format!("[{}]", f.host)
    } else {
        f.host.clone()
    };
    let Some(port) = f.port else {
        return format!("host://{host}");
    };
    let service = services.iter().find(|s| s.host == f.host && s.port == port);
    let web = |s: &Service| s.name.contains("http") || s.name == "www";
    match service {
        Some(s) if web(s) && (s.tls || s.name.contains("https")) => {
            format!("https://{host}:{port}/")
        }
        Some(s) if web(s) => format!("http://{host}:{port}/"),
        Some(s) if !s.proto.is_empty() => format!("{}://{host}:{port}", s.proto),
        _ => format!("tcp://{host}:{port}"),
    }
}

/// The report in `format`; JUnit fails the findings at or above `fail_on`.
pub fn render(report: &Report, format: Format, fail_on: Severity) -> Result<String, ReportError> {
    match format {
        Format::Sarif => sarif::render(report),
        Format::Html => html::render(report),
        Format::Markdown => Ok(markdown::render(report)),
        Format::Csv => csv::render(report),
        Format::Junit => Ok(junit::render(report, fail_on)),
    }
}

/// What `picket report` and `/v1/reports` say when the ids or the target give no scan.
pub const NOTHING_TO_REPORT: &str = "no scan matches: nothing to report";

/// Whether a scan's creation time is at or after `since` (a date `2026-11-30` or an RFC 3339
/// time): the daemon writes UTC RFC 3339 with a `Z`, which sorts as text.
pub fn created_since(scan: &ScanDetail, since: &str) -> bool {
    scan.created_at.as_str() >= since
}

/// Checks `--since`: a date, optionally followed by a time.
pub fn valid_since(since: &str) -> bool {
    let b = since.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

#[cfg(test)]
pub(crate) mod tests;
