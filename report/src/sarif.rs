//! SARIF 2.1.0 as GitHub code scanning and VS Code's SARIF viewer read it: one run, driver
//! "Picket", one rule per finding kind, levels and `security-severity` from our severities,
//! our fingerprints as `partialFingerprints`, the target URI as location. Must not invent
//! data the finding does not carry; the one exception is `region.startLine` 1, which code
//! scanning needs on every location and the validator asks for (SARIF2017).

use std::collections::BTreeMap;

use picket_protocol::{Finding, Severity};
use serde_json::{json, Value};

use super::{Report, ReportError};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The rule a finding belongs to: its tool and what the tool keyed it by (a script id, a
/// cipher name), else its title; so "weak cipher X on two hosts" is one rule, two results.
pub fn rule_id(f: &Finding) -> String {
    let kind = if f.evidence.trim().is_empty() {
        f.title.trim()
    } else {
        f.evidence.trim()
    };
    format!("{}/{}", f.tool, kind)
}

pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's scale (CVSS-like: 9.0+ critical, 7.0+ high, 4.0+ medium, 0.1+ low); info is
/// 0.0, which GitHub shows without a security label.
pub fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Info => "0.0",
    }
}

pub fn render(report: &Report) -> Result<String, ReportError> {
    // BTreeMap: rule order (and so ruleIndex) is the same for the same findings.
    let mut rules: BTreeMap<String, &Finding> = BTreeMap::new();
    for f in &report.findings {
        let worst = rules.entry(rule_id(f)).or_insert(f);
        if f.severity > worst.severity {
            *worst = f;
        }
    }
    let index: BTreeMap<&str, usize> = rules
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(report, f, index[rule_id(f).as_str()]))
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "Picket",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|(id, f)| rule(id, f)).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": report.scans.iter().all(|s| s.status == picket_protocol::ScanStatus::Done),
            }],
            "properties": {
                "scans": report.scans.iter().map(|s| s.id).collect::<Vec<_>>(),
                "targets": report.targets(),
            },
            "results": results,
        }],
    });
    Ok(serde_json::to_string_pretty(&doc)?)
}

fn rule(id: &str, worst: &Finding) -> Value {
    json!({
        "id": id,
        "name": rule_name(id),
        "shortDescription": {"text": non_empty(&worst.title)},
        "fullDescription": {"text": format!("{} finding reported by {}", non_empty(&worst.title), worst.tool)},
        "defaultConfiguration": {"level": level(worst.severity)},
        "properties": {
            "security-severity": security_severity(worst.severity),
            "tags": tags(worst),
        },
    })
}

/// SARIF wants rule names in PascalCase-ish identifiers; any run of non-alphanumerics
/// becomes one word break.
fn rule_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|first| first.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn tags(f: &Finding) -> Vec<String> {
    let mut tags = vec!["security".to_string(), f.tool.clone()];
    tags.extend(f.cve.iter().cloned());
    tags
}

fn non_empty(s: &str) -> &str {
    if s.trim().is_empty() {
        "(untitled)"
    } else {
        s
    }
}

fn result(report: &Report, f: &Finding, rule_index: usize) -> Value {
    let mut message = non_empty(&f.title).to_string();
    if !f.detail.trim().is_empty() && f.detail != f.title {
        message.push_str(": ");
        message.push_str(&f.detail);
    }
    json!({
        "ruleId": rule_id(f),
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": message},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": report.location(f)},
                "region": {"startLine": 1},
            },
        }],
        "partialFingerprints": {"picketFingerprint/v1": f.fingerprint},
        "properties": {
            "severity": f.severity.as_str(),
            "security-severity": security_severity(f.severity),
            "tool": f.tool,
            "host": f.host,
            "port": f.port,
            "cve": f.cve,
            "tags": tags(f),
            "evidence": f.evidence,
            "firstSeen": f.first_seen,
            "lastSeen": f.last_seen,
        },
    })
}
