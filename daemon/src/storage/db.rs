//! DbActor: the daemon's only way into SQLite.
//!
//! Reads run on the pool (many at once). Writes go through one writer task that drains its
//! queue into a single transaction, so a burst of small writes costs one fsync-free commit
//! instead of one each. Should a job fail, the batch is rolled back and its jobs replayed
//! one transaction each, so one bad job can't undo the others (no savepoint per job: each
//! copies every page its job touches into a sub-journal, 15% of a large ingest). Replies
//! are sent only after the commit. Must not hold business logic: callers pass the query
//! functions of `storage::queries`.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::storage::{checkpoint, transaction, Pool, StorageError};
use picket_protocol::PoolStatus;

/// The writer's connection holds the hot pages of the tables it writes: a larger cache
/// (32 MiB, taken only as it fills). SQLite's automatic checkpoint is off on it:
/// `storage::checkpoint` decides after each commit (see there why). journal_size_limit
/// trims the WAL file back once it restarts.
const WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;";

/// A queued write. `run` may be called twice (its batch replayed after another job
/// failed), so jobs only touch the database; `finish` gets the outcome of the commit.
trait WriteJob: Send {
    fn run(&mut self, c: &Connection) -> bool;
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

type QueuedJob = Box<dyn WriteJob>;

pub struct DbActor {
    pool: Pool,
    writer: mpsc::Sender<QueuedJob>,
    /// The writer task; `Close` waits for it, so its connection is given back while the
    /// runtime still runs (dropped after it, deadpool panics with "no reactor running").
    writer_task: Option<tokio::task::JoinHandle<()>>,
    /// Ends once the writer has (it holds the only wake-up sender); `Close` waits for it too.
    checkpointer_task: Option<tokio::task::JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl DbActor {
    pub fn new(pool: Pool, metrics: Arc<Metrics>, write_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let (wake, woken) = checkpoint::checkpoint_channel();
        let task = actix::spawn(writer_loop(
            pool.clone(),
            rx,
            write_batch.max(1),
            metrics.clone(),
            wake,
        ));
        let checkpointer = actix::spawn(checkpoint::run_checkpointer(
            pool.clone(),
            woken,
            metrics.clone(),
        ));
        Self {
            pool,
            writer: tx,
            writer_task: Some(task),
            checkpointer_task: Some(checkpointer),
            metrics,
        }
    }
}

impl Actor for DbActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
    }
}

async fn writer_loop(
    pool: Pool,
    mut rx: mpsc::Receiver<QueuedJob>,
    batch: usize,
    metrics: Arc<Metrics>,
    wake_checkpointer: mpsc::Sender<()>,
) {
    let mut jobs: Vec<QueuedJob> = Vec::with_capacity(batch);
    // The writer keeps one connection for good: the pool hands connections out in turn,
    // and a write landing on a cold page cache re-reads the index pages the previous batch
    // had just written (the ingest benchmark ran at 0.4 of a bare insert that way).
    let mut held: Option<crate::storage::pool::Object> = None;
    while rx.recv_many(&mut jobs, batch).await > 0 {
        let mut taken = std::mem::take(&mut jobs);
        if held.is_none() {
            match pool.get().await {
                Ok(c) => {
                    let _ = c.interact(|c| c.execute_batch(WRITER_PRAGMAS)).await;
                    held = Some(c);
                }
                Err(e) => {
                    fail_all(taken, format!("database pool unavailable: {e}"));
                    continue;
                }
            }
        }
        let Some(conn) = held.as_ref() else { continue };
        let metrics = metrics.clone();
        let outcome = conn
            .interact(move |c| {
                let start = Instant::now();
                let outcomes = run_batch(c, &mut taken);
                metrics.record_query("write batch", start.elapsed());
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

/// Dropping a job drops its reply channel, so each waiting caller gets an error at once.
fn fail_all(jobs: Vec<QueuedJob>, why: String) {
    tracing::error!("{why}; {} queued writes failed", jobs.len());
}

/// Runs a batch in one transaction; if a job fails, rolls it all back and replays each job
/// in a transaction of its own. Returns the commit outcome for each job, in order (a job
/// that failed alone gets Ok: its own error is its answer).
fn run_batch(c: &Connection, jobs: &mut [QueuedJob]) -> Vec<Result<(), String>> {
    let together = transaction(c, |tx| {
        Ok(jobs.iter_mut().all(|job| job.run(tx)).then_some(()))
    });
    match together {
        Ok(Some(())) => vec![Ok(()); jobs.len()],
        Err(e) => vec![Err(e.to_string()); jobs.len()],
        Ok(None) if jobs.len() == 1 => vec![Ok(())],
        Ok(None) => jobs
            .iter_mut()
            .map(|job| {
                transaction(c, |tx| Ok(job.run(tx).then_some(())))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .collect(),
    }
}

/// A read on a pooled connection.
pub struct Read<R> {
    pub label: &'static str,
    #[allow(clippy::type_complexity)]
    pub f: Box<dyn FnOnce(&mut Connection) -> rusqlite::Result<R> + Send>,
}

impl<R: Send + 'static> Message for Read<R> {
    type Result = Result<R, StorageError>;
}

impl<R: Send + 'static> Handler<Read<R>> for DbActor {
    type Result = ResponseFuture<Result<R, StorageError>>;

    fn handle(&mut self, msg: Read<R>, _: &mut Self::Context) -> Self::Result {
        let pool = self.pool.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let conn = pool
                .get()
                .await
                .map_err(|e| StorageError::Pool(e.to_string()))?;
            let label = msg.label;
            let f = msg.f;
            conn.interact(move |c| {
                let start = Instant::now();
                let r = f(c);
                metrics.record_query(label, start.elapsed());
                r
            })
            .await
            .map_err(|e| StorageError::Pool(e.to_string()))?
            .map_err(StorageError::from)
        })
    }
}

/// A write, batched with others into one transaction. `f` may run twice (see `run_batch`).
pub struct Write<R> {
    pub label: &'static str,
    #[allow(clippy::type_complexity)]
    pub f: Box<dyn FnMut(&Connection) -> rusqlite::Result<R> + Send>,
}

struct Job<R> {
    label: &'static str,
    #[allow(clippy::type_complexity)]
    f: Box<dyn FnMut(&Connection) -> rusqlite::Result<R> + Send>,
    result: Option<rusqlite::Result<R>>,
    reply: oneshot::Sender<Result<R, StorageError>>,
    metrics: Arc<Metrics>,
}

impl<R: Send> WriteJob for Job<R> {
    fn run(&mut self, c: &Connection) -> bool {
        let start = Instant::now();
        let result = (self.f)(c);
        self.metrics.record_query(self.label, start.elapsed());
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let answer = match (commit, self.result) {
            (Err(e), _) => Err(StorageError::Pool(format!("commit failed: {e}"))),
            (Ok(()), Some(result)) => result.map_err(StorageError::from),
            (Ok(()), None) => Err(StorageError::Pool("the write never ran".into())),
        };
        let _ = self.reply.send(answer);
    }
}

impl<R: Send + 'static> Message for Write<R> {
    type Result = Result<R, StorageError>;
}

impl<R: Send + 'static> Handler<Write<R>> for DbActor {
    type Result = ResponseFuture<Result<R, StorageError>>;

    fn handle(&mut self, msg: Write<R>, _: &mut Self::Context) -> Self::Result {
        let writer = self.writer.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel::<Result<R, StorageError>>();
            let job: QueuedJob = Box::new(Job {
                label: msg.label,
                f: msg.f,
                result: None,
                reply,
                metrics,
            });
            writer
                .send(job)
                .await
                .map_err(|_| StorageError::Pool("database writer stopped".into()))?;
            answer
                .await
                .map_err(|_| StorageError::Pool("database writer dropped the write".into()))?
        })
    }
}

pub struct GetPoolStatus;

impl Message for GetPoolStatus {
    type Result = PoolStatus;
}

impl Handler<GetPoolStatus> for DbActor {
    type Result = MessageResult<GetPoolStatus>;

    fn handle(&mut self, _: GetPoolStatus, _: &mut Self::Context) -> Self::Result {
        let s = self.pool.status();
        MessageResult(PoolStatus {
            max_size: s.max_size as u64,
            size: s.size as u64,
            available: s.available as u64,
            waiting: s.waiting as u64,
        })
    }
}

/// Closes the pool; later requests fail fast.
pub struct Close;

impl Message for Close {
    type Result = ();
}

impl Handler<Close> for DbActor {
    type Result = ResponseActFuture<Self, ()>;

    /// Lets queued writes finish, ends the writer (its channel closes once this actor's
    /// sender is gone), then closes the pool.
    fn handle(&mut self, _: Close, _: &mut Self::Context) -> Self::Result {
        let task = self.writer_task.take();
        let checkpointer = self.checkpointer_task.take();
        // Replace our sender with a closed one so the writer sees the end of its queue.
        self.writer = mpsc::channel(1).0;
        let pool = self.pool.clone();
        Box::pin(
            async move {
                if let Some(t) = task {
                    let _ = t.await;
                }
                if let Some(t) = checkpointer {
                    let _ = t.await;
                }
                pool.close();
            }
            .into_actor(self)
            // Stopping earlier would drop this future before the writer is done.
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}

/// A cloneable handle with typed helpers over the actor's messages.
#[derive(Clone)]
pub struct Db {
    pub addr: Addr<DbActor>,
}

impl Db {
    pub async fn read<R: Send + 'static>(
        &self,
        label: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StorageError> {
        self.addr
            .send(Read {
                label,
                f: Box::new(f),
            })
            .await
            .map_err(|e| StorageError::Pool(e.to_string()))?
    }

    pub async fn write<R: Send + 'static>(
        &self,
        label: &'static str,
        f: impl FnMut(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StorageError> {
        self.addr
            .send(Write {
                label,
                f: Box::new(f),
            })
            .await
            .map_err(|e| StorageError::Pool(e.to_string()))?
    }

    pub async fn pool_status(&self) -> PoolStatus {
        self.addr.send(GetPoolStatus).await.unwrap_or_default()
    }
}

/// Writes queued for the writer task, for metrics.
pub struct GetWriteBacklog;

impl Message for GetWriteBacklog {
    type Result = u64;
}

impl Handler<GetWriteBacklog> for DbActor {
    type Result = u64;
    fn handle(&mut self, _: GetWriteBacklog, _: &mut Self::Context) -> u64 {
        (self.writer.max_capacity() - self.writer.capacity()) as u64
    }
}
