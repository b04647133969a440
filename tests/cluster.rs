//! Several picketd as one over a real redis-server (issue 17): a coordinator and workers,
//! each its own picketd with its own data directory and socket, the Redis of the test on a
//! loopback port. Each worker's stand-in tools are scripts of its own that log which worker
//! ran them, so "ran on both", "ran again elsewhere" and "killed on the worker" are
//! observed, not inferred. Must-shows 1, 2, 3 and 6; no assertion on time.

use std::path::{Path, PathBuf};

use picket_protocol::{RunStatus, ScanDetail, ScanStatus};
use picket_testkit::cluster::{with_cluster, RedisServer};
use picket_testkit::scripts::{hang, hang_marker, tool_script, until_exists};
use picket_testkit::*;

const PROFILE: &str = "[profiles.spread]\ndiscovery = [\"disc\"]\nfollow_up = [\"follow\"]";

fn host_xml(address: &str) -> String {
    format!(
        r#"<host><status state="up" reason="user-set"/><address addr="{address}" addrtype="ipv4"/><ports><port protocol="tcp" portid="18080"><state state="open" reason="syn-ack"/><service name="http" product="SimpleHTTPServer" method="probed" conf="10"/></port></ports></host>"#
    )
}

/// A stand-in nmap reporting an http service on 127.0.0.1 to 127.0.0.6.
fn discovery(dir: &Path) -> PathBuf {
    let hosts: String = (1..=6)
        .map(|i| format!("echo '{}'\n", host_xml(&format!("127.0.0.{i}"))))
        .collect();
    tool_script(
        dir,
        "disc",
        &format!(
            "echo '<?xml version=\"1.0\"?><nmaprun scanner=\"nmap\" args=\"stand-in\">'\n{hosts}echo '<runstats><finished time=\"1\" exit=\"success\"/></runstats></nmaprun>'"
        ),
    )
}

/// The follow-up of worker `me`: logs `me URL` to `logs/me.log`; with `spread`, waits (at
/// most 30 s) until both workers a and b have logged a run, so with one slot each the runs
/// must spread over both; then reports one finding named after the URL.
fn follow(dir: &Path, logs: &Path, me: &str, spread: bool) -> PathBuf {
    let wait = match spread {
        true => format!(
            "i=0\nwhile [ ! -s {0}/a.log ] || [ ! -s {0}/b.log ]; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.05; done",
            logs.display()
        ),
        false => String::new(),
    };
    let script = format!(
        "echo \"{me} $1\" >> {}/{me}.log\n{wait}\necho \"PICKET-FINDING follow-$1\"",
        logs.display()
    );
    tool_script(dir, "follow", &script)
}

/// disc and follow (each from `dir`), and the profile that chains them.
fn spread_tools(dir: &Path, logs: &Path, me: &str, spread: bool) -> ConfigBuilder {
    std::fs::create_dir_all(dir).unwrap();
    let disc = discovery(dir);
    let follow = follow(dir, logs, me, spread);
    ConfigBuilder::new()
        .raw(PROFILE)
        .tool(
            ToolConfig::new("disc")
                .program(&disc)
                .no_version_probe()
                .ttl_secs(0)
                .set("parser", "nmap"),
        )
        .tool(
            ToolConfig::new("follow")
                .program(&follow)
                .no_version_probe()
                .ttl_secs(0)
                .triggers(["http"])
                .args(["{url}"])
                .finds_marked_lines(),
        )
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// What must be equal between two scans of the same network: services and findings.
fn outcome(scan: &ScanDetail) -> (Vec<String>, Vec<String>) {
    let mut services: Vec<String> = scan
        .services
        .iter()
        .map(|s| format!("{} {} {:?} {:?}", s.host, s.port, s.name, s.product))
        .collect();
    services.sort();
    let mut findings: Vec<String> = scan
        .findings
        .iter()
        .map(|f| format!("{} {} {}", f.fingerprint, f.host, f.title))
        .collect();
    findings.sort();
    (services, findings)
}

fn start(cfg: &ConfigBuilder) -> (Env, Daemon) {
    let env = Env::new().with_config(cfg);
    let daemon = env.start_daemon();
    (env, daemon)
}

fn scan_id(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    env.picket_json(all)["id"]
        .as_i64()
        .expect("scan id")
        .to_string()
}

#[test]
fn a_scan_spreads_over_two_workers_and_ends_as_on_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let node = |name: &str, roles: &[&str], spread: bool| {
        let tools = spread_tools(&dir.path().join(name), &logs, name, spread);
        start(&with_cluster(tools, &redis, name, roles, 1))
    };
    let (coord, _c) = node("coord", &["coordinator"], true);
    let (_wa, _a) = node("a", &["worker"], true);
    let (_wb, _b) = node("b", &["worker"], true);

    let clustered = coord.scan_wait(&["127.0.0.0/29", "--profile", "spread"]);

    assert_eq!(clustered.status, ScanStatus::Done, "{clustered:#?}");
    let follows = clustered.tool_runs.iter().filter(|r| r.tool == "follow");
    assert_eq!(follows.count(), 6, "{clustered:#?}");
    assert!(
        clustered
            .tool_runs
            .iter()
            .all(|r| r.status == RunStatus::Done),
        "{clustered:#?}"
    );
    let (on_a, on_b) = (lines(&logs.join("a.log")), lines(&logs.join("b.log")));
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "a: {on_a:?}, b: {on_b:?}"
    );
    assert_eq!(
        on_a.len() + on_b.len(),
        6,
        "each follow-up ran once: {on_a:?} {on_b:?}"
    );
    assert!(
        lines(&logs.join("coord.log")).is_empty(),
        "the coordinator ran a tool"
    );

    let single_dir = dir.path().join("single");
    let (single, _s) = start(&spread_tools(&single_dir, &logs, "single", false));
    let alone = single.scan_wait(&["127.0.0.0/29", "--profile", "spread"]);
    assert_eq!(alone.status, ScanStatus::Done, "{alone:#?}");
    let (services, findings) = outcome(&clustered);
    assert_eq!(services.len(), 6, "{services:?}");
    assert_eq!(
        findings.len(),
        12,
        "an open port and a follow-up finding per host: {findings:?}"
    );
    assert_eq!((services, findings), outcome(&alone));
}
