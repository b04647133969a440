//! End-to-end tests of the tool cache and of self-measurement (issue 4): the real picketd
//! and picket, counting stand-in tools (scripts that record each start) so "no process was
//! started" is observed, not inferred, and the real tools for the repeat-scan case.

mod common;
mod local_targets;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use local_targets::*;
use serde_json::Value;

const FINDS: &str = "parser = { kind = \"regex\", pattern = '^(?P<title>PICKET-FINDING \\S+)' }";

/// A tool that appends a line to `count` each time it starts, then prints one finding
/// (named after its argument, so targets differ).
fn counting_tool(dir: &Path, name: &str, ttl: u64, extra: &str) -> (String, PathBuf) {
    let count = dir.join(format!("{name}.count"));
    let script = tool_script(
        dir,
        name,
        &format!(
            "echo run >> {}\n{extra}\necho \"PICKET-FINDING {name}-$1\"",
            count.display()
        ),
    );
    let cfg = format!(
        "[tools.{name}]\nprogram = \"{}\"\nargs = [\"{{host}}\"]\nttl_secs = {ttl}\nversion_args = []\n{FINDS}\n",
        script.display()
    );
    (cfg, count)
}

fn starts(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn scan(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    all.push("--wait");
    let s = env.picket_json(all);
    assert_eq!(s["status"], "done", "{s:#}");
    s
}

fn runs(scan: &Value) -> Vec<Value> {
    scan["tool_runs"].as_array().unwrap().clone()
}

fn fingerprints(scan: &Value) -> Vec<String> {
    let mut v: Vec<String> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap().to_string())
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
    let (a, a_count) = counting_tool(dir.path(), "alpha", 600, "");
    let (b, b_count) = counting_tool(dir.path(), "beta", 600, "");
    let env = Env::new().with_config_file(&(a + &b));
    let _d = env.start_daemon();
    let first = scan(&env, &["127.0.0.1", "--tools", "alpha,beta"]);
    assert!(runs(&first).iter().all(|r| r["cache_hit"] == false));
    assert_eq!((starts(&a_count), starts(&b_count)), (1, 1));
    let second = scan(&env, &["127.0.0.1", "--tools", "alpha,beta"]);
    assert!(
        runs(&second).iter().all(|r| r["cache_hit"] == true),
        "{second:#}"
    );
    assert_eq!(
        (starts(&a_count), starts(&b_count)),
        (1, 1),
        "a cache hit must not start the tool"
    );
    assert_eq!(fingerprints(&first), fingerprints(&second));
    assert_eq!(first["findings"].as_array().unwrap().len(), 2);
    // --no-cache runs them again.
    let third = scan(&env, &["127.0.0.1", "--tools", "alpha,beta", "--no-cache"]);
    assert!(runs(&third).iter().all(|r| r["cache_hit"] == false));
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
    assert_eq!(runs(&first).len(), runs(&second).len());
    assert!(
        runs(&second).iter().all(|r| r["cache_hit"] == true),
        "{:#?}",
        runs(&second)
    );
    assert_eq!(first["services"], second["services"]);
    assert_eq!(fingerprints(&first), fingerprints(&second));
}

#[test]
fn after_a_restart_hits_come_from_sqlite_then_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, count) = counting_tool(dir.path(), "alpha", 600, "");
    let env = Env::new().with_config_file(&cfg);
    let mut d = env.start_daemon();
    scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    env.picket(["shutdown"]);
    d.wait_exit();
    let _d = env.start_daemon();
    let again = scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    assert!(runs(&again).iter().all(|r| r["cache_hit"] == true));
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
    let (cfg, count) = counting_tool(dir.path(), "alpha", 1, "");
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
    let first = scan(&env, &["127.0.0.1", "--tools", "alpha"]);
    let stored = Instant::now();
    assert_eq!(runs(&first)[0]["cache_hit"], false);
    // The TTL is 1 s; wait past it (plus the coarse clock's tick) before asking again.
    while stored.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = scan(&env, &["127.0.0.1", "--tools", "alpha"]);
    assert_eq!(
        runs(&second)[0]["cache_hit"],
        false,
        "an expired entry must not be served"
    );
    assert_eq!(starts(&count), 2);
    assert!(cache_stats(&env)["expirations"].as_u64().unwrap() >= 1);
}

#[test]
fn invalidating_a_target_makes_only_that_target_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, count) = counting_tool(dir.path(), "alpha", 600, "");
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
    scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    let out = env.picket_json(["cache", "invalidate", "--target", "127.0.0.1"]);
    assert_eq!(out["removed"], 1);
    let again = scan(&env, &["127.0.0.1", "127.0.0.2", "--tools", "alpha"]);
    for r in runs(&again) {
        let expect_hit = r["target"] == "127.0.0.2";
        assert_eq!(r["cache_hit"], expect_hit, "{r:#}");
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
    let (cfg, count) = counting_tool(
        dir.path(),
        "slowpoke",
        600,
        &format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display()),
    );
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
    let a = env.picket_json(["scan", "127.0.0.1", "--tools", "slowpoke"])["id"].to_string();
    let b = env.picket_json(["scan", "127.0.0.1", "--tools", "slowpoke"])["id"].to_string();
    eventually(
        EVENTUALLY,
        "the second scan waits on the first one's run",
        || (cache_stats(&env)["in_flight_waiters"] == 1).then_some(()),
    );
    std::fs::write(&gate, "go").unwrap();
    let both = env.picket_json(["wait", &a, &b]);
    let both = both.as_array().unwrap();
    assert!(both.iter().all(|s| s["status"] == "done"));
    assert_eq!(starts(&count), 1, "exactly one process for both scans");
    let hits: Vec<bool> = both
        .iter()
        .map(|s| runs(s)[0]["cache_hit"].as_bool().unwrap())
        .collect();
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
    let (a, _) = counting_tool(dir.path(), "alpha", 600, "");
    let (b, _) = counting_tool(dir.path(), "beta", 600, "");
    let env = Env::new().with_config_file(&(a + &b));
    let _d = env.start_daemon();
    let plan: &[&[&str]] = &[
        &["127.0.0.1", "--tools", "alpha,beta"],
        &["127.0.0.1", "--tools", "alpha"],
        &["127.0.0.2", "--tools", "alpha"],
        &["127.0.0.1", "127.0.0.2", "--tools", "alpha,beta"],
        &["127.0.0.3", "--tools", "beta", "--no-cache"],
        &["127.0.0.1", "--tools", "beta", "--no-cache"],
    ];
    let (mut hits, mut misses) = (0u64, 0u64);
    for args in plan {
        for r in runs(&scan(&env, args)) {
            if r["cache_hit"] == true {
                hits += 1
            } else {
                misses += 1
            }
        }
    }
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
    let promtool = picketd::run::spec::find_program("promtool")
        .expect("promtool is not installed: run scripts/setup (Debian package prometheus)");
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = counting_tool(dir.path(), "alpha", 600, "");
    let env = Env::new().with_config_file(&cfg);
    let _d = env.start_daemon();
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
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let res = check.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    let json = env.picket_json(["metrics", "--format", "json"]);
    assert!(json["rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn queries_over_the_slow_threshold_are_reported_with_their_timing() {
    let env = Env::new().with_config_file("[db]\nslow_query_ms = 0\n");
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
