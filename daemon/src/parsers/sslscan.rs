//! sslscan parser: turns `sslscan --xml=-` output into a TLS service and findings. Pure
//! function of the bytes: no I/O, no panics; bad output is a `ParseError`.
//!
//! sslscan exits 0 even when it cannot connect, so the XML decides:
//! * `document/error` -> `ToolReported` with its text; no `ssltest` at all -> `Malformed`;
//!   input that ends before `</document>` -> `Truncated`.
//! * Both shapes: 2.x lists `<protocol type="tls" version="1.2" enabled="1">` and nests
//!   `<certificates><certificate>`; 1.x (1.11) has no `<protocol>`: the versions offered
//!   are those of the accepted ciphers (`<cipher status="accepted" sslversion="TLSv1.0">`;
//!   "not accepted" ones are ignored), and its `<certificate>` sits in `<ssltest>` itself.
//! * Per `ssltest` (host, port): when no protocol is offered (a plain-HTTP port) and
//!   nothing else shows TLS (a 1.x certificate, heartbleed) there is no service and no
//!   finding; an `ssltest` with none of the elements read here is a warning, never a
//!   silent empty result. Otherwise one Service named "ssl", `tls = true`.
//! * Findings (severities derived here, sslscan has none):
//!   - SSLv2 / SSLv3 enabled -> High ("SSLv3 offered", CVE-2016-0800 DROWN / CVE-2014-3566 POODLE);
//!   - TLSv1.0 / TLSv1.1 enabled -> Medium ("TLSv1.0 offered");
//!   - accepted cipher with strength null or anonymous -> High ("Anonymous cipher suite
//!     accepted: AECDH-AES128-SHA"), weak -> Medium, medium -> Low; strong/acceptable ->
//!     none. One finding per cipher and protocol version (evidence "cipher@sslversion");
//!   - certificate self-signed -> Medium "Self-signed certificate"; expired -> High
//!     "Expired certificate";
//!   - heartbleed `vulnerable="1"` on any version -> one Critical finding, CVE-2014-0160;
//!   - renegotiation supported but not secure -> Medium, CVE-2009-3555;
//!   - TLS compression supported -> Medium (CRIME), CVE-2012-4929.

use picket_protocol::Severity;

use super::normalize::{dedupe_findings, tls_endpoint, ServiceSet};
use super::xml_tree::{parse_xml, XmlNode};
use super::{new_finding, ParseError, ParsedOutput};

const TOOL: &str = "sslscan";

pub fn parse(output: &[u8]) -> Result<ParsedOutput, ParseError> {
    let root = parse_xml(TOOL, output, "document")?;
    if let Some(err) = root.child("error") {
        let message = match err.text_trim() {
            "" => "sslscan reported an error",
            m => m,
        };
        return Err(ParseError::ToolReported {
            tool: TOOL,
            message: message.to_string(),
        });
    }
    let tests: Vec<&XmlNode> = root.children_named("ssltest").collect();
    if tests.is_empty() {
        return Err(ParseError::Malformed {
            tool: TOOL,
            reason: "no <ssltest> and no <error> in the output".into(),
        });
    }

    let mut out = ParsedOutput::default();
    let mut services = ServiceSet::default();
    let mut findings = Vec::new();
    for test in tests {
        let host = test
            .attr_nonempty("host")
            .or_else(|| test.attr_nonempty("sniname"));
        let port = test.attr("port").and_then(|p| p.trim().parse::<u16>().ok());
        let (Some(host), Some(port)) = (host, port) else {
            return Err(ParseError::Malformed {
                tool: TOOL,
                reason: "<ssltest> without a valid host and port".into(),
            });
        };
        let enabled = offered_protocols(test);
        if enabled.is_empty() && !speaks_tls(test) {
            if !KNOWN.iter().any(|k| test.child(k).is_some()) {
                out.warnings.push(format!(
                    "sslscan test of {host}:{port} holds none of the elements this parser reads \
                     (protocol, cipher, certificate, heartbleed, ...): nothing stored"
                ));
            }
            continue;
        }
        services.push(tls_endpoint(host, port));
        let weaknesses = protocols(&enabled)
            .chain(ciphers(test))
            .chain(heartbleed(test))
            .chain(renegotiation(test))
            .chain(compression(test))
            .chain(certificates(test));
        findings.extend(weaknesses.map(|w| {
            let cve = w.cve.iter().map(|c| c.to_string()).collect();
            new_finding(
                TOOL,
                host,
                Some(port),
                w.severity,
                w.title,
                w.detail,
                cve,
                w.evidence,
            )
        }));
    }
    out.services = services.into_vec();
    out.findings = dedupe_findings(findings);
    Ok(out)
}

/// One weakness of an endpoint, before it becomes a finding on that host and port.
struct Weakness {
    severity: Severity,
    title: String,
    detail: String,
    cve: &'static [&'static str],
    evidence: String,
}

/// `attr="1"`, sslscan's way of saying yes.
fn flag(node: &XmlNode, attr: &str) -> bool {
    node.attr(attr).map(str::trim) == Some("1")
}

/// SSLv2/SSLv3 offered -> High (DROWN, POODLE); TLS 1.0/1.1 offered -> Medium.
fn protocols(enabled: &[String]) -> impl Iterator<Item = Weakness> + '_ {
    enabled.iter().filter_map(|proto| {
        let (severity, cve, why): (Severity, &'static [&'static str], &str) = match proto.as_str() {
            "SSLv2" => (
                Severity::High,
                &["CVE-2016-0800"],
                "SSLv2 is broken (DROWN).",
            ),
            "SSLv3" => (
                Severity::High,
                &["CVE-2014-3566"],
                "SSLv3 is broken (POODLE).",
            ),
            "TLSv1.0" | "TLSv1.1" => (
                Severity::Medium,
                &[],
                "TLS 1.0 and 1.1 are deprecated (RFC 8996).",
            ),
            _ => return None,
        };
        Some(Weakness {
            severity,
            title: format!("{proto} offered"),
            detail: format!("The server accepts {proto}. {why}"),
            cve,
            evidence: format!("protocol:{proto}"),
        })
    })
}

/// Accepted ciphers by sslscan's strength: null/anonymous -> High, weak -> Medium,
/// medium -> Low; one per cipher and protocol version.
fn ciphers(test: &XmlNode) -> impl Iterator<Item = Weakness> + '_ {
    test.children_named("cipher")
        .filter(|c| accepted(c))
        .filter_map(|cipher| {
            let strength = cipher
                .attr("strength")
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let (severity, kind) = match strength.as_str() {
                "null" => (Severity::High, "NULL"),
                "anonymous" => (Severity::High, "Anonymous"),
                "weak" => (Severity::Medium, "Weak"),
                "medium" => (Severity::Low, "Medium-strength"),
                _ => return None,
            };
            let name = cipher.attr_nonempty("cipher").unwrap_or("unknown");
            let version = cipher.attr_nonempty("sslversion").unwrap_or("unknown");
            let bits = cipher.attr_nonempty("bits").unwrap_or("?");
            let status = cipher.attr_nonempty("status").unwrap_or("accepted");
            Some(Weakness {
                severity,
                title: format!("{kind} cipher suite accepted: {name}"),
                detail: format!("{version} {name} ({bits} bits, {status}, strength {strength})"),
                cve: &[],
                evidence: format!("{name}@{version}"),
            })
        })
}

/// Heartbleed on any version -> one Critical finding naming the versions.
fn heartbleed(test: &XmlNode) -> Option<Weakness> {
    let bled: Vec<&str> = test
        .children_named("heartbleed")
        .filter(|h| flag(h, "vulnerable"))
        .map(|h| h.attr_nonempty("sslversion").unwrap_or("unknown"))
        .collect();
    (!bled.is_empty()).then(|| Weakness {
        severity: Severity::Critical,
        title: "Heartbleed (CVE-2014-0160)".into(),
        detail: format!(
            "Server memory leaks through TLS heartbeats via {}.",
            bled.join(", ")
        ),
        cve: &["CVE-2014-0160"],
        evidence: "heartbleed".into(),
    })
}

/// Renegotiation supported but not secure (RFC 5746) -> Medium.
fn renegotiation(test: &XmlNode) -> Option<Weakness> {
    let reneg = test.child("renegotiation")?;
    (flag(reneg, "supported") && !flag(reneg, "secure")).then(|| Weakness {
        severity: Severity::Medium,
        title: "Insecure renegotiation supported".into(),
        detail: "The server allows client-initiated renegotiation without RFC 5746 secure renegotiation.".into(),
        cve: &["CVE-2009-3555"],
        evidence: "renegotiation".into(),
    })
}

/// TLS-level compression -> Medium (CRIME).
fn compression(test: &XmlNode) -> Option<Weakness> {
    test.child("compression")
        .filter(|c| flag(c, "supported"))
        .map(|_| Weakness {
            severity: Severity::Medium,
            title: "TLS compression enabled (CRIME)".into(),
            detail: "The server accepts TLS-level compression.".into(),
            cve: &["CVE-2012-4929"],
            evidence: "compression".into(),
        })
}

/// Self-signed -> Medium, expired -> High, per certificate shown.
fn certificates(test: &XmlNode) -> impl Iterator<Item = Weakness> + '_ {
    // 2.x nests them in <certificates>; 1.x has one <certificate> right in <ssltest>.
    test.children_named("certificates")
        .flat_map(|c| c.children_named("certificate"))
        .chain(test.children_named("certificate"))
        .flat_map(|cert| {
            let text = |k: &str| cert.child(k).map(XmlNode::text_trim).unwrap_or_default();
            let who = format!("subject {}, issuer {}", text("subject"), text("issuer"));
            let self_signed = text("self-signed")
                .eq_ignore_ascii_case("true")
                .then(|| Weakness {
                    severity: Severity::Medium,
                    title: "Self-signed certificate".into(),
                    detail: who.clone(),
                    cve: &[],
                    evidence: "certificate:self-signed".into(),
                });
            let expired = text("expired")
                .eq_ignore_ascii_case("true")
                .then(|| Weakness {
                    severity: Severity::High,
                    title: "Expired certificate".into(),
                    detail: format!("{who}, not valid after {}", text("not-valid-after")),
                    cve: &[],
                    evidence: "certificate:expired".into(),
                });
            self_signed.into_iter().chain(expired)
        })
}

/// Elements of an `ssltest` this parser reads; one with none of them is a warning.
const KNOWN: &[&str] = &[
    "protocol",
    "cipher",
    "certificate",
    "certificates",
    "heartbleed",
    "renegotiation",
    "compression",
    "fallback",
];

/// A cipher the server took: "accepted" or "preferred", not 1.x's "not accepted".
fn accepted(cipher: &XmlNode) -> bool {
    let status = cipher.attr("status").unwrap_or("accepted").trim();
    status.eq_ignore_ascii_case("accepted") || status.eq_ignore_ascii_case("preferred")
}

/// The protocol versions offered: 2.x lists them (`<protocol enabled="1">`); 1.x has no
/// such element, so they are the versions of the accepted ciphers, in first-seen order.
fn offered_protocols(test: &XmlNode) -> Vec<String> {
    if test.child("protocol").is_some() {
        return test
            .children_named("protocol")
            .filter(|p| flag(p, "enabled"))
            .map(protocol_name)
            .collect();
    }
    let mut seen: Vec<String> = Vec::new();
    for cipher in test.children_named("cipher").filter(|c| accepted(c)) {
        let version = match cipher.attr_nonempty("sslversion").map(str::trim) {
            Some("TLSv1") => "TLSv1.0",
            Some(v) => v,
            None => continue,
        };
        if !seen.iter().any(|s| s == version) {
            seen.push(version.to_string());
        }
    }
    seen
}

/// A 1.x test without accepted ciphers may still show TLS: a certificate, or heartbleed.
fn speaks_tls(test: &XmlNode) -> bool {
    test.child("protocol").is_none()
        && (test.child("certificate").is_some()
            || test.child("certificates").is_some()
            || test
                .children_named("heartbleed")
                .any(|h| flag(h, "vulnerable")))
}

/// "SSLv3", "TLSv1.0" from `<protocol type="ssl" version="3">`, matching the names
/// sslscan uses in `cipher@sslversion`.
fn protocol_name(p: &XmlNode) -> String {
    let kind = p
        .attr("type")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let version = p.attr("version").unwrap_or_default().trim();
    match kind.as_str() {
        "ssl" => format!("SSLv{version}"),
        "tls" => format!("TLSv{version}"),
        other => format!("{other}v{version}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{
        check_fingerprints, check_hostile, check_malformed, check_truncated, data, lacks, titled,
    };
    use super::*;

    const FIXTURES: &[&str] = &[
        "sslscan-https.xml",
        "sslscan-plainhttp.xml",
        "sslscan-closed.xml",
    ];

    fn titles(out: &ParsedOutput, severity: Severity) -> Vec<&str> {
        let mut t: Vec<&str> = out
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.title.as_str())
            .collect();
        t.sort_unstable();
        t
    }

    #[test]
    fn https_fixture() {
        let out = parse(&data("sslscan-https.xml")).unwrap();
        assert_eq!(out.services, vec![tls_endpoint("127.0.0.1", 18443)]);
        assert_eq!(
            titles(&out, Severity::Medium),
            vec![
                "Self-signed certificate",
                "TLSv1.0 offered",
                "TLSv1.1 offered"
            ]
        );
        // AECDH-AES128/256-SHA accepted on TLS 1.0, 1.1 and 1.2.
        let anon = titles(&out, Severity::High);
        assert_eq!(anon.len(), 6);
        assert!(anon
            .iter()
            .all(|t| t.starts_with("Anonymous cipher suite accepted: AECDH-AES")));
        let f = out
            .findings
            .iter()
            .find(|f| f.evidence == "AECDH-AES256-SHA@TLSv1.2")
            .unwrap();
        assert_eq!(f.title, "Anonymous cipher suite accepted: AECDH-AES256-SHA");
        assert_eq!(
            f.detail,
            "TLSv1.2 AECDH-AES256-SHA (256 bits, accepted, strength anonymous)"
        );
        assert_eq!(
            (f.host.as_str(), f.port, f.tool.as_str()),
            ("127.0.0.1", Some(18443), "sslscan")
        );
        assert!(
            titles(&out, Severity::Critical).is_empty(),
            "heartbleed vulnerable=0 everywhere"
        );
        assert!(titles(&out, Severity::Low).is_empty() && titles(&out, Severity::Info).is_empty());
        assert_eq!(out.findings.len(), 9);
        let self_signed = titled(&out, "Self-signed certificate");
        assert_eq!(self_signed.detail, "subject localhost, issuer localhost");
    }

    #[test]
    fn plain_http_is_empty_and_closed_is_tool_error() {
        assert_eq!(
            parse(&data("sslscan-plainhttp.xml")).unwrap(),
            ParsedOutput::default()
        );
        assert_eq!(
            parse(&data("sslscan-closed.xml")),
            Err(ParseError::ToolReported {
                tool: "sslscan",
                message: "Could not open a connection to host 127.0.0.1 (127.0.0.1) on port 18999."
                    .into()
            })
        );
    }

    #[test]
    fn the_other_weaknesses() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<document title="SSLScan Results" version="2.0.7" web="http://github.com/rbsec/sslscan">
 <ssltest host="old.example" sniname="old.example" port="443">
  <protocol type="ssl" version="2" enabled="1" />
  <protocol type="ssl" version="3" enabled="1" />
  <protocol type="tls" version="1.2" enabled="1" />
  <renegotiation supported="1" secure="0" />
  <compression supported="1" />
  <heartbleed sslversion="TLSv1.2" vulnerable="1" />
  <heartbleed sslversion="TLSv1.1" vulnerable="1" />
  <cipher status="accepted" sslversion="SSLv3" bits="0" cipher="NULL-MD5" id="0x0001" strength="null" />
  <cipher status="accepted" sslversion="TLSv1.2" bits="56" cipher="DES-CBC-SHA" id="0x0009" strength="weak" />
  <cipher status="accepted" sslversion="TLSv1.2" bits="112" cipher="DES-CBC3-SHA" id="0x000A" strength="medium" />
  <cipher status="accepted" sslversion="TLSv1.2" bits="112" cipher="DES-CBC3-SHA" id="0x000A" strength="medium" />
  <certificates><certificate type="short"><subject><![CDATA[old.example]]></subject><issuer><![CDATA[Some CA]]></issuer>
   <self-signed>false</self-signed><not-valid-after>Jan  1 00:00:00 2020 GMT</not-valid-after><expired>true</expired></certificate></certificates>
 </ssltest>
</document>"#;
        let out = parse(xml).unwrap();
        let find = |t: &str| titled(&out, t);
        assert_eq!(find("SSLv2 offered").severity, Severity::High);
        assert_eq!(find("SSLv3 offered").cve, vec!["CVE-2014-3566".to_string()]);
        let hb = find("Heartbleed (CVE-2014-0160)");
        assert_eq!(
            (hb.severity, hb.cve.clone()),
            (Severity::Critical, vec!["CVE-2014-0160".to_string()])
        );
        assert!(hb.detail.contains("TLSv1.2, TLSv1.1"));
        assert_eq!(
            find("NULL cipher suite accepted: NULL-MD5").severity,
            Severity::High
        );
        assert_eq!(
            find("Weak cipher suite accepted: DES-CBC-SHA").severity,
            Severity::Medium
        );
        assert_eq!(
            find("Medium-strength cipher suite accepted: DES-CBC3-SHA").severity,
            Severity::Low
        );
        assert_eq!(
            find("Insecure renegotiation supported").severity,
            Severity::Medium
        );
        assert_eq!(
            find("TLS compression enabled (CRIME)").cve,
            vec!["CVE-2012-4929".to_string()]
        );
        let exp = find("Expired certificate");
        assert_eq!(exp.severity, Severity::High);
        assert!(exp.detail.ends_with("Jan  1 00:00:00 2020 GMT"));
        assert!(!out
            .findings
            .iter()
            .any(|f| f.title == "Self-signed certificate"));
        // The repeated DES-CBC3-SHA line is one finding.
        assert_eq!(out.findings.len(), 9);
    }

    #[test]
    fn error_classes() {
        check_malformed(
            parse,
            &[
                b"",
                b"not xml at all",
                &data("nmap-http-https.xml"),
                b"<?xml version=\"1.0\"?><document title=\"SSLScan Results\"></document>",
                b"<?xml version=\"1.0\"?><document><ssltest host=\"h\" port=\"x\"></ssltest></document>",
            ],
        );
        let full = data("sslscan-https.xml");
        check_truncated(parse, &[&full[..full.len() / 3]]);
    }

    #[test]
    fn truncation_and_garbling_never_panic() {
        for name in FIXTURES {
            let input = data(name);
            check_hostile(parse, &input, lacks(b"</document>"));
        }
    }

    #[test]
    fn fingerprints_stable_and_unique() {
        check_fingerprints(parse, &data("sslscan-https.xml"));
        check_fingerprints(parse, &data("sslscan-plainhttp.xml"));
    }

    #[test]
    fn sslscan_1x_heartbleed_and_expired_certificate() {
        let out = parse(&data("sslscan-1x-heartbleed-expired.xml")).unwrap();
        assert_eq!(
            out.services,
            vec![tls_endpoint("legacy.example.test", 8443)]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let bleed = titled(&out, "Heartbleed (CVE-2014-0160)");
        assert_eq!(
            (bleed.severity, bleed.port),
            (Severity::Critical, Some(8443))
        );
        assert_eq!(bleed.cve, vec!["CVE-2014-0160"]);
        assert!(bleed.detail.contains("TLSv1.0"), "{}", bleed.detail);
        let expired = titled(&out, "Expired certificate");
        assert_eq!(expired.severity, Severity::High);
        assert!(expired.detail.contains("Mar 13 11:59:45 2019 GMT"));
        assert_eq!(
            titled(&out, "Self-signed certificate").severity,
            Severity::Medium
        );
        // Versions offered, from the accepted ciphers: SSLv3, TLS 1.0 (1.2 is fine).
        assert_eq!(titled(&out, "SSLv3 offered").cve, vec!["CVE-2014-3566"]);
        assert_eq!(titled(&out, "TLSv1.0 offered").severity, Severity::Medium);
        assert_eq!(
            titled(&out, "Weak cipher suite accepted: RC4-MD5").severity,
            Severity::Medium
        );
        assert_eq!(
            titled(&out, "Medium-strength cipher suite accepted: DES-CBC3-SHA").severity,
            Severity::Low
        );
        assert!(
            !out.findings.iter().any(|f| f.title.contains("RC4-SHA")),
            "a cipher the server did not accept is no finding"
        );
        assert_eq!(
            titled(&out, "Insecure renegotiation supported").cve,
            vec!["CVE-2009-3555"]
        );
        assert_eq!(
            titled(&out, "TLS compression enabled (CRIME)").cve,
            vec!["CVE-2012-4929"]
        );
        assert_eq!(out.findings.len(), 9, "{:#?}", out.findings);
    }

    #[test]
    fn unknown_ssltest_shape_is_a_warning() {
        let input = br#"<?xml version="1.0"?><document><ssltest host="h" port="443"><other/></ssltest></document>"#;
        let out = parse(input).unwrap();
        assert!(out.services.is_empty() && out.findings.is_empty());
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("h:443"));
        // 1.x with nothing accepted but heartbleed found still reports it.
        let bled = br#"<document><ssltest host="h" port="443"><heartbleed sslversion="TLSv1.2" vulnerable="1"/></ssltest></document>"#;
        let out = parse(bled).unwrap();
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].severity, Severity::Critical);
    }

    #[test]
    fn real_reports() {
        use super::super::testkit::check_real_reports;
        // sslscan writes no CVE ids: those of the weaknesses it shows are checked in
        // the unit tests; here, every file parses and every heartbleed is kept.
        check_real_reports(
            TOOL,
            |bytes| {
                let out = parse(bytes)?;
                let text = String::from_utf8_lossy(bytes);
                let bled = text.contains("vulnerable=\"1\"");
                let kept = out
                    .findings
                    .iter()
                    .any(|f| f.cve.contains(&"CVE-2014-0160".into()));
                assert_eq!(bled, kept, "heartbleed lost or invented");
                assert!(
                    !out.services.is_empty(),
                    "every corpus file scanned a TLS port"
                );
                Ok(out)
            },
            &[],
            |bytes| crate::parsers::normalize::cves_in_text(&String::from_utf8_lossy(bytes)),
            &[],
        );
    }
}
