//! End-to-end tests of what the daemon says (issue 14): the age of cached runs and
//! `--max-age`, the warning on stale cached discovery, `picketd --check-config` and
//! `--print-config`, and the target and port mistakes named with the form to use. The real
//! picketd and picket, with stand-in tools that count their starts.

use std::path::{Path, PathBuf};

use picket_protocol::{ScanDetail, ScanStatus};
use picket_testkit::scripts::{count_start, starts};
use picket_testkit::*;

/// A discovery stand-in that counts its starts and prints one finding.
fn counting_tool(dir: &Path, name: &str) -> (ToolConfig, PathBuf) {
    let count = dir.join(format!("{name}.count"));
    let body = format!("{}\necho \"PICKET-FINDING {name}-$1\"", count_start(&count));
    let tool = ToolConfig::new(name)
        .program(tool_script(dir, name, &body))
        .ttl_secs(3600)
        .no_version_probe()
        .finds_marked_lines();
    (tool, count)
}

/// A daemon whose profile `disco` runs the counting tool `probe` as its discovery.
fn discovery_daemon(dir: &Path) -> (Env, Daemon, PathBuf) {
    let (tool, count) = counting_tool(dir, "probe");
    let config = ConfigBuilder::new()
        .tool(tool)
        .raw("[profiles.disco]\ndiscovery = [\"probe\"]\n");
    let env = Env::new().with_config(&config);
    let daemon = env.start_daemon();
    (env, daemon, count)
}

fn scan(env: &Env, args: &[&str]) -> ScanDetail {
    let s = env.scan_wait(args);
    assert_eq!(s.status, ScanStatus::Done, "{s:#?}");
    s
}

fn human(env: &Env, args: &[&str]) -> String {
    let out = env.picket(args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_cached_rescan_shows_its_age_and_max_age_0s_runs_the_tool_again() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, count) = discovery_daemon(dir.path());
    let first = scan(&env, &["127.0.0.1", "--profile", "disco"]);
    assert_eq!(starts(&count), 1);
    assert_eq!(
        first.tool_runs[0].cached_at, None,
        "a run that ran is not cached"
    );

    let second = scan(&env, &["127.0.0.1", "--profile", "disco"]);
    assert_eq!(starts(&count), 1, "the cache answers");
    let run = &second.tool_runs[0];
    assert!(run.cache_hit);
    let at = run.cached_at.as_deref().expect("a cached run says when");
    assert!(
        at.contains('T') && at.ends_with('Z'),
        "RFC 3339 in UTC: {at}"
    );
    let shown = human(&env, &["show", &second.id.to_string()]);
    assert!(
        shown.contains("cached 0 s ago") || shown.contains("cached 1 s ago"),
        "{shown}"
    );
    // Fresh: no warning about old discovery.
    assert!(
        second.warnings.iter().all(|w| !w.contains("cache")),
        "{:?}",
        second.warnings
    );

    let third = scan(
        &env,
        &["127.0.0.1", "--profile", "disco", "--max-age", "0s"],
    );
    assert_eq!(starts(&count), 2, "--max-age 0s runs the tool again");
    assert!(!third.tool_runs[0].cache_hit);
    assert_eq!(third.tool_runs[0].cached_at, None);

    // A generous --max-age takes what the last run left.
    let fourth = scan(
        &env,
        &["127.0.0.1", "--profile", "disco", "--max-age", "1h"],
    );
    assert_eq!(starts(&count), 2);
    assert!(fourth.tool_runs[0].cache_hit);
}

#[test]
fn cached_discovery_older_than_a_minute_is_named_in_a_warning_with_how_to_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let (env, mut daemon, count) = discovery_daemon(dir.path());
    scan(&env, &["127.0.0.1", "--profile", "disco"]);
    // Age the entry as if it had been made five minutes ago (the daemon stopped, so its
    // memory level does not answer instead).
    daemon.stop(std::time::Duration::from_secs(10));
    let db = rusqlite::Connection::open(env.data_dir().join("picket.db")).unwrap();
    let aged = db
        .execute(
            "UPDATE cache_entries SET created_ms = created_ms - 300000",
            [],
        )
        .unwrap();
    assert_eq!(aged, 1);
    drop(db);
    let _d = env.start_daemon();
    let again = scan(&env, &["127.0.0.1", "--profile", "disco"]);
    assert_eq!(starts(&count), 1);
    let warning = again
        .warnings
        .iter()
        .find(|w| w.contains("cache"))
        .unwrap_or_else(|| panic!("no warning about old cached discovery: {again:#?}"));
    assert!(warning.contains("probe"), "{warning}");
    assert!(warning.contains("5 min ago"), "{warning}");
    assert!(warning.contains("--max-age 0s"), "{warning}");
    let shown = human(&env, &["show", &again.id.to_string()]);
    assert!(shown.contains("cached 5 min ago"), "{shown}");
}

fn picketd(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env.command(picketd_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_names_the_line_and_the_valid_keys_of_a_typo() {
    let env = Env::new();
    let file = env.root().join("typo.toml");
    std::fs::write(
        &file,
        "log_level = \"info\"\n\n[limits]\nmax_concurent_scans = 3\n",
    )
    .unwrap();
    let (code, _, err) = picketd(&env, &["--check-config", file.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("max_concurent_scans"), "{err}");
    assert!(
        err.contains("`max_concurrent_scans`") && err.contains("`per_target`"),
        "{err}"
    );

    std::fs::write(&file, "[limits]\nmax_concurrent_scans = 3\n").unwrap();
    let (code, out, err) = picketd(&env, &["--check-config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("configuration OK") && out.contains("typo.toml"),
        "{out}"
    );

    // --print-config: the same value, with where it came from.
    let (code, out, err) = picketd(
        &env,
        &[
            "--print-config",
            "--config",
            file.to_str().unwrap(),
            "--log-level",
            "debug",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        line("limits.max_concurrent_scans = 3").ends_with("typo.toml"),
        "{out}"
    );
    assert!(
        line("limits.per_target =").ends_with("# from default"),
        "{out}"
    );
    assert!(
        line("log_level = \"debug\"").ends_with("# from flag --log-level"),
        "{out}"
    );
    assert!(
        line("socket =").ends_with("# from env PICKET_SOCKET"),
        "{out}"
    );
}

#[test]
fn a_log_level_that_is_no_level_is_refused_with_the_valid_ones() {
    let env = Env::new();
    let (code, _, err) = picketd(&env, &["--log-level", "verbose", "--check-config"]);
    assert_ne!(code, 0);
    assert!(err.contains("\"verbose\" is not a log level"), "{err}");
    assert!(
        err.contains("error, warn, info, debug, trace, off"),
        "{err}"
    );
}

#[test]
fn target_and_port_mistakes_say_what_to_write_and_host_port_means_that_port() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, count) = discovery_daemon(dir.path());
    let refusal = |args: &[&str]| {
        let out = env.picket(args);
        assert!(!out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refusal(&["scan", "127.0.0.1", "--ports", "80-", "--profile", "disco"]);
    assert!(
        err.contains("range '80-' has no end; write 80-65535"),
        "{err}"
    );
    assert!(!err.contains("invalid target"), "{err}");
    let err = refusal(&["scan", "127.0.0.1:8080/admin", "--profile", "disco"]);
    assert!(err.contains("`http://127.0.0.1:8080/admin`"), "{err}");
    let err = refusal(&["scan", "nowhere.invalid", "--profile", "disco"]);
    assert!(
        err.contains("DNS lookup of nowhere.invalid failed"),
        "{err}"
    );
    assert!(
        !err.contains("[scope]"),
        "no scope hint for a DNS failure: {err}"
    );
    let err = refusal(&["findings", "--min-severity", "hgh"]);
    assert!(
        err.contains("'hgh'") && err.contains("info, low, medium, high, critical"),
        "{err}"
    );
    assert!(!err.contains("Severity"), "{err}");
    assert_eq!(starts(&count), 0);

    // host:port (and host:port/) means that port.
    let s = env.scan_wait(&["127.0.0.1:8080/", "--profile", "disco"]);
    assert_eq!(s.targets, vec!["127.0.0.1".to_string()]);
    assert_eq!(s.ports.as_deref(), Some("8080"));
}

/// nmap says `https` (or `http` over TLS), sslscan says `ssl` of the same port: `show`
/// has one row for it, with nmap's name and product and TLS set.
#[test]
fn nmap_and_sslscan_on_one_tls_port_are_one_service_row() {
    require_installed(&["nmap", "sslscan"]);
    let env = Env::new();
    let tls = picket_testkit::targets::https(env.root());
    let _d = env.start_daemon();
    let port = tls.port.to_string();
    let s = scan(
        &env,
        &["127.0.0.1", "--tools", "nmap,sslscan", "--ports", &port],
    );
    let ran: Vec<&str> = s.tool_runs.iter().map(|r| r.tool.as_str()).collect();
    assert!(ran.contains(&"sslscan"), "{:#?}", s.tool_runs);
    let rows: Vec<_> = s.services.iter().filter(|x| x.port == tls.port).collect();
    assert_eq!(rows.len(), 1, "one row per port: {rows:#?}");
    assert!(rows[0].tls, "{rows:#?}");
    assert_ne!(rows[0].name, "ssl", "nmap's name wins: {rows:#?}");
}
