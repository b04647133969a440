//! The `--json` contract end to end (issue 14): every command's output, printed by the real
//! picket against the real picketd, validates against its schema shipped in `schemas/`
//! (the files protocol/tests/schemas.rs keeps fresh), carries `schema_version`, gives
//! times as RFC 3339 and absent values as null; `picket finding ID` shows a finding's
//! detail; `--fail-on` and the exit codes of README's table. Stand-in tools only; the
//! suite runs in a network namespace with only lo up.

use std::path::{Path, PathBuf};
use std::process::Output;

use picket_testkit::scripts::until_exists;
use picket_testkit::*;
use serde_json::Value;

/// Severity, title, then the detail, which names a CVE: what the regex parser reads.
const GRADED: &str =
    r"^(?P<severity>\w+) (?P<title>PICKET-FINDING \S+) (?P<detail>.*?(?P<cve>CVE-\d+-\d+).*)$";

/// `out`'s stdout is one document valid against `schemas/STEM.json`, with the contract's
/// general rules; returns it.
fn valid(stem: &str, out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{stem}: not one JSON document ({e}):\n{}", describe(out)));
    let errors = picket_testkit::checkers::schema_errors(stem, &doc);
    assert!(errors.is_empty(), "{stem}: {errors:#?}\n{doc:#}");
    assert_eq!(doc["schema_version"], 1, "{stem}: {doc:#}");
    general_rules(stem, "", &doc);
    doc
}

/// Times are RFC 3339 (`*_at`, `*_seen`), and no `error` or `hint` is an empty string.
fn general_rules(stem: &str, path: &str, v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}/{k}");
                if let Value::String(s) = v {
                    if k.ends_with("_at") || k.ends_with("_seen") {
                        assert!(
                            chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                            "{stem}: {here} = {s:?} is not RFC 3339"
                        );
                    }
                    if k == "error" || k == "hint" {
                        assert!(!s.is_empty(), "{stem}: {here} is \"\", not null");
                    }
                }
                let moment = ["started", "finished", "created", "seen"];
                assert!(
                    !(k.ends_with("_ms") && moment.iter().any(|m| k.contains(m))),
                    "{stem}: {here}: a time in epoch ms"
                );
                general_rules(stem, &here, v);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| general_rules(stem, &format!("{path}[]"), i)),
        _ => {}
    }
}

fn run(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    env.picket(all)
}

/// `picket --json ARGS` exits `code` and prints a document valid against `stem`.
fn check(env: &Env, code: i32, stem: &str, args: &[&str]) -> Value {
    let out = run(env, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        describe(&out)
    );
    valid(stem, &out)
}

struct World {
    env: Env,
    _daemon: Daemon,
    gate: PathBuf,
    _dir: tempfile::TempDir,
}

/// Tools: `finder` (a high finding naming a CVE), `mild` (a low one), `blocker` (waits
/// for the gate), `ghost` (not installed).
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let finder = tool_script(
        dir.path(),
        "finder",
        "echo 'high PICKET-FINDING weak-cipher the server accepts RC4-MD5, see CVE-2013-2566'",
    );
    let mild = tool_script(
        dir.path(),
        "mild",
        "echo 'low PICKET-FINDING banner the banner names its version, CVE-2000-0001'",
    );
    let blocker = tool_script(dir.path(), "blocker", &until_exists(&gate));
    let tool = |name: &str, program: &Path| {
        ToolConfig::new(name)
            .program(program)
            .no_version_probe()
            .parser_regex(GRADED)
    };
    let cfg = ConfigBuilder::new()
        .tool(tool("finder", &finder))
        .tool(tool("mild", &mild))
        .tool(tool("blocker", &blocker).ttl_secs(0))
        .tool(
            ToolConfig::new("ghost")
                .program("picket-no-such-tool")
                .finds_marked_lines(),
        );
    let env = Env::new().with_config(&cfg);
    let daemon = env.start_daemon();
    World {
        env,
        _daemon: daemon,
        gate,
        _dir: dir,
    }
}

/// The scan documents: submitted, waited for (one scan or two: one shape), shown, listed,
/// their findings and one finding's detail.
fn scans_waits_and_findings(env: &Env) {
    let scan = check(
        env,
        0,
        "scan",
        &["scan", "127.0.0.1", "--tools", "finder", "--wait"],
    );
    let a = scan["id"].to_string();
    let run0 = &scan["tool_runs"][0];
    assert!(
        run0["error"].is_null(),
        "a run without error: null: {scan:#}"
    );
    assert!(run0["started_at"].is_string(), "{scan:#}");
    let b = check(
        env,
        0,
        "submitted",
        &["scan", "127.0.0.1", "--tools", "mild"],
    )["id"]
        .to_string();
    let one = check(env, 0, "wait", &["wait", &a]);
    let two = check(env, 0, "wait", &["wait", &a, &b]);
    assert_eq!(
        one["scans"][0], two["scans"][0],
        "one scan or two: the same shape"
    );
    assert_eq!(two["scans"].as_array().unwrap().len(), 2);
    check(env, 0, "scan", &["show", &a]);
    check(env, 0, "status", &["status"]);
    check(env, 0, "status", &["status", &a]);
    let list = check(env, 0, "list", &["list"]);
    assert!(list["scans"][0]["findings_count"].is_u64(), "{list:#}");
    check(env, 0, "findings", &["findings"]);
    let page = check(
        env,
        0,
        "findings",
        &["findings", &a, "--min-severity", "high"],
    );
    let id = page["findings"][0]["id"].to_string();
    let detail = check(env, 0, "finding", &["finding", &id]);
    assert_eq!(detail["run"]["tool"], "finder", "{detail:#}");
    check(env, 0, "findings", &["findings", "--state", "all"]);
    let diff = check(env, 0, "diff", &["diff", &a, &b]);
    assert_eq!(diff["unchecked"][0]["tool"], "finder", "{diff:#}");
}

#[test]
fn every_command_json_validates_against_its_shipped_schema() {
    let w = world();
    let env = &w.env;
    check(env, 0, "ping", &["ping"]);
    check(env, 0, "health", &["health"]);
    check(env, 0, "metrics", &["stats"]);
    check(env, 0, "metrics", &["metrics", "--format", "json"]);
    check(env, 0, "tools", &["tools"]);

    scans_waits_and_findings(env);

    let import =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data/nmap-http-https.xml");
    check(
        env,
        0,
        "scan",
        &["import", "nmap", import.to_str().unwrap()],
    );

    check(env, 0, "cache-stats", &["cache", "stats"]);
    check(
        env,
        0,
        "cache-changed",
        &["cache", "invalidate", "--tool", "mild"],
    );
    check(env, 0, "cache-changed", &["cache", "cleanup"]);
    check(env, 0, "cache-changed", &["cache", "clear"]);

    let blocked = check(
        env,
        0,
        "submitted",
        &["scan", "127.0.0.1", "--tools", "blocker"],
    );
    let c = blocked["id"].to_string();
    check(env, 0, "cancel", &["cancel", &c]);
    std::fs::write(&w.gate, "open").unwrap();

    let added = check(
        env,
        0,
        "schedules",
        &[
            "schedule",
            "add",
            "127.0.0.1",
            "--every",
            "1h",
            "--tools",
            "mild",
        ],
    );
    let sid = added["schedules"][0]["id"].to_string();
    assert!(
        added["schedules"][0]["next_run_at"].is_string(),
        "{added:#}"
    );
    check(env, 0, "schedules", &["schedule", "list"]);
    let ran = check(env, 0, "schedules", &["schedule", "run-now", &sid]);
    assert!(ran["schedules"][0]["last_scan"].is_i64(), "{ran:#}");
    check(env, 0, "schedules", &["schedule", "pause", &sid]);
    check(env, 0, "schedules", &["schedule", "resume", &sid]);
    check(env, 0, "schedules", &["schedule", "remove", &sid]);
    check(env, 5, "error", &["schedule", "remove", &sid]);

    // Failures: one document each, with the exit code of README's table.
    let usage = check(env, 2, "error", &["scan"]);
    assert_eq!(usage["error"]["kind"], "usage", "{usage:#}");
    check(env, 2, "error", &["findings", "--min-severity", "severe"]);
    let missing = check(env, 5, "error", &["finding", "999999"]);
    assert_eq!(missing["error"]["kind"], "not_found", "{missing:#}");
    check(env, 5, "error", &["show", "999999"]);
    // Refused input, never scanned: 192.0.2.1 (TEST-NET-1) is outside the default scope, and
    // the test runs in a loopback-only namespace; the refusal document is what is checked.
    check(env, 4, "error", &["scan", "192.0.2.1"]); // refused input: outside the scope
    let cancelled = check(env, 6, "wait", &["wait", &c]);
    assert_eq!(cancelled["scans"][0]["status"], "cancelled");

    check(env, 0, "shutdown", &["shutdown"]);
    check(env, 3, "error", &["--no-autostart", "ping"]);
}

#[test]
fn finding_shows_the_detail_and_fail_on_gates_with_exit_7() {
    let w = world();
    let env = &w.env;
    let high = run(
        env,
        &[
            "scan",
            "127.0.0.1",
            "--tools",
            "finder",
            "--wait",
            "--fail-on",
            "high",
        ],
    );
    assert_eq!(high.status.code(), Some(7), "{}", describe(&high));
    let scan = valid("scan", &high);
    let low = run(
        env,
        &[
            "scan",
            "127.0.0.1",
            "--tools",
            "mild",
            "--wait",
            "--fail-on",
            "high",
        ],
    );
    assert_eq!(low.status.code(), Some(0), "{}", describe(&low));

    let gate = env.picket(["findings", "--fail-on", "high"]);
    assert_eq!(gate.status.code(), Some(7), "{}", describe(&gate));
    let id = scan["id"].to_string();
    let medium = env.picket(["findings", &id, "--fail-on", "critical"]);
    assert_eq!(medium.status.code(), Some(0), "{}", describe(&medium));

    let f = scan["findings"][0]["id"].to_string();
    let shown = env.picket(["finding", &f]);
    assert!(shown.status.success(), "{}", describe(&shown));
    let text = stdout(&shown);
    for want in [
        "the server accepts RC4-MD5",
        "CVE-2013-2566",
        "first seen",
        "last seen",
        "finder on 127.0.0.1",
        "high",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}

#[test]
fn a_scan_whose_every_run_was_skipped_ends_failed_with_the_reason() {
    let w = world();
    let out = run(&w.env, &["scan", "127.0.0.1", "--tools", "ghost", "--wait"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let scan = valid("scan", &out);
    assert_eq!(scan["status"], "failed", "{scan:#}");
    assert!(
        scan["error"]
            .as_str()
            .unwrap_or("")
            .contains("no tool could run"),
        "{scan:#}"
    );
}
