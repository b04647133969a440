//! End-to-end tests of issue 13's profiles and start-up: the quick profile runs nmap with
//! `--version-light` and still names the test targets' services as full intensity does, and
//! tool versions are remembered across restarts (an autostarted daemon does not probe an
//! unchanged tool again; a changed one is probed; a corrupt cache file is only a warning).
//! Every target is a loopback server the test started; the suite runs with only lo up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use picket_protocol::{RunStatus, ScanDetail, ScanStatus};
use picket_testkit::scripts::starts;
use picket_testkit::targets::{http, https};
use picket_testkit::*;

/// A tool whose version probe appends a line to `log` per call and prints `version`;
/// a run prints one line and finds nothing.
fn probed_tool(dir: &Path, log: &Path, version: &str) -> PathBuf {
    let body = format!(
        "if [ \"$1\" = --version ]; then echo probe >> {}; echo '{version}'; exit 0; fi\necho scanned",
        log.display()
    );
    tool_script(dir, "probed", &body)
}

fn probed_config(program: &Path) -> ConfigBuilder {
    ConfigBuilder::new().tool(
        ToolConfig::new("probed")
            .program(program)
            .set("version_args", vec!["--version"])
            .ttl_secs(0),
    )
}

/// The version the scan's one `probed` run reports.
fn probed_version(scan: &ScanDetail) -> String {
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    let run = scan
        .tool_runs
        .iter()
        .find(|r| r.tool == "probed")
        .expect("the probed tool ran");
    assert_eq!(run.status, RunStatus::Done, "{run:#?}");
    run.tool_version.clone().unwrap_or_default()
}

/// A scan through a daemon the client starts itself, which is then shut down again.
fn scan_with_autostart(env: &Env) -> ScanDetail {
    assert!(env.try_ping().is_none(), "no daemon may be running yet");
    let scan = env.scan_wait(&["127.0.0.1", "--tools", "probed"]);
    let pid = env.try_ping().expect("the autostarted daemon answers")["pid"]
        .as_u64()
        .expect("pid") as u32;
    let _guard = KillOnDrop(pid);
    let out = env.picket(["--no-autostart", "shutdown"]);
    assert!(out.status.success(), "{}", describe(&out));
    eventually(EVENTUALLY, "the autostarted picketd to exit", || {
        (!pid_alive(pid)).then_some(())
    });
    scan
}

#[test]
fn an_autostarted_daemon_does_not_probe_unchanged_tools_again() {
    let env = Env::new();
    let dir = env.root().join("tools");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("probes.log");
    let program = probed_tool(&dir, &log, "probed 1.0.0");
    let env = env.with_xdg_config(&probed_config(&program).render());

    let mut daemon = env.start_daemon();
    let scan = env.scan_wait(&["127.0.0.1", "--tools", "probed"]);
    assert_eq!(probed_version(&scan), "probed 1.0.0");
    assert_eq!(starts(&log), 1, "the first start probes the tool");
    daemon.stop(std::time::Duration::from_secs(10));

    let scan = scan_with_autostart(&env);
    assert_eq!(probed_version(&scan), "probed 1.0.0");
    assert_eq!(starts(&log), 1, "an unchanged tool is not probed again");

    // Same size, new content and modification time: probed again, its new version used.
    let program = probed_tool(&dir, &log, "probed 2.0.0");
    let scan = scan_with_autostart(&env);
    assert_eq!(probed_version(&scan), "probed 2.0.0");
    assert_eq!(starts(&log), 2, "a changed program is probed again");

    // Only the modification time changes.
    let touched = std::process::Command::new("touch")
        .args(["-d", "2001-02-03 04:05:06"])
        .arg(&program)
        .status()
        .unwrap();
    assert!(touched.success());
    scan_with_autostart(&env);
    assert_eq!(starts(&log), 3, "a touched program is probed again");
    scan_with_autostart(&env);
    assert_eq!(starts(&log), 3, "and remembered again");
}

#[test]
fn a_corrupt_version_cache_is_a_warning_and_is_rewritten() {
    let env = Env::new();
    let dir = env.root().join("tools");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("probes.log");
    let program = probed_tool(&dir, &log, "probed 1.0.0");
    let env = env.with_config(&probed_config(&program));
    let mut daemon = env.start_daemon();
    env.scan_wait(&["127.0.0.1", "--tools", "probed"]);
    daemon.stop(std::time::Duration::from_secs(10));
    let cache = env.data_dir().join("tool-versions.json");
    assert!(
        cache.is_file(),
        "the versions are kept in the data directory"
    );

    std::fs::write(&cache, "{\"format\": 1, \"entries\": [{\"progr").unwrap();
    let _daemon = env.start_daemon();
    daemon_log_has(&_daemon, "ignoring the tool version cache");
    let scan = env.scan_wait(&["127.0.0.1", "--tools", "probed"]);
    assert_eq!(probed_version(&scan), "probed 1.0.0");
    assert_eq!(starts(&log), 2, "probed again, the cache being unreadable");
    let text = std::fs::read_to_string(&cache).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&text).expect("rewritten whole");
    assert!(
        stored.to_string().contains(&*program.to_string_lossy()),
        "{text}"
    );
}

fn daemon_log_has(daemon: &Daemon, needle: &str) {
    let log = daemon.wait_for_log(needle);
    assert!(log.contains(needle), "{log}");
}

/// Every service a scan reports, as (port, name, tls).
fn services(scan: &ScanDetail) -> BTreeSet<(u16, String, bool)> {
    scan.services
        .iter()
        .map(|s| (s.port, s.name.clone(), s.tls))
        .collect()
}

/// nmap's real argv, logged by a wrapper first on the daemon's PATH that then runs it.
fn logging_nmap(dir: &Path, log: &Path) -> PathBuf {
    let real = which("nmap").expect("nmap is installed");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let body = format!(
        "echo \"$*\" >> {}\nexec {} \"$@\"",
        log.display(),
        real.display()
    );
    tool_script(&bin, "nmap", &body);
    bin
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[test]
fn the_quick_profile_runs_nmap_light_and_finds_what_it_found_at_full_intensity() {
    require_installed(&["nmap", "whatweb", "sslscan"]);
    let env = Env::new();
    let log = env.root().join("nmap-argv.log");
    let bin = logging_nmap(env.root(), &log);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The quick profile as it was before issue 13: the same follow-ups, nmap at full
    // intensity. sslscan reports services too, so the follow-ups must match.
    let before =
        "[profiles.quick_before]\ndiscovery = [\"nmap\"]\nfollow_up = [\"whatweb\", \"sslscan\"]\n";
    let env = env
        .with_env("PATH", path)
        .with_config(&ConfigBuilder::new().raw(before));
    let (http, https) = (http(env.root()), https(env.root()));
    let _daemon = env.start_daemon();
    let ports = format!("{},{}", http.port, https.port);

    let quick = env.scan_wait(&["127.0.0.1", "--ports", &ports, "--no-cache"]);
    assert_eq!(quick.status, ScanStatus::Done, "{quick:#?}");
    let full = env.scan_wait(&[
        "127.0.0.1",
        "--ports",
        &ports,
        "--profile",
        "quick_before",
        "--no-cache",
    ]);
    assert_eq!(full.status, ScanStatus::Done, "{full:#?}");

    let argv: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("-oX"))
        .map(String::from)
        .collect();
    assert_eq!(argv.len(), 2, "{argv:#?}");
    assert!(
        argv[0].contains("-sV --version-light "),
        "quick: {}",
        argv[0]
    );
    assert!(
        argv[1].contains("-sV ") && !argv[1].contains("--version-"),
        "plain -sV: {}",
        argv[1]
    );

    let found = services(&quick);
    assert_eq!(found, services(&full), "the same services, light or not");
    assert!(
        found
            .iter()
            .any(|(p, name, tls)| *p == http.port && name == "http" && !tls),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(p, _, tls)| *p == https.port && *tls),
        "{found:?}"
    );
    for (scan, tool) in [(&quick, "whatweb"), (&quick, "sslscan"), (&full, "sslscan")] {
        assert!(
            scan.tool_runs
                .iter()
                .any(|r| r.tool == tool && r.status == RunStatus::Done),
            "{tool} followed up: {:#?}",
            scan.tool_runs
        );
    }
}
