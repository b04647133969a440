//! testssl.sh parser: turns its JSON file (`--jsonfile` flat or `--jsonfile-pretty`) into a
//! TLS service and findings. Pure function of the bytes: no I/O, no panics.
//!
//! Mapping rules:
//! * Both forms are accepted: flat = array of `{id, ip, port, severity, cve?, finding}`;
//!   pretty = object whose `scanResult[]` items (targetHost, ip, port) hold lists of
//!   `{id, severity, cve?, finding}`; top-level lists (`clientProblem1`, ...) are read too.
//! * Severity: LOW, MEDIUM, HIGH, CRITICAL keep their level; OK, INFO and DEBUG are
//!   dropped (INFO is mostly inventory, e.g. every client simulation); WARN is a scanner
//!   problem (`engine_problem`, "RC4 not supported by local OpenSSL"), never a finding.
//! * Any FATAL entry (`scanProblem`: cannot connect, file exists, ...) -> `ToolReported`
//!   with its text. A scan that stopped without FATAL (`scanTime` "Scan interrupted", as on
//!   a port that does not speak TLS) -> `ToolReported` with its WARN texts.
//! * Finding: title = the id in words (parsers/titles.rs: "cert_chain_of_trust" ->
//!   "Certificate chain not trusted"), fingerprint from the id as before, detail = finding
//!   text, evidence = id, cve = every CVE id in the `cve` field, which may hold several separated by
//!   spaces or commas (present on OK results too, hence the severity filter).
//! * Host from flat `ip` "name/address": the address after '/' when it is an IP, else the
//!   name; port from its string. Pretty form: host from `ip`, else `targetHost` (2.9dev:
//!   `target host`). An entry of finding severity without host:port is a warning; the
//!   others (scanner-level INFO/WARN) are skipped.
//! * One Service per host:port seen: name "ssl", `tls = true`.
//! * testssl appends to an existing `--jsonfile` when refusing to overwrite it, leaving a
//!   complete array followed by a stray FATAL entry (testssl-flat-corrupted-by-rerun.json).
//!   Such trailing entries are recovered, so that file gives `ToolReported` with the
//!   re-run's FATAL message; other trailing garbage is `Malformed`.
//! * Input that ends early -> `Truncated`; other non-JSON (the console text) -> `Malformed`.

use std::net::IpAddr;

use picket_protocol::Severity;
use serde_json::Value;

use super::normalize::{
    cves_in_text, dedupe_findings, json_error, reject_empty, tls_endpoint, unbracket, ServiceSet,
};
use super::{new_finding, ParseError, ParsedOutput};

const TOOL: &str = "testssl";

/// One result line, whatever the form it came from.
struct Entry<'a> {
    id: &'a str,
    host: Option<String>,
    port: Option<u16>,
    severity: String,
    finding: &'a str,
    cve: Option<&'a str>,
}

pub fn parse(output: &[u8]) -> Result<ParsedOutput, ParseError> {
    let documents = read_documents(output)?;
    let mut entries = Vec::new();
    let mut interrupted = false;
    for doc in &documents {
        collect(doc, &mut entries, &mut interrupted)?;
    }

    if let Some(fatal) = entries.iter().find(|e| e.severity == "FATAL") {
        let message = if fatal.finding.is_empty() {
            "testssl aborted the scan"
        } else {
            fatal.finding
        };
        return Err(ParseError::ToolReported {
            tool: TOOL,
            message: message.to_string(),
        });
    }
    interrupted |= entries
        .iter()
        .any(|e| e.id == "scanTime" && e.finding.to_ascii_lowercase().contains("interrupted"));
    if interrupted {
        let warnings: Vec<&str> = entries
            .iter()
            .filter(|e| {
                e.severity == "WARN"
                    && e.id != "engine_problem"
                    && e.id != "scanTime"
                    && !e.finding.is_empty()
            })
            .map(|e| e.finding)
            .collect();
        let message = if warnings.is_empty() {
            "scan interrupted".to_string()
        } else {
            warnings.join("; ")
        };
        return Err(ParseError::ToolReported {
            tool: TOOL,
            message,
        });
    }

    let mut out = ParsedOutput::default();
    let mut services = ServiceSet::default();
    let mut findings = Vec::new();
    for e in &entries {
        if e.id == "engine_problem" {
            continue;
        }
        let severity = finding_severity(&e.severity);
        let (Some(host), Some(port)) = (e.host.as_deref(), e.port) else {
            if severity.is_some() {
                out.warnings.push(format!(
                    "{} ({}) names no host and port: not stored",
                    e.id, e.severity
                ));
            }
            continue;
        };
        services.push(tls_endpoint(host, port));
        let Some(severity) = severity.filter(|_| !e.id.is_empty()) else {
            continue;
        };
        // "CVE-2016-2183 CVE-2016-6329" or "CVE-2016-2183, CVE-2016-6329": all of them.
        let cve = e.cve.map(cves_in_text).unwrap_or_default();
        // The fingerprint hashes the id (as the title), so the words below never change
        // a finding's identity; the id stays in `evidence`.
        let mut f = new_finding(TOOL, host, Some(port), severity, e.id, e.finding, cve, e.id);
        f.title = super::titles::testssl(e.id, e.finding);
        findings.push(f);
    }
    out.services = services.into_vec();
    out.findings = dedupe_findings(findings);
    Ok(out)
}

/// LOW, MEDIUM, HIGH, CRITICAL keep their level; the rest (OK, INFO, WARN...) is none.
fn finding_severity(word: &str) -> Option<Severity> {
    Some(match word {
        "LOW" => Severity::Low,
        "MEDIUM" => Severity::Medium,
        "HIGH" => Severity::High,
        "CRITICAL" => Severity::Critical,
        _ => return None,
    })
}

/// The JSON value(s) in the file: normally one; after a refused re-run, the original
/// array plus the entries testssl appended behind it.
fn read_documents(output: &[u8]) -> Result<Vec<Value>, ParseError> {
    reject_empty(TOOL, output)?;
    let mut stream = serde_json::Deserializer::from_slice(output).into_iter::<Value>();
    let first = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(json_error(TOOL, &e)),
        None => {
            return Err(ParseError::Malformed {
                tool: TOOL,
                reason: "empty output".into(),
            })
        }
    };
    let rest = output.get(stream.byte_offset()..).unwrap_or_default();
    let rest = String::from_utf8_lossy(rest);
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(vec![first]);
    }
    // Appended flat entries look like `{...}\n,{...}\n]`: make them an array again.
    let body = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    let body = body.strip_suffix(']').unwrap_or(body);
    match serde_json::from_str::<Value>(&format!("[{body}]")) {
        Ok(tail @ Value::Array(_)) if first.is_array() && body.trim_start().starts_with('{') => {
            Ok(vec![first, tail])
        }
        _ => Err(ParseError::Malformed {
            tool: TOOL,
            reason: "unexpected data after the JSON document".into(),
        }),
    }
}

fn collect<'a>(
    doc: &'a Value,
    entries: &mut Vec<Entry<'a>>,
    interrupted: &mut bool,
) -> Result<(), ParseError> {
    match doc {
        Value::Array(items) => {
            for item in items {
                let ip = item.get("ip").and_then(Value::as_str).unwrap_or_default();
                entries.extend(entry(item, flat_host(ip), item.get("port")));
            }
            Ok(())
        }
        Value::Object(top) => {
            let results = top.get("scanResult").and_then(Value::as_array);
            let mut any = results.is_some();
            for (key, value) in top {
                if key == "scanResult" {
                    continue;
                }
                if let Some(list) = value.as_array() {
                    any = true;
                    entries.extend(list.iter().filter_map(|item| entry(item, None, None)));
                }
                if key == "scanTime"
                    && value
                        .as_str()
                        .is_some_and(|s| s.to_ascii_lowercase().contains("interrupted"))
                {
                    *interrupted = true;
                }
            }
            if !any {
                return Err(ParseError::Malformed {
                    tool: TOOL,
                    reason: "JSON object without scanResult".into(),
                });
            }
            for target in results.into_iter().flatten() {
                let ip = target
                    .get("ip")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or_default();
                // 2.9dev wrote "target host", 3.0 "targetHost".
                let name = ["targetHost", "target host"]
                    .into_iter()
                    .find_map(|k| target.get(k))
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or_default();
                let ip = unbracket(ip);
                let host = if ip.parse::<IpAddr>().is_ok() || name.is_empty() {
                    ip
                } else {
                    name
                };
                let host = Some(host.to_string()).filter(|h| !h.is_empty());
                let port = target.get("port");
                for section in target.as_object().into_iter().flat_map(|o| o.values()) {
                    for item in section.as_array().into_iter().flatten() {
                        entries.extend(entry(item, host.clone(), port));
                    }
                }
            }
            Ok(())
        }
        _ => Err(ParseError::Malformed {
            tool: TOOL,
            reason: "expected a JSON array or object".into(),
        }),
    }
}

fn entry<'a>(item: &'a Value, host: Option<String>, port: Option<&Value>) -> Option<Entry<'a>> {
    let obj = item.as_object()?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::trim);
    let port = match port {
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .filter(|&p| p != 0);
    Some(Entry {
        id: text("id").unwrap_or_default(),
        host,
        port,
        severity: text("severity").unwrap_or_default().to_ascii_uppercase(),
        finding: text("finding").unwrap_or_default(),
        cve: text("cve"),
    })
}

/// Flat `ip` is "name/address" ("127.0.0.1/127.0.0.1", "example.com/93.184.216.34",
/// "/" for scanner-level entries).
fn flat_host(ip: &str) -> Option<String> {
    let (name, addr) = ip.trim().split_once('/').unwrap_or((ip.trim(), ""));
    let addr = unbracket(addr.trim());
    let host = if addr.parse::<IpAddr>().is_ok() || name.trim().is_empty() {
        addr
    } else {
        name.trim()
    };
    Some(host.to_string()).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{
        check_fingerprints, check_hostile, check_malformed, check_truncated, data, evidences,
        with_evidence,
    };
    use super::*;

    const FIXTURES: &[&str] = &[
        "testssl-https-flat.json",
        "testssl-https.json",
        "testssl-https-full.json",
        "testssl-closed-flat.json",
        "testssl-plainhttp-flat.json",
        "testssl-flat-corrupted-by-rerun.json",
    ];

    /// What the --fast scan found (COMMANDS.md). The pretty run also did the CAA lookup
    /// (no --nodns) and reported DNS_CAArecord LOW.
    fn check_fast(out: &ParsedOutput, with_caa: bool) {
        assert_eq!(out.services, vec![tls_endpoint("127.0.0.1", 18443)]);
        let mut found = evidences(out);
        if with_caa {
            let at = found
                .iter()
                .position(|f| *f == ("DNS_CAArecord", Severity::Low))
                .expect("DNS_CAArecord");
            found.remove(at);
        }
        assert_eq!(
            found,
            vec![
                ("BEAST", Severity::Low),
                ("BEAST_CBC_TLS1", Severity::Medium),
                ("HSTS", Severity::Low),
                ("LUCKY13", Severity::Low),
                ("TLS1", Severity::Low),
                ("TLS1_1", Severity::Low),
                ("cert_chain_of_trust", Severity::Critical),
                ("cert_expirationStatus", Severity::High),
                ("cert_notAfter", Severity::High),
                ("cert_revocation", Severity::High),
                ("cipher_order", Severity::High),
                ("cipherlist_AVERAGE", Severity::Low),
                ("security_headers", Severity::Medium),
            ]
        );
        let chain = with_evidence(out, "cert_chain_of_trust");
        assert_eq!(
            (chain.detail.as_str(), chain.evidence.as_str()),
            ("failed (self signed).", "cert_chain_of_trust")
        );
        assert_eq!(
            (chain.host.as_str(), chain.port, chain.tool.as_str()),
            ("127.0.0.1", Some(18443), "testssl")
        );
        assert_eq!(
            with_evidence(out, "BEAST_CBC_TLS1").cve,
            vec!["CVE-2011-3389".to_string()]
        );
        assert_eq!(
            with_evidence(out, "BEAST").cve,
            vec!["CVE-2011-3389".to_string()]
        );
        assert_eq!(
            with_evidence(out, "LUCKY13").cve,
            vec!["CVE-2013-0169".to_string()]
        );
        assert!(with_evidence(out, "TLS1").cve.is_empty());
    }

    #[test]
    fn flat_fast_scan() {
        check_fast(&parse(&data("testssl-https-flat.json")).unwrap(), false);
    }

    #[test]
    fn pretty_fast_scan() {
        check_fast(&parse(&data("testssl-https.json")).unwrap(), true);
    }

    #[test]
    fn pretty_full_scan_has_anull() {
        let out = parse(&data("testssl-https-full.json")).unwrap();
        let anull = with_evidence(&out, "cipherlist_aNULL");
        assert_eq!(
            (anull.severity, anull.detail.as_str()),
            (Severity::Critical, "offered")
        );
        assert_eq!(
            with_evidence(&out, "cert_chain_of_trust").severity,
            Severity::Critical
        );
        assert_eq!(
            with_evidence(&out, "BEAST_CBC_TLS1").cve,
            vec!["CVE-2011-3389".to_string()]
        );
        assert_eq!(out.services.len(), 1);
        assert!(out.findings.iter().all(|f| f.severity >= Severity::Low));
        // No OK/INFO noise: heartbleed carries a CVE but is OK.
        assert!(!out
            .findings
            .iter()
            .any(|f| f.evidence == "heartbleed" || f.evidence.starts_with("clientsimulation")));
    }

    #[test]
    fn fatal_and_interrupted_runs() {
        assert_eq!(
            parse(&data("testssl-closed-flat.json")),
            Err(ParseError::ToolReported {
                tool: "testssl",
                message: "Can't connect to '127.0.0.1:18999' Make sure a firewall is not between you and your scanning target!".into()
            })
        );
        assert_eq!(
            parse(&data("testssl-plainhttp-flat.json")),
            Err(ParseError::ToolReported {
                tool: "testssl",
                message: "127.0.0.1:18080 doesn't seem to be a TLS/SSL enabled server.".into()
            })
        );
        assert_eq!(
            parse(&data("testssl-flat-corrupted-by-rerun.json")),
            Err(ParseError::ToolReported {
                tool: "testssl",
                message: "non-empty 'scanlab/runs/testssl-flat.json' exists. Either use '--append' or (re)move it".into()
            })
        );
        let pretty_fatal = br#"{"Invocation":"testssl --jsonfile-pretty f https://h:1","scanResult":[],
            "scanProblem":[{"id":"scanProblem","severity":"FATAL","finding":"Can't connect to 'h:1'"}],"scanTime":"Scan interrupted"}"#;
        assert_eq!(
            parse(pretty_fatal),
            Err(ParseError::ToolReported {
                tool: "testssl",
                message: "Can't connect to 'h:1'".into()
            })
        );
    }

    #[test]
    fn hosts_ports_and_odd_entries() {
        let flat = br#"[
{"id":"engine_problem","ip":"/","port":"443","severity":"WARN","finding":"No engine"},
{"id":"SSLv3","ip":"www.example.test/192.0.2.7","port":"443","severity":"HIGH","cve":"CVE-2014-3566","finding":"offered"},
{"id":"DROWN","ip":"v6.example.test/[2001:db8::1]","port":8443,"severity":"critical","cve":"CVE-2016-0800 CVE-2016-0703","finding":"VULNERABLE"},
{"id":"x","ip":"name.only/","port":"443","severity":"LOW","finding":"f"},
{"id":"no_port","ip":"1.2.3.4/1.2.3.4","severity":"HIGH","finding":"f"},
{"id":"RC4","ip":"1.2.3.4/1.2.3.4","port":"443","severity":"WARN","finding":"RC4 ciphers not supported by local OpenSSL"},
{"id":"SSLv3","ip":"www.example.test/192.0.2.7","port":"443","severity":"HIGH","cve":"CVE-2014-3566","finding":"offered"},
"junk", 17
]"#;
        let out = parse(flat).unwrap();
        let hosts: Vec<(&str, u16)> = out
            .services
            .iter()
            .map(|s| (s.host.as_str(), s.port))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("192.0.2.7", 443),
                ("2001:db8::1", 8443),
                ("name.only", 443),
                ("1.2.3.4", 443)
            ]
        );
        assert_eq!(
            out.findings.len(),
            3,
            "repeated SSLv3 merged, WARN and port-less entries dropped"
        );
        let drown = with_evidence(&out, "DROWN");
        assert_eq!((drown.severity, drown.cve.len()), (Severity::Critical, 2));
    }

    #[test]
    fn error_classes() {
        check_malformed(
            parse,
            &[
                b"",
                &data("testssl-https-stdout.txt"),
                b"{\"a\": 1}",
                b"\"text\"",
                b"[] trailing",
            ],
        );
        let full = data("testssl-https-flat.json");
        let pretty = data("testssl-https.json");
        check_truncated(
            parse,
            &[&full[..full.len() / 2], &pretty[..pretty.len() - 10]],
        );
    }

    #[test]
    fn truncation_and_garbling_never_panic() {
        for name in FIXTURES {
            let input = data(name);
            let first_end = {
                let mut s = serde_json::Deserializer::from_slice(&input).into_iter::<Value>();
                let _ = s.next();
                s.byte_offset()
            };
            check_hostile(parse, &input, |p| p.len() < first_end);
        }
    }

    #[test]
    fn fingerprints_stable_and_unique() {
        for name in [
            "testssl-https-flat.json",
            "testssl-https.json",
            "testssl-https-full.json",
        ] {
            check_fingerprints(parse, &data(name));
        }
        let flat = parse(&data("testssl-https-flat.json")).unwrap();
        let pretty = parse(&data("testssl-https.json")).unwrap();
        let mut a: Vec<_> = flat
            .findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        let mut b: Vec<_> = pretty
            .findings
            .iter()
            .filter(|f| f.evidence != "DNS_CAArecord")
            .map(|f| f.fingerprint.clone())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(
            a, b,
            "flat and pretty forms of the same scan give the same fingerprints"
        );
    }

    #[test]
    fn worded_titles_keep_the_fingerprint_of_the_id() {
        let input = br#"[{"id":"cert_trust","ip":"h/127.0.0.1","port":"443","severity":"HIGH","finding":"failed"}]"#;
        let out = parse(input).unwrap();
        let f = &out.findings[0];
        assert_eq!(f.title, "Certificate not trusted");
        assert_eq!(f.evidence, "cert_trust");
        // The fingerprint the finding had when its title was the id.
        let before = crate::parsers::new_finding(
            "testssl",
            "127.0.0.1",
            Some(443),
            f.severity,
            "cert_trust",
            "",
            vec![],
            "cert_trust",
        );
        assert_eq!(f.fingerprint, before.fingerprint);
    }

    #[test]
    fn every_cve_of_a_multi_cve_field() {
        let input = br#"[
{"id":"SWEET32","ip":"a.example.test/192.0.2.9","port":"443","severity":"LOW","cve":"CVE-2016-2183 CVE-2016-6329","finding":"uses 64 bit block ciphers"},
{"id":"RC4","ip":"a.example.test/192.0.2.9","port":"443","severity":"HIGH","cve":"CVE-2013-2566, CVE-2015-2808,cve-2013-2566","finding":"offered"},
{"id":"LOGJAM","ip":"/","port":"443","severity":"MEDIUM","cve":"CVE-2015-4000","finding":"common prime"}
]"#;
        let out = parse(input).unwrap();
        assert_eq!(
            with_evidence(&out, "SWEET32").cve,
            vec!["CVE-2016-2183", "CVE-2016-6329"]
        );
        assert_eq!(
            with_evidence(&out, "RC4").cve,
            vec!["CVE-2013-2566", "CVE-2015-2808"]
        );
        assert_eq!(out.findings.len(), 2);
        assert_eq!(
            out.warnings.len(),
            1,
            "the host-less MEDIUM entry: {:?}",
            out.warnings
        );
        assert!(out.warnings[0].starts_with("LOGJAM (MEDIUM)"));
    }

    #[test]
    fn pretty_29dev_target_host_key() {
        let input = br#"{"Invocation":"testssl.sh --jsonfile-pretty x","version":"2.9dev","scanResult":[{"target host":"name.example.test","ip":"","port":"443","vulnerabilities":[{"id":"sweet32","severity":"LOW","cve":"CVE-2016-2183, CVE-2016-6329","finding":"VULNERABLE"}]}]}"#;
        let out = parse(input).unwrap();
        let f = with_evidence(&out, "sweet32");
        assert_eq!((f.host.as_str(), f.port), ("name.example.test", Some(443)));
        assert_eq!(f.cve, vec!["CVE-2016-2183", "CVE-2016-6329"]);
    }

    #[test]
    fn real_reports() {
        use super::super::testkit::check_real_reports;
        // A finding is an entry of severity LOW or above; the CVE ids testssl writes on
        // OK and INFO entries name attacks the server resisted and are no findings.
        check_real_reports(
            TOOL,
            parse,
            &[],
            |bytes| {
                let mut ids = Vec::new();
                let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
                let mut stack = vec![&doc];
                while let Some(v) = stack.pop() {
                    match v {
                        Value::Array(a) => stack.extend(a),
                        Value::Object(o) => {
                            let sev = o.get("severity").and_then(Value::as_str).unwrap_or("");
                            if finding_severity(&sev.to_ascii_uppercase()).is_some() {
                                let cve = o.get("cve").and_then(Value::as_str).unwrap_or("");
                                ids.extend(cves_in_text(cve));
                            }
                            stack.extend(o.values());
                        }
                        _ => {}
                    }
                }
                ids
            },
            &[],
        );
    }
}
