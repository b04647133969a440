//! Storing what a scan produced while the storage may be at fault: a write refused for a
//! fault of the storage (disk full, I/O error, database file deleted or replaced, see
//! `StorageError::is_transient`) is kept and tried again, with a growing pause, until it
//! is stored or the daemon stops. Nothing is reported stored before it is: the caller
//! learns of success only from the commit.
//!
//! The results wait in memory, in the write's closure, one per finished run of a running
//! scan: bounded by the scans admitted (`limits`) and each run's output cap. A daemon that
//! stops meanwhile loses them, but the scan's row was never marked done, so it is resumed
//! (and those runs redone) at the next start. Must not decide a scan's status: the
//! supervisor does.

use std::sync::Arc;
use std::time::Duration;

use picket_protocol::{RunStatus, ScanId, ToolRun};
use rusqlite::Connection;

use crate::parsers::ParsedOutput;
use crate::storage::outputs::{self, Compressed};
use crate::storage::{queries, Db, StorageError};

/// The first pause after a refused write; doubled up to `LAST_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// Free space or a restored file is noticed within this long.
const LAST_PAUSE: Duration = Duration::from_secs(4);

/// Writes `f` (cloned for each attempt), retrying while the storage is at fault.
/// `on_fault(error, attempt)` is told of each refused attempt, so the caller can say why
/// the results are not stored yet. Errors that are not the storage's (a bug, or the writer
/// stopped for shutdown) are returned at once.
pub async fn write_until_stored<R, F>(
    db: &Db,
    label: &'static str,
    mut on_fault: impl FnMut(&StorageError, u32),
    f: F,
) -> Result<R, StorageError>
where
    R: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<R> + Clone + Send + 'static,
{
    let mut pause = FIRST_PAUSE;
    let mut attempt = 0u32;
    loop {
        match db.write(label, f.clone()).await {
            Err(e) if e.is_transient() => {
                attempt = attempt.saturating_add(1);
                on_fault(&e, attempt);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LAST_PAUSE);
            }
            other => return other,
        }
    }
}

/// A finished run's raw output compressed for storing, on a blocking thread (a big report
/// takes a while); None for a run that did not succeed (it has no output to keep).
pub async fn compress_output(status: RunStatus, output: Arc<[u8]>) -> Option<Compressed> {
    if status != RunStatus::Done {
        return None;
    }
    match tokio::task::spawn_blocking(move || outputs::compress(&output)).await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            tracing::warn!("a run's output could not be compressed, so it is not kept: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("compressing a run's output failed: {e}");
            None
        }
    }
}

/// `queries::finish_run` and the run's output, in the caller's transaction.
pub fn finish_run_with_output(
    c: &Connection,
    scan: ScanId,
    run: &ToolRun,
    parsed: &ParsedOutput,
    output: Option<&Compressed>,
) -> rusqlite::Result<i64> {
    let run_id = queries::finish_run(c, scan, run, parsed)?;
    if let Some(o) = output {
        outputs::store_output(c, run_id, o)?;
    }
    Ok(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::metrics::Metrics;

    async fn db(dir: &std::path::Path) -> Db {
        let cfg = crate::config::DbConfig::default();
        let pool = crate::storage::open(&dir.join("picket.db"), &cfg)
            .await
            .unwrap();
        Db::start(pool, Arc::new(Metrics::new(100)), 8)
    }

    fn disk_full() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        )
    }

    #[tokio::test]
    async fn a_write_refused_for_a_full_disk_is_kept_and_stored_once_it_works() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path()).await;
        let tries = Arc::new(AtomicUsize::new(0));
        let counter = tries.clone();
        let mut faults = Vec::new();
        let stored = write_until_stored(
            &db,
            "test write",
            |e, n| faults.push((e.to_string(), n)),
            move |c| {
                // The injected fault: the first two attempts find the disk full.
                if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(disk_full());
                }
                c.execute_batch(
                    "CREATE TABLE IF NOT EXISTS kept (x INTEGER); INSERT INTO kept VALUES (7);",
                )?;
                Ok(42)
            },
        )
        .await
        .unwrap();
        assert_eq!(stored, 42);
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(faults.len(), 2);
        assert!(faults[0].0.contains("full"), "{faults:?}");
        let rows: i64 = db
            .read("count", |c| {
                c.query_row("SELECT count(*) FROM kept", [], |r| r.get(0))
            })
            .await
            .unwrap();
        assert_eq!(rows, 1, "stored once, not once per attempt");
        db.close().await;
    }

    #[tokio::test]
    async fn a_write_that_is_wrong_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path()).await;
        let tries = Arc::new(AtomicUsize::new(0));
        let counter = tries.clone();
        let res = write_until_stored(
            &db,
            "bad",
            |_, _| {},
            move |c| {
                counter.fetch_add(1, Ordering::SeqCst);
                c.execute_batch("INSERT INTO no_such_table VALUES (1)")
            },
        )
        .await;
        assert!(res.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        db.close().await;
    }

    #[tokio::test]
    async fn writes_to_a_deleted_database_file_are_refused_until_it_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path()).await;
        let path = dir.path().join("picket.db");
        let aside = dir.path().join("aside.db");
        std::fs::rename(&path, &aside).unwrap();
        let e = db
            .write("w", |c| c.execute_batch("SELECT 1"))
            .await
            .unwrap_err();
        assert!(matches!(e, StorageError::FileReplaced { .. }), "{e}");
        assert!(e.is_transient());
        assert!(e.to_string().contains("picket.db"), "{e}");
        // Restored (same inode back at the path): writes are accepted again.
        std::fs::rename(&aside, &path).unwrap();
        db.write("w", |c| c.execute_batch("SELECT 1"))
            .await
            .unwrap();
        db.close().await;
    }
}
