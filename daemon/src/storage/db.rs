//! `Db`: the daemon's only way into SQLite, a cloneable handle (not an actor: it holds no
//! state a mailbox would protect, it only forwards).
//!
//! Reads run on the pool, many at once, each on a blocking thread. Writes are queued to the
//! one writer task (`storage::writer`, queue of `writer::QUEUE`; a full queue makes `write`
//! wait: the backpressure) that batches them into transactions. Beside the writer runs the
//! WAL checkpointer. `close` lets queued writes finish and then closes the pool. Must not
//! hold SQL or business logic: callers pass the query functions of `storage::*`.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::storage::file::DbFile;
use crate::storage::writer::{self, Job, QueuedJob};
use crate::storage::{checkpoint, Pool, StorageError};
use picket_protocol::PoolStatus;

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// None once closed: later writes fail at once instead of queueing forever.
    writer: Mutex<Option<mpsc::Sender<QueuedJob>>>,
    /// The writer and the checkpointer; `close` waits for both, so the writer's connection
    /// is given back while the runtime still runs (dropped after it, deadpool panics with
    /// "no reactor running"). The checkpointer ends once the writer has (it holds the only
    /// wake-up sender).
    tasks: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    /// The database file and its identity at start (None if it could not be stat'ed).
    file: Option<DbFile>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Db {
    /// Starts the writer and the checkpointer on the current tokio runtime.
    pub fn start(pool: Pool, metrics: Arc<Metrics>, write_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel(writer::QUEUE);
        let file = DbFile::at(pool.manager().path());
        let (wake, woken) = checkpoint::checkpoint_channel();
        let writer = tokio::spawn(writer::writer_loop(
            pool.clone(),
            rx,
            write_batch.max(1),
            metrics.clone(),
            wake,
            file.clone(),
        ));
        let checkpointer = tokio::spawn(checkpoint::run_checkpointer(
            pool.clone(),
            woken,
            metrics.clone(),
        ));
        Self {
            inner: Arc::new(Inner {
                pool,
                writer: Mutex::new(Some(tx)),
                tasks: Mutex::new(vec![writer, checkpointer]),
                metrics,
                file,
            }),
        }
    }

    /// A read on a pooled connection, timed under `label`.
    pub async fn read<R: Send + 'static>(
        &self,
        label: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StorageError> {
        let conn = self.inner.pool.get().await.map_err(|e| {
            // A new connection fails to open a file that is gone: say so, not "pool error".
            match self.file().map(DbFile::check) {
                Some(Err(gone)) => gone,
                _ => StorageError::Pool(e.to_string()),
            }
        })?;
        let metrics = self.inner.metrics.clone();
        conn.interact(move |c| writer::timed(&metrics, label, || f(c)))
            .await
            .map_err(|e| StorageError::Pool(e.to_string()))?
            .map_err(StorageError::from)
    }

    /// A write, batched with others into one transaction; answered after the commit.
    /// `f` may run twice (its batch replayed after another write failed).
    pub async fn write<R: Send + 'static>(
        &self,
        label: &'static str,
        f: impl FnMut(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StorageError> {
        let sender = lock(&self.inner.writer)
            .clone()
            .ok_or(StorageError::WriterStopped)?;
        let (reply, answer) = oneshot::channel();
        let job: QueuedJob = Box::new(Job {
            label,
            f: Box::new(f),
            result: None,
            reply,
            metrics: self.inner.metrics.clone(),
        });
        sender
            .send(job)
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriteLost)?
    }

    /// The database file, for `health`: its identity check and free space.
    pub fn file(&self) -> Option<&DbFile> {
        self.inner.file.as_ref()
    }

    pub fn pool_status(&self) -> PoolStatus {
        let s = self.inner.pool.status();
        PoolStatus {
            max_size: s.max_size as u64,
            size: s.size as u64,
            available: s.available as u64,
            waiting: s.waiting as u64,
        }
    }

    /// The writer has been stopped (`close`): background loops end.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.writer).is_none()
    }

    /// Writes queued for the writer task, for metrics.
    pub fn write_backlog(&self) -> u64 {
        lock(&self.inner.writer)
            .as_ref()
            .map_or(0, |w| (w.max_capacity() - w.capacity()) as u64)
    }

    /// Lets queued writes finish, ends the writer (its queue closes once the last sender,
    /// ours, is dropped; writes in progress hold a clone until they are queued), then
    /// closes the pool. Later reads and writes fail fast.
    pub async fn close(&self) {
        drop(lock(&self.inner.writer).take());
        let tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!("a database task ended abnormally: {e}");
            }
        }
        self.inner.pool.close();
    }
}
