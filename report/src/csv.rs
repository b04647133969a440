//! CSV for spreadsheets: one row per finding with its location, written by the `csv` crate
//! (quoting). Must not let tool text become a spreadsheet formula: a cell starting with
//! `=`, `+`, `-`, `@`, tab or CR is prefixed with `'` (the OWASP advice for CSV injection).

use super::{Report, ReportError};

pub const HEADER: [&str; 13] = [
    "severity",
    "title",
    "tool",
    "host",
    "port",
    "location",
    "cve",
    "detail",
    "evidence",
    "fingerprint",
    "first_seen",
    "last_seen",
    "scans",
];

pub fn inert(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

pub fn render(report: &Report) -> Result<String, ReportError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER)?;
    for f in &report.findings {
        let scans: Vec<String> = report
            .scans
            .iter()
            .filter(|s| s.findings.iter().any(|x| x.fingerprint == f.fingerprint))
            .map(|s| s.id.to_string())
            .collect();
        let row = [
            f.severity.as_str().to_string(),
            inert(&f.title),
            inert(&f.tool),
            inert(&f.host),
            f.port.map(|p| p.to_string()).unwrap_or_default(),
            report.location(f),
            f.cve.join(" "),
            inert(&f.detail),
            inert(&f.evidence),
            f.fingerprint.clone(),
            f.first_seen.clone().unwrap_or_default(),
            f.last_seen.clone().unwrap_or_default(),
            scans.join(" "),
        ];
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
