//! The node registry: each node keeps `picket:nodes:{node_id}` (a hash: roles, versions,
//! protocol, runs in flight, heartbeat time on the Redis server's clock) alive with a TTL,
//! so a node that stops disappears by itself. At start a node whose protocol version
//! differs from one already registered is refused, naming both versions: mixed versions
//! would misread each other's run descriptors. Must not run or route anything.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use picket_protocol::{ClusterNode, PACKAGE_VERSION, PROTOCOL_VERSION};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::cluster::config::{ClusterConfig, Role};

pub const NODES_PREFIX: &str = "picket:nodes:";

pub fn node_key(node_id: &str) -> String {
    format!("{NODES_PREFIX}{node_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "node {node:?} in the cluster speaks protocol {theirs} ({their_version}) but this \
         picketd speaks protocol {ours} ({ours_version}); run one picketd version on every \
         node: upgrade (or stop) the others first"
    )]
    VersionMismatch {
        node: String,
        theirs: u32,
        their_version: String,
        ours: u32,
        ours_version: String,
    },
    #[error(
        "cannot reach the cluster's Redis: {0}; check [cluster] redis and that redis-server runs"
    )]
    Redis(#[from] redis::RedisError),
}

// HSET and PEXPIRE in one step, stamped with the server's clock so ages compare across
// nodes whose clocks differ.
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'node_id', ARGV[1], 'roles', ARGV[2], 'version', ARGV[3],
  'protocol', ARGV[4], 'runs_in_flight', ARGV[5], 'heartbeat_ms', now)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return now
";

/// How often a node writes its hash; it lives three intervals.
pub fn beat_interval(cfg: &ClusterConfig) -> Duration {
    Duration::from_secs((cfg.lease_secs / 3).clamp(1, 5))
}

fn roles_text(roles: &[Role]) -> String {
    let names: Vec<&str> = roles
        .iter()
        .map(|r| match r {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
        })
        .collect();
    names.join(",")
}

/// Every key matching `pattern` (SCAN, never KEYS: the server stays responsive).
pub async fn scan_keys(
    conn: &mut ConnectionManager,
    pattern: &str,
) -> redis::RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(200)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Refuses to join a cluster where another node speaks a different protocol.
pub async fn check_versions(conn: &mut ConnectionManager, own_id: &str) -> Result<(), NodeError> {
    for key in scan_keys(conn, &format!("{NODES_PREFIX}*")).await? {
        let h: HashMap<String, String> = conn.hgetall(&key).await?;
        let node = h
            .get("node_id")
            .cloned()
            .unwrap_or_else(|| key[NODES_PREFIX.len()..].into());
        if node == own_id {
            continue;
        }
        let theirs = h.get("protocol").and_then(|p| p.parse().ok()).unwrap_or(0);
        if theirs != PROTOCOL_VERSION {
            return Err(NodeError::VersionMismatch {
                node,
                theirs,
                their_version: h
                    .get("version")
                    .cloned()
                    .unwrap_or_else(|| "unknown".into()),
                ours: PROTOCOL_VERSION,
                ours_version: PACKAGE_VERSION.into(),
            });
        }
    }
    Ok(())
}

/// Writes this node's hash now; `in_flight` is its current count of running tool runs.
pub async fn beat(
    conn: &mut ConnectionManager,
    cfg: &ClusterConfig,
    in_flight: u64,
) -> redis::RedisResult<()> {
    let ttl = beat_interval(cfg) * 3;
    let _: i64 = Script::new(BEAT)
        .key(node_key(&cfg.node_id))
        .arg(&cfg.node_id)
        .arg(roles_text(&cfg.roles))
        .arg(PACKAGE_VERSION)
        .arg(PROTOCOL_VERSION)
        .arg(in_flight)
        .arg(ttl.as_millis() as u64)
        .invoke_async(conn)
        .await?;
    Ok(())
}

/// Heartbeats until the process ends; a failed beat is logged and retried next interval
/// (the hash may lapse meanwhile: `picket cluster` then shows the node gone).
pub async fn heartbeat(
    mut conn: ConnectionManager,
    cfg: ClusterConfig,
    in_flight: impl Fn() -> BoxFuture<'static, u64>,
) {
    let mut tick = tokio::time::interval(beat_interval(&cfg));
    loop {
        tick.tick().await;
        if let Err(e) = beat(&mut conn, &cfg, in_flight().await).await {
            tracing::warn!("cluster: heartbeat of node {} failed: {e}", cfg.node_id);
        }
    }
}

/// The registered nodes, sorted by id, with heartbeat ages on the server's clock.
pub async fn list(
    conn: &mut ConnectionManager,
    now_ms: i64,
) -> redis::RedisResult<Vec<ClusterNode>> {
    let mut nodes = Vec::new();
    for key in scan_keys(conn, &format!("{NODES_PREFIX}*")).await? {
        let h: HashMap<String, String> = conn.hgetall(&key).await?;
        if h.is_empty() {
            continue; // expired between SCAN and HGETALL
        }
        let num = |f: &str| h.get(f).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let beat_ms = num("heartbeat_ms");
        nodes.push(ClusterNode {
            node_id: h
                .get("node_id")
                .cloned()
                .unwrap_or_else(|| key[NODES_PREFIX.len()..].into()),
            roles: h
                .get("roles")
                .map(|r| {
                    r.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            version: h.get("version").cloned().unwrap_or_default(),
            protocol_version: num("protocol") as u32,
            runs_in_flight: num("runs_in_flight").max(0) as u64,
            heartbeat_at: crate::storage::queries::rfc3339(beat_ms),
            heartbeat_age_ms: (now_ms - beat_ms).max(0) as u64,
        });
    }
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    Ok(nodes)
}

/// The Redis server's clock in Unix ms.
pub async fn server_now_ms(conn: &mut ConnectionManager) -> redis::RedisResult<i64> {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(secs * 1000 + micros / 1000)
}
