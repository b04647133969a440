//! End-to-end scanning tests (issue 3): the real picketd and picket, real tools where the
//! test is about them, stand-in tool scripts where the test is about orchestration
//! (overlap, limits, timeouts, cancel, crash recovery). Every target is a loopback server
//! the test started itself; the suite runs in a network namespace with only lo up.

use std::collections::BTreeSet;
use std::path::Path;

use picket_protocol::{FindingPage, RunStatus, ScanDetail, ScanPage, ScanStatus, ToolRun};
use picket_testkit::scripts::{self, count_start, starts, until_exists};
use picket_testkit::targets::{http, https, Target};
use picket_testkit::*;

/// A stand-in tool running `program` on `{host}`, never probed for a version, finding each
/// `PICKET-FINDING <word>` line it prints.
fn stand_in(name: &str, program: &Path) -> ToolConfig {
    ToolConfig::new(name)
        .program(program)
        .no_version_probe()
        .finds_marked_lines()
}

/// Largest number of runs whose [started_at, finished_at] intervals overlap at one moment.
fn max_overlap(runs: &[ToolRun]) -> usize {
    let iv: Vec<(i64, i64)> = runs
        .iter()
        .map(|r| {
            (
                r.started_at.unwrap().millis(),
                r.finished_at.unwrap().millis(),
            )
        })
        .collect();
    iv.iter()
        .map(|(s, _)| iv.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap_or(0)
}

fn fingerprints(scan: &ScanDetail) -> BTreeSet<String> {
    scan.findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect()
}

/// What the tls profile must have found: both services (nmap), and each web and TLS
/// tool's findings on its service; every tool ran to the end.
fn assert_tls_profile_found(scan: &ScanDetail, http: &Target, https: &Target) {
    let services = &scan.services;
    assert!(
        services
            .iter()
            .any(|s| s.port == http.port && s.name == "http"),
        "nmap must report the HTTP service: {services:#?}"
    );
    assert!(
        services.iter().any(|s| s.port == https.port && s.tls),
        "nmap must report the TLS service: {services:#?}"
    );
    let findings = &scan.findings;
    let by = |tool: &str, port: u16| {
        findings
            .iter()
            .filter(|f| f.tool == tool && f.port == Some(port))
            .collect::<Vec<_>>()
    };
    assert!(
        !by("whatweb", http.port).is_empty(),
        "whatweb findings for the HTTP service"
    );
    assert!(
        by("sslscan", https.port)
            .iter()
            .any(|f| f.title.contains("Self-signed")),
        "sslscan must flag the self-signed certificate: {findings:#?}"
    );
    assert!(
        by("testssl", https.port)
            .iter()
            .any(|f| f.evidence == "cert_chain_of_trust"
                && f.title == "Certificate chain not trusted"),
        "testssl.sh must flag the untrusted chain: {findings:#?}"
    );
    for tool in ["nmap", "whatweb", "sslscan", "testssl"] {
        assert!(
            scan.tool_runs
                .iter()
                .any(|r| r.tool == tool && r.status == RunStatus::Done),
            "{tool} ran: {:#?}",
            scan.tool_runs
        );
    }
}

#[test]
fn real_tools_tls_profile_finds_services_and_findings_and_survive_restart() {
    require_installed(&["nmap", "whatweb", "sslscan", "testssl"]);
    let env = Env::new();
    let http = http(env.root());
    let https = https(env.root());
    let daemon = env.start_daemon();
    let ports = format!("{},{}", http.port, https.port);
    let scan = env.scan_wait(&["127.0.0.1", "--ports", &ports, "--profile", "tls"]);
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert_tls_profile_found(&scan, &http, &https);

    // The same answers after a restart, from the database.
    let id = scan.id.to_string();
    env.picket(["shutdown"]);
    drop(daemon);
    let _daemon = env.start_daemon();
    let shown: ScanDetail = env.picket_as(["show", &id]);
    assert_eq!(shown.services, scan.services);
    assert_eq!(shown.findings, scan.findings);
    let listed: FindingPage = env.picket_as(["findings", &id, "--limit", "1000"]);
    let listed: BTreeSet<String> = listed.findings.into_iter().map(|f| f.fingerprint).collect();
    assert_eq!(listed, fingerprints(&scan));
}

/// Tools `names`, each a script that sleeps 1 s, under `per_target`.
fn sleepers(dir: &Path, names: &[&str], concurrency: i64, per_target: i64) -> ConfigBuilder {
    let sleeper = tool_script(dir, "sleeper", "sleep 1");
    let cfg =
        ConfigBuilder::new().limits([("per_target", per_target), ("max_concurrent_scans", 8)]);
    names.iter().fold(cfg, |cfg, n| {
        cfg.tool(stand_in(n, &sleeper).concurrency(concurrency).ttl_secs(0))
    })
}

#[test]
fn tools_of_one_scan_overlap_but_never_beyond_the_per_target_limit() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["s1", "s2", "s3", "s4"];
    let env = Env::new().with_config(&sleepers(dir.path(), &names, 4, 2));
    let _d = env.start_daemon();
    let scan = env.scan_wait(&["127.0.0.1", "--tools", "s1,s2,s3,s4"]);
    let all = &scan.tool_runs;
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| r.status == RunStatus::Done), "{all:#?}");
    let peak = max_overlap(all);
    assert_eq!(
        peak, 2,
        "runs on one host must overlap, up to per_target = 2: {all:#?}"
    );
}

#[test]
fn one_tool_never_runs_more_than_its_concurrency_across_targets() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new().with_config(&sleepers(dir.path(), &["slow"], 2, 4));
    let _d = env.start_daemon();
    let scan = env.scan_wait(&[
        "127.0.0.1",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.5",
        "--tools",
        "slow",
    ]);
    let all = &scan.tool_runs;
    assert_eq!(all.len(), 5, "{scan:#?}");
    assert_eq!(
        max_overlap(all),
        2,
        "tools.slow.concurrency = 2 bounds the overlap: {all:#?}"
    );
}

/// A daemon whose one tool `hang` forks a child, both sleeping with `marker` in their
/// command lines; `tool` adds the timeout and retries under test.
fn hanging(dir: &Path, marker: &str, tool: impl FnOnce(ToolConfig) -> ToolConfig) -> (Env, Daemon) {
    let hang = scripts::hang(dir, marker);
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool(stand_in("hang", &hang))));
    let daemon = env.start_daemon();
    (env, daemon)
}

#[test]
fn a_hanging_tool_and_its_child_are_killed_at_the_timeout_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let marker = scripts::hang_marker(4242);
    let (env, _d) = hanging(dir.path(), &marker, |t| t.timeout_secs(1).retries(1));
    let out = env.picket(["--json", "scan", "127.0.0.1", "--tools", "hang", "--wait"]);
    let scan: ScanDetail = parse(&out);
    let run = &scan.tool_runs[0];
    assert_eq!(run.status, RunStatus::TimedOut, "{run:#?}");
    assert_eq!(
        run.attempts, 2,
        "one retry after the first timeout: {run:#?}"
    );
    assert!(
        run.error.as_deref().unwrap().contains("timed out"),
        "{run:#?}"
    );
    assert_eq!(scan.status, ScanStatus::Failed);
    assert!(!out.status.success(), "a failed scan is a non-zero exit");
    eventually(EVENTUALLY, "no tool process left", || {
        processes_with(&marker).is_empty().then_some(())
    });
}

#[test]
fn cancel_kills_the_running_tool_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let marker = scripts::hang_marker(4343);
    let (env, _d) = hanging(dir.path(), &marker, |t| t.timeout_secs(600));
    let id = env.picket_json(["scan", "127.0.0.1", "--tools", "hang"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    eventually(EVENTUALLY, "the tool and its child run", || {
        (processes_with(&marker).len() >= 2).then_some(())
    });
    // Stored as running once its tool really started (a scan the cache answers whole
    // skips that write): what `list` and `show` read.
    let show = || env.picket_as::<ScanDetail, _, _>(["show", &id]);
    eventually(EVENTUALLY, "the scan stored as running", || {
        (show().status == ScanStatus::Running).then_some(())
    });
    let cancelled = env.picket_json(["cancel", &id]);
    assert_eq!(cancelled["cancelled"], true);
    // cancel answers once the runs have stopped: the process tree is gone already.
    assert_eq!(
        processes_with(&marker),
        Vec::<u32>::new(),
        "cancel left tool processes behind"
    );
    let shown = show();
    assert_eq!(shown.status, ScanStatus::Cancelled);
    assert_eq!(shown.tool_runs[0].status, RunStatus::Cancelled);
    let again = env.picket(["cancel", &id]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "cancelling a finished scan is a usage error: {}",
        describe(&again)
    );
}

#[test]
fn hostile_and_out_of_scope_targets_are_refused_before_any_process_starts() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("ran");
    let recorder = tool_script(
        dir.path(),
        "recorder",
        &format!("echo \"$@\" >> {}", witness.display()),
    );
    let env = Env::new().with_config(&ConfigBuilder::new().tool(stand_in("recorder", &recorder)));
    let _d = env.start_daemon();
    let long = "a".repeat(10 * 1024);
    let listed = include_str!("../daemon/tests/data/hostile_targets.txt").lines();
    let out_of_scope = [
        "10.0.0.1",    // out of scope: must be refused, never contacted
        "192.168.1.1", // out of scope: must be refused, never contacted
        "8.8.8.8",     // out of scope: must be refused, never contacted
        "::2",
        "127.0.0.0/7",
        "http://10.0.0.1/", // out of scope: must be refused, never contacted
    ];
    let hostile = listed.chain(["", long.as_str()]).chain(out_of_scope);
    for t in hostile {
        let out = env.picket(["--json", "scan", "--tools", "recorder", "--", t]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "target {:?} must be refused with exit 4: {}",
            &t[..t.len().min(40)],
            describe(&out)
        );
        let err = json(&out);
        assert!(
            err["error"]["message"].as_str().unwrap().len() > 10,
            "a message that names the cause: {err}"
        );
    }
    let out = env.picket([
        "scan",
        "127.0.0.1",
        "--ports",
        "80;id",
        "--tools",
        "recorder",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        !witness.exists(),
        "a refused target started the tool: {:?}",
        std::fs::read_to_string(&witness)
    );
    // The daemon stored nothing for refused scans and still serves.
    assert_eq!(env.picket_as::<ScanPage, _, _>(["list"]).scans.len(), 0);
    // And an in-scope target does run the tool, so the witness is a working one.
    let scan = env.scan_wait(&["127.0.0.1", "--tools", "recorder"]);
    assert_eq!(scan.status, ScanStatus::Done);
    assert_eq!(
        std::fs::read_to_string(&witness).unwrap().trim(),
        "127.0.0.1"
    );
}

#[test]
fn kill_9_mid_scan_then_restart_finishes_without_rerunning_or_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    let (fast_count, slow_count, gate) = (
        dir.path().join("fast.count"),
        dir.path().join("slow.count"),
        dir.path().join("gate"),
    );
    let fast = tool_script(
        dir.path(),
        "fast",
        &format!("{}\necho 'PICKET-FINDING alpha'", count_start(&fast_count)),
    );
    // Runs until the gate file exists, so the daemon is killed while it is running.
    let slow = tool_script(
        dir.path(),
        "slow",
        &format!(
            "{}\n{}\necho 'PICKET-FINDING beta'",
            count_start(&slow_count),
            until_exists(&gate)
        ),
    );
    let cfg = ConfigBuilder::new()
        .tool(stand_in("fast", &fast))
        .tool(stand_in("slow", &slow));
    let env = Env::new().with_config(&cfg);
    let mut daemon = env.start_daemon();
    let id = env.picket_json(["scan", "127.0.0.1", "--tools", "fast,slow"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    eventually(EVENTUALLY, "fast finished and slow running", || {
        let st = env.status(Some(&id));
        (st[0].runs_finished == 1 && starts(&slow_count) > 0).then_some(())
    });
    daemon.kill9();
    std::fs::write(&gate, "open").unwrap();
    let _daemon = env.start_daemon();
    let done: ScanDetail = env.wait_one(&id);
    assert_eq!(done.status, ScanStatus::Done, "{done:#?}");
    assert_eq!(
        starts(&fast_count),
        1,
        "the finished run must not run again"
    );
    assert_eq!(starts(&slow_count), 2, "the interrupted run runs again");
    let mut titles: Vec<&str> = done.findings.iter().map(|f| f.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        ["PICKET-FINDING alpha", "PICKET-FINDING beta"],
        "each finding once"
    );
    assert_eq!(done.tool_runs.len(), 2);
}

#[test]
fn a_full_queue_refuses_with_busy_and_a_missing_tool_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let blocker = tool_script(dir.path(), "blocker", &until_exists(&gate));
    let cfg = ConfigBuilder::new()
        .limits([("max_concurrent_scans", 1), ("max_queued_scans", 1)])
        .tool(stand_in("blocker", &blocker))
        .tool(
            ToolConfig::new("ghost")
                .program("picket-no-such-tool")
                .finds_marked_lines(),
        );
    let env = Env::new().with_config(&cfg);
    let _d = env.start_daemon();
    let first = env.picket_json(["scan", "127.0.0.1", "--tools", "blocker"])["id"]
        .as_i64()
        .unwrap();
    let second = env.picket_json(["scan", "127.0.0.1", "--tools", "ghost"])["id"]
        .as_i64()
        .unwrap();
    let third = env.picket(["--json", "scan", "127.0.0.1", "--tools", "blocker"]);
    assert_eq!(third.status.code(), Some(4), "{}", describe(&third));
    assert_eq!(json(&third)["error"]["kind"], "busy");
    std::fs::write(&gate, "open").unwrap();
    // Every run of the second scan was skipped: it ends failed (exit 6), saying why.
    let waited = env.picket(["--json", "wait", &first.to_string(), &second.to_string()]);
    assert_eq!(waited.status.code(), Some(6), "{}", describe(&waited));
    let both = parse::<picket_protocol::json::WaitDoc>(&waited).scans;
    assert_eq!(both[0].status, ScanStatus::Done, "{:#?}", both[0]);
    let ghost = &both[1];
    assert_eq!(ghost.tool_runs[0].status, RunStatus::Skipped, "{ghost:#?}");
    assert!(ghost.warnings[0].contains("not installed"), "{ghost:#?}");
    assert_eq!(ghost.status, ScanStatus::Failed, "{ghost:#?}");
    let tools = env
        .picket_as::<picket_protocol::json::ToolsDoc, _, _>(["tools"])
        .tools;
    let g = tools.iter().find(|t| t.name == "ghost").unwrap();
    assert!(!g.installed);
    assert_eq!(
        env.picket_as::<ScanPage, _, _>(["list"]).scans.len(),
        2,
        "the refused scan left no row"
    );
}

/// Each valid fixture imported through the daemon stores what the parser yields.
#[test]
fn import_of_each_fixture_stores_what_the_parser_finds() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data");
    let env = Env::new();
    let _d = env.start_daemon();
    let cases = [
        ("nmap", "nmap-http-https.xml"),
        ("nmap", "nmap-nse-http-https.xml"),
        ("nmap", "nmap-syn-http-https.xml"),
        ("nmap", "nmap-top100.xml"),
        ("nmap", "nmap-1-1000-noopen.xml"),
        ("nmap", "nmap-v6-closed.xml"),
        ("sslscan", "sslscan-https.xml"),
        ("sslscan", "sslscan-plainhttp.xml"),
        ("whatweb", "whatweb-http.json"),
        ("whatweb", "whatweb-https.json"),
        ("whatweb", "whatweb-fakeapache.json"),
        ("whatweb", "whatweb-closed.json"),
        ("testssl", "testssl-https-flat.json"),
        ("testssl", "testssl-https.json"),
        ("testssl", "testssl-https-full.json"),
    ];
    for (tool, file) in cases {
        assert_import_stores_what_the_parser_finds(&env, tool, &data.join(file));
    }
    // A report of a failed run is refused with the tool's own error, not stored.
    let out = env.picket([
        "--json",
        "import",
        "sslscan",
        data.join("sslscan-closed.xml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Could not open a connection"),
        "{}",
        describe(&out)
    );
}

fn assert_import_stores_what_the_parser_finds(env: &Env, tool: &str, path: &Path) {
    let file = path.file_name().unwrap().to_string_lossy();
    let expected = picketd::parsers::BuiltinParser::from_name(tool)
        .unwrap()
        .parse(&std::fs::read(path).unwrap())
        .unwrap();
    let stored: ScanDetail = env.picket_as(["import", tool, path.to_str().unwrap()]);
    assert_eq!(stored.status, ScanStatus::Done);
    let want: BTreeSet<String> = expected
        .findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect();
    assert_eq!(
        fingerprints(&stored),
        want,
        "{file}: stored findings differ from the parser's"
    );
    let services = |s: &[picket_protocol::Service]| -> BTreeSet<(String, u16, String)> {
        s.iter()
            .map(|s| (s.host.clone(), s.port, s.name.clone()))
            .collect()
    };
    assert_eq!(
        services(&stored.services),
        services(&expected.services),
        "{file}: stored services differ from the parser's"
    );
}

#[test]
fn sighup_applies_new_limits_to_later_runs() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["s1", "s2", "s3"];
    let env = Env::new().with_config(&sleepers(dir.path(), &names, 4, 1));
    let daemon = env.start_daemon();
    let before = env.scan_wait(&["127.0.0.1", "--tools", "s1,s2,s3"]);
    assert_eq!(max_overlap(&before.tool_runs), 1, "per_target = 1");
    std::fs::write(
        env.config_file().unwrap(),
        sleepers(dir.path(), &names, 4, 3).render(),
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("configuration reloaded");
    let after = env.scan_wait(&["127.0.0.1", "--tools", "s1,s2,s3"]);
    assert_eq!(
        max_overlap(&after.tool_runs),
        3,
        "per_target = 3 after the reload"
    );
}

#[test]
fn a_tool_that_floods_output_is_cut_at_the_cap_and_the_daemon_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    // 200 MB of output, far past a 1 MiB cap; the finding line comes first.
    let flood = tool_script(
        dir.path(),
        "flood",
        "echo 'PICKET-FINDING first'\nhead -c 200000000 /dev/zero | tr '\\0' 'x'",
    );
    let tool = stand_in("flood", &flood)
        .output_cap_bytes(1_048_576)
        .ttl_secs(0);
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let daemon = env.start_daemon();
    let scan = env.scan_wait(&["127.0.0.1", "--tools", "flood"]);
    let run = &scan.tool_runs[0];
    assert!(run.truncated, "{run:#?}");
    assert_eq!(
        run.status,
        RunStatus::Done,
        "what fits under the cap is still parsed: {run:#?}"
    );
    assert!(
        run.error.as_deref().unwrap().contains("output_cap_bytes"),
        "{run:#?}"
    );
    assert_eq!(scan.findings[0].title, "PICKET-FINDING first");
    let rss = daemon.rss_bytes();
    assert!(
        rss < 100 * 1024 * 1024,
        "daemon RSS {rss} after a 200 MB flood: output must not be kept past the cap"
    );
    assert!(env.try_ping().is_some());
}
