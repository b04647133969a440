//! End-to-end tests of `/v1/diff` and `/v1/reports` (issue 16) over `api.sock`, with curl
//! as the outside client: two scans of a loopback HTTPS server (real nmap and a stand-in
//! tool whose findings come from a file the test rewrites between the scans), then every
//! answer compared byte for byte with what `picket diff --json` prints and `picket report`
//! writes for the same scans, and bad queries answered with error documents naming the
//! fix. The suite runs in a network namespace with only lo up.

use std::path::{Path, PathBuf};
use std::process::Command;

use picket_protocol::json::{DiffDoc, Doc};
use picket_protocol::{ScanDetail, ScanStatus};
use picket_testkit::checkers::schema_errors;
use picket_testkit::targets::{https, Target};
use picket_testkit::*;
use serde_json::Value;

/// `FINDING severity port title|detail`, what the stand-in's regex parser reads.
const PATTERN: &str = r"^FINDING (?P<severity>\w+) (?P<port>\d+) (?P<title>[^|]+)\|(?P<detail>.*)$";

/// The first scan's findings: severity, title, detail.
const BEFORE: [(&str, &str, &str); 3] = [
    (
        "high",
        "Log4Shell reachable",
        "<script>alert('picket')</script> in a header",
    ),
    ("medium", "Weak TLS cipher RC4", "cipher RC4-SHA accepted"),
    (
        "low",
        "Server banner leaks version",
        "Server: Test/1.0 & more",
    ),
];

/// The second's: Log4Shell gone (resolved: the run is complete), the cipher's detail
/// changed, the banner kept, a listing new.
const AFTER: [(&str, &str, &str); 3] = [
    (
        "medium",
        "Weak TLS cipher RC4",
        "ciphers RC4-SHA, RC4-MD5 accepted",
    ),
    (
        "low",
        "Server banner leaks version",
        "Server: Test/1.0 & more",
    ),
    ("info", "Directory listing enabled", "GET / lists files"),
];

/// Two done scans of one HTTPS target, the first with `BEFORE`, the second with `AFTER`.
struct World {
    env: Env,
    _daemon: Daemon,
    _target: Target,
    _dir: tempfile::TempDir,
    first: ScanDetail,
    second: ScanDetail,
}

fn write_findings(file: &Path, port: u16, findings: &[(&str, &str, &str)]) {
    let text: String = findings
        .iter()
        .map(|(sev, title, detail)| format!("FINDING {sev} {port} {title}|{detail}\n"))
        .collect();
    std::fs::write(file, text).unwrap();
}

fn scanned_twice() -> World {
    require_installed(&["nmap", "curl"]);
    let dir = tempfile::tempdir().unwrap();
    let target = https(dir.path());
    let port = target.port;
    let list = dir.path().join("findings.txt");
    let script = tool_script(dir.path(), "vulnscan", &format!("cat {}", list.display()));
    // ttl 0: the second scan must run the tool again, not replay the first's output.
    let tool = ToolConfig::new("vulnscan")
        .program(script)
        .no_version_probe()
        .ttl_secs(0)
        .parser_regex(PATTERN);
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let daemon = env.start_daemon();
    let ports = port.to_string();
    let args = ["127.0.0.1", "--ports", &ports, "--tools", "nmap,vulnscan"];
    write_findings(&list, port, &BEFORE);
    let first = env.scan_wait(&args);
    write_findings(&list, port, &AFTER);
    let second = env.scan_wait(&args);
    for scan in [&first, &second] {
        assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
        assert!(
            scan.services.iter().any(|s| s.port == port),
            "nmap saw the target: {scan:#?}"
        );
    }
    World {
        env,
        _daemon: daemon,
        _target: target,
        _dir: dir,
        first,
        second,
    }
}

/// One answer from the API: status, Content-Type, body bytes.
struct Answer {
    status: u16,
    content_type: String,
    /// The header block as curl dumped it (`-D`).
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

fn api_socket(env: &Env) -> PathBuf {
    env.socket().with_file_name("api.sock")
}

/// `curl --unix-socket api.sock http://picket/PATH`.
fn get(env: &Env, path: &str) -> Answer {
    let body_file = env.root().join("answer.body");
    let head_file = env.root().join("answer.head");
    let out = output_with_deadline(
        Command::new("curl")
            .args(["-sS", "-m", "60", "--unix-socket"])
            .arg(api_socket(env))
            .args(["-w", "%{http_code} %{content_type}", "-o"])
            .arg(&body_file)
            .arg("-D")
            .arg(&head_file)
            .arg(format!("http://picket{path}")),
        CLIENT_DEADLINE,
    );
    assert!(out.status.success(), "curl {path}: {}", describe(&out));
    let written = stdout(&out);
    let (status, content_type) = written.split_once(' ').unwrap_or((&written, ""));
    Answer {
        status: status.parse().unwrap_or_else(|_| panic!("{written:?}")),
        content_type: content_type.to_string(),
        headers: std::fs::read_to_string(&head_file).unwrap(),
        body: std::fs::read(&body_file).unwrap(),
    }
}

/// `picket ARGS`, which must succeed; its stdout bytes.
fn cli(env: &Env, args: &[&str]) -> Vec<u8> {
    let out = env.picket(args);
    assert!(out.status.success(), "picket {args:?}: {}", describe(&out));
    out.stdout
}

/// The API's diff is the CLI's, byte for byte in both directions: the CLI's pretty
/// document re-serialized compactly is the API's body, and the API's body printed as the
/// CLI prints is the CLI's stdout. Returns the document.
fn same_diff(env: &Env, query: &str, cli_args: &[&str]) -> DiffDoc {
    let api = get(env, &format!("/v1/diff?{query}"));
    assert_eq!(api.status, 200, "{}", String::from_utf8_lossy(&api.body));
    assert_eq!(api.content_type, "application/json");
    let printed = cli(env, cli_args);
    let from_cli: Doc<DiffDoc> = serde_json::from_slice(&printed).unwrap();
    let from_api: Doc<DiffDoc> = serde_json::from_slice(&api.body).unwrap();
    assert_eq!(
        serde_json::to_vec(&from_cli).unwrap(),
        api.body,
        "the API's body is the CLI's document"
    );
    let as_cli_prints = serde_json::to_string_pretty(&from_api).unwrap() + "\n";
    assert_eq!(
        as_cli_prints,
        String::from_utf8(printed).unwrap(),
        "the CLI prints the API's document"
    );
    let errors = schema_errors("diff", &api.json());
    assert!(errors.is_empty(), "{errors:#?}");
    from_api.body
}

fn titles(fs: &[picket_protocol::Finding]) -> Vec<&str> {
    fs.iter().map(|f| f.title.as_str()).collect()
}

#[test]
fn diff_over_the_api_is_picket_diff_json() {
    let w = scanned_twice();
    let (a, b) = (w.first.id.to_string(), w.second.id.to_string());
    let d = same_diff(&w.env, &format!("a={a}&b={b}"), &["--json", "diff", &a, &b]);
    assert_eq!((d.from, d.to), (w.first.id, w.second.id));
    assert_eq!(titles(&d.new), ["Directory listing enabled"]);
    assert_eq!(titles(&d.resolved), ["Log4Shell reachable"]);
    assert!(d.unchecked.is_empty(), "{d:#?}");
    assert_eq!(d.changed.len(), 1, "{d:#?}");
    assert_eq!(d.changed[0].finding.title, "Weak TLS cipher RC4");
    assert_eq!(d.changed[0].detail_before, "cipher RC4-SHA accepted");
    // --target: the last two done scans, the same pair here.
    let by_target = same_diff(
        &w.env,
        "target=127.0.0.1",
        &["--json", "diff", "--target", "127.0.0.1"],
    );
    assert_eq!((by_target.from, by_target.to), (w.first.id, w.second.id));
    // And the other way round, so the pair's order really comes from the query.
    let back = same_diff(&w.env, &format!("a={b}&b={a}"), &["--json", "diff", &b, &a]);
    assert_eq!(titles(&back.new), ["Log4Shell reachable"]);
}

/// Each format's media type.
const FORMATS: [(&str, &str); 5] = [
    ("sarif", "application/sarif+json"),
    ("html", "text/html; charset=utf-8"),
    ("markdown", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("junit", "application/xml; charset=utf-8"),
];

/// `/v1/reports?QUERY` answers 200 with `content_type` and exactly `picket report ARGS`'s
/// stdout; returns the body.
fn same_report(env: &Env, query: &str, content_type: &str, cli_args: &[&str]) -> String {
    let api = get(env, &format!("/v1/reports?{query}"));
    let text = String::from_utf8(api.body.clone()).unwrap();
    assert_eq!(api.status, 200, "{query}: {text}");
    assert_eq!(api.content_type, content_type, "{query}");
    let mut args = vec!["report"];
    args.extend_from_slice(cli_args);
    let printed = cli(env, &args);
    assert!(!printed.is_empty(), "picket {args:?} printed nothing");
    assert_eq!(
        text,
        String::from_utf8(printed).unwrap(),
        "{query}: the API's report is picket report's"
    );
    text
}

#[test]
fn reports_over_the_api_are_picket_reports_bytes() {
    let w = scanned_twice();
    let (a, b) = (w.first.id.to_string(), w.second.id.to_string());
    for (format, content_type) in FORMATS {
        let text = same_report(
            &w.env,
            &format!("scans={a},{b}&format={format}"),
            content_type,
            &[&a, &b, "--format", format],
        );
        let ext = if format == "markdown" {
            "md"
        } else if format == "junit" {
            "xml"
        } else {
            format
        };
        let head = get(
            &w.env,
            &format!("/v1/reports?scans={a},{b}&format={format}"),
        )
        .headers
        .to_ascii_lowercase();
        let named =
            format!("content-disposition: attachment; filename=\"picket-report-{a}-{b}.{ext}\"");
        assert!(head.contains(&named), "{format}: {named} in {head}");
        // Both scans are in it: a finding only the first had, and one only the second.
        assert!(text.contains("Log4Shell reachable"), "{format}: {text}");
        assert!(
            text.contains("Directory listing enabled"),
            "{format}: {text}"
        );
        if format == "html" {
            assert!(
                !text.contains("<script>alert"),
                "the page escapes tool text"
            );
        }
    }
    let junit = same_report(
        &w.env,
        "target=127.0.0.1&format=junit&fail_on=high",
        "application/xml; charset=utf-8",
        &[
            "--target",
            "127.0.0.1",
            "--format",
            "junit",
            "--fail-on",
            "high",
        ],
    );
    assert!(
        junit.contains("failures=\"1\""),
        "only Log4Shell fails: {junit}"
    );
    // `since` after the first scan's creation keeps the second scan only.
    let since = &w.second.created_at;
    let newer = same_report(
        &w.env,
        &format!("target=127.0.0.1&since={since}&format=csv"),
        "text/csv; charset=utf-8",
        &["--target", "127.0.0.1", "--since", since, "--format", "csv"],
    );
    assert!(!newer.contains("Log4Shell reachable"), "{newer}");
}

/// `status` and a JSON error document whose message contains each of `words`.
fn refused(env: &Env, path: &str, status: u16, kind: &str, words: &[&str]) {
    let api = get(env, path);
    let doc = api.json();
    assert_eq!(api.status, status, "{path}: {doc:#}");
    assert_eq!(api.content_type, "application/json", "{path}");
    assert!(schema_errors("error", &doc).is_empty(), "{path}: {doc:#}");
    assert_eq!(doc["error"]["kind"], kind, "{path}: {doc:#}");
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    for w in words {
        assert!(message.contains(w), "{path}: {w:?} not in {doc:#}");
    }
    let hint = doc["error"]["hint"].as_str().unwrap_or_default();
    assert!(!hint.is_empty(), "{path}: an error says the fix: {doc:#}");
}

#[test]
fn bad_queries_get_error_documents_naming_the_fix() {
    require_installed(&["curl"]);
    let env = Env::new();
    let _daemon = env.start_daemon();
    refused(&env, "/v1/diff?a=1", 400, "invalid", &["not both"]);
    refused(
        &env,
        "/v1/diff?a=1&b=2&target=x",
        400,
        "invalid",
        &["not both"],
    );
    refused(&env, "/v1/diff?a=one&b=2", 400, "invalid", &["query"]);
    refused(&env, "/v1/diff?a=1&b=2&from=3", 400, "invalid", &["from"]);
    refused(&env, "/v1/diff?a=1&b=2", 404, "not_found", &[]);
    refused(
        &env,
        "/v1/diff?target=127.0.0.1",
        404,
        "not_found",
        &["fewer than two done scans"],
    );
    refused(&env, "/v1/reports?scans=1", 400, "invalid", &["format"]);
    refused(
        &env,
        "/v1/reports?scans=1&format=pdf",
        400,
        "invalid",
        &["pdf"],
    );
    refused(
        &env,
        "/v1/reports?scans=1,x&format=csv",
        400,
        "invalid",
        &["1,x"],
    );
    refused(
        &env,
        "/v1/reports?format=csv",
        400,
        "invalid",
        &["not both"],
    );
    refused(
        &env,
        "/v1/reports?scans=1&format=junit&fail_on=worst",
        400,
        "invalid",
        &["worst"],
    );
    refused(
        &env,
        "/v1/reports?target=127.0.0.1&since=yesterday&format=csv",
        400,
        "invalid",
        &["yesterday"],
    );
    refused(
        &env,
        "/v1/reports?target=127.0.0.1&format=csv",
        404,
        "not_found",
        &["nothing to report"],
    );
    refused(
        &env,
        "/v1/reports?scans=7&format=csv",
        404,
        "not_found",
        &[],
    );
}

#[test]
fn the_openapi_document_describes_diff_and_reports() {
    require_installed(&["curl"]);
    let env = Env::new();
    let _daemon = env.start_daemon();
    let doc = get(&env, "/v1/openapi.json").json();
    let diff = &doc["paths"]["/v1/diff"]["get"];
    assert_eq!(
        diff["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/diff",
        "{diff:#}"
    );
    let report = &doc["paths"]["/v1/reports"]["get"];
    let content = &report["responses"]["200"]["content"];
    for (format, content_type) in FORMATS {
        let media = content_type.split(';').next().unwrap();
        assert!(
            content.get(media).is_some(),
            "{format}: {media} in {report:#}"
        );
    }
    let params: Vec<&str> = report["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(params, ["scans", "target", "since", "format", "fail_on"]);
}
