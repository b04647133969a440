//! Scope at run time (issue 10, must-show 3 and 4): redirects that tools report are never
//! followed by the tools themselves, out-of-scope ones end as a "not followed" finding with
//! the escape sensor at zero, in-scope ones become follow-up runs; and a reload that narrows
//! the scope applies to queued scans and to runs not started yet, which end skipped naming
//! the rule. Every target is a loopback server the test started; the sensor's addresses
//! appear only in a redirect's Location header and must never be contacted.

use std::path::Path;

use picket_protocol::{Finding, RunStatus, ScanDetail, ScanStatus, Severity, ToolRun};
use picket_testkit::scripts::until_exists;
use picket_testkit::targets::{http, redirect};
use picket_testkit::*;

/// The "not followed" findings of a scan.
fn not_followed(scan: &ScanDetail) -> Vec<&Finding> {
    scan.findings
        .iter()
        .filter(|f| f.title.starts_with("Redirect not followed"))
        .collect()
}

fn runs_of<'a>(scan: &'a ScanDetail, tool: &str) -> Vec<&'a ToolRun> {
    scan.tool_runs.iter().filter(|r| r.tool == tool).collect()
}

/// One scan of a server redirecting out of scope ended with the finding on that server's
/// port, naming the location and the scope's reason, and whatweb ran once (no follow-up).
fn assert_reported_not_followed(scan: &ScanDetail, port: u16, location: &str) {
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    let found = not_followed(scan);
    assert_eq!(found.len(), 1, "one 'not followed' finding: {scan:#?}");
    let f = found[0];
    assert_eq!(f.title, format!("Redirect not followed: {location}"));
    assert_eq!(
        (f.tool.as_str(), f.host.as_str(), f.port, f.severity),
        ("whatweb", "127.0.0.1", Some(port), Severity::Info)
    );
    assert!(
        f.detail.contains("outside the scope") && f.detail.contains("matches no allow rule"),
        "the finding says why: {}",
        f.detail
    );
    let whatweb = runs_of(scan, "whatweb");
    assert_eq!(
        whatweb.len(),
        1,
        "nothing followed the redirect: {whatweb:#?}"
    );
    assert_eq!(whatweb[0].status, RunStatus::Done);
}

#[test]
fn a_redirect_out_of_scope_is_reported_and_never_followed() {
    require_installed(&["whatweb", "nmap"]);
    let sensor = Sensor::new();
    let location = format!("http://{}/", sensor.address());
    let redirector = redirect(&location);
    let env = Env::new();
    let _d = env.start_daemon();
    let before = sensor.tx_packets();
    let url = format!("http://127.0.0.1:{}/", redirector.port);

    // --tools on the URL, the quick profile on the URL (a fresh whatweb run, not the
    // cache), and the quick profile's own path: nmap discovers the server, whatweb follows.
    let tools = env.scan_wait(&[&url, "--tools", "whatweb"]);
    assert_reported_not_followed(&tools, redirector.port, &location);
    let profile = env.scan_wait(&[&url, "--no-cache"]);
    assert_reported_not_followed(&profile, redirector.port, &location);
    assert!(!profile.tool_runs[0].cache_hit, "{profile:#?}");
    let port = redirector.port.to_string();
    let discovered = env.scan_wait(&["127.0.0.1", "--ports", &port, "--no-cache"]);
    assert_reported_not_followed(&discovered, redirector.port, &location);
    assert_eq!(runs_of(&discovered, "nmap").len(), 1, "{discovered:#?}");

    assert_eq!(
        sensor.tx_packets(),
        before,
        "a packet left for {} (the redirect's target)",
        sensor.address()
    );
}

#[test]
fn a_redirect_to_another_in_scope_port_is_scanned_by_one_follow_up_run() {
    require_installed(&["whatweb"]);
    let env = Env::new();
    let page = http(env.root());
    let to_page = format!("http://127.0.0.1:{}/", page.port);
    // Two servers redirecting to the same page, by address and by name: the name is checked
    // and resolved like a target, and the page is scanned once, at its address.
    let by_name = format!("http://localhost:{}/index.html", page.port);
    let (first, second) = (redirect(&to_page), redirect(&by_name));
    let _d = env.start_daemon();
    let (url1, url2) = (
        format!("http://127.0.0.1:{}/", first.port),
        format!("http://127.0.0.1:{}/", second.port),
    );
    let scan = env.scan_wait(&[&url1, &url2, "--tools", "whatweb"]);
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert!(not_followed(&scan).is_empty(), "{scan:#?}");
    let mut targets: Vec<&str> = runs_of(&scan, "whatweb")
        .iter()
        .map(|r| r.target.as_str())
        .collect();
    targets.sort();
    let mut expected = vec![url1.as_str(), url2.as_str(), to_page.as_str()];
    expected.sort();
    assert_eq!(
        targets, expected,
        "one follow-up run on the page: {scan:#?}"
    );
    assert!(scan.tool_runs.iter().all(|r| r.status == RunStatus::Done));
    assert!(
        scan.findings
            .iter()
            .any(|f| f.port == Some(page.port) && f.title == "Technology: WordPress 5.8.1"),
        "the follow-up scanned the page: {:#?}",
        scan.findings
    );
}

/// A stand-in tool running `program` on `{host}`, never probed, finding nothing.
fn stand_in(name: &str, program: &Path) -> ToolConfig {
    ToolConfig::new(name).program(program).no_version_probe()
}

/// A recorder: appends its argv to `witness` each time it runs.
fn recorder(dir: &Path, witness: &Path) -> ToolConfig {
    let script = tool_script(
        dir,
        "recorder",
        &format!("echo \"$@\" >> {}", witness.display()),
    );
    stand_in("recorder", &script).ttl_secs(0).triggers(["http"])
}

/// `cfg` with `[scope] deny = [denied]` added, as the reload's new file.
fn denying(cfg: &ConfigBuilder, denied: &str) -> String {
    cfg.clone()
        .raw(&format!("[scope]\ndeny = [\"{denied}\"]"))
        .render()
}

/// Rewrites the daemon's config file and waits for the reload to be applied.
fn reload(env: &Env, daemon: &Daemon, text: &str) {
    std::fs::write(env.config_file().unwrap(), text).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("configuration reloaded");
}

/// `picket --json wait ID`, whatever the scan's end (a failed scan exits 1).
fn wait_any(env: &Env, id: &str) -> ScanDetail {
    parse::<picket_protocol::json::WaitDoc>(&env.picket(["--json", "wait", id]))
        .scans
        .remove(0)
}

/// The run was skipped, naming the deny rule that refused it.
fn assert_skipped_by(run: &ToolRun, rule: &str) {
    assert_eq!(run.status, RunStatus::Skipped, "{run:#?}");
    let error = run.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(&format!("denied by scope rule \"{rule}\""))
            && error.contains("not started"),
        "the run names the rule: {run:#?}"
    );
}

#[test]
fn a_queued_scan_whose_target_a_reload_denies_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, witness) = (dir.path().join("gate"), dir.path().join("ran"));
    let blocker = tool_script(dir.path(), "blocker", &until_exists(&gate));
    let cfg = ConfigBuilder::new()
        .limit("max_concurrent_scans", 1)
        .tool(stand_in("blocker", &blocker).ttl_secs(0))
        .tool(recorder(dir.path(), &witness));
    let env = Env::new().with_config(&cfg);
    let daemon = env.start_daemon();
    let first = env.picket_json(["scan", "127.0.0.1", "--tools", "blocker"])["id"].to_string();
    let second = env.picket_json(["scan", "127.0.0.5", "--tools", "recorder"])["id"].to_string();
    let queued: ScanDetail = env.picket_as(["show", &second]);
    assert_eq!(
        queued.status,
        ScanStatus::Queued,
        "the first holds the only slot"
    );

    reload(&env, &daemon, &denying(&cfg, "127.0.0.5"));
    std::fs::write(&gate, "open").unwrap();

    assert_eq!(wait_any(&env, &first).status, ScanStatus::Done);
    let denied = wait_any(&env, &second);
    assert_eq!(denied.status, ScanStatus::Failed, "{denied:#?}");
    assert!(
        denied
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("127.0.0.5"),
        "the scan says why: {denied:#?}"
    );
    assert_eq!(denied.tool_runs.len(), 1, "{denied:#?}");
    assert_skipped_by(&denied.tool_runs[0], "127.0.0.5/32");
    assert!(
        !witness.exists(),
        "the denied target reached the tool: {:?}",
        std::fs::read_to_string(&witness)
    );
    // Still serving, and the narrowed scope is the one submissions meet too.
    let refused = env.picket(["--json", "scan", "127.0.0.5", "--tools", "recorder"]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
}

#[test]
fn a_follow_up_not_started_before_a_reload_is_skipped_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, witness) = (dir.path().join("gate"), dir.path().join("ran"));
    // Discovery waits for the gate, then reports 127.0.0.1:18080 (http) and :18443 (https).
    let xml = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data/nmap-http-https.xml");
    let disc = tool_script(
        dir.path(),
        "disc",
        &format!("{}\ncat {}", until_exists(&gate), xml.display()),
    );
    let cfg = ConfigBuilder::new()
        .raw("[profiles.gated]\ndiscovery = [\"disc\"]\nfollow_up = [\"recorder\"]")
        .tool(stand_in("disc", &disc).ttl_secs(0).set("parser", "nmap"))
        .tool(recorder(dir.path(), &witness));
    let env = Env::new().with_config(&cfg);
    let daemon = env.start_daemon();
    let id = env.picket_json(["scan", "127.0.0.1", "--profile", "gated"])["id"].to_string();
    eventually(EVENTUALLY, "discovery running", || {
        let shown: ScanDetail = env.picket_as(["show", &id]);
        (shown.status == ScanStatus::Running).then_some(())
    });

    reload(&env, &daemon, &denying(&cfg, "127.0.0.1"));
    std::fs::write(&gate, "open").unwrap();

    let scan = wait_any(&env, &id);
    let disc_runs = runs_of(&scan, "disc");
    assert_eq!(
        disc_runs[0].status,
        RunStatus::Done,
        "started before: {scan:#?}"
    );
    let follow_ups = runs_of(&scan, "recorder");
    assert_eq!(
        follow_ups.len(),
        2,
        "both discovered web services: {scan:#?}"
    );
    for run in follow_ups {
        assert_skipped_by(run, "127.0.0.1/32");
    }
    assert!(
        !witness.exists(),
        "a follow-up ran after the reload denied it"
    );
    assert!(
        scan.warnings.iter().any(|w| w.contains("skipped")),
        "the scan says so: {scan:#?}"
    );
}

#[test]
fn a_run_waiting_in_its_tools_queue_through_a_reload_is_skipped_at_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, started) = (dir.path().join("gate"), dir.path().join("started"));
    // One run at a time: the second target's run waits in the tool's queue, already
    // dispatched by the scan (so only the check at the process start can refuse it).
    let script = tool_script(
        dir.path(),
        "gated",
        &format!(
            "echo \"$@\" >> {}\n{}",
            started.display(),
            until_exists(&gate)
        ),
    );
    let cfg = ConfigBuilder::new().tool(stand_in("gated", &script).ttl_secs(0).concurrency(1));
    let env = Env::new().with_config(&cfg);
    let daemon = env.start_daemon();
    let id =
        env.picket_json(["scan", "127.0.0.1", "127.0.0.5", "--tools", "gated"])["id"].to_string();
    let first = eventually(EVENTUALLY, "one run started", || {
        let text = std::fs::read_to_string(&started).ok()?;
        text.lines().next().map(|l| l.trim().to_string())
    });
    let other = if first == "127.0.0.1" {
        "127.0.0.5"
    } else {
        "127.0.0.1"
    };

    reload(&env, &daemon, &denying(&cfg, other));
    std::fs::write(&gate, "open").unwrap();

    let scan = wait_any(&env, &id);
    assert_eq!(
        scan.status,
        ScanStatus::Done,
        "the first run ended well: {scan:#?}"
    );
    let run = |target: &str| {
        scan.tool_runs
            .iter()
            .find(|r| r.target == target)
            .unwrap_or_else(|| panic!("no run on {target}: {scan:#?}"))
    };
    assert_eq!(run(&first).status, RunStatus::Done);
    assert_skipped_by(run(other), &format!("{other}/32"));
    assert_eq!(
        std::fs::read_to_string(&started).unwrap().lines().count(),
        1,
        "the queued run never started"
    );
}
