//! The cluster's shared tool-result cache: `picket:cache:{key}` holds a run's raw output
//! (with `PX` = the tool's TTL, so Redis expires it) and `picket:inflight:{key}` (`SET NX
//! PX`) makes single flight hold across nodes: one node runs a key, the others wait for
//! its entry. It is the L2 behind the cache actor in cluster mode (L1 stays per node).
//! Must not run tools nor decide freshness beyond the caller's `min_created_ms`.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::storage::cache_table::{CacheEntry, Selector};

pub fn cache_key(key: &str) -> String {
    format!("picket:cache:{key}")
}

pub fn inflight_key(key: &str) -> String {
    format!("picket:inflight:{key}")
}

/// Everything of an entry but its key and output: the first line of the stored value.
#[derive(Serialize, Deserialize)]
struct Header {
    tool: String,
    tool_version: Option<String>,
    host: String,
    scan_id: i64,
    created_ms: i64,
    expires_ms: i64,
    exit_code: Option<i32>,
    truncated: bool,
}

fn encode(e: &CacheEntry) -> Vec<u8> {
    let header = Header {
        tool: e.tool.clone(),
        tool_version: e.tool_version.clone(),
        host: e.host.clone(),
        scan_id: e.scan_id,
        created_ms: e.created_ms,
        expires_ms: e.expires_ms,
        exit_code: e.exit_code,
        truncated: e.truncated,
    };
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(b'\n');
    out.extend_from_slice(&e.output);
    out
}

fn decode(key: &str, bytes: &[u8]) -> Option<CacheEntry> {
    let nl = bytes.iter().position(|b| *b == b'\n')?;
    let h: Header = serde_json::from_slice(&bytes[..nl]).ok()?;
    Some(CacheEntry {
        key: key.into(),
        tool: h.tool,
        tool_version: h.tool_version,
        host: h.host,
        scan_id: h.scan_id,
        created_ms: h.created_ms,
        expires_ms: h.expires_ms,
        exit_code: h.exit_code,
        truncated: h.truncated,
        output: Arc::from(&bytes[nl + 1..]),
    })
}

/// What a shared lookup found.
pub enum Shared {
    Hit(CacheEntry),
    /// This node now holds the key's single-flight claim: run it, then `put` or `abandon`.
    Lead,
}

#[derive(Clone)]
pub struct SharedCache {
    conn: ConnectionManager,
    holder: String,
    /// How long a claim lives without renewal (a dead leader's claim lapses).
    claim: Duration,
    poll: Duration,
}

impl SharedCache {
    pub fn new(conn: ConnectionManager, node_id: &str, claim: Duration) -> Self {
        Self {
            conn,
            holder: node_id.into(),
            claim,
            poll: Duration::from_millis(100),
        }
    }

    pub fn claim_duration(&self) -> Duration {
        self.claim
    }

    pub async fn get(&self, key: &str) -> redis::RedisResult<Option<CacheEntry>> {
        let raw: Option<Vec<u8>> = self.conn.clone().get(cache_key(key)).await?;
        Ok(raw.and_then(|b| decode(key, &b)))
    }

    /// An entry made at or after `min_created_ms`, or the claim to make it; while another
    /// node holds the claim, waits for its entry (polling: the wait is a tool run long).
    pub async fn lookup(&self, key: &str, min_created_ms: i64) -> redis::RedisResult<Shared> {
        loop {
            if let Some(e) = self
                .get(key)
                .await?
                .filter(|e| e.created_ms >= min_created_ms)
            {
                return Ok(Shared::Hit(e));
            }
            if self.try_claim(key).await? {
                return Ok(Shared::Lead);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    pub async fn try_claim(&self, key: &str) -> redis::RedisResult<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(inflight_key(key))
            .arg(&self.holder)
            .arg("NX")
            .arg("PX")
            .arg(self.claim.as_millis() as u64)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    /// Keeps the claims of runs still going from lapsing.
    pub async fn renew(&self, keys: &[String]) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.pexpire(inflight_key(k), self.claim.as_millis() as i64)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await
    }

    /// Stores the entry (expiring with its TTL) and lifts this node's claim if it held
    /// one (a `--no-cache` run leads without claiming), so waiters get the entry.
    pub async fn put(&self, e: &CacheEntry, claimed: bool) -> redis::RedisResult<()> {
        let ttl = (e.expires_ms - e.created_ms).max(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(cache_key(&e.key))
            .arg(encode(e))
            .arg("PX")
            .arg(ttl)
            .ignore();
        if claimed {
            pipe.del(inflight_key(&e.key)).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await
    }

    /// Lifts a claim without an entry (the run failed): a waiter claims and runs it.
    pub async fn abandon(&self, key: &str) -> redis::RedisResult<()> {
        self.conn.clone().del::<_, ()>(inflight_key(key)).await
    }

    /// Deletes the entries `sel` names (all nodes see it); answers how many went.
    pub async fn invalidate(&self, sel: &Selector) -> redis::RedisResult<u64> {
        if *sel == Selector::Expired {
            return Ok(0); // Redis expires entries itself (PX)
        }
        let mut conn = self.conn.clone();
        let keys = crate::cluster::nodes::scan_keys(&mut conn, "picket:cache:*").await?;
        let mut gone = 0;
        for k in keys {
            let short = &k["picket:cache:".len()..];
            let matches = match sel {
                Selector::All => true,
                other => match self.get(short).await? {
                    Some(e) => match other {
                        Selector::Target(t) => e.host == *t,
                        Selector::Scan(s) => e.scan_id == *s,
                        Selector::Tool(t) => e.tool == *t,
                        _ => false,
                    },
                    None => false,
                },
            };
            if matches {
                gone += conn.del::<_, u64>(&k).await?;
            }
        }
        Ok(gone)
    }
}
