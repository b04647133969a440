//! The writer task: the one path by which anything is written to SQLite.
//!
//! Drains its queue into a single transaction, so a burst of small writes costs one
//! fsync-free commit instead of one each. Should a job fail, the batch is rolled back and
//! its jobs replayed one transaction each, so one bad job can't undo the others (no
//! savepoint per job: each copies every page its job touches into a sub-journal, 15% of a
//! large ingest). Replies are sent only after the commit. Runs beside the checkpointer
//! (woken after commits, see `storage::checkpoint`); blocks only on its own connection.
//! Must not hold business logic: jobs are the query functions of `storage::queries`.

use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::storage::file::DbFile;
use crate::storage::{checkpoint, transaction, Pool, StorageError};

/// The writer's connection holds the hot pages of the tables it writes: a larger cache
/// (32 MiB, taken only as it fills). SQLite's automatic checkpoint is off on it:
/// `storage::checkpoint` decides after each commit (see there why). journal_size_limit
/// trims the WAL file back once it restarts.
const WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;";

/// Writes waiting for the writer before `send` waits for room (the backpressure).
pub(crate) const QUEUE: usize = 4096;

/// A queued write. `run` may be called twice (its batch replayed after another job
/// failed), so jobs only touch the database; `finish` gets the outcome of the commit.
pub(crate) trait WriteJob: Send {
    fn run(&mut self, c: &Connection) -> bool;
    fn finish(self: Box<Self>, commit: Result<(), rusqlite::Error>);
    /// Not run at all: the storage refused it (its file is gone) before the batch began.
    fn refuse(self: Box<Self>, why: StorageError);
}

pub(crate) type QueuedJob = Box<dyn WriteJob>;

/// The write function a caller hands over; it may run twice (see `run_batch`).
pub(crate) type WriteFn<R> = Box<dyn FnMut(&Connection) -> rusqlite::Result<R> + Send>;

/// One caller's write, its result kept until the commit decides whether it stands.
pub(crate) struct Job<R> {
    pub label: &'static str,
    pub f: WriteFn<R>,
    pub result: Option<rusqlite::Result<R>>,
    pub reply: oneshot::Sender<Result<R, StorageError>>,
    pub metrics: Arc<Metrics>,
}

impl<R: Send> WriteJob for Job<R> {
    fn run(&mut self, c: &Connection) -> bool {
        let result = timed(&self.metrics, self.label, || (self.f)(c));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), rusqlite::Error>) {
        let answer = match (commit, self.result) {
            (Err(e), _) => Err(StorageError::from_commit(e)),
            (Ok(()), Some(result)) => result.map_err(StorageError::from),
            (Ok(()), None) => Err(StorageError::WriteLost),
        };
        // The caller may have gone (its request was dropped): the write stands regardless.
        let _ = self.reply.send(answer);
    }

    fn refuse(self: Box<Self>, why: StorageError) {
        let _ = self.reply.send(Err(why));
    }
}

/// Runs `f`, recording its time under `label` (slow-query log and histogram).
pub(crate) fn timed<R>(metrics: &Metrics, label: &'static str, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    metrics.record_query(label, start.elapsed());
    r
}

/// The writer's loop: ends when every sender of its queue is gone (see `Db::close`).
pub(crate) async fn writer_loop(
    pool: Pool,
    mut rx: mpsc::Receiver<QueuedJob>,
    batch: usize,
    metrics: Arc<Metrics>,
    wake_checkpointer: mpsc::Sender<()>,
    file: Option<DbFile>,
) {
    let mut jobs: Vec<QueuedJob> = Vec::with_capacity(batch);
    // The writer keeps one connection for good: the pool hands connections out in turn,
    // and a write landing on a cold page cache re-reads the index pages the previous batch
    // had just written (the ingest benchmark ran at 0.4 of a bare insert that way).
    let mut held: Option<crate::storage::pool::Object> = None;
    while rx.recv_many(&mut jobs, batch).await > 0 {
        let mut taken = std::mem::take(&mut jobs);
        // Checked per batch, not per job: one stat in front of a whole transaction.
        if let Some(Err(e)) = file.as_ref().map(DbFile::check) {
            tracing::error!("{e}; {} writes refused", taken.len());
            for job in taken {
                job.refuse(copy_storage_error(&e));
            }
            continue;
        }
        if held.is_none() {
            match writer_connection(&pool).await {
                Ok(c) => held = Some(c),
                Err(e) => {
                    // Dropping a job drops its reply channel: each waiting caller gets an
                    // error at once.
                    tracing::error!("{e}; {} queued writes failed", taken.len());
                    continue;
                }
            }
        }
        let Some(conn) = held.as_ref() else { continue };
        let metrics = metrics.clone();
        let outcome = conn
            .interact(move |c| {
                let outcomes = timed(&metrics, "write batch", || run_batch(c, &mut taken));
                for (job, outcome) in taken.into_iter().zip(outcomes) {
                    job.finish(outcome);
                }
                match checkpoint::after_commit(c, &checkpoint::WalLimits::DEFAULT, &metrics) {
                    Ok(next) => next == checkpoint::AfterCommit::WakeCheckpointer,
                    Err(e) => {
                        tracing::warn!("WAL checkpoint after a commit failed: {e}");
                        false
                    }
                }
            })
            .await;
        match outcome {
            Ok(true) => {
                // Full means a wake-up is already pending: nothing is lost.
                let _ = wake_checkpointer.try_send(());
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!("database writer failed: {e}");
                // Take a fresh connection next time.
                held = None;
            }
        }
    }
}

/// A pooled connection with the writer's pragmas on it.
async fn writer_connection(pool: &Pool) -> Result<crate::storage::pool::Object, StorageError> {
    let c = pool
        .get()
        .await
        .map_err(|e| StorageError::Pool(e.to_string()))?;
    match c.interact(|c| c.execute_batch(WRITER_PRAGMAS)).await {
        Ok(Ok(())) => {}
        // Still a working connection, only a slower one: write with it anyway.
        Ok(Err(e)) => tracing::warn!("the writer's pragmas were not applied: {e}"),
        Err(e) => tracing::warn!("the writer's pragmas were not applied: {e}"),
    }
    Ok(c)
}

/// Runs a batch in one transaction; if a job fails, rolls it all back and replays each job
/// in a transaction of its own. Returns the commit outcome for each job, in order (a job
/// that failed alone gets Ok: its own error is its answer).
fn run_batch(c: &Connection, jobs: &mut [QueuedJob]) -> Vec<Result<(), rusqlite::Error>> {
    let together = transaction(c, |tx| {
        Ok(jobs.iter_mut().all(|job| job.run(tx)).then_some(()))
    });
    match together {
        Ok(Some(())) => jobs.iter().map(|_| Ok(())).collect(),
        Err(e) => jobs.iter().map(|_| Err(copy_error(&e))).collect(),
        Ok(None) if jobs.len() == 1 => vec![Ok(())],
        Ok(None) => jobs
            .iter_mut()
            .map(|job| transaction(c, |tx| Ok(job.run(tx).then_some(()))).map(|_| ()))
            .collect(),
    }
}

/// rusqlite errors are not Clone; a failed commit is told to every job of its batch with
/// SQLite's code and message kept.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// The file check's error, for each refused job (StorageError is not Clone).
fn copy_storage_error(e: &StorageError) -> StorageError {
    match e {
        StorageError::FileReplaced { path, what } => StorageError::FileReplaced {
            path: path.clone(),
            what: what.clone(),
        },
        other => StorageError::Pool(other.to_string()),
    }
}
