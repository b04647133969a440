//! DbActor: the daemon's only way into SQLite.
//!
//! Reads run on the pool (many at once). Writes go through one writer task that drains its
//! queue into a single transaction, each job inside its own savepoint, so a burst of small
//! writes costs one fsync-free commit instead of one each, and one bad job can't undo the
//! others. Replies are sent only after the commit. Must not hold business logic: callers
//! pass the query functions of `storage::queries`.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use deadpool_sqlite::Pool;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::storage::StorageError;
use picket_protocol::PoolStatus;

/// The writer's connection holds the hot pages of the tables it writes: a larger cache
/// (32 MiB, taken only as it fills), and a checkpoint every 32,000 pages (128 MiB of WAL)
/// instead of SQLite's 1,000: each checkpoint copies and syncs pages scattered over a
/// growing file, which bounded a long ingest at 0.39 of a bare insert (0.70 with this; see
/// BENCHMARKS.md). journal_size_limit trims the WAL file back after a checkpoint.
const WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 32000; PRAGMA journal_size_limit = 67108864;";

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

pub struct DbActor {
    pool: Pool,
    writer: mpsc::Sender<WriteJob>,
    /// The writer task; `Close` waits for it, so its connection is given back while the
    /// runtime still runs (dropped after it, deadpool panics with "no reactor running").
    writer_task: Option<tokio::task::JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl DbActor {
    pub fn new(pool: Pool, metrics: Arc<Metrics>, write_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let task = actix::spawn(writer_loop(
            pool.clone(),
            rx,
            write_batch.max(1),
            metrics.clone(),
        ));
        Self {
            pool,
            writer: tx,
            writer_task: Some(task),
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
    mut rx: mpsc::Receiver<WriteJob>,
    batch: usize,
    metrics: Arc<Metrics>,
) {
    let mut jobs: Vec<WriteJob> = Vec::with_capacity(batch);
    // The writer keeps one connection for good: the pool hands connections out in turn,
    // and a write landing on a cold page cache re-reads the index pages the previous batch
    // had just written (the ingest benchmark ran at 0.4 of a bare insert that way).
    let mut held: Option<deadpool_sqlite::Object> = None;
    while rx.recv_many(&mut jobs, batch).await > 0 {
        let taken = std::mem::take(&mut jobs);
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
                let mut completions = Vec::with_capacity(taken.len());
                let result = (|| -> rusqlite::Result<()> {
                    let tx = c.transaction()?;
                    if taken.len() == 1 {
                        // Alone in its transaction: a failed job just rolls the whole of it
                        // back, no savepoint needed.
                        for job in taken {
                            let (ok, done) = job(&tx);
                            completions.push(done);
                            if !ok {
                                return tx.rollback();
                            }
                        }
                        return tx.commit();
                    }
                    for job in taken {
                        let sp = tx.unchecked_transaction_savepoint()?;
                        let (ok, done) = job(&sp);
                        if ok {
                            sp.commit()?;
                        } else {
                            sp.rollback()?;
                        }
                        completions.push(done);
                    }
                    tx.commit()
                })();
                metrics.record_query("write batch", start.elapsed());
                let result = result.map_err(|e| e.to_string());
                for done in completions {
                    done(result.clone());
                }
            })
            .await;
        if let Err(e) = outcome {
            tracing::error!("database writer failed: {e}");
            // Take a fresh connection next time.
            held = None;
        }
    }
}

/// Dropping a job drops its reply channel, so each waiting caller gets an error at once.
fn fail_all(jobs: Vec<WriteJob>, why: String) {
    tracing::error!("{why}; {} queued writes failed", jobs.len());
}

/// Savepoints on a `&Transaction` without needing `&mut`: the writer owns the transaction
/// for the whole batch and runs jobs one after another.
trait SavepointExt {
    fn unchecked_transaction_savepoint(&self) -> rusqlite::Result<SavepointGuard<'_>>;
}

struct SavepointGuard<'c> {
    conn: &'c Connection,
    done: bool,
}

impl SavepointExt for rusqlite::Transaction<'_> {
    fn unchecked_transaction_savepoint(&self) -> rusqlite::Result<SavepointGuard<'_>> {
        self.prepare_cached("SAVEPOINT job")?.execute([])?;
        Ok(SavepointGuard {
            conn: self,
            done: false,
        })
    }
}

impl SavepointGuard<'_> {
    fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        self.conn
            .prepare_cached("RELEASE job")?
            .execute([])
            .map(|_| ())
    }
    fn rollback(mut self) -> rusqlite::Result<()> {
        self.done = true;
        self.conn.execute_batch("ROLLBACK TO job; RELEASE job")
    }
}

impl Drop for SavepointGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK TO job; RELEASE job");
        }
    }
}

impl std::ops::Deref for SavepointGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
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

/// A write, batched with others into one transaction.
pub struct Write<R> {
    pub label: &'static str,
    #[allow(clippy::type_complexity)]
    pub f: Box<dyn FnOnce(&Connection) -> rusqlite::Result<R> + Send>,
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
            let (tx, rx) = oneshot::channel::<Result<R, StorageError>>();
            let label = msg.label;
            let f = msg.f;
            let job: WriteJob = Box::new(move |c: &Connection| {
                let start = Instant::now();
                let result = f(c);
                metrics.record_query(label, start.elapsed());
                let ok = result.is_ok();
                let done: Completion = Box::new(move |commit: Result<(), String>| {
                    let answer = match commit {
                        Ok(()) => result.map_err(StorageError::from),
                        Err(e) => Err(StorageError::Pool(format!("commit failed: {e}"))),
                    };
                    let _ = tx.send(answer);
                });
                (ok, done)
            });
            writer
                .send(job)
                .await
                .map_err(|_| StorageError::Pool("database writer stopped".into()))?;
            rx.await
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
        // Replace our sender with a closed one so the writer sees the end of its queue.
        self.writer = mpsc::channel(1).0;
        let pool = self.pool.clone();
        Box::pin(
            async move {
                if let Some(t) = task {
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
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
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
