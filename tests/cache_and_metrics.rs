//! End-to-end tests of the tool cache and of self-measurement (issue 4): the real picketd
//! and picket, counting stand-in tools (scripts that record each start) so "no process was
//! started" is observed, not inferred, and the real tools for the repeat-scan case.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use picket_protocol::ScanDetail;
use picket_testkit::scripts::{count_start, starts, until_exists};
use picket_testkit::targets::{http, https};
use picket_testkit::*;
use serde_json::Value;

/// A tool that appends a line to `count` each time it starts, then prints one finding
/// (named after its argument, so targets differ).
fn counting_tool(dir: &Path, name: &str, ttl: i64, extra: &str) -> (ToolConfig, PathBuf) {
    let count = dir.join(format!("{name}.count"));
    let script = tool_script(
        dir,
        name,
        &format!(
            "{}\n{extra}\necho \"PICKET-FINDING {name}-$1\"",
            count_start(&count)
        ),
    );
    let tool = ToolConfig::new(name)
        .program(script)
        .ttl_secs(ttl)
        .no_version_probe()
        .finds_marked_lines();
    (tool, count)
}

/// A daemon with counting tools `alpha` and `beta` (TTL 600 s); their start counts.
fn alpha_and_beta(dir: &Path) -> (Env, Daemon, [PathBuf; 2]) {
    let (a, a_count) = counting_tool(dir, "alpha", 600, "");
    let (b, b_count) = counting_tool(dir, "beta", 600, "");
    let env = Env::new().with_config(&ConfigBuilder::new().tool(a).tool(b));
    let daemon = env.start_daemon();
    (env, daemon, [a_count, b_count])
}

/// A daemon with one counting tool; its start count.
fn one_tool(dir: &Path, name: &str, ttl: i64, extra: &str) -> (Env, Daemon, PathBuf) {
    let (tool, count) = counting_tool(dir, name, ttl, extra);
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let daemon = env.start_daemon();
    (env, daemon, count)
}

/// `scan ARGS --wait`, which must end done.
fn scan(env: &Env, args: &[&str]) -> ScanDetail {
    let s = env.scan_wait(args);
    assert_eq!(s.status, picket_protocol::ScanStatus::Done, "{s:#?}");
    s
}

fn hits(scan: &ScanDetail) -> Vec<bool> {
    scan.tool_runs.iter().map(|r| r.cache_hit).collect()
}

/// Whether every run of `scan` was (`true`) or was not (`false`) a cache hit.
fn every_run_hit(scan: &ScanDetail, hit: bool) -> bool {
    hits(scan).iter().all(|h| *h == hit)
}

fn fingerprints(scan: &ScanDetail) -> Vec<String> {
    let mut v: Vec<String> = scan
        .findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect();
    v.sort();
    v
}

fn cache_stats(env: &Env) -> Value {
    env.picket_json(["cache", "stats"])
}

#[test]
fn the_same_scan_twice_is_answered_from_the_cache_without_starting_a_tool() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, [a_count, b_count]) = alpha_and_beta(dir.path());
    let first = scan(&env, &["127.0.0.1", "--tools", "alpha,beta"]);
    assert!(every_run_hit(&first, false));
    assert_eq!((starts(&a_count), starts(&b_count)), (1, 1));
    let second = scan(&env, &["127.0.0.1", "--tools", "alpha,beta"]);
    assert!(every_run_hit(&second, true), "{second:#?}");
    assert_eq!(
        (starts(&a_count), starts(&b_count)),
        (1, 1),
        "a cache hit must not start the tool"
    );
    assert_eq!(fingerprints(&first), fingerprints(&second));
    assert_eq!(first.findings.len(), 2);
    // --no-cache runs them again.
    let third = scan(&env, &["127.0.0.1", "--tools", "alpha,beta", "--no-cache"]);
    assert!(every_run_hit(&third, false));
    assert_eq!((starts(&a_count), starts(&b_count)), (2, 2));
}

#[test]
fn a_real_repeat_scan_hits_on_every_run_and_reports_the_same() {
    require_installed(&["nmap", "whatweb", "sslscan"]);
    let env = Env::new();
    let http = http(env.root());
    let https = https(env.root());
    let _d = env.start_daemon();
    let ports = format!("{},{}", http.port, https.port);
    let first = scan(&env, &["127.0.0.1", "--ports", &ports]);
    let second = scan(&env, &["127.0.0.1", "--ports", &ports]);
    assert_eq!(first.tool_runs.len(), second.tool_runs.len());
    assert!(every_run_hit(&second, true), "{:#?}", second.tool_runs);
    assert_eq!(first.services, second.services);
    assert_eq!(fingerprints(&first), fingerprints(&second));
}

#[test]
fn after_a_restart_hits_come_from_sqlite_then_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (env, mut d, count) = one_tool(dir.path(), "alpha", 600, "");
    scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    env.picket(["shutdown"]);
    d.wait_exit();
    let _d = env.start_daemon();
    let again = scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    assert!(every_run_hit(&again, true));
    let st = cache_stats(&env);
    assert_eq!(
        (st["hits_l2"].as_u64(), st["hits_l1"].as_u64()),
        (Some(2), Some(0)),
        "first hits after a restart come from L2: {st:#}"
    );
    assert_eq!(st["l1_entries"], 2, "promoted to L1: {st:#}");
    scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    let st = cache_stats(&env);
    assert_eq!(
        (st["hits_l2"].as_u64(), st["hits_l1"].as_u64()),
        (Some(2), Some(2)),
        "then from L1: {st:#}"
    );
    assert_eq!(starts(&count), 2, "only the very first scan ran the tool");
}

#[test]
fn an_expired_entry_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, count) = one_tool(dir.path(), "alpha", 1, "");
    let first = scan(&env, &["127.0.0.1", "--tools", "alpha"]);
    let stored = Instant::now();
    assert_eq!(hits(&first), [false]);
    // The TTL is 1 s; wait past it (plus the coarse clock's tick) before asking again.
    while stored.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = scan(&env, &["127.0.0.1", "--tools", "alpha"]);
    assert_eq!(
        hits(&second),
        [false],
        "an expired entry must not be served"
    );
    assert_eq!(starts(&count), 2);
    assert!(cache_stats(&env)["expirations"].as_u64().unwrap() >= 1);
}

#[test]
fn invalidating_a_target_makes_only_that_target_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, count) = one_tool(dir.path(), "alpha", 600, "");
    scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    let out = env.picket_json(["cache", "invalidate", "--target", "127.0.0.1"]);
    assert_eq!(out["removed"], 1);
    let again = scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    for r in &again.tool_runs {
        let expect_hit = r.target == "127.0.0.2";
        assert_eq!(r.cache_hit, expect_hit, "{r:#?}");
    }
    assert_eq!(starts(&count), 3);
    // By tool, and everything.
    assert_eq!(
        env.picket_json(["cache", "invalidate", "--tool", "alpha"])["removed"],
        2
    );
    assert_eq!(env.picket_json(["cache", "clear"])["removed"], 0);
    let usage = env.picket(["cache", "invalidate"]);
    assert_eq!(usage.status.code(), Some(2), "{}", describe(&usage));
}

#[test]
fn two_concurrent_scans_of_the_same_run_start_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let (env, _d, count) = one_tool(dir.path(), "slowpoke", 600, &until_exists(&gate));
    let a = env.picket_json(["scan", "127.0.0.1", "--tools", "slowpoke"])["id"].to_string();
    let b = env.picket_json(["scan", "127.0.0.1", "--tools", "slowpoke"])["id"].to_string();
    eventually(
        EVENTUALLY,
        "the second scan waits on the first one's run",
        || (cache_stats(&env)["in_flight_waiters"] == 1).then_some(()),
    );
    std::fs::write(&gate, "go").unwrap();
    let both: Vec<ScanDetail> = env.wait_all(&[&a, &b]);
    assert!(both
        .iter()
        .all(|s| s.status == picket_protocol::ScanStatus::Done));
    assert_eq!(starts(&count), 1, "exactly one process for both scans");
    let hits: Vec<bool> = both.iter().map(|s| s.tool_runs[0].cache_hit).collect();
    assert_eq!(
        hits,
        [false, true],
        "the second scan shares the first one's run"
    );
    assert_eq!(fingerprints(&both[0]), fingerprints(&both[1]));
    assert_eq!(cache_stats(&env)["hits_shared"], 1);
}

#[test]
fn the_reported_hit_rate_is_hits_over_hits_and_misses() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, _) = alpha_and_beta(dir.path());
    let plan: &[&[&str]] = &[
        &["127.0.0.1", "--tools", "alpha,beta"],
        &["127.0.0.1", "--tools", "alpha"],
        &["127.0.0.2", "--tools", "alpha"],
        &["127.0.0.1", "127.0.0.2", "--tools", "alpha,beta"],
        &["127.0.0.3", "--tools", "beta", "--no-cache"],
        &["127.0.0.1", "--tools", "beta", "--no-cache"],
    ];
    let runs: Vec<bool> = plan
        .iter()
        .flat_map(|args| hits(&scan(&env, args)))
        .collect();
    let hits = runs.iter().filter(|h| **h).count() as u64;
    let misses = runs.len() as u64 - hits;
    assert!(hits > 0 && misses > 0);
    let st = cache_stats(&env);
    assert_eq!(
        (st["hits"].as_u64().unwrap(), st["misses"].as_u64().unwrap()),
        (hits, misses),
        "{st:#}"
    );
    let rate = st["hit_rate"].as_f64().unwrap();
    assert!(
        (rate - hits as f64 / (hits + misses) as f64).abs() < 1e-9,
        "{rate} vs {hits}/{}",
        hits + misses
    );
    // The Prometheus view says the same.
    let prom = stdout(&env.picket(["metrics"]));
    let line = prom
        .lines()
        .find(|l| l.starts_with("picket_cache_hit_ratio "))
        .unwrap();
    let shown: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((shown - rate).abs() < 1e-9);
}

#[test]
fn prometheus_metrics_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _d, _) = one_tool(dir.path(), "alpha", 600, "");
    scan(&env, &["127.0.0.1", "--tools", "alpha"]);
    scan(&env, &["127.0.0.1", "--tools", "alpha"]);
    env.picket(["findings"]);
    let out = env.picket(["metrics", "--format", "prometheus"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for name in [
        "picket_request_duration_seconds_bucket{kind=\"scan\"",
        "picket_tool_run_duration_seconds_count{tool=\"alpha\"}",
        "picket_scan_duration_seconds_count 2",
        "picket_cache_hits_total{level=\"l1\"} 1",
        "picket_db_pool_connections{state=\"max\"}",
        "picket_queue_depth{actor=\"tool:alpha\",state=\"queued\"} 0",
        "picket_scans_finished_total{status=\"done\"} 2",
        "picket_tool_runs_total{status=\"done\"} 1",
        "picket_findings_total{severity=\"info\"} 2",
        "picket_process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "missing {name} in:\n{text}");
    }
    if let Err(e) = picket_testkit::checkers::promtool_check_metrics(&text) {
        panic!("{e}");
    }
    let json = env.picket_json(["metrics", "--format", "json"]);
    assert!(json["rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn queries_over_the_slow_threshold_are_reported_with_their_timing() {
    let env = Env::new().with_config(&ConfigBuilder::new().set("db", "slow_query_ms", 0));
    let _d = env.start_daemon();
    env.picket_json(["list"]);
    let st = env.picket_json(["stats"]);
    assert_eq!(st["slow_query_threshold_ms"], 0);
    let slow = st["slow_queries"].as_array().unwrap();
    let list = slow
        .iter()
        .find(|q| q["query"] == "list scans")
        .unwrap_or_else(|| panic!("`list scans` not in {slow:#?}"));
    assert!(list["micros"].as_u64().is_some() && list["at"].as_str().unwrap().contains('T'));
    let human = stdout(&env.picket(["stats"]));
    assert!(
        human.contains("slow queries (over 0 ms)") && human.contains("list scans"),
        "{human}"
    );
    // With the default threshold (100 ms) these quick queries are not logged.
    let env2 = Env::new();
    let _d2 = env2.start_daemon();
    env2.picket_json(["list"]);
    assert_eq!(
        env2.picket_json(["stats"])["slow_queries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
