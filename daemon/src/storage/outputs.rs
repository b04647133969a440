//! Raw tool outputs kept as evidence: one zstd-compressed blob per stored run (table
//! `run_outputs`, keyed by the run's row id), written in the run's own transaction, read
//! back byte for byte by `picket output RUN`, and thinned by the retention policy.
//!
//! Owns the SQL of `run_outputs` and the retention loop. Retention only empties a blob
//! (keeping when it was removed, so `show` can say so): runs and findings stay. Must not
//! compress on the writer's connection: callers compress first (`compress`), off the
//! writer, so a big output does not stall the other writes of a batch.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::config::RetentionConfig;
use crate::metrics::Metrics;
use crate::storage::queries::{now_ms, rfc3339};
use crate::storage::Db;

/// zstd's default level: a tool report (XML, JSON, text) shrinks several times over at
/// well over 100 MB/s, so storing stays a small part of a run.
const LEVEL: i32 = 3;

/// A run's output ready to store: its size before compression and the compressed bytes.
#[derive(Debug, Clone)]
pub struct Compressed {
    pub size: u64,
    pub data: Arc<Vec<u8>>,
}

/// Compresses `raw` (never fails for in-memory buffers; an error is a bug worth seeing).
pub fn compress(raw: &[u8]) -> std::io::Result<Compressed> {
    Ok(Compressed {
        size: raw.len() as u64,
        data: Arc::new(zstd::bulk::compress(raw, LEVEL)?),
    })
}

/// Stores `out` as run `run_id`'s output (replacing what a resumed run had), in the
/// caller's transaction.
pub fn store_output(tx: &Connection, run_id: i64, out: &Compressed) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO run_outputs (run_id, created_ms, size, stored_bytes, data, removed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
    )?
    .execute(params![
        run_id,
        now_ms(),
        out.size as i64,
        out.data.len() as i64,
        &out.data[..]
    ])?;
    Ok(())
}

/// What is known of one run's output, for `picket output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutput {
    pub run: i64,
    pub scan: i64,
    pub tool: String,
    pub target: String,
    /// None when the run has no output row (a failed run).
    pub size: Option<u64>,
    pub removed_at: Option<String>,
    /// The raw bytes, decompressed; empty when none is kept.
    pub bytes: Vec<u8>,
}

/// Run `run`'s output; None if there is no such run.
pub fn read_output(c: &Connection, run: i64) -> rusqlite::Result<Option<StoredOutput>> {
    let row = c
        .prepare_cached(
            "SELECT r.scan_id, r.tool, r.target, o.size, o.removed_ms, o.data
             FROM tool_runs r LEFT JOIN run_outputs o ON o.run_id = r.id WHERE r.id = ?1",
        )?
        .query_row([run], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })
        .optional()?;
    let Some((scan, tool, target, size, removed, data)) = row else {
        return Ok(None);
    };
    let bytes = match data {
        Some(d) => zstd::stream::decode_all(&d[..]).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Blob, Box::new(e))
        })?,
        None => Vec::new(),
    };
    Ok(Some(StoredOutput {
        run,
        scan,
        tool,
        target,
        size: size.map(|s| s.max(0) as u64),
        removed_at: removed.map(rfc3339),
        bytes,
    }))
}

/// Compressed bytes of the outputs still kept.
pub fn stored_bytes(c: &Connection) -> rusqlite::Result<u64> {
    c.prepare_cached(
        "SELECT COALESCE(SUM(stored_bytes), 0) FROM run_outputs WHERE data IS NOT NULL",
    )?
    .query_row([], |r| r.get::<_, i64>(0))
    .map(|n| n.max(0) as u64)
}

/// Applies the policy at `now`: outputs older than `days` are removed, then the oldest
/// while the rest take more than `max_bytes`. Answers how many were removed.
pub fn apply_retention(c: &Connection, cfg: &RetentionConfig, now: i64) -> rusqlite::Result<u64> {
    let mut removed = 0u64;
    if cfg.days > 0 {
        let cutoff = now.saturating_sub((cfg.days as i64).saturating_mul(86_400_000));
        removed += c
            .prepare_cached(
                "UPDATE run_outputs SET data = NULL, removed_ms = ?2 WHERE data IS NOT NULL AND created_ms < ?1",
            )?
            .execute(params![cutoff, now])? as u64;
    }
    if cfg.max_bytes == 0 {
        return Ok(removed);
    }
    let mut over = stored_bytes(c)?.saturating_sub(cfg.max_bytes);
    if over == 0 {
        return Ok(removed);
    }
    // Oldest first (the run id breaks ties in the order runs were stored).
    let oldest: Vec<(i64, i64)> = c
        .prepare_cached(
            "SELECT run_id, stored_bytes FROM run_outputs WHERE data IS NOT NULL ORDER BY created_ms, run_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut drop =
        c.prepare_cached("UPDATE run_outputs SET data = NULL, removed_ms = ?2 WHERE run_id = ?1")?;
    for (run, bytes) in oldest {
        if over == 0 {
            break;
        }
        drop.execute(params![run, now])?;
        over = over.saturating_sub(bytes.max(0) as u64);
        removed += 1;
    }
    Ok(removed)
}

/// One pass of the cleanup: applies the policy and updates the metrics.
pub async fn cleanup_once(db: &Db, metrics: &Metrics, cfg: RetentionConfig) {
    let pass = db
        .write("retention", move |c| {
            let removed = apply_retention(c, &cfg, now_ms())?;
            Ok((removed, stored_bytes(c)?))
        })
        .await;
    match pass {
        Ok((removed, kept)) => {
            if removed > 0 {
                tracing::info!("retention removed {removed} stored tool output(s)");
            }
            metrics.outputs_removed.fetch_add(removed, Relaxed);
            metrics.output_bytes_stored.store(kept, Relaxed);
        }
        Err(e) => tracing::warn!("retention cleanup failed (tried again later): {e}"),
    }
}

/// The background cleanup: once at start, then every `interval_secs` of the policy in
/// force (`policy` is asked each time, so a reload applies at the next pass). Ends when
/// the database writer has stopped.
pub async fn retention_loop(
    db: Db,
    metrics: Arc<Metrics>,
    policy: impl Fn() -> RetentionConfig + Send + 'static,
) {
    loop {
        let cfg = policy();
        let pause = Duration::from_secs(cfg.interval_secs.max(1));
        cleanup_once(&db, &metrics, cfg).await;
        if db.is_closed() {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with_runs(n: i64) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::storage::schema::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO scans (id, targets, profile, tools, status, created_ms) VALUES (1, '[]', 'p', '[]', 'done', 0)",
        )
        .unwrap();
        for i in 1..=n {
            c.execute(
                "INSERT INTO tool_runs (id, scan_id, tool, target, status) VALUES (?1, 1, 't', ?2, 'done')",
                params![i, format!("h{i}")],
            )
            .unwrap();
        }
        c
    }

    /// Output of run `i`: 4 KiB that zstd cannot shrink (a xorshift stream).
    fn noise(seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn an_output_comes_back_byte_for_byte() {
        let c = db_with_runs(1);
        let raw: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        store_output(&c, 1, &compress(&raw).unwrap()).unwrap();
        let got = read_output(&c, 1).unwrap().unwrap();
        assert_eq!(got.bytes, raw);
        assert_eq!(got.size, Some(raw.len() as u64));
        assert!(
            stored_bytes(&c).unwrap() < raw.len() as u64 / 10,
            "compressed"
        );
        assert!(read_output(&c, 2).unwrap().is_none());
    }

    #[test]
    fn max_bytes_removes_the_oldest_outputs_first_and_keeps_the_runs() {
        let c = db_with_runs(5);
        for i in 1..=5 {
            store_output(&c, i, &compress(&noise(i as u64)).unwrap()).unwrap();
            // Stored at distinct times, run 1 the oldest.
            c.execute(
                "UPDATE run_outputs SET created_ms = ?1 WHERE run_id = ?1",
                [i],
            )
            .unwrap();
        }
        let each = stored_bytes(&c).unwrap() / 5;
        // Room for two and a half outputs: the three oldest go.
        let cfg = RetentionConfig {
            days: 0,
            max_bytes: each * 5 / 2,
            interval_secs: 1,
        };
        assert_eq!(apply_retention(&c, &cfg, 1_000).unwrap(), 3);
        for i in 1..=3 {
            let o = read_output(&c, i).unwrap().unwrap();
            assert!(o.bytes.is_empty(), "run {i} kept");
            assert!(o.removed_at.is_some(), "run {i} not marked removed");
        }
        for i in 4..=5 {
            let o = read_output(&c, i).unwrap().unwrap();
            assert_eq!(o.bytes, noise(i as u64), "run {i}");
            assert!(o.removed_at.is_none());
        }
        let runs: i64 = c
            .query_row("SELECT count(*) FROM tool_runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 5, "runs are never removed");
        assert!(stored_bytes(&c).unwrap() <= cfg.max_bytes);
        // Within the bound now: a second pass removes nothing.
        assert_eq!(apply_retention(&c, &cfg, 2_000).unwrap(), 0);
    }

    #[test]
    fn days_removes_only_outputs_older_than_the_cutoff() {
        let c = db_with_runs(2);
        for i in 1..=2 {
            store_output(&c, i, &compress(b"report").unwrap()).unwrap();
        }
        let day = 86_400_000;
        c.execute(
            "UPDATE run_outputs SET created_ms = ?1 WHERE run_id = 1",
            [0],
        )
        .unwrap();
        c.execute(
            "UPDATE run_outputs SET created_ms = ?1 WHERE run_id = 2",
            [9 * day],
        )
        .unwrap();
        let cfg = RetentionConfig {
            days: 5,
            max_bytes: 0,
            interval_secs: 1,
        };
        assert_eq!(apply_retention(&c, &cfg, 10 * day).unwrap(), 1);
        assert!(read_output(&c, 1).unwrap().unwrap().bytes.is_empty());
        assert_eq!(read_output(&c, 2).unwrap().unwrap().bytes, b"report");
    }
}
