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

/// A temp dir for one test, with the `logs` folder its stand-in tools write to.
fn dir_with_logs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    (dir, logs)
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
    let (dir, logs) = dir_with_logs();
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

/// A tool of worker `me` that logs `me TARGET` to `logs/me.log`, runs `then`, and reports
/// one finding named after its target.
fn logging_tool(dir: &Path, logs: &Path, me: &str, then: &str) -> ToolConfig {
    std::fs::create_dir_all(dir).unwrap();
    let script = tool_script(
        dir,
        "work",
        &format!(
            "echo \"{me} $1\" >> {}/{me}.log\n{then}\necho \"PICKET-FINDING work-$1\"",
            logs.display()
        ),
    );
    ToolConfig::new("work")
        .program(&script)
        .no_version_probe()
        .ttl_secs(0)
        .timeout_secs(600)
        .finds_marked_lines()
}

/// A node of the cluster whose only tool is `logging_tool`.
fn work_node(
    dir: &Path,
    redis: &RedisServer,
    me: &str,
    roles: &[&str],
    then: &str,
) -> (Env, Daemon) {
    work_node_with(dir, redis, me, roles, then, |c| c)
}

/// `work_node` with more config (`more` gets the node's config and returns it changed).
fn work_node_with(
    dir: &Path,
    redis: &RedisServer,
    me: &str,
    roles: &[&str],
    then: &str,
    more: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> (Env, Daemon) {
    let tool = logging_tool(&dir.join(me), &dir.join("logs"), me, then);
    let cfg = with_cluster(ConfigBuilder::new().tool(tool), redis, me, roles, 1);
    start(&more(cfg))
}

/// Every run of `scan` done, one finding per run, no fingerprint twice.
fn assert_each_finding_once(scan: &ScanDetail, runs: usize) {
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert_eq!(scan.tool_runs.len(), runs, "{scan:#?}");
    assert!(
        scan.tool_runs.iter().all(|r| r.status == RunStatus::Done),
        "{scan:#?}"
    );
    let mut prints: Vec<&str> = scan
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    prints.sort();
    prints.dedup();
    assert_eq!(prints.len(), runs, "{scan:#?}");
    assert_eq!(
        scan.findings.len(),
        runs,
        "a finding stored twice: {scan:#?}"
    );
}

#[test]
fn a_run_of_a_killed_worker_is_reclaimed_and_completes_on_the_other() {
    let (dir, logs) = dir_with_logs();
    let release = dir.path().join("release");
    let redis = RedisServer::start(&dir.path().join("redis"));
    let (coord, _c) = work_node(dir.path(), &redis, "coord", &["coordinator"], "");
    // a holds its run until the test ends (it is killed before then); b runs at once.
    let (_wa, mut a) = work_node(
        dir.path(),
        &redis,
        "a",
        &["worker"],
        &until_exists(&release),
    );
    let id = scan_id(
        &coord,
        &["127.0.0.1", "127.0.0.2", "127.0.0.3", "--tools", "work"],
    );
    eventually(EVENTUALLY, "worker a starts a run", || {
        (lines(&logs.join("a.log")).len() == 1).then_some(())
    });
    let (_wb, _b) = work_node(dir.path(), &redis, "b", &["worker"], "");
    eventually(EVENTUALLY, "worker b runs the other two", || {
        (lines(&logs.join("b.log")).len() == 2).then_some(())
    });

    a.kill9();

    let scan = coord.wait_one(&id);
    std::fs::write(&release, "").unwrap();
    assert_each_finding_once(&scan, 3);
    let (on_a, on_b) = (lines(&logs.join("a.log")), lines(&logs.join("b.log")));
    assert_eq!(on_b.len(), 3, "b ran a's run again: a {on_a:?}, b {on_b:?}");
    let taken_over = on_a[0].strip_prefix("a ").unwrap();
    assert!(
        on_b.contains(&format!("b {taken_over}")),
        "a {on_a:?}, b {on_b:?}"
    );
}

#[test]
fn a_redis_crash_and_restart_during_a_scan_loses_nothing() {
    let (dir, logs) = dir_with_logs();
    let gate = dir.path().join("gate");
    let mut redis = RedisServer::start(&dir.path().join("redis"));
    let (coord, _c) = work_node(dir.path(), &redis, "coord", &["coordinator"], "");
    let ended = logs.join("ended");
    let then = format!(
        "{}\necho \"$1\" >> {}",
        until_exists(&gate),
        ended.display()
    );
    let (_wa, _a) = work_node(dir.path(), &redis, "a", &["worker"], &then);
    let targets = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let mut args = targets.to_vec();
    args.extend(["--tools", "work"]);
    let id = scan_id(&coord, &args);
    eventually(EVENTUALLY, "the first run starts", || {
        (!lines(&logs.join("a.log")).is_empty()).then_some(())
    });
    eventually(EVENTUALLY, "every run enqueued before the crash", || {
        (redis.cli(&["XLEN", "picket:runs"]).trim() == "4").then_some(())
    });

    redis.kill9();
    // The run going ends while Redis is down: its result must wait, not vanish.
    std::fs::write(&gate, "").unwrap();
    eventually(EVENTUALLY, "the run ends", || {
        (lines(&ended).len() == 1).then_some(())
    });
    redis.restart();

    let scan = coord.wait_one(&id);
    assert_each_finding_once(&scan, 4);
    let mut ran: Vec<String> = lines(&logs.join("a.log"));
    ran.sort();
    ran.dedup();
    assert_eq!(ran.len(), 4, "{ran:?}");
}

#[test]
fn cancel_kills_the_tool_on_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let marker = hang_marker(17);
    let tool = |me: &str| {
        let d = dir.path().join(me);
        std::fs::create_dir_all(&d).unwrap();
        ToolConfig::new("hang")
            .program(hang(&d, &marker))
            .no_version_probe()
            .ttl_secs(0)
            .timeout_secs(600)
    };
    let node = |me: &str, roles: &[&str]| {
        start(&with_cluster(
            ConfigBuilder::new().tool(tool(me)),
            &redis,
            me,
            roles,
            1,
        ))
    };
    let (coord, _c) = node("coord", &["coordinator"]);
    let (_wa, a) = node("a", &["worker"]);
    let id = scan_id(&coord, &["127.0.0.1", "--tools", "hang"]);
    let running = eventually(EVENTUALLY, "the tool runs on the worker", || {
        let pids = processes_with(&marker);
        (!pids.is_empty()).then_some(pids)
    });
    let on_worker = running.iter().any(|p| descends_from(*p, a.pid()));
    assert!(on_worker, "the tool {running:?} is not the worker's");

    let cancelled = coord.picket_json(["cancel", &id]);
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");

    eventually(EVENTUALLY, "the worker's tool processes end", || {
        processes_with(&marker).is_empty().then_some(())
    });
    let shown: ScanDetail = coord.picket_as(["show", &id]);
    assert_eq!(shown.status, ScanStatus::Cancelled, "{shown:#?}");
}

/// Whether `pid` is `ancestor` or below it (through /proc's parent links).
fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    while pid > 1 {
        if pid == ancestor {
            return true;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        else {
            return false;
        };
        pid = ppid;
    }
    false
}

#[test]
fn a_worker_refuses_a_target_outside_its_own_scope() {
    let (dir, logs) = dir_with_logs();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let (coord, _c) = work_node(dir.path(), &redis, "coord", &["coordinator"], "");
    let deny = |c: ConfigBuilder| c.set("scope", "deny", vec!["127.0.0.2"]);
    let (_wa, _a) = work_node_with(dir.path(), &redis, "a", &["worker"], "", deny);

    let scan = coord.scan_wait(&["127.0.0.1", "127.0.0.2", "--tools", "work"]);

    let ran = lines(&logs.join("a.log"));
    assert_eq!(ran, vec!["a 127.0.0.1".to_string()], "{scan:#?}");
    let refused = scan.tool_runs.iter().find(|r| r.target == "127.0.0.2");
    let refused = refused.unwrap_or_else(|| panic!("{scan:#?}"));
    assert_eq!(refused.status, RunStatus::Skipped, "{scan:#?}");
    assert!(
        refused.error.as_deref().unwrap_or("").contains("127.0.0.2"),
        "{scan:#?}"
    );
}

#[test]
fn a_run_delivered_too_often_is_dead_lettered_and_ends_failed_with_the_reason() {
    let (dir, logs) = dir_with_logs();
    let release = dir.path().join("release");
    let redis = RedisServer::start(&dir.path().join("redis"));
    let once = |c: ConfigBuilder| c.set("cluster", "max_deliveries", 1);
    let (coord, _c) = work_node_with(dir.path(), &redis, "coord", &["coordinator"], "", once);
    let hold = until_exists(&release);
    let (_wa, mut a) = work_node_with(dir.path(), &redis, "a", &["worker"], &hold, once);
    let id = scan_id(&coord, &["127.0.0.1", "--tools", "work"]);
    eventually(EVENTUALLY, "worker a starts the run", || {
        (lines(&logs.join("a.log")).len() == 1).then_some(())
    });
    a.kill9();
    let (_wb, _b) = work_node_with(dir.path(), &redis, "b", &["worker"], "", once);

    // `wait` exits non-zero for a scan with a failed run; `show` tells the rest.
    coord.picket(["wait", &id]);
    let scan: ScanDetail = coord.picket_as(["show", &id]);
    std::fs::write(&release, "").unwrap();
    assert_eq!(scan.tool_runs.len(), 1, "{scan:#?}");
    let run = &scan.tool_runs[0];
    assert_eq!(run.status, RunStatus::Failed, "{scan:#?}");
    assert!(
        run.error
            .as_deref()
            .unwrap_or("")
            .contains("max_deliveries = 1"),
        "{scan:#?}"
    );
    assert!(lines(&logs.join("b.log")).is_empty(), "b ran a dead letter");
    assert_eq!(redis.cli(&["XLEN", "picket:dead"]).trim(), "1");
}

#[test]
fn a_stopping_worker_hands_its_run_back_to_another() {
    let (dir, logs) = dir_with_logs();
    let release = dir.path().join("release");
    let redis = RedisServer::start(&dir.path().join("redis"));
    // A lease far beyond the test: the run can only move by being handed back.
    let long = |c: ConfigBuilder| {
        c.set("cluster", "lease_secs", 600)
            .set("limits", "shutdown_grace_secs", 1)
    };
    let (coord, _c) = work_node_with(dir.path(), &redis, "coord", &["coordinator"], "", long);
    let hold = until_exists(&release);
    let (_wa, mut a) = work_node_with(dir.path(), &redis, "a", &["worker"], &hold, long);
    let id = scan_id(&coord, &["127.0.0.1", "--tools", "work"]);
    eventually(EVENTUALLY, "worker a starts the run", || {
        (lines(&logs.join("a.log")).len() == 1).then_some(())
    });
    let (_wb, _b) = work_node_with(dir.path(), &redis, "b", &["worker"], "", long);

    a.signal(Signal::SIGTERM);
    a.wait_exit();

    let scan = coord.wait_one(&id);
    std::fs::write(&release, "").unwrap();
    assert_each_finding_once(&scan, 1);
    assert_eq!(lines(&logs.join("b.log")), vec!["b 127.0.0.1".to_string()]);
    assert!(a.log().contains("handed back"), "{}", a.log());
}

#[test]
fn a_restarted_coordinator_takes_the_result_that_came_while_it_was_down() {
    let (dir, logs) = dir_with_logs();
    let gate = dir.path().join("gate");
    let redis = RedisServer::start(&dir.path().join("redis"));
    let (coord, mut c) = work_node(dir.path(), &redis, "coord", &["coordinator"], "");
    let ended = logs.join("ended");
    let then = format!(
        "{}\necho \"$1\" >> {}",
        until_exists(&gate),
        ended.display()
    );
    let (_wa, _a) = work_node(dir.path(), &redis, "a", &["worker"], &then);
    let id = scan_id(&coord, &["127.0.0.1", "--tools", "work"]);
    eventually(EVENTUALLY, "worker a starts the run", || {
        (lines(&logs.join("a.log")).len() == 1).then_some(())
    });

    c.kill9();
    std::fs::write(&gate, "").unwrap();
    eventually(EVENTUALLY, "the result waits in redis", || {
        (redis.cli(&["XLEN", "picket:results:coord"]).trim() == "1").then_some(())
    });
    let _c = coord.start_daemon();

    let scan = coord.wait_one(&id);
    assert_each_finding_once(&scan, 1);
    assert_eq!(lines(&logs.join("a.log")).len(), 1, "the run ran again");
    // Acknowledged once stored (just after the scan's end, so not at once).
    eventually(EVENTUALLY, "no result left pending", || {
        let pending = redis.cli(&["XPENDING", "picket:results:coord", "coord"]);
        (pending.lines().next().map(str::trim) == Some("0")).then_some(())
    });
}
