//! The web dashboard in a real browser (issue 16, must-show 4): picketd with `[http]
//! listen` on a loopback port, a stand-in tool that waits on a gate file, and
//! tests/browser/dashboard.py driving headless Chromium through selenium (.venv-checks):
//! log in with the token, start a scan from the form, see its status turn to done without
//! a reload once the gate opens, open it, see its findings, visit every page. Screenshots
//! go to this test's temp dir (printed on failure), never into the repository.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use picket_testkit::scripts::until_exists;
use picket_testkit::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port nothing listens on now (the daemon binds it right after).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().unwrap().port()
}

/// A discovery tool that blocks until `gate` exists, then reports one finding.
fn gated_tool(dir: &Path, gate: &Path) -> ToolConfig {
    let body = format!(
        "{}\necho \"PICKET-FINDING dashboard-$1\"",
        until_exists(gate)
    );
    ToolConfig::new("gated")
        .program(tool_script(dir, "gated", &body))
        .no_version_probe()
        .finds_marked_lines()
}

fn token_file(env: &Env) -> PathBuf {
    let path = env.data_dir().join("http-token");
    eventually(EVENTUALLY, "picketd writes its http-token", || {
        path.exists().then_some(())
    });
    path
}

#[test]
fn a_browser_logs_in_starts_a_scan_and_sees_it_finish_live() {
    let python = root().join(".venv-checks/bin/python");
    assert!(
        python.exists(),
        "{python:?} is missing: run scripts/setup (or link .venv-checks)"
    );
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let port = free_port();
    let config = ConfigBuilder::new()
        .tool(gated_tool(dir.path(), &gate))
        .set("http", "listen", format!("127.0.0.1:{port}"))
        .raw("[profiles.dash]\ndiscovery = [\"gated\"]\n");
    let env = Env::new().with_config(&config);
    let daemon = env.start_daemon();
    let token = token_file(&env);
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut driver = Command::new(&python);
    driver
        .arg(root().join("tests/browser/dashboard.py"))
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .arg("--token-file")
        .arg(&token)
        .arg("--gate")
        .arg(&gate)
        .arg("--shots")
        .arg(&shots)
        .arg("--profile-dir")
        .arg(dir.path().join("chromium"))
        .env("HOME", dir.path());
    let out = output_with_deadline(&mut driver, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {stdout}\n{}\nscreenshots in {shots:?}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log()
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_what_the_browser_saw(&seen, &shots);
    // The browser's scan is the daemon's scan: the CLI sees it done with the same finding.
    let id = seen["scan"].as_i64().expect("scan id").to_string();
    let detail = env.wait_one(&id);
    assert_eq!(detail.findings.len(), 1, "{detail:#?}");
    assert_api_sock_serves_the_scan_page(&env, &id);
    if std::env::var_os("PICKET_KEEP_SCREENSHOTS").is_some() {
        let _ = dir.keep();
    }
}

/// What tests/browser/dashboard.py reports, and a screenshot of every page.
fn assert_what_the_browser_saw(seen: &serde_json::Value, shots: &Path) {
    assert_eq!(seen["csrf_refused"], 403, "{seen}");
    let refusal = seen["refusal"].as_str().unwrap_or("");
    assert!(
        refusal.contains("192.0.2.1"),
        "the scope refusal names the target: {seen}"
    );
    assert_ne!(seen["first_status"], "done", "{seen}");
    assert_eq!(seen["final_status"], "done", "{seen}");
    let findings = seen["findings"].as_array().expect("findings listed");
    assert!(
        findings.iter().any(|f| f
            .as_str()
            .unwrap_or("")
            .contains("PICKET-FINDING dashboard-127.0.0.1")),
        "{seen}"
    );
    for page in [
        "login",
        "scan-refused",
        "scans-running",
        "scans-done",
        "scan",
        "findings",
        "diff",
        "performance",
        "tools",
        "schedules",
    ] {
        let shot = shots.join(format!("{page}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "no screenshot of {page} at {shot:?}");
    }
    let diff = format!(
        "From #{} to #{}",
        seen["scan"],
        seen["scan"].as_i64().unwrap() + 1
    );
    assert_eq!(seen["diff"], diff.as_str(), "{seen}");
}

/// api.sock serves the same pages (peer-checked, no session, so no CSRF field).
fn assert_api_sock_serves_the_scan_page(env: &Env, id: &str) {
    let api = env.socket().with_file_name("api.sock");
    let page = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&api)
        .arg(format!("http://picket/scans/{id}"))
        .output()
        .expect("curl");
    let html = String::from_utf8_lossy(&page.stdout);
    assert!(html.contains(&format!("<h1>Scan #{id}</h1>")), "{html}");
    assert!(
        html.contains("PICKET-FINDING dashboard-127.0.0.1"),
        "{html}"
    );
    assert!(!html.contains("csrf_token"), "{html}");
}
