//! The HTML report: one self-contained page (inline CSS, no scripts, no external asset)
//! rendered by minijinja from `report.html`, embedded at build time. Must never mark tool
//! text safe: the template's name ends in .html, so minijinja escapes every value.

use minijinja::{context, Environment};
use serde::Serialize;

use super::{Report, ReportError};

const TEMPLATE: &str = include_str!("report.html");

#[derive(Serialize)]
struct FindingView<'a> {
    severity: &'static str,
    title: &'a str,
    tool: &'a str,
    location: String,
    cve: &'a [String],
    detail: &'a str,
    evidence: &'a str,
    fingerprint: &'a str,
    first_seen: Option<&'a str>,
    last_seen: Option<&'a str>,
}

#[derive(Serialize)]
struct Count {
    severity: &'static str,
    count: usize,
}

pub fn render(report: &Report) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let findings: Vec<FindingView> = report
        .findings
        .iter()
        .map(|f| FindingView {
            severity: f.severity.as_str(),
            title: &f.title,
            tool: &f.tool,
            location: report.location(f),
            cve: &f.cve,
            detail: &f.detail,
            evidence: &f.evidence,
            fingerprint: &f.fingerprint,
            first_seen: f.first_seen.as_deref(),
            last_seen: f.last_seen.as_deref(),
        })
        .collect();
    let counts: Vec<Count> = report
        .counts()
        .into_iter()
        .map(|(s, count)| Count {
            severity: s.as_str(),
            count,
        })
        .collect();
    let page = env.get_template("report.html")?.render(context! {
        version => env!("CARGO_PKG_VERSION"),
        targets => report.targets(),
        scans => &report.scans,
        counts => counts,
        total => report.findings.len(),
        hosts => &report.hosts,
        services => &report.services,
        findings => findings,
    })?;
    Ok(page)
}
