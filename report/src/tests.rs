//! Unit tests of each format's shape, on hand-made scans (one web service with TLS, one
//! SSH service, findings of every severity, one with hostile text).

use picket_protocol::*;

use super::*;

pub fn finding(tool: &str, port: Option<u16>, severity: Severity, title: &str) -> Finding {
    Finding {
        id: 0,
        tool: tool.into(),
        host: "127.0.0.1".into(),
        port,
        severity,
        title: title.into(),
        detail: format!("detail of {title}"),
        cve: Vec::new(),
        evidence: String::new(),
        fingerprint: format!("fp-{tool}-{title}"),
        first_seen: Some("2026-11-30T20:00:00.000Z".into()),
        last_seen: Some("2026-11-30T21:00:00.000Z".into()),
        state: Default::default(),
        resolved_at: None,
        resolved_scan: None,
        reopened_count: 0,
    }
}

fn service(port: u16, name: &str, tls: bool) -> Service {
    Service {
        host: "127.0.0.1".into(),
        port,
        proto: "tcp".into(),
        name: name.into(),
        product: Some("Prod".into()),
        version: None,
        tls,
    }
}

pub fn scan(id: i64, findings: Vec<Finding>) -> ScanDetail {
    ScanDetail {
        id,
        targets: vec!["127.0.0.1".into()],
        profile: "quick".into(),
        ports: None,
        tools: vec![],
        priority: 0,
        status: ScanStatus::Done,
        created_at: format!("2026-11-{id:02}T10:00:00.000Z"),
        started_at: None,
        finished_at: None,
        error: None,
        warnings: vec![],
        tool_runs: vec![],
        hosts: vec![Host {
            address: "127.0.0.1".into(),
            state: Some("up".into()),
            ..Host::default()
        }],
        services: vec![service(8443, "http", true), service(22, "ssh", false)],
        findings,
        new_count: 0,
        resolved: vec![],
    }
}

pub fn sample() -> Report {
    let mut hostile = finding("web", Some(8443), Severity::High, "XSS <b>bold</b>");
    hostile.detail = "<script>alert(1)</script> | =cmd ``` fence".into();
    hostile.cve = vec!["CVE-2021-44228".into()];
    let mut weak = finding("tls", Some(8443), Severity::Medium, "Weak cipher");
    weak.evidence = "RC4-SHA".into();
    let mut weak2 = weak.clone();
    weak2.port = Some(22);
    weak2.fingerprint = "fp-weak-22".into();
    Report::new(vec![
        scan(
            1,
            vec![finding("ssh", Some(22), Severity::Low, "Old banner")],
        ),
        scan(
            2,
            vec![
                hostile,
                weak,
                weak2,
                finding("ssh", Some(22), Severity::Low, "Old banner"),
                finding("x", None, Severity::Info, "Host note"),
                finding("x", Some(9), Severity::Critical, "Unknown port"),
            ],
        ),
    ])
}

#[test]
fn report_merges_scans_by_fingerprint_most_severe_first() {
    let r = sample();
    assert_eq!(r.findings.len(), 6, "the banner seen twice is one finding");
    let sev: Vec<Severity> = r.findings.iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sev, sorted);
    assert_eq!(r.services.len(), 2);
    assert_eq!(r.counts()[0], (Severity::Critical, 1));
}

#[test]
fn locations_follow_the_service() {
    let r = sample();
    let loc = |title: &str| {
        r.location(
            r.findings
                .iter()
                .find(|f| f.title.starts_with(title))
                .unwrap(),
        )
    };
    assert_eq!(loc("XSS"), "https://127.0.0.1:8443/");
    assert_eq!(loc("Old banner"), "tcp://127.0.0.1:22");
    assert_eq!(loc("Host note"), "host://127.0.0.1");
    assert_eq!(loc("Unknown port"), "tcp://127.0.0.1:9");
    let mut v6 = finding("x", Some(80), Severity::Info, "v6");
    v6.host = "::1".into();
    assert_eq!(location(&[], &v6), "tcp://[::1]:80");
}

#[test]
fn since_compares_dates_and_times() {
    let s = scan(5, vec![]);
    assert!(created_since(&s, "2026-11-05"));
    assert!(created_since(&s, "2026-11-04T23:00:00Z"));
    assert!(!created_since(&s, "2026-11-06"));
    assert!(valid_since("2026-11-05") && !valid_since("yesterday") && !valid_since("2026/11/05"));
}

#[test]
fn sarif_shape() {
    let r = sample();
    let doc: serde_json::Value =
        serde_json::from_str(&render(&r, Format::Sarif, Severity::Info).unwrap()).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "Picket");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(
        rules.len(),
        5,
        "two weak-cipher findings share the rule tls/RC4-SHA"
    );
    for res in results {
        let rule = &rules[res["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], res["ruleId"]);
        assert!(res["partialFingerprints"]["picketFingerprint/v1"]
            .as_str()
            .unwrap()
            .starts_with("fp-"));
    }
    let by_title = |t: &str| {
        results
            .iter()
            .find(|r| r["message"]["text"].as_str().unwrap().starts_with(t))
            .unwrap()
    };
    let xss = by_title("XSS");
    assert_eq!(xss["level"], "error");
    assert_eq!(xss["properties"]["security-severity"], "8.0");
    assert_eq!(xss["properties"]["cve"][0], "CVE-2021-44228");
    assert_eq!(
        xss["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "https://127.0.0.1:8443/"
    );
    assert_eq!(by_title("Weak cipher")["level"], "warning");
    assert_eq!(by_title("Old banner")["level"], "note");
    assert_eq!(by_title("Host note")["level"], "note");
    assert_eq!(by_title("Unknown port")["level"], "error");
    let xss_rule = rules
        .iter()
        .find(|r| r["id"] == "web/XSS <b>bold</b>")
        .unwrap();
    assert!(xss_rule["properties"]["tags"]
        .as_array()
        .unwrap()
        .contains(&"CVE-2021-44228".into()));
    assert_eq!(xss_rule["name"], "WebXSSBBoldB");
}

#[test]
fn html_escapes_tool_text_and_is_self_contained() {
    let html = render(&sample(), Format::Html, Severity::Info).unwrap();
    assert!(
        !html.contains("<script>alert(1)"),
        "tool text must be escaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>bold"));
    assert!(html.contains("@media print"));
    for external in ["<link", "src=", "http://", "@import", "url("] {
        assert!(!html.contains(external), "external asset? {external}");
    }
    for title in ["Weak cipher", "Old banner", "Host note", "Unknown port"] {
        assert!(html.contains(title), "{title}");
    }
}

#[test]
fn markdown_keeps_tables_and_fences_intact() {
    let md = render(&sample(), Format::Markdown, Severity::Info).unwrap();
    assert!(md.contains("| critical | 1 |"));
    let row = md.lines().find(|l| l.starts_with("| high | XSS")).unwrap();
    assert_eq!(row.matches(" | ").count(), 4, "one row, five cells: {row}");
    assert!(
        md.contains("````text\n<script>alert(1)</script> | =cmd ``` fence\n````"),
        "{md}"
    );
}

#[test]
fn csv_has_one_row_per_finding_and_no_formulas() {
    let text = render(&sample(), Format::Csv, Severity::Info).unwrap();
    let mut rd = ::csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        csv::HEADER
    );
    let rows: Vec<::csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    let banner = rows.iter().find(|r| &r[1] == "Old banner").unwrap();
    assert_eq!(&banner[12], "1 2", "seen in both scans");
    assert_eq!(csv::inert("=1+1"), "'=1+1");
    assert_eq!(csv::inert("-x"), "'-x");
    assert_eq!(csv::inert("ok"), "ok");
}

#[test]
fn junit_counts_failures_at_the_threshold() {
    let xml = render(&sample(), Format::Junit, Severity::Medium).unwrap();
    // scan 1: one low (passes); scan 2: six findings, four at medium or above.
    assert!(
        xml.contains("<testsuites name=\"Picket\" tests=\"7\" failures=\"4\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 2);
    assert_eq!(xml.matches("<failure ").count(), 4);
    assert!(!xml.contains("<script>"));
    let empty = Report::new(vec![scan(3, vec![])]);
    let xml = render(&empty, Format::Junit, Severity::Info).unwrap();
    assert!(xml.contains("tests=\"1\" failures=\"0\"") && xml.contains("no findings"));
    let mut ansi = finding("t", None, Severity::High, "red \u{1b}[31m");
    ansi.detail = "\u{1b}[0m".into();
    let xml = render(
        &Report::new(vec![scan(4, vec![ansi])]),
        Format::Junit,
        Severity::Info,
    )
    .unwrap();
    assert!(!xml.contains('\u{1b}'));
}

#[test]
fn formats_round_trip_their_words_and_have_media_types() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        let from_json: Format = serde_json::from_value(serde_json::json!(f.as_str())).unwrap();
        assert_eq!(from_json, f, "the query word is the CLI word");
    }
    assert_eq!(Format::Sarif.content_type(), "application/sarif+json");
    assert!(Format::Html.content_type().starts_with("text/html"));
    let err = "pdf".parse::<Format>().unwrap_err();
    assert!(err.contains("pdf") && err.contains("sarif"), "{err}");
}
