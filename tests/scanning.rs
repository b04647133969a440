//! End-to-end scanning tests (issue 3): the real picketd and picket, real tools where the
//! test is about them, stand-in tool scripts where the test is about orchestration
//! (overlap, limits, timeouts, cancel, crash recovery). Every target is a loopback server
//! the test started itself; the suite runs in a network namespace with only lo up.

mod common;
mod local_targets;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use local_targets::*;
use serde_json::Value;

const NO_FINDINGS: &str =
    "parser = { kind = \"regex\", pattern = '^(?P<title>PICKET-FINDING \\S+)' }";

fn runs(scan: &Value) -> &Vec<Value> {
    scan["tool_runs"].as_array().expect("tool_runs")
}

/// Largest number of runs whose [started_ms, finished_ms] intervals overlap at one moment.
fn max_overlap(runs: &[&Value]) -> usize {
    let iv: Vec<(i64, i64)> = runs
        .iter()
        .map(|r| {
            (
                r["started_ms"].as_i64().unwrap(),
                r["finished_ms"].as_i64().unwrap(),
            )
        })
        .collect();
    iv.iter()
        .map(|(s, _)| iv.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap_or(0)
}

fn scan_wait(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    all.push("--wait");
    env.picket_json(all)
}

#[test]
fn real_tools_tls_profile_finds_services_and_findings_and_survive_restart() {
    require_installed(&["nmap", "whatweb", "sslscan", "testssl"]);
    let env = Env::new();
    let http = http(env.root());
    let https = https(env.root());
    let daemon = env.start_daemon();
    let ports = format!("{},{}", http.port, https.port);
    let scan = scan_wait(&env, &["127.0.0.1", "--ports", &ports, "--profile", "tls"]);
    assert_eq!(scan["status"], "done", "{scan:#}");

    let services = scan["services"].as_array().unwrap();
    let has_service = |port: u16, pred: &dyn Fn(&Value) -> bool| {
        services.iter().any(|s| s["port"] == port && pred(s))
    };
    assert!(
        has_service(http.port, &|s| s["name"] == "http"),
        "nmap must report the HTTP service: {services:#?}"
    );
    assert!(
        has_service(https.port, &|s| s["tls"] == true),
        "nmap must report the TLS service: {services:#?}"
    );

    let findings = scan["findings"].as_array().unwrap();
    let by = |tool: &str, port: u16| {
        findings
            .iter()
            .filter(|f| f["tool"] == tool && f["port"] == port)
            .collect::<Vec<_>>()
    };
    assert!(
        !by("whatweb", http.port).is_empty(),
        "whatweb findings for the HTTP service"
    );
    assert!(
        by("sslscan", https.port)
            .iter()
            .any(|f| f["title"].as_str().unwrap().contains("Self-signed")),
        "sslscan must flag the self-signed certificate: {findings:#?}"
    );
    assert!(
        by("testssl", https.port)
            .iter()
            .any(|f| f["title"] == "cert_chain_of_trust"),
        "testssl.sh must flag the untrusted chain: {findings:#?}"
    );
    for tool in ["nmap", "whatweb", "sslscan", "testssl"] {
        assert!(
            runs(&scan)
                .iter()
                .any(|r| r["tool"] == tool && r["status"] == "done"),
            "{tool} ran: {:#?}",
            runs(&scan)
        );
    }

    // The same answers after a restart, from the database.
    let id = scan["id"].as_i64().unwrap().to_string();
    env.picket(["shutdown"]);
    drop(daemon);
    let _daemon = env.start_daemon();
    let shown = env.picket_json(["show", &id]);
    assert_eq!(shown["services"], scan["services"]);
    assert_eq!(shown["findings"], scan["findings"]);
    let listed = env.picket_json(["findings", &id, "--limit", "1000"]);
    let a: BTreeSet<String> = listed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].to_string())
        .collect();
    let b: BTreeSet<String> = findings
        .iter()
        .map(|f| f["fingerprint"].to_string())
        .collect();
    assert_eq!(a, b);
}

fn sleeper_config(dir: &Path, names: &[&str], concurrency: u32, per_target: u32) -> String {
    let sleeper = tool_script(dir, "sleeper", "sleep 1");
    let mut cfg = format!("[limits]\nper_target = {per_target}\nmax_concurrent_scans = 8\n");
    for n in names {
        cfg += &format!(
            "[tools.{n}]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\nconcurrency = {concurrency}\nttl_secs = 0\nversion_args = []\n{NO_FINDINGS}\n",
            sleeper.display()
        );
    }
    cfg
}

#[test]
fn tools_of_one_scan_overlap_but_never_beyond_the_per_target_limit() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["s1", "s2", "s3", "s4"];
    let env = Env::new().with_config_file(&sleeper_config(dir.path(), &names, 4, 2));
    let _d = env.start_daemon();
    let scan = scan_wait(&env, &["127.0.0.1", "--tools", "s1,s2,s3,s4"]);
    let all: Vec<&Value> = runs(&scan).iter().collect();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| r["status"] == "done"), "{all:#?}");
    let peak = max_overlap(&all);
    assert_eq!(
        peak, 2,
        "runs on one host must overlap, up to per_target = 2: {all:#?}"
    );
}

#[test]
fn one_tool_never_runs_more_than_its_concurrency_across_targets() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new().with_config_file(&sleeper_config(dir.path(), &["slow"], 2, 4));
    let _d = env.start_daemon();
    let scan = scan_wait(
        &env,
        &[
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.4",
            "127.0.0.5",
            "--tools",
            "slow",
        ],
    );
    let all: Vec<&Value> = runs(&scan).iter().collect();
    assert_eq!(all.len(), 5, "{scan:#}");
    assert_eq!(
        max_overlap(&all),
        2,
        "tools.slow.concurrency = 2 bounds the overlap: {all:#?}"
    );
}

#[test]
fn a_hanging_tool_and_its_child_are_killed_at_the_timeout_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("{}.4242", std::process::id() % 1000 + 1000);
    let hang = tool_script(
        dir.path(),
        "hang",
        &format!("sleep {marker} &\nsleep {marker}"),
    );
    let cfg = format!(
        "[tools.hang]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\ntimeout_secs = 1\nretries = 1\nversion_args = []\n{NO_FINDINGS}\n",
        hang.display()
    );
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
    let out = env.picket(["--json", "scan", "127.0.0.1", "--tools", "hang", "--wait"]);
    let scan = json(&out);
    let run = &runs(&scan)[0];
    assert_eq!(run["status"], "timed_out", "{run:#}");
    assert_eq!(
        run["attempts"], 2,
        "one retry after the first timeout: {run:#}"
    );
    assert!(
        run["error"].as_str().unwrap().contains("timed out"),
        "{run:#}"
    );
    assert_eq!(scan["status"], "failed");
    assert!(!out.status.success(), "a failed scan is a non-zero exit");
    eventually(EVENTUALLY, "no tool process left", || {
        processes_with(&marker).is_empty().then_some(())
    });
}

#[test]
fn cancel_kills_the_running_tool_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("{}.4343", std::process::id() % 1000 + 2000);
    let hang = tool_script(
        dir.path(),
        "hang",
        &format!("sleep {marker} &\nsleep {marker}"),
    );
    let cfg = format!(
        "[tools.hang]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\ntimeout_secs = 600\nversion_args = []\n{NO_FINDINGS}\n",
        hang.display()
    );
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
    let id = env.picket_json(["scan", "127.0.0.1", "--tools", "hang"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    eventually(EVENTUALLY, "the tool and its child run", || {
        (processes_with(&marker).len() >= 2).then_some(())
    });
    // Stored as running once its tool really started (a scan the cache answers whole
    // skips that write): what `list` and `show` read.
    eventually(EVENTUALLY, "the scan stored as running", || {
        (env.picket_json(["show", &id])["status"] == "running").then_some(())
    });
    let cancelled = env.picket_json(["cancel", &id]);
    assert_eq!(cancelled["cancelled"], true);
    // cancel answers once the runs have stopped: the process group is gone already.
    assert_eq!(
        processes_with(&marker),
        Vec::<u32>::new(),
        "cancel left tool processes behind"
    );
    let shown = env.picket_json(["show", &id]);
    assert_eq!(shown["status"], "cancelled");
    assert_eq!(runs(&shown)[0]["status"], "cancelled");
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
    let cfg = format!(
        "[tools.recorder]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\nversion_args = []\n{NO_FINDINGS}\n",
        recorder.display()
    );
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
    let long = "a".repeat(10 * 1024);
    let hostile = [
        "-oX/tmp/x",
        "--script=exploit",
        "127.0.0.1;id",
        "$(id)",
        "`id`",
        "127.0.0.1 -p1",
        "http://127.0.0.1/ -x",
        "",
        long.as_str(),
        "10.0.0.1",    // out of scope: must be refused, never contacted
        "192.168.1.1", // out of scope: must be refused, never contacted
        "8.8.8.8",     // out of scope: must be refused, never contacted
        "::2",
        "127.0.0.0/7",
        "http://10.0.0.1/", // out of scope: must be refused, never contacted
    ];
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
    let listed = env.picket_json(["list"]);
    assert_eq!(listed["scans"].as_array().unwrap().len(), 0);
    // And an in-scope target does run the tool, so the witness is a working one.
    let scan = scan_wait(&env, &["127.0.0.1", "--tools", "recorder"]);
    assert_eq!(scan["status"], "done");
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
        &format!(
            "echo run >> {}\necho 'PICKET-FINDING alpha'",
            fast_count.display()
        ),
    );
    // Runs until the gate file exists, so the daemon is killed while it is running.
    let slow = tool_script(
        dir.path(),
        "slow",
        &format!(
            "echo run >> {}\nwhile [ ! -e {} ]; do sleep 0.1; done\necho 'PICKET-FINDING beta'",
            slow_count.display(),
            gate.display()
        ),
    );
    let mut cfg = String::new();
    for (name, path) in [("fast", &fast), ("slow", &slow)] {
        cfg += &format!("[tools.{name}]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\nversion_args = []\n{NO_FINDINGS}\n", path.display());
    }
    let env = Env::new().with_config_file(&cfg);
    let mut daemon = env.start_daemon();
    let id = env.picket_json(["scan", "127.0.0.1", "--tools", "fast,slow"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    eventually(EVENTUALLY, "fast finished and slow running", || {
        let st = env.picket_json(["status", &id]);
        let s = &st[0];
        (s["runs_finished"] == 1 && std::fs::read_to_string(&slow_count).is_ok()).then_some(())
    });
    daemon.kill9();
    std::fs::write(&gate, "open").unwrap();
    let _daemon = env.start_daemon();
    let done = env.picket_json(["wait", &id]);
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(
        std::fs::read_to_string(&fast_count)
            .unwrap()
            .lines()
            .count(),
        1,
        "the finished run must not run again"
    );
    assert_eq!(
        std::fs::read_to_string(&slow_count)
            .unwrap()
            .lines()
            .count(),
        2,
        "the interrupted run runs again"
    );
    let titles: Vec<&str> = done["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["PICKET-FINDING alpha", "PICKET-FINDING beta"],
        "each finding once"
    );
    assert_eq!(runs(&done).len(), 2);
}

#[test]
fn a_full_queue_refuses_with_busy_and_a_missing_tool_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let blocker = tool_script(
        dir.path(),
        "blocker",
        &format!("while [ ! -e {} ]; do sleep 0.1; done", gate.display()),
    );
    let cfg = format!(
        "[limits]\nmax_concurrent_scans = 1\nmax_queued_scans = 1\n\
         [tools.blocker]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\nversion_args = []\n{NO_FINDINGS}\n\
         [tools.ghost]\nprogram = \"picket-no-such-tool\"\nargs = [\"{{host}}\"]\n{NO_FINDINGS}\n",
        blocker.display()
    );
    let env = Env::new().with_config_file(&cfg);
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
    let both = env.picket_json(["wait", &first.to_string(), &second.to_string()]);
    let ghost = &both.as_array().unwrap()[1];
    assert_eq!(runs(ghost)[0]["status"], "skipped", "{ghost:#}");
    assert!(
        ghost["warnings"][0]
            .as_str()
            .unwrap()
            .contains("not installed"),
        "{ghost:#}"
    );
    let tools = env.picket_json(["tools"]);
    let g = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ghost")
        .unwrap();
    assert_eq!(g["installed"], false);
    assert_eq!(
        env.picket_json(["list"])["scans"].as_array().unwrap().len(),
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
        let path = data.join(file);
        let expected = picketd::parsers::BuiltinParser::from_name(tool)
            .unwrap()
            .parse(&std::fs::read(&path).unwrap())
            .unwrap();
        let stored = env.picket_json(["import", tool, path.to_str().unwrap()]);
        assert_eq!(stored["status"], "done");
        let fps: BTreeSet<String> = stored["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fingerprint"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = expected
            .findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        assert_eq!(
            fps, want,
            "{file}: stored findings differ from the parser's"
        );
        let svcs: BTreeSet<(String, u64, String)> = stored["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["host"].as_str().unwrap().into(),
                    s["port"].as_u64().unwrap(),
                    s["name"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: BTreeSet<(String, u64, String)> = expected
            .services
            .iter()
            .map(|s| (s.host.clone(), s.port as u64, s.name.clone()))
            .collect();
        assert_eq!(
            svcs, want,
            "{file}: stored services differ from the parser's"
        );
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

#[test]
fn sighup_applies_new_limits_to_later_runs() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["s1", "s2", "s3"];
    let env = Env::new().with_config_file(&sleeper_config(dir.path(), &names, 4, 1));
    let daemon = env.start_daemon();
    let before = scan_wait(&env, &["127.0.0.1", "--tools", "s1,s2,s3"]);
    assert_eq!(
        max_overlap(&runs(&before).iter().collect::<Vec<_>>()),
        1,
        "per_target = 1"
    );
    std::fs::write(
        env.config_file().unwrap(),
        sleeper_config(dir.path(), &names, 4, 3),
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("configuration reloaded");
    let after = scan_wait(&env, &["127.0.0.1", "--tools", "s1,s2,s3"]);
    assert_eq!(
        max_overlap(&runs(&after).iter().collect::<Vec<_>>()),
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
    let cfg = format!(
        "[tools.flood]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\noutput_cap_bytes = 1048576\nttl_secs = 0\nversion_args = []\n{NO_FINDINGS}\n",
        flood.display()
    );
    let env = Env::new().with_config_file(&cfg);
    let daemon = env.start_daemon();
    let scan = scan_wait(&env, &["127.0.0.1", "--tools", "flood"]);
    let run = &runs(&scan)[0];
    assert_eq!(run["truncated"], true, "{run:#}");
    assert_eq!(
        run["status"], "done",
        "what fits under the cap is still parsed: {run:#}"
    );
    assert!(
        run["error"].as_str().unwrap().contains("output_cap_bytes"),
        "{run:#}"
    );
    assert_eq!(scan["findings"][0]["title"], "PICKET-FINDING first");
    let rss = daemon.rss_bytes();
    assert!(
        rss < 100 * 1024 * 1024,
        "daemon RSS {rss} after a 200 MB flood: output must not be kept past the cap"
    );
    assert!(env.try_ping().is_some());
}
