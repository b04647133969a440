//! The `cache_entries` table: the cache's second level, so tool results survive a restart.
//!
//! Owns the row type and every statement on that table. Must not decide what is cached or
//! for how long (cache/ does): it stores and deletes what it is told.

use std::sync::Arc;

use picket_protocol::ScanId;
use rusqlite::{params, Connection, OptionalExtension};

/// One cached tool result: the raw output, parsed again on a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub key: String,
    pub tool: String,
    pub tool_version: Option<String>,
    /// The checked host the run was against (invalidation by target uses it).
    pub host: String,
    pub scan_id: ScanId,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub exit_code: Option<i32>,
    pub truncated: bool,
    pub output: Arc<[u8]>,
}

/// Which entries to drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    All,
    Target(String),
    Scan(ScanId),
    Tool(String),
    /// Expired by the time the deletion is asked for.
    Expired,
}

/// The entry stored under `key`, unless it has expired by `now`.
pub fn get(c: &Connection, key: &str, now: i64) -> rusqlite::Result<Option<CacheEntry>> {
    c.prepare_cached(
        "SELECT key, tool, tool_version, target, scan_id, created_ms, expires_ms, exit_code, truncated, output
         FROM cache_entries WHERE key = ?1 AND expires_ms > ?2",
    )?
    .query_row(params![key, now], |r| {
        Ok(CacheEntry {
            key: r.get(0)?,
            tool: r.get(1)?,
            tool_version: r.get(2)?,
            host: r.get(3)?,
            scan_id: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
            created_ms: r.get(5)?,
            expires_ms: r.get(6)?,
            exit_code: r.get(7)?,
            truncated: r.get(8)?,
            output: r.get::<_, Vec<u8>>(9)?.into(),
        })
    })
    .optional()
}

/// Stores `e`, replacing an entry of the same key.
pub fn put(c: &Connection, e: &CacheEntry) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO cache_entries
         (key, tool, tool_version, target, scan_id, created_ms, expires_ms, exit_code, truncated, output)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    )?
    .execute(params![
        e.key,
        e.tool,
        e.tool_version,
        e.host,
        e.scan_id,
        e.created_ms,
        e.expires_ms,
        e.exit_code,
        e.truncated,
        &e.output[..]
    ])
}

/// Deletes the selected entries (`Expired`: those expired by `now`); answers how many.
pub fn delete(c: &Connection, selector: &Selector, now: i64) -> rusqlite::Result<usize> {
    match selector {
        Selector::All => c.execute("DELETE FROM cache_entries", []),
        Selector::Target(t) => c.execute("DELETE FROM cache_entries WHERE target = ?1", [t]),
        Selector::Scan(s) => c.execute("DELETE FROM cache_entries WHERE scan_id = ?1", [s]),
        Selector::Tool(t) => c.execute("DELETE FROM cache_entries WHERE tool = ?1", [t]),
        Selector::Expired => c.execute("DELETE FROM cache_entries WHERE expires_ms <= ?1", [now]),
    }
}

/// Rows and bytes of output held, for `picket cache stats`.
pub fn size(c: &Connection) -> rusqlite::Result<(u64, u64)> {
    c.query_row(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(output)), 0) FROM cache_entries",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
}
