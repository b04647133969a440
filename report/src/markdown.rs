//! Markdown for tickets: a severity summary, a findings table, then each finding's detail
//! in a code fence. Must keep tool text inert: table cells lose pipes and newlines, and a
//! fence is always longer than any backtick run inside it.

use super::Report;

/// One table cell: pipes escaped, line breaks and backticks made harmless.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
        .replace('<', "&lt;")
}

fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

pub fn render(report: &Report) -> String {
    let mut out = format!(
        "# Picket report: {}\n\nScans: {}\n\n## Summary\n\n| Severity | Findings |\n|---|---:|\n",
        cell(&report.targets().join(", ")),
        report
            .scans
            .iter()
            .map(|s| format!("#{} ({}, {})", s.id, s.status, s.created_at))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (sev, n) in report.counts() {
        out.push_str(&format!("| {sev} | {n} |\n"));
    }
    out.push_str(&format!("| **total** | **{}** |\n", report.findings.len()));
    if !report.services.is_empty() {
        out.push_str("\n## Services\n\n| Host | Port | Service | Product | Version |\n|---|---|---|---|---|\n");
        for s in &report.services {
            out.push_str(&format!(
                "| {} | {}/{} | {} | {} | {} |\n",
                cell(&s.host),
                s.port,
                cell(&s.proto),
                cell(&s.name),
                cell(s.product.as_deref().unwrap_or("")),
                cell(s.version.as_deref().unwrap_or(""))
            ));
        }
    }
    out.push_str("\n## Findings\n\n");
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    out.push_str("| Severity | Title | Location | Tool | CVE |\n|---|---|---|---|---|\n");
    for f in &report.findings {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} |\n",
            f.severity,
            cell(&f.title),
            cell(&report.location(f)).replace('`', "'"),
            cell(&f.tool),
            cell(&f.cve.join(", "))
        ));
    }
    for (i, f) in report.findings.iter().enumerate() {
        out.push_str(&format!(
            "\n### {}. [{}] {}\n\n- Location: `{}`\n- Tool: {}\n- Fingerprint: `{}`\n",
            i + 1,
            f.severity,
            cell(&f.title),
            cell(&report.location(f)).replace('`', "'"),
            cell(&f.tool),
            f.fingerprint
        ));
        if !f.cve.is_empty() {
            out.push_str(&format!("- CVE: {}\n", cell(&f.cve.join(", "))));
        }
        if !f.detail.trim().is_empty() {
            let fence = fence(&f.detail);
            out.push_str(&format!("\n{fence}text\n{}\n{fence}\n", f.detail));
        }
    }
    out
}
