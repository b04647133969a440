//! Per-target politeness across nodes (issue 17, must-show 4): a coordinator and two
//! workers (one run at a time each), `[limits] per_target = 1`, four tools against one
//! host. Each worker's stand-in tools record when they started and ended (nanoseconds) and
//! on which worker; the recorded intervals never overlap, although the two workers, each
//! within its own local limit, would run two at once without the cluster's lease (checked:
//! with the lease off this test fails on the overlap).

use std::collections::BTreeMap;
use std::path::Path;

use picket_protocol::{RunStatus, ScanStatus};
use picket_testkit::cluster::{with_cluster, RedisServer};
use picket_testkit::*;

const TOOLS: [&str; 4] = ["t1", "t2", "t3", "t4"];

/// Tools of worker `me`: each sleeps a little and appends `host start end me` to `log`.
fn tools(dir: &Path, log: &Path, me: &str) -> ConfigBuilder {
    std::fs::create_dir_all(dir).unwrap();
    let mut cfg = ConfigBuilder::new().limit("per_target", 1);
    for name in TOOLS {
        let script = tool_script(
            dir,
            name,
            &format!(
                "s=$(date +%s%N)\nsleep 0.3\ne=$(date +%s%N)\necho \"$1 $s $e {me}\" >> {}",
                log.display()
            ),
        );
        cfg = cfg.tool(
            ToolConfig::new(name)
                .program(script)
                .no_version_probe()
                .ttl_secs(0)
                .concurrency(4),
        );
    }
    cfg
}

struct Interval {
    start: u128,
    end: u128,
    worker: String,
}

fn intervals(log: &Path) -> BTreeMap<String, Vec<Interval>> {
    let mut by_host: BTreeMap<String, Vec<Interval>> = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 4, "{line}");
        by_host.entry(f[0].to_string()).or_default().push(Interval {
            start: f[1].parse().unwrap(),
            end: f[2].parse().unwrap(),
            worker: f[3].to_string(),
        });
    }
    for runs in by_host.values_mut() {
        runs.sort_by_key(|r| r.start);
    }
    by_host
}

#[test]
fn one_run_per_host_at_once_across_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let redis = RedisServer::start(&dir.path().join("redis"));
    let node = |name: &str, roles: &[&str]| {
        let cfg = with_cluster(
            tools(&dir.path().join(name), &log, name),
            &redis,
            name,
            roles,
            1,
        );
        let env = Env::new().with_config(&cfg);
        let daemon = env.start_daemon();
        (env, daemon)
    };
    let (coord, _c) = node("coord", &["coordinator"]);
    let (_wa, _a) = node("a", &["worker"]);
    let (_wb, _b) = node("b", &["worker"]);

    let scan = coord.scan_wait(&["127.0.0.1", "--tools", "t1,t2,t3,t4"]);
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert_eq!(scan.tool_runs.len(), 4);
    assert!(
        scan.tool_runs.iter().all(|r| r.status == RunStatus::Done),
        "{scan:#?}"
    );

    let by_host = intervals(&log);
    assert_eq!(by_host.len(), 1, "one host");
    let mut workers = std::collections::BTreeSet::new();
    for (host, runs) in &by_host {
        assert_eq!(runs.len(), 4, "{host}: each tool once");
        for pair in runs.windows(2) {
            assert!(
                pair[1].start >= pair[0].end,
                "{host}: a run on {} started at {} before the one on {} ended at {}",
                pair[1].worker,
                pair[1].start,
                pair[0].worker,
                pair[0].end
            );
        }
        workers.extend(runs.iter().map(|r| r.worker.clone()));
    }
    assert!(!workers.contains("coord"), "the coordinator ran a tool");
    assert_eq!(
        workers.len(),
        2,
        "the runs spread over both workers: {workers:?}"
    );
    // Every slot was given back: no lease is left.
    assert_eq!(
        redis.cli(&["ZCARD", "picket:slots:{127.0.0.1}"]).trim(),
        "0"
    );
}
