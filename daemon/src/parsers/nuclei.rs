//! nuclei parser: turns nuclei's JSON output (`-jsonl` lines of any version, or the one
//! array `-json-export` writes) into findings. Pure function of the bytes: no I/O, no
//! panics.
//!
//! Mapping rules:
//! * JSON lines: each line is one template match. Lines that do not start with '{' (log
//!   lines, if stderr was merged) are skipped with one warning saying how many; text with
//!   no JSON line at all is `Malformed` (not nuclei JSON output). Lines with `"matcher-status": false` (failed
//!   matches, printed with `-ms`) are skipped. No output at all is a valid empty result:
//!   nuclei prints nothing when nothing matched. Output whose first character is '[' is
//!   the `-json-export` array of the same objects.
//! * Keys of every version: 3.x `template-id`, `matcher-name`, `matched-at`,
//!   `extracted-results`; before 3.0 `templateID`, `matcher_name`, `matched`,
//!   `extracted_results`, and `host` without `ip`/`port`. The matcher name (else the
//!   extractor name) tells matches of one template apart.
//! * Severity = `info.severity`: info, low, medium, high, critical as is; "unknown" or
//!   anything else -> Info.
//! * Title = `info.name` (fallback the template id); cve = every CVE id in
//!   `info.classification.cve-id` (array or string) plus the template id when it is one;
//!   evidence = "template[:matcher]@matched", or "template[:matcher]#extracted" when
//!   nothing is matched-at, so distinct matches of one template stay distinct findings;
//!   detail = matched-at, matcher name, extracted results, description (clipped).
//! * Host = the `host` field (a URL gives its host, "host:port" its host), else `ip`, else
//!   the host of the matched target. Port = `port` (string or number), else the one the
//!   matched target names ("127.0.0.1:22" -> 22, a URL -> its port or its scheme's), else
//!   the `url`'s, else the `host` field's. A bare name or address has no port.
//! * A match with no host at all (dns, javascript, code templates) is kept on the run's
//!   target (`parse_on`'s default host), with no port; without one it becomes a warning.
//! * nuclei reports no services: it does not identify them, other tools do.
//! * A last line cut short (no newline, incomplete JSON), or an array cut inside, keeps the
//!   matches before it and sets `partial`; an invalid line among valid ones is a warning.
//!   Output with no complete match but a cut one -> `Truncated`; with no valid match line
//!   but an invalid one, or an array followed by other data -> `Malformed`.

use std::net::IpAddr;

use picket_protocol::{Finding, Severity};
use serde_json::Value;

use super::normalize::{
    clip, cves_in_text, dedupe_findings, json_error, normalize_cve, severity_word, unbracket,
};
use super::{new_finding, ParseError, ParsedOutput};

const TOOL: &str = "nuclei";

/// Parses without a run target: host-less matches become warnings.
pub fn parse(output: &[u8]) -> Result<ParsedOutput, ParseError> {
    parse_on(output, "")
}

/// Parses with the run's target as the host of matches that name none (blank: none).
pub fn parse_on(output: &[u8], default_host: &str) -> Result<ParsedOutput, ParseError> {
    let default_host = Some(default_host.trim()).filter(|h| !h.is_empty());
    let first = output.iter().find(|b| !b.is_ascii_whitespace());
    let mut out = ParsedOutput::default();
    let records = if first == Some(&b'[') {
        read_array(output, &mut out)?
    } else {
        read_lines(output, &mut out)?
    };
    let mut findings = Vec::new();
    for (i, obj) in records.iter().enumerate() {
        if !obj.is_object() {
            out.warnings
                .push(format!("record {}: not a JSON object, skipped", i + 1));
            continue;
        }
        match finding(obj, default_host) {
            Ok(Some(f)) => findings.push(f),
            Ok(None) => {}
            Err(why) => out.warnings.push(why),
        }
    }
    out.findings = dedupe_findings(findings);
    Ok(out)
}

/// The `-json-export` array, element by element, so that an array cut short keeps the
/// matches written before the cut (`partial`); with none complete it is `Truncated`.
fn read_array(output: &[u8], out: &mut ParsedOutput) -> Result<Vec<Value>, ParseError> {
    let start = output.iter().position(|&b| b == b'[').map_or(0, |i| i + 1);
    let mut pos = start;
    let mut items = Vec::new();
    loop {
        let rest = output.get(pos..).unwrap_or_default();
        let skip = rest
            .iter()
            .position(|b| !(b.is_ascii_whitespace() || *b == b','))
            .unwrap_or(rest.len());
        pos += skip;
        match output.get(pos) {
            Some(b']') => break,
            None => {
                let why = "the JSON array ends early (no closing ']')";
                if items.is_empty() {
                    return Err(ParseError::Truncated {
                        tool: TOOL,
                        reason: why.into(),
                    });
                }
                out.partial = Some(format!("{why}; the {} matches before it kept", items.len()));
                return Ok(items);
            }
            Some(_) => {}
        }
        let mut stream = serde_json::Deserializer::from_slice(&output[pos..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => items.push(v),
            Some(Err(e)) if e.is_eof() && !items.is_empty() => {
                out.partial = Some(format!(
                    "the JSON array ends inside a match: {e}; the {} matches before it kept",
                    items.len()
                ));
                return Ok(items);
            }
            Some(Err(e)) => return Err(json_error(TOOL, &e)),
            None => break,
        }
        pos += stream.byte_offset();
    }
    let trailing = output.get(pos + 1..).unwrap_or_default();
    if !trailing.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Malformed {
            tool: TOOL,
            reason: "unexpected data after the JSON array".into(),
        });
    }
    Ok(items)
}

/// The JSON objects of a JSON-lines output. A cut last line sets `partial`, a bad line
/// among good ones is a warning; with no good line at all the bad one is the error.
fn read_lines(output: &[u8], out: &mut ParsedOutput) -> Result<Vec<Value>, ParseError> {
    let text = String::from_utf8_lossy(output);
    let ends_cleanly = output.last().is_none_or(|&b| b == b'\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut first_error = None;
    let mut skipped: Vec<(usize, &str)> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if !line.starts_with('{') {
            if !line.is_empty() {
                skipped.push((i + 1, line));
            }
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => records.push(v),
            Err(e) if i + 1 == lines.len() && !ends_cleanly && e.is_eof() => {
                let why = format!("last line is incomplete JSON: {e}");
                if records.is_empty() && first_error.is_none() {
                    return Err(ParseError::Truncated {
                        tool: TOOL,
                        reason: why,
                    });
                }
                out.partial = Some(format!("{why}; the {} lines before it kept", records.len()));
            }
            Err(e) => {
                let why = format!("line {}: {e}", i + 1);
                out.warnings.push(format!("{why}, skipped"));
                first_error.get_or_insert(why);
            }
        }
    }
    if let Some(&(n, line)) = skipped.first() {
        let what = format!("line {n}: {:?}", clip(line, 80));
        if records.is_empty() && first_error.is_none() {
            return Err(ParseError::Malformed {
                tool: TOOL,
                reason: format!("no JSON match in the output ({what})"),
            });
        }
        out.warnings.push(format!(
            "{} lines that are not JSON matches skipped (first, {what})",
            skipped.len()
        ));
    }
    match first_error {
        Some(reason) if records.is_empty() => Err(ParseError::Malformed { tool: TOOL, reason }),
        _ => Ok(records),
    }
}

/// The first of `keys` (JSON pointers) holding a non-blank string.
fn text_of<'a>(obj: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| text(obj, k))
}

/// One match as a finding; `Err` says why it could not be placed.
fn finding(obj: &Value, default_host: Option<&str>) -> Result<Option<Finding>, String> {
    if obj.get("matcher-status").and_then(Value::as_bool) == Some(false) {
        return Ok(None);
    }
    let template = text_of(
        obj,
        &["/template-id", "/templateID", "/template_id", "/template"],
    )
    .unwrap_or("unknown-template");
    let title = text_of(obj, &["/info/name", "/name"]).unwrap_or(template);
    let matched = text_of(obj, &["/matched-at", "/matched"]).unwrap_or_default();
    // The matcher tells apart matches of one template; else the extractor that fired.
    let matcher = text_of(
        obj,
        &[
            "/matcher-name",
            "/matcher_name",
            "/extractor-name",
            "/extractor_name",
        ],
    );
    let extracted = extracted(obj);
    let (host, port) = match (endpoint(obj), default_host) {
        (Some(ep), _) => ep,
        (None, Some(h)) => (h.to_string(), None),
        (None, None) => {
            return Err(format!(
                "match of {template} ({title}) names no host and the run has no target: not stored"
            ))
        }
    };
    let severity = text_of(obj, &["/info/severity", "/severity"])
        .and_then(severity_word)
        .unwrap_or(Severity::Info);
    let mut cve = match obj.pointer("/info/classification/cve-id") {
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(Value::as_str)
            .flat_map(cves_in_text)
            .collect(),
        Some(Value::String(s)) => cves_in_text(s),
        _ => Vec::new(),
    };
    if let Some(id) = normalize_cve(template) {
        if !cve.contains(&id) {
            cve.insert(0, id);
        }
    }
    let head = match matcher {
        Some(m) => format!("{template}:{m}"),
        None => template.to_string(),
    };
    let evidence = match (matched, extracted.is_empty()) {
        ("", false) => format!("{head}#{}", clip(&extracted.join(","), 200)),
        _ => format!("{head}@{matched}"),
    };
    Ok(Some(new_finding(
        TOOL,
        &host,
        port,
        severity,
        clip(title, 200),
        clip(&detail(obj, matched, matcher, &extracted), 1000),
        cve,
        evidence,
    )))
}

/// The extracted results, under either spelling.
fn extracted(obj: &Value) -> Vec<&str> {
    ["extracted-results", "extracted_results"]
        .into_iter()
        .filter_map(|k| obj.get(k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A string field by JSON pointer, trimmed; None when absent, not a string or blank.
fn text<'a>(obj: &'a Value, ptr: &str) -> Option<&'a str> {
    obj.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Host from `host`, else `ip`, else the target matched; port from `port`, else from
/// where it matched, else from the other URL-like fields. None: the match names no host.
fn endpoint(obj: &Value) -> Option<(String, Option<u16>)> {
    let host_of = |s: &str| Some(split_host(s).0).filter(|h| !h.is_empty());
    let matched = text_of(obj, &["/matched-at", "/matched"]);
    let host = text(obj, "/host")
        .and_then(host_of)
        .or_else(|| text(obj, "/ip").map(|s| unbracket(s).to_string()))
        .or_else(|| matched.or_else(|| text(obj, "/url")).and_then(host_of))?;
    let url_port = [matched, text(obj, "/url"), text(obj, "/host")]
        .into_iter()
        .flatten()
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
fn detail(obj: &Value, matched: &str, matcher: Option<&str>, extracted: &[&str]) -> String {
    let mut parts = Vec::new();
    if !matched.is_empty() {
        parts.push(format!("Matched at {matched}"));
    }
    if let Some(m) = matcher {
        parts.push(format!("matcher {m}"));
    }
    if !extracted.is_empty() {
        parts.push(format!("extracted: {}", extracted.join(", ")));
    }
    let mut detail = parts.join("; ");
    if let Some(desc) = text_of(obj, &["/info/description", "/description"]) {
        detail.push_str(&format!(". {desc}"));
    }
    detail
}

/// Host and port from "https://h:8443/x", "h:8443", "[::1]:22", "::1" or "h". Only a URL
/// gets its scheme's default port: a bare name says nothing about the port.
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
        assert_eq!(
            out.findings.len(),
            2,
            "a match without any host is not a finding"
        );
        assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
        assert!(out.warnings[0]
            .starts_with("1 lines that are not JSON matches skipped (first, line 4: \"[]\")"));
        assert!(
            out.warnings[1].contains("nohost (Nowhere)"),
            "{:?}",
            out.warnings
        );
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
        let first_line = full.iter().position(|&b| b == b'\n').unwrap();
        check_truncated(parse, &[&full[..first_line - 30]]);
        check_malformed(
            parse,
            &[
                b"Nuclei console text, not -jsonl\n[INF] 0 results\n",
                b"{\"template-id\": oops}\n",
                b"{\"a\":1\n{\"b\n",
                b"[{}]x",
            ],
        );
    }

    #[test]
    fn truncation_and_garbling_never_panic() {
        let input = sample();
        // A cut inside the first JSON line must fail; a later cut keeps the lines before.
        check_hostile(parse, &input, |p| {
            !p.contains(&b'\n')
                && p.first() == Some(&b'{')
                && serde_json::from_slice::<Value>(p).is_err()
        });
    }

    #[test]
    fn fingerprints_stable_and_unique() {
        check_fingerprints(parse, &sample());
        let twice = [sample(), sample()].concat();
        assert_eq!(
            parse(&twice).unwrap().findings,
            parse(&sample()).unwrap().findings,
            "a repeated line is one finding"
        );
    }

    /// nuclei 2.x keys, after the shape of its documented output (`templateID`,
    /// `matcher_name`, `matched`, `extracted_results`, `host` with no `ip`/`port`).
    const V2: &[u8] = br#"{"templateID":"tech-detect","info":{"name":"Wappalyzer Technology Detection","severity":"info"},"matcher_name":"nginx","type":"http","host":"https://scanme.example:8443","matched":"https://scanme.example:8443/"}
{"templateID":"tech-detect","info":{"name":"Wappalyzer Technology Detection","severity":"info"},"matcher_name":"php","type":"http","host":"https://scanme.example:8443","matched":"https://scanme.example:8443/"}
{"templateID":"openssh-detect","info":{"name":"OpenSSH Service - Detect","severity":"info"},"extractor_name":"banner","type":"network","host":"127.0.0.1:22","matched":"127.0.0.1:22","extracted_results":["SSH-2.0-OpenSSH_8.2p1"]}
{"templateID":"CVE-2018-15473","info":{"name":"OpenSSH Username Enumeration","severity":"medium"},"type":"network","host":"https://10.0.0.9","matched":"10.0.0.9:22"}
"#;

    #[test]
    fn nuclei_2x_keys() {
        let out = parse(V2).unwrap();
        assert_eq!(out.findings.len(), 4, "{:#?}", out.findings);
        let nginx = get(&out, "tech-detect:nginx@https://scanme.example:8443/");
        let php = get(&out, "tech-detect:php@https://scanme.example:8443/");
        assert_ne!(nginx.fingerprint, php.fingerprint, "two matches stay two");
        assert_eq!(
            (nginx.host.as_str(), nginx.port),
            ("scanme.example", Some(8443))
        );
        let ssh = get(&out, "openssh-detect:banner@127.0.0.1:22");
        assert_eq!((ssh.host.as_str(), ssh.port), ("127.0.0.1", Some(22)));
        assert!(
            ssh.detail.contains("SSH-2.0-OpenSSH_8.2p1"),
            "{}",
            ssh.detail
        );
        let enumr = get(&out, "CVE-2018-15473@10.0.0.9:22");
        assert_eq!(
            (enumr.host.as_str(), enumr.port, enumr.severity),
            ("10.0.0.9", Some(22), Severity::Medium),
            "the matched target's port wins over the host URL's scheme default"
        );
        assert_eq!(
            enumr.cve,
            vec!["CVE-2018-15473"],
            "CVE id from the template id"
        );
        assert!(out.warnings.is_empty() && out.partial.is_none());
    }

    #[test]
    fn json_export_array() {
        let lines: Vec<&str> = std::str::from_utf8(V2).unwrap().lines().collect();
        let array = format!("[\n  {}\n]\n", lines.join(",\n  "));
        assert_eq!(parse(array.as_bytes()).unwrap(), parse(V2).unwrap());
        // Cut inside the last match: the three before it are kept, the run is partial.
        let cut = parse(&array.as_bytes()[..array.len() - 20]).unwrap();
        assert_eq!(cut.findings.len(), 3);
        assert!(cut.partial.is_some());
        check_truncated(parse, &[b"[", b"[ {\"templateID\":\"x\""]);
        check_malformed(parse, &[b"[{}] x", b"[{} {]"]);
        assert_eq!(parse(b"[]").unwrap(), ParsedOutput::default());
        let odd = parse(br#"[{"templateID":"x","host":"h"}, 7]"#).unwrap();
        assert_eq!((odd.findings.len(), odd.warnings.len()), (1, 1));
    }

    #[test]
    fn host_less_matches() {
        let input = br#"{"template-id":"dns-saas-service-detection","info":{"name":"DNS SaaS Detection","severity":"info"},"type":"dns","matched-at":"","extracted-results":["ghs.googlehosted.com"]}
{"template-id":"code-env","info":{"name":"Code check","severity":"low","classification":{"cve-id":"CVE-2023-1111, cve-2023-2222"}},"type":"code"}
"#;
        let out = parse_on(input, "10.1.2.3").unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(out.findings.len(), 2);
        let dns = get(&out, "dns-saas-service-detection#ghs.googlehosted.com");
        assert_eq!((dns.host.as_str(), dns.port), ("10.1.2.3", None));
        let code = get(&out, "code-env@");
        assert_eq!(code.cve, vec!["CVE-2023-1111", "CVE-2023-2222"]);

        let none = parse_on(input, " ").unwrap();
        assert!(none.findings.is_empty());
        assert_eq!(none.warnings.len(), 2, "each lost match is a warning");
        assert!(
            none.warnings[1].contains("code-env (Code check)"),
            "{:?}",
            none.warnings
        );
    }

    #[test]
    fn cut_last_line_is_partial() {
        let full = sample();
        let cut = &full[..full.len() - 30];
        let before = cut.iter().rposition(|&b| b == b'\n').unwrap();
        let complete = parse(&cut[..=before]).unwrap();
        assert!(complete.partial.is_none() && !complete.findings.is_empty());
        let out = parse(cut).unwrap();
        assert_eq!(
            out.findings, complete.findings,
            "the complete lines are kept"
        );
        let why = out.partial.expect("partial");
        assert!(why.contains("last line is incomplete JSON"), "{why}");
    }

    #[test]
    fn bad_line_among_good_ones_is_a_warning() {
        let input = b"{\"template-id\":\"a\",\"host\":\"h\"}\n{\"cve-id\":null \"x\":1}\n{\"template-id\":\"b\",\"host\":\"h\"}\n";
        let out = parse(input).unwrap();
        assert_eq!(out.findings.len(), 2);
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].starts_with("line 2:"), "{:?}", out.warnings);
    }

    #[test]
    fn real_reports() {
        use super::super::testkit::check_real_reports;
        check_real_reports(
            TOOL,
            parse,
            &[(
                "ostorlab__invalid_nuclei_result.json",
                "not JSON: a comma is missing after \"cve-id\":null",
            )],
            // Every id written anywhere in a file (classification, template id, but also
            // descriptions and references) must be on a finding: none is excused.
            |bytes| cves_in_text(&String::from_utf8_lossy(bytes)),
            &[],
        );
    }
}
