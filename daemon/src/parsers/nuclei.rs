//! nuclei parser: turns `nuclei -jsonl` output (one JSON object per line) into findings.
//! Pure function of the bytes: no I/O, no panics.
//!
//! Mapping rules:
//! * Each line is one template match. Lines that do not start with '{' (log lines, if
//!   stderr was merged) are skipped; lines with `"matcher-status": false` (failed matches,
//!   printed with `-ms`) are skipped. No output at all is a valid empty result: nuclei
//!   prints nothing when nothing matched.
//! * Severity = `info.severity`: info, low, medium, high, critical as is; "unknown" or
//!   anything else -> Info.
//! * Title = `info.name` (fallback `template-id`); cve = `info.classification.cve-id`
//!   (array, string or null; upper-cased); evidence = "template-id[:matcher-name]@matched-at"
//!   so that each matcher of a multi-matcher template (tech-detect) stays a finding of
//!   its own; detail = matched-at, matcher name, extracted results, description (clipped).
//! * Host = the `host` field (a URL gives its host, "host:port" its host), else `ip`, else
//!   the host of `matched-at`; port = `port` (string or number), else the URL's port.
//! * nuclei reports no services: it does not identify them, other tools do.
//! * A last line cut short (no newline, incomplete JSON) -> `Truncated`; an invalid JSON
//!   line elsewhere -> `Malformed`.

use std::net::IpAddr;

use picket_protocol::{Finding, Severity};
use serde_json::Value;

use super::normalize::{clip, dedupe_findings, severity_word, unbracket, unique_cves};
use super::{new_finding, ParseError, ParsedOutput};

const TOOL: &str = "nuclei";

pub fn parse(output: &[u8]) -> Result<ParsedOutput, ParseError> {
    let text = String::from_utf8_lossy(output);
    let ends_cleanly = output.last().is_none_or(|&b| b == b'\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut findings = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if !line.starts_with('{') {
            continue;
        }
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(v) => v,
            Err(e) => {
                let last = i + 1 == lines.len();
                return Err(if last && !ends_cleanly && e.is_eof() {
                    ParseError::Truncated {
                        tool: TOOL,
                        reason: format!("last line is incomplete JSON: {e}"),
                    }
                } else {
                    ParseError::Malformed {
                        tool: TOOL,
                        reason: format!("line {}: {e}", i + 1),
                    }
                });
            }
        };
        findings.extend(finding(&obj));
    }
    Ok(ParsedOutput {
        services: Vec::new(),
        findings: dedupe_findings(findings),
        ..ParsedOutput::default()
    })
}

fn finding(obj: &Value) -> Option<Finding> {
    if obj.get("matcher-status").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    let template = text(obj, "/template-id").unwrap_or("unknown-template");
    let title = text(obj, "/info/name").unwrap_or(template);
    let matched = text(obj, "/matched-at")
        .or_else(|| text(obj, "/url"))
        .unwrap_or_default();
    let matcher = text(obj, "/matcher-name");
    let (host, port) = endpoint(obj)?;
    let severity = text(obj, "/info/severity")
        .and_then(severity_word)
        .unwrap_or(Severity::Info);
    let cve = match obj.pointer("/info/classification/cve-id") {
        Some(Value::Array(ids)) => unique_cves(ids.iter().filter_map(Value::as_str)),
        Some(Value::String(s)) => unique_cves(s.split([' ', ','])),
        _ => Vec::new(),
    };
    let evidence = match matcher {
        Some(m) => format!("{template}:{m}@{matched}"),
        None => format!("{template}@{matched}"),
    };
    Some(new_finding(
        TOOL,
        &host,
        port,
        severity,
        clip(title, 200),
        clip(&detail(obj, matched, matcher), 1000),
        cve,
        evidence,
    ))
}

/// A string field by JSON pointer, trimmed; None when absent, not a string or blank.
fn text<'a>(obj: &'a Value, ptr: &str) -> Option<&'a str> {
    obj.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Host from `host`, else `ip`, else the URL matched; port from `port`, else the first
/// URL-like field that has one. No host at all: not a finding.
fn endpoint(obj: &Value) -> Option<(String, Option<u16>)> {
    let host_of = |s: &str| Some(split_host(s).0).filter(|h| !h.is_empty());
    let host = text(obj, "/host")
        .and_then(host_of)
        .or_else(|| text(obj, "/ip").map(str::to_string))
        .or_else(|| {
            text(obj, "/matched-at")
                .or_else(|| text(obj, "/url"))
                .and_then(host_of)
        })?;
    let url_port = ["/host", "/url", "/matched-at"]
        .into_iter()
        .filter_map(|p| text(obj, p))
        .find_map(|s| split_host(s).1);
    let port = match obj.get("port") {
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .filter(|&p| p != 0)
    .or(url_port);
    Some((host, port))
}

/// Where it matched, which matcher, what was extracted, then the template's description.
fn detail(obj: &Value, matched: &str, matcher: Option<&str>) -> String {
    let mut parts = Vec::new();
    if !matched.is_empty() {
        parts.push(format!("Matched at {matched}"));
    }
    if let Some(m) = matcher {
        parts.push(format!("matcher {m}"));
    }
    if let Some(Value::Array(found)) = obj.get("extracted-results") {
        let found: Vec<&str> = found.iter().filter_map(Value::as_str).collect();
        if !found.is_empty() {
            parts.push(format!("extracted: {}", found.join(", ")));
        }
    }
    let mut detail = parts.join("; ");
    if let Some(desc) = text(obj, "/info/description") {
        detail.push_str(&format!(". {desc}"));
    }
    detail
}

/// Host and port from "https://h:8443/x", "h:8443", "[::1]:22", "::1" or "h".
fn split_host(s: &str) -> (String, Option<u16>) {
    if s.contains("://") {
        if let Ok(u) = url::Url::parse(s) {
            return (
                unbracket(u.host_str().unwrap_or_default()).to_string(),
                u.port_or_known_default(),
            );
        }
    }
    if s.parse::<IpAddr>().is_ok() {
        return (s.to_string(), None);
    }
    let s = s.split('/').next().unwrap_or(s);
    match s.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (unbracket(h).to_string(), p.parse().ok()),
        _ => (unbracket(s).to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{
        check_fingerprints, check_hostile, check_malformed, check_truncated, data,
    };
    use super::*;

    fn sample() -> Vec<u8> {
        data("nuclei-synthetic.jsonl")
    }

    fn get<'a>(out: &'a ParsedOutput, evidence: &str) -> &'a Finding {
        out.findings
            .iter()
            .find(|f| f.evidence == evidence)
            .unwrap_or_else(|| panic!("no {evidence}: {:#?}", out.findings))
    }

    #[test]
    fn documented_jsonl_lines() {
        let out = parse(&sample()).unwrap();
        assert!(out.services.is_empty());
        assert_eq!(
            out.findings.len(),
            5,
            "matcher-status false and the log line are skipped"
        );

        let rce = get(
            &out,
            "CVE-2021-41773@http://127.0.0.1:18081/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd",
        );
        assert_eq!(
            rce.title,
            "Apache 2.4.49 - Path Traversal and Remote Code Execution"
        );
        assert_eq!(
            (rce.severity, rce.host.as_str(), rce.port),
            (Severity::Critical, "127.0.0.1", Some(18081))
        );
        assert_eq!(rce.cve, vec!["CVE-2021-41773".to_string()]);
        assert_eq!(rce.tool, "nuclei");
        assert!(
            rce.detail
                .starts_with("Matched at http://127.0.0.1:18081/cgi-bin/"),
            "{}",
            rce.detail
        );

        let nginx = get(&out, "tech-detect:nginx@https://127.0.0.1:18443");
        assert_eq!(
            (nginx.severity, nginx.host.as_str(), nginx.port),
            (Severity::Info, "127.0.0.1", Some(18443))
        );
        assert_eq!(nginx.title, "Wappalyzer Technology Detection");
        assert!(nginx.cve.is_empty());
        let php = get(&out, "tech-detect:php@https://127.0.0.1:18443");
        assert_ne!(php.fingerprint, nginx.fingerprint);

        let cert = get(&out, "self-signed-ssl@127.0.0.1:18443");
        assert_eq!(
            (cert.severity, cert.port, cert.title.as_str()),
            (Severity::Low, Some(18443), "Self Signed SSL Certificate")
        );

        let ssh = get(&out, "openssh-detect@127.0.0.1:18022");
        assert_eq!(
            (ssh.severity, ssh.port),
            (Severity::Info, Some(18022)),
            "severity unknown maps to info"
        );
        assert!(ssh.detail.contains("extracted: SSH-2.0-OpenSSH_7.4"));
    }

    #[test]
    fn odd_lines() {
        let input = br#"{"template-id":"only-id","info":{"severity":"HIGH","classification":{"cve-id":"CVE-2020-0001"}},"ip":"10.1.1.1","port":8080,"matched-at":"10.1.1.1:8080"}
{"template-id":"v6","info":{"name":"V6","severity":"medium"},"host":"[2001:db8::5]:8443","matched-at":"https://[2001:db8::5]:8443/"}
{"template-id":"nohost","info":{"name":"Nowhere"}}
[]
"#;
        let out = parse(input).unwrap();
        assert_eq!(out.findings.len(), 2, "a match without any host is skipped");
        let a = &out.findings[0];
        assert_eq!(
            (a.title.as_str(), a.severity, a.host.as_str(), a.port),
            ("only-id", Severity::High, "10.1.1.1", Some(8080))
        );
        assert_eq!(a.cve, vec!["CVE-2020-0001".to_string()]);
        let b = &out.findings[1];
        assert_eq!((b.host.as_str(), b.port), ("2001:db8::5", Some(8443)));
    }

    #[test]
    fn error_classes() {
        assert_eq!(parse(b"").unwrap(), ParsedOutput::default());
        assert_eq!(parse(b"\n\n").unwrap(), ParsedOutput::default());
        let full = sample();
        check_truncated(parse, &[&full[..full.len() - 30]]);
        check_malformed(
            parse,
            &[b"{\"template-id\": oops}\n{}\n", b"{\"a\":1\n{\"b\":2}\n"],
        );
    }

    #[test]
    fn truncation_and_garbling_never_panic() {
        let input = sample();
        // A cut that ends inside a JSON line must fail; one at a line end is a shorter run.
        check_hostile(parse, &input, |p| {
            let tail = p.rsplit(|&b| b == b'\n').next().unwrap_or_default();
            tail.first() == Some(&b'{') && serde_json::from_slice::<Value>(tail).is_err()
        });
    }

    #[test]
    fn fingerprints_stable_and_unique() {
        check_fingerprints(parse, &sample());
        let twice = [sample(), sample()].concat();
        assert_eq!(
            parse(&twice).unwrap(),
            parse(&sample()).unwrap(),
            "a repeated line is one finding"
        );
    }
}
