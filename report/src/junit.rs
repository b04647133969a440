//! JUnit XML for CI: one testsuite per scan, one testcase per finding, failing when the
//! finding is at or above the threshold, passing otherwise; a scan without findings has one
//! passing case, so a suite is never empty. Must escape all tool text (quick-xml's escape).

use std::fmt::Write;

use picket_protocol::{ScanDetail, Severity};
use quick_xml::escape;

use super::{location, Report};

pub fn render(report: &Report, fail_on: Severity) -> String {
    let tests: usize = report.scans.iter().map(cases).sum();
    let failures: usize = report.scans.iter().map(|s| failing(s, fail_on)).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"Picket\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    for scan in &report.scans {
        suite(&mut out, scan, fail_on);
    }
    out.push_str("</testsuites>\n");
    out
}

fn cases(scan: &ScanDetail) -> usize {
    scan.findings.len().max(1)
}

fn failing(scan: &ScanDetail, fail_on: Severity) -> usize {
    scan.findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .count()
}

fn suite(out: &mut String, scan: &ScanDetail, fail_on: Severity) {
    let name = format!("scan {}: {}", scan.id, scan.targets.join(", "));
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" id=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" timestamp=\"{}\">",
        escape(name.as_str()),
        scan.id,
        cases(scan),
        failing(scan, fail_on),
        escape(scan.created_at.as_str()),
    );
    if scan.findings.is_empty() {
        let _ = writeln!(
            out,
            "    <testcase classname=\"picket\" name=\"no findings\"/>"
        );
    }
    let mut findings: Vec<_> = scan.findings.iter().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.title.cmp(&b.title)));
    for f in findings {
        let case = format!(
            "[{}] {} @ {}",
            f.severity,
            f.title,
            location(&scan.services, f)
        );
        let head = format!(
            "    <testcase classname=\"picket.{}\" name=\"{}\"",
            escape(f.tool.as_str()),
            escape(case.as_str())
        );
        if f.severity >= fail_on {
            let _ = writeln!(
                out,
                "{head}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                f.severity,
                escape(f.title.as_str()),
                escape(failure_text(f).as_str())
            );
        } else {
            let _ = writeln!(out, "{head}/>");
        }
    }
    out.push_str("  </testsuite>\n");
}

/// XML-escaped text, without the control characters XML 1.0 cannot carry (tool output may
/// hold ANSI escapes): they would make the whole file unreadable to a CI.
fn escape(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    escape::escape(kept.as_str()).into_owned()
}

fn failure_text(f: &picket_protocol::Finding) -> String {
    let mut text = f.detail.clone();
    if !f.cve.is_empty() {
        let _ = write!(text, "\nCVE: {}", f.cve.join(", "));
    }
    let _ = write!(text, "\nfingerprint: {}", f.fingerprint);
    text
}
