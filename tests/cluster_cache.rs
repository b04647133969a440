//! The cluster's shared parts, end to end with the real picketd and picket and a real
//! redis-server on loopback (AOF on): a run cached by one node is a hit on another with no
//! process started (must-show 5), single flight holds across nodes, a node speaking
//! another protocol is refused at start naming both versions, and `picket cluster` (and
//! `picket metrics`) show the nodes, streams and dead letters, `--json` valid against
//! schemas/cluster.json.

use std::path::{Path, PathBuf};
use std::time::Duration;

use picket_protocol::{ScanDetail, ScanStatus, PROTOCOL_VERSION};
use picket_testkit::checkers::schema_errors;
use picket_testkit::cluster::{with_cluster, RedisServer};
use picket_testkit::scripts::{count_start, starts};
use picket_testkit::*;
use serde_json::Value;

/// A counting tool (TTL 10 min) whose script lives in `dir`, shared by every node so the
/// nodes' cache keys (tool, argv, target) are the same.
fn counting_tool(dir: &Path, extra: &str) -> (ToolConfig, PathBuf) {
    let count = dir.join("shared.count");
    let script = tool_script(
        dir,
        "shared",
        &format!(
            "{}\n{extra}\necho \"PICKET-FINDING shared-$1\"",
            count_start(&count)
        ),
    );
    let tool = ToolConfig::new("shared")
        .program(script)
        .ttl_secs(600)
        .no_version_probe()
        .finds_marked_lines();
    (tool, count)
}

/// One node (coordinator and worker) of `redis`'s cluster, with `tool`.
fn node(redis: &RedisServer, id: &str, tool: &ToolConfig) -> (Env, Daemon) {
    let config = with_cluster(
        ConfigBuilder::new(),
        redis,
        id,
        &["coordinator", "worker"],
        4,
    )
    .tool(tool.clone());
    let env = Env::new().with_config(&config);
    let daemon = env.start_daemon();
    (env, daemon)
}

fn scan(env: &Env) -> ScanDetail {
    let s = env.scan_wait(&["127.0.0.1", "--tools", "shared"]);
    assert_eq!(s.status, ScanStatus::Done, "{s:#?}");
    s
}

fn fingerprints(s: &ScanDetail) -> Vec<String> {
    let mut v: Vec<String> = s.findings.iter().map(|f| f.fingerprint.clone()).collect();
    v.sort();
    v
}

#[test]
fn a_run_cached_by_one_node_is_a_hit_on_another_without_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let (tool, count) = counting_tool(dir.path(), "");
    let (a, _da) = node(&redis, "node-a", &tool);
    let (b, _db) = node(&redis, "node-b", &tool);
    let first = scan(&a);
    assert!(!first.tool_runs[0].cache_hit);
    assert_eq!(starts(&count), 1);
    let second = scan(&b);
    assert!(second.tool_runs[0].cache_hit, "{:#?}", second.tool_runs);
    assert_eq!(
        starts(&count),
        1,
        "a hit on another node must not start the tool"
    );
    assert_eq!(fingerprints(&first), fingerprints(&second));
    assert_eq!(first.findings.len(), 1);
    // The shared entry expires with the tool's TTL (PX), set by Redis, not by a node.
    let keys = redis.cli(&["--scan", "--pattern", "picket:cache:*"]);
    let key = keys.lines().next().expect("one shared cache entry");
    let pttl: i64 = redis.cli(&["PTTL", key]).trim().parse().unwrap();
    assert!(pttl > 0 && pttl <= 600_000, "PTTL {pttl}");
    // `cache clear` clears the shared level (and this node's L1; other nodes' L1 keep
    // theirs until their TTL or their own clear: README "Cluster").
    a.picket_json(["cache", "clear"]);
    assert_eq!(
        redis.cli(&["--scan", "--pattern", "picket:cache:*"]).trim(),
        ""
    );
    let third = scan(&a);
    assert!(!third.tool_runs[0].cache_hit);
    assert_eq!(starts(&count), 2);
}

#[test]
fn two_nodes_asking_for_the_same_run_at_once_start_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let (tool, count) = counting_tool(dir.path(), "sleep 1");
    let (a, _da) = node(&redis, "node-a", &tool);
    let (b, _db) = node(&redis, "node-b", &tool);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| scan(&a));
        let tb = s.spawn(|| scan(&b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(starts(&count), 1, "single flight holds across nodes");
    let hits = [&ra, &rb]
        .iter()
        .filter(|s| s.tool_runs[0].cache_hit)
        .count();
    assert_eq!(hits, 1, "one node ran it, the other waited for its entry");
    assert_eq!(fingerprints(&ra), fingerprints(&rb));
    assert_eq!(
        redis
            .cli(&["--scan", "--pattern", "picket:inflight:*"])
            .trim(),
        "",
        "the claim is lifted"
    );
}

#[test]
fn a_node_speaking_another_protocol_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let old = PROTOCOL_VERSION - 1;
    redis.cli(&[
        "HSET",
        "picket:nodes:old-node",
        "node_id",
        "old-node",
        "protocol",
        &old.to_string(),
        "version",
        "0.0.1",
        "roles",
        "worker",
        "heartbeat_ms",
        "0",
    ]);
    let env = Env::new().with_config(&with_cluster(
        ConfigBuilder::new(),
        &redis,
        "new-node",
        &["coordinator"],
        1,
    ));
    let mut d = env.spawn_daemon(std::iter::empty::<&str>());
    let status = d.wait_exit();
    assert!(!status.success());
    let log = d.log();
    assert!(
        log.contains("old-node")
            && log.contains(&format!("protocol {old}"))
            && log.contains(&format!("protocol {PROTOCOL_VERSION}")),
        "{log}"
    );
    assert!(env.try_ping().is_none(), "a refused node does not serve");
    assert_eq!(
        redis.cli(&["EXISTS", "picket:nodes:new-node"]).trim(),
        "0",
        "nor registers"
    );
}

/// A results stream with one entry delivered and unacknowledged and one not delivered.
fn results_stream_with_pending_and_lag(redis: &RedisServer) {
    redis.cli(&[
        "XGROUP",
        "CREATE",
        "picket:results:ghost",
        "coord",
        "$",
        "MKSTREAM",
    ]);
    redis.cli(&["XADD", "picket:results:ghost", "*", "run", "1"]);
    redis.cli(&[
        "XREADGROUP",
        "GROUP",
        "coord",
        "c1",
        "COUNT",
        "1",
        "STREAMS",
        "picket:results:ghost",
        ">",
    ]);
    redis.cli(&["XADD", "picket:results:ghost", "*", "run", "2"]);
    redis.cli(&["XADD", "picket:dead", "*", "run", "x", "reason", "test"]);
}

#[test]
fn picket_cluster_shows_nodes_streams_and_dead_letters_and_metrics_agree() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&dir.path().join("redis"));
    let (tool, _) = counting_tool(dir.path(), "");
    let (a, _da) = node(&redis, "node-a", &tool);
    let (_b, db) = node(&redis, "node-b", &tool);
    results_stream_with_pending_and_lag(&redis);
    let out = a.picket(["cluster", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema_errors("cluster", &doc),
        Vec::<String>::new(),
        "{doc:#}"
    );
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["node_id"], "node-a");
    let ids: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["node-a", "node-b"]);
    for n in doc["nodes"].as_array().unwrap() {
        assert_eq!(n["roles"], serde_json::json!(["coordinator", "worker"]));
        assert_eq!(n["protocol_version"], PROTOCOL_VERSION);
        assert_eq!(n["version"], picket_protocol::PACKAGE_VERSION);
    }
    let streams = doc["streams"].as_array().unwrap();
    assert_eq!(streams[0]["stream"], "picket:runs");
    let results = streams
        .iter()
        .find(|s| s["stream"] == "picket:results:ghost")
        .expect("results stream");
    assert_eq!(
        (
            &results["group"],
            &results["length"],
            &results["pending"],
            &results["lag"]
        ),
        (&"coord".into(), &2.into(), &1.into(), &1.into())
    );
    assert_eq!(doc["dead_letters"], 1);
    let text = stdout(&a.picket(["metrics"]));
    for line in [
        "picket_cluster_nodes 2",
        "picket_cluster_dead_letters 1",
        "picket_cluster_stream_pending{stream=\"picket:results:ghost\",group=\"coord\"} 1",
        "picket_cluster_node_runs_in_flight{node=\"node-b\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    // A node that stops heartbeating leaves the registry by itself (its hash's TTL).
    drop(db);
    eventually(
        Duration::from_secs(15),
        "node-b leaving the registry",
        || {
            let doc = a.picket_json(["cluster"]);
            (doc["nodes"].as_array().unwrap().len() == 1).then_some(())
        },
    );
}

#[test]
fn picket_cluster_without_a_cluster_says_how_to_join_one() {
    let env = Env::new();
    let _d = env.start_daemon();
    let out = env.picket(["cluster"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[cluster]") && err.contains("README"), "{err}");
}
