//! WAL checkpoints, mostly off the writer's path.
//!
//! A checkpoint copies the WAL's pages back into the database file and syncs both files.
//! Run by SQLite on the committing connection, that was a third of the writer's time on a
//! large ingest (25 checkpoints of 0.3 to 0.5 s of fsync each for 1,000,000 findings),
//! during which no write could commit. So the writer only looks at the WAL after each
//! commit (`after_commit`, a NOOP checkpoint: no lock, no I/O) and wakes a background task
//! that copies the bulk with PASSIVE checkpoints, which never block the writer or readers.
//!
//! The WAL file only starts over from its beginning when a write transaction begins with
//! every frame copied back; a busy writer begins its next transaction right after each
//! commit, so a background copy never wins that race and the file grows without end (4 GB
//! on the same ingest). The writer therefore copies the last few frames itself once the
//! background task has done the bulk, which lets its next transaction restart the WAL.
//! Must not run FULL/RESTART/TRUNCATE checkpoints: they wait for the writer or readers.

use std::sync::Arc;
use std::time::Instant;

use rusqlite::{ffi, Connection};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::storage::Pool;

/// When the writer wakes the background task and when it copies frames itself, in WAL
/// frames (4 KiB pages).
#[derive(Debug, Clone, Copy)]
pub struct WalLimits {
    /// Frames not yet copied back that wake the background task: small enough that each
    /// copy stays short, large enough that index pages a burst writes again and again are
    /// copied once.
    pub wake_at: i64,
    /// A WAL this long is restarted: the writer copies the rest itself once no more than
    /// `tail` frames are left to copy.
    pub restart_at: i64,
    /// What the writer copies itself to restart the WAL: a commit or two of a large ingest,
    /// since the background task can never copy the commit that just happened.
    pub tail: i64,
    /// Bound on the WAL should the background task fall behind: the writer then copies
    /// whatever is left itself, as SQLite's automatic checkpoint would.
    pub hard_limit: i64,
}

impl WalLimits {
    /// 16 MiB, 256 MiB, 64 MiB, 1 GiB: with these a 1,000,000-finding ingest keeps the WAL
    /// under about 410 MiB and runs at 0.8 to 0.97 of a bare single-transaction insert.
    pub const DEFAULT: WalLimits = WalLimits {
        wake_at: 4_096,
        restart_at: 65_536,
        tail: 16_384,
        hard_limit: 262_144,
    };
}

/// What the writer must do after a commit.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterCommit {
    Nothing,
    WakeCheckpointer,
}

/// Called by the writer after each commit: reads the WAL's state, finishes a restartable
/// WAL itself, and says whether the background task has work.
pub fn after_commit(
    conn: &Connection,
    limits: &WalLimits,
    metrics: &Metrics,
) -> rusqlite::Result<AfterCommit> {
    let (log, copied) = wal_state(conn)?;
    let backlog = log - copied;
    if log >= limits.hard_limit || (log >= limits.restart_at && backlog <= limits.tail) {
        // Returns at once (busy) if the background task is copying: the next commit retries.
        checkpoint_passive(conn, "wal checkpoint (writer)", metrics)?;
        return Ok(AfterCommit::Nothing);
    }
    Ok(if backlog >= limits.wake_at {
        AfterCommit::WakeCheckpointer
    } else {
        AfterCommit::Nothing
    })
}

/// (frames in the WAL, frames copied back); (0, 0) when not in WAL mode.
pub fn wal_state(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    checkpoint_v2(conn, ffi::SQLITE_CHECKPOINT_NOOP)
}

pub fn checkpoint_passive(
    conn: &Connection,
    label: &'static str,
    metrics: &Metrics,
) -> rusqlite::Result<()> {
    let start = Instant::now();
    let r = checkpoint_v2(conn, ffi::SQLITE_CHECKPOINT_PASSIVE);
    metrics.record_query(label, start.elapsed());
    r.map(|_| ())
}

/// `sqlite3_wal_checkpoint_v2` on the main database. Called directly rather than through
/// `PRAGMA wal_checkpoint`: SQLite re-prepares that pragma on every step, which made the
/// writer's after-commit look cost as much as parsing a statement. A checkpoint already
/// running elsewhere (SQLITE_BUSY) is not an error: it is doing the work.
fn checkpoint_v2(conn: &Connection, mode: std::ffi::c_int) -> rusqlite::Result<(i64, i64)> {
    let (mut log, mut copied) = (0, 0);
    // SAFETY: the handle is live for the borrow of `conn`, and SQLite serializes calls on
    // one connection; "main" is NUL-terminated and the out-pointers outlive the call.
    let rc = unsafe {
        ffi::sqlite3_wal_checkpoint_v2(conn.handle(), c"main".as_ptr(), mode, &mut log, &mut copied)
    };
    if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_BUSY {
        return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
    }
    Ok((i64::from(log.max(0)), i64::from(copied.max(0))))
}

/// The writer's side of the wake-ups; sending never waits. The channel holds one wake-up,
/// so those sent during a copy collapse into one more run.
pub fn checkpoint_channel() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel(1)
}

/// Runs a PASSIVE checkpoint each time it is woken; ends when the writer drops its sender.
pub async fn run_checkpointer(pool: Pool, mut wake: mpsc::Receiver<()>, metrics: Arc<Metrics>) {
    while wake.recv().await.is_some() {
        let conn = match pool.get().await {
            Ok(c) => c,
            // Busy or closing pool: skip this round; the writer's own bound still holds.
            Err(e) => {
                tracing::warn!("background WAL checkpoint skipped: {e}");
                continue;
            }
        };
        let metrics = metrics.clone();
        let outcome = conn
            .interact(move |c| checkpoint_passive(c, "wal checkpoint (background)", &metrics))
            .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("background WAL checkpoint failed: {e}"),
            Err(e) => tracing::warn!("background WAL checkpoint did not run: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: WalLimits = WalLimits {
        wake_at: 32,
        restart_at: 256,
        tail: 64,
        hard_limit: 1_024,
    };

    fn open(path: &std::path::Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
            .unwrap();
        c
    }

    /// A commit of about 20 fresh pages (random blobs, so nothing is shared between them).
    fn commit_some(c: &Connection, round: i64) {
        c.execute_batch("BEGIN").unwrap();
        for i in 0..20 {
            c.execute(
                "INSERT INTO t (k, v) VALUES (?1, randomblob(3000))",
                [round * 100 + i],
            )
            .unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
    }

    /// With a background copy that keeps up, the WAL restarts (its frame count falls back)
    /// and never exceeds the restart length by more than a commit; the data is all there.
    #[test]
    fn wal_restarts_when_background_copies_keep_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (writer, background) = (open(&path), open(&path));
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        let metrics = Metrics::new(1_000);
        let (mut peak, mut restarts, mut wakes, mut last) = (0, 0, 0, 0);
        for round in 0..200 {
            commit_some(&writer, round);
            if after_commit(&writer, &SMALL, &metrics).unwrap() == AfterCommit::WakeCheckpointer {
                wakes += 1;
                checkpoint_passive(&background, "test", &metrics).unwrap();
            }
            let (log, _) = wal_state(&writer).unwrap();
            if log < last {
                restarts += 1;
            }
            peak = peak.max(log);
            last = log;
        }
        assert!(wakes > 10, "the background task was woken {wakes} times");
        assert!(restarts > 5, "the WAL restarted {restarts} times");
        assert!(peak < SMALL.restart_at + 100, "WAL peaked at {peak} frames");
        let n: i64 = background
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200 * 20);
    }

    /// Without any background copy, the writer still bounds the WAL at the hard limit.
    #[test]
    fn writer_bounds_the_wal_when_nothing_else_copies() {
        let dir = tempfile::tempdir().unwrap();
        let writer = open(&dir.path().join("t.db"));
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        let metrics = Metrics::new(1_000);
        let mut peak = 0;
        for round in 0..300 {
            commit_some(&writer, round);
            after_commit(&writer, &SMALL, &metrics).unwrap();
            peak = peak.max(wal_state(&writer).unwrap().0);
        }
        assert!(
            peak >= SMALL.restart_at,
            "the test never filled the WAL ({peak})"
        );
        assert!(peak < SMALL.hard_limit + 100, "WAL peaked at {peak} frames");
    }
}
