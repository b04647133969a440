//! What `picket cluster` and the `picket_cluster_*` metrics show: registered nodes, the run
//! and result streams with their groups' pending entries and lag, and the dead letters.
//! Read only: must never change a key.

use std::collections::HashMap;

use picket_protocol::{ClusterReport, ClusterStream};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};

use crate::cluster::config::ClusterConfig;
use crate::cluster::conn::redacted;
use crate::cluster::nodes;
use crate::cluster::runs::{results_key, COORD_GROUP, DEAD, RUNS, WORKERS};

fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Int(n) => Some((*n).max(0) as u64),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A stream and one group of it; zeros for a stream or group not made yet.
async fn stream(
    conn: &mut ConnectionManager,
    name: &str,
    group: &str,
) -> redis::RedisResult<ClusterStream> {
    let length: u64 = conn.xlen(name).await?;
    let exists: bool = conn.exists(name).await?;
    let groups: Vec<HashMap<String, Value>> = match exists {
        true => {
            redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(name)
                .query_async(conn)
                .await?
        }
        false => Vec::new(),
    };
    let g = groups.iter().find(|g| match g.get("name") {
        Some(Value::BulkString(b)) => b == group.as_bytes(),
        Some(Value::SimpleString(s)) => s == group,
        _ => false,
    });
    Ok(ClusterStream {
        stream: name.into(),
        group: group.into(),
        length,
        pending: g.and_then(|g| as_u64(g.get("pending"))).unwrap_or(0),
        lag: match g {
            Some(g) => as_u64(g.get("lag")),
            None => Some(length),
        },
    })
}

pub async fn report(
    conn: &mut ConnectionManager,
    cfg: &ClusterConfig,
) -> redis::RedisResult<ClusterReport> {
    let now = nodes::server_now_ms(conn).await?;
    let mut streams = vec![stream(conn, RUNS, WORKERS).await?];
    let mut results = nodes::scan_keys(conn, &results_key("*")).await?;
    results.sort();
    for name in results {
        streams.push(stream(conn, &name, COORD_GROUP).await?);
    }
    Ok(ClusterReport {
        node_id: cfg.node_id.clone(),
        redis: redacted(&cfg.redis),
        nodes: nodes::list(conn, now).await?,
        streams,
        dead_letters: conn.xlen(DEAD).await?,
    })
}
