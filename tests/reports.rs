//! End-to-end tests of `picket report` (issue 15): the real picketd and picket, a loopback
//! HTTPS server scanned by nmap and by a stand-in tool that reports findings of several
//! severities (one with a CVE, one whose detail holds a `<script>`), then each format
//! checked by an outside reader: the official SARIF validator (Microsoft's Sarif.Multitool,
//! installed by scripts/setup from npm), headless Chromium for the HTML, quick-xml for JUnit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use picket_protocol::{ScanDetail, ScanStatus, Severity};
use picket_testkit::targets::{https, Target};
use picket_testkit::*;
use quick_xml::events::Event;

/// The findings the stand-in prints: severity, CVE (or -), title, detail.
const FINDINGS: [(&str, &str, &str, &str); 4] = [
    (
        "high",
        "CVE-2021-44228",
        "Log4Shell reachable",
        "<script>alert('picket')</script> in a header",
    ),
    (
        "medium",
        "-",
        "Weak TLS cipher RC4",
        "cipher RC4-SHA accepted",
    ),
    (
        "low",
        "-",
        "Server banner leaks version",
        "Server: Test/1.0 & more",
    ),
    (
        "info",
        "-",
        "Directory listing enabled",
        "GET / lists files",
    ),
];

const PATTERN: &str =
    r"^FINDING (?P<severity>\w+) (?P<port>\d+) (?P<cve>\S+) (?P<title>[^|]+)\|(?P<detail>.*)$";

/// A scanned world: the daemon, its HTTPS target, and one done scan of it by nmap and the
/// `vulnscan` stand-in (which prints `FINDINGS` on the target's port).
struct World {
    env: Env,
    _daemon: Daemon,
    _target: Target,
    _dir: tempfile::TempDir,
    scan: ScanDetail,
}

fn scanned() -> World {
    require_installed(&["nmap"]);
    let dir = tempfile::tempdir().unwrap();
    let target = https(dir.path());
    let port = target.port;
    let lines: String = FINDINGS
        .iter()
        .map(|(sev, cve, title, detail)| {
            format!("cat <<'EOF'\nFINDING {sev} {port} {cve} {title}|{detail}\nEOF\n")
        })
        .collect();
    let script = tool_script(dir.path(), "vulnscan", &lines);
    let tool = ToolConfig::new("vulnscan")
        .program(script)
        .no_version_probe()
        .parser_regex(PATTERN);
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let daemon = env.start_daemon();
    let ports = port.to_string();
    let scan = env.scan_wait(&["127.0.0.1", "--ports", &ports, "--tools", "nmap,vulnscan"]);
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    for (_, _, title, _) in FINDINGS {
        assert!(
            scan.findings.iter().any(|f| f.title == title),
            "{title}: {scan:#?}"
        );
    }
    assert!(
        scan.services.iter().any(|s| s.port == port),
        "nmap saw the target: {scan:#?}"
    );
    World {
        env,
        _daemon: daemon,
        _target: target,
        _dir: dir,
        scan,
    }
}

/// `picket report ARGS -o FILE`, which must succeed; the file's text.
fn report(env: &Env, args: &[&str], file: &Path) -> String {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", file.to_str().unwrap()]);
    let out = env.picket(all);
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::read_to_string(file).unwrap()
}

fn multitool() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/npm/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    assert!(
        path.exists(),
        "the SARIF validator is not installed: run scripts/setup"
    );
    path
}

/// The validator's error lines for `file` (it exits 0 even when it finds errors, so its
/// output is what tells). Panics when it did not analyse the file at all.
fn sarif_errors(file: &Path) -> Vec<String> {
    let out = output_with_deadline(
        Command::new(multitool())
            .arg("validate")
            .arg(file)
            // .NET's first-run and telemetry chatter stays out of the test world.
            .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
            .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1"),
        Duration::from_secs(300),
    );
    let text = stdout(&out);
    println!("validator on {}:\n{text}", file.display());
    assert!(
        text.contains("1 files scanned"),
        "the validator did not run: {}",
        describe(&out)
    );
    text.lines()
        .filter(|l| l.contains(": error "))
        .map(str::to_string)
        .collect()
}

#[test]
fn sarif_report_passes_the_official_validator() {
    let w = scanned();
    let file = w.env.root().join("scan.sarif");
    let id = w.scan.id.to_string();
    let text = report(&w.env, &[&id, "--format", "sarif"], &file);
    let errors = sarif_errors(&file);
    assert!(
        errors.is_empty(),
        "validator errors:\n{}\n{text}",
        errors.join("\n")
    );

    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), w.scan.findings.len());
    for f in &w.scan.findings {
        let r = results
            .iter()
            .find(|r| r["partialFingerprints"]["picketFingerprint/v1"] == f.fingerprint.as_str())
            .unwrap_or_else(|| panic!("no result for {f:?}"));
        let expected = match f.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], expected, "{r}");
    }
    let log4 = results
        .iter()
        .find(|r| {
            r["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Log4Shell")
        })
        .unwrap();
    assert_eq!(log4["properties"]["cve"][0], "CVE-2021-44228");
    let uri = &log4["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert_eq!(
        uri,
        &format!("https://127.0.0.1:{}/", w._target.port),
        "{log4}"
    );

    let errors = schema_errors(&file);
    assert!(errors.is_empty(), "schema errors:\n{}", errors.join("\n"));

    // The checks can fail: each rejects a broken copy. The validator is given a result
    // without message: it says nothing about a bad enum value (Sarif.Multitool 5.7.0 drops
    // the file's diagnostics then), which is what the schema check is for.
    let mut no_message = doc.clone();
    let first = no_message["runs"][0]["results"][0].as_object_mut().unwrap();
    first.remove("message");
    let bad = w.env.root().join("no-message.sarif");
    std::fs::write(&bad, serde_json::to_string(&no_message).unwrap()).unwrap();
    assert!(
        !sarif_errors(&bad).is_empty(),
        "the validator must reject a broken file"
    );
    let mut bad_level = doc.clone();
    bad_level["runs"][0]["results"][0]["level"] = "severe".into();
    let bad = w.env.root().join("bad-level.sarif");
    std::fs::write(&bad, serde_json::to_string(&bad_level).unwrap()).unwrap();
    assert!(
        !schema_errors(&bad).is_empty(),
        "the schema must reject a bad level"
    );
}

/// The SARIF 2.1.0 JSON schema (the copy shipped with the validator) applied by Python's
/// jsonschema: one line per error.
fn schema_errors(file: &Path) -> Vec<String> {
    let schema = multitool().with_file_name("sarif-2.1.0.json");
    let check = "import json, sys, jsonschema\n\
        s = json.load(open(sys.argv[1]))\n\
        v = jsonschema.validators.validator_for(s)(s)\n\
        for e in v.iter_errors(json.load(open(sys.argv[2]))): print(e.message)\n\
        print('checked')";
    let out = output_with_deadline(
        Command::new("python3")
            .args(["-c", check])
            .arg(schema)
            .arg(file),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "python3 jsonschema (scripts/setup): {}",
        describe(&out)
    );
    let text = stdout(&out);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines.pop().as_deref(), Some("checked"), "{text}");
    lines
}

#[test]
fn html_report_opens_in_headless_chromium_with_every_finding() {
    let w = scanned();
    let file = w.env.root().join("report.html");
    let html = report(
        &w.env,
        &[
            "--target",
            "127.0.0.1",
            "--since",
            "2000-01-01",
            "--format",
            "html",
        ],
        &file,
    );
    assert!(!html.contains("<script>alert"), "tool text is escaped");
    let Some(chromium) = which_chromium() else {
        println!("note: chromium is not installed (scripts/setup installs it); HTML not opened");
        return;
    };
    let profile = w.env.root().join("chromium-profile");
    let out = output_with_deadline(
        Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("file://{}", file.display())),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let dom = stdout(&out);
    for f in &w.scan.findings {
        assert!(dom.contains(&f.title), "{} missing from the DOM", f.title);
    }
    assert!(dom.contains("&lt;script&gt;alert('picket')"), "{dom}");
    assert!(
        !dom.contains("<script>"),
        "no script element came from tool text"
    );
}

fn which_chromium() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("chromium"))
        .find(|p| p.exists())
}

/// What a JUnit file says: each testsuite's (name, tests, failures), the testsuites
/// element's (tests, failures), and how many failure elements there are.
#[derive(Debug, Default)]
struct JunitCounts {
    suites: Vec<(String, usize, usize)>,
    total: (usize, usize),
    failure_elements: usize,
}

fn junit_counts(xml: &str) -> JunitCounts {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut c = JunitCounts::default();
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned())
                };
                let num = |name: &str| attr(name).unwrap().parse::<usize>().unwrap();
                match e.name().as_ref() {
                    b"testsuites" => c.total = (num("tests"), num("failures")),
                    b"testsuite" => {
                        c.suites
                            .push((attr("name").unwrap(), num("tests"), num("failures")))
                    }
                    b"failure" => c.failure_elements += 1,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    c
}

#[test]
fn junit_report_parses_with_the_right_counts() {
    let w = scanned();
    let id = w.scan.id.to_string();
    let file = w.env.root().join("junit.xml");
    let xml = report(
        &w.env,
        &[&id, "--format", "junit", "--fail-on", "medium"],
        &file,
    );
    let JunitCounts {
        suites,
        total,
        failure_elements,
    } = junit_counts(&xml);
    let tests = w.scan.findings.len();
    let failing = w
        .scan
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .count();
    assert!(failing >= 2, "the stand-in's high and medium findings fail");
    assert_eq!(suites.len(), 1, "{xml}");
    assert!(suites[0].0.starts_with(&format!("scan {id}")), "{xml}");
    assert_eq!((suites[0].1, suites[0].2), (tests, failing), "{xml}");
    assert_eq!(total, (tests, failing));
    assert_eq!(failure_elements, failing);

    // Markdown and CSV from the same scan: every finding, once.
    let md = report(
        &w.env,
        &[&id, "--format", "markdown"],
        &w.env.root().join("r.md"),
    );
    let csv = report(
        &w.env,
        &[&id, "--format", "csv"],
        &w.env.root().join("r.csv"),
    );
    for f in &w.scan.findings {
        assert!(md.contains(&f.title), "{md}");
        assert_eq!(csv.matches(&f.fingerprint).count(), 1, "{csv}");
    }
}
