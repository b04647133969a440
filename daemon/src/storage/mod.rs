//! SQLite storage: the pool, its per-connection pragmas, migrations, the queries and the
//! one handle (`Db`) the rest of the daemon goes through.
//!
//! Owns every SQL statement: no other module writes SQL. The query functions are
//! synchronous and must not be called from async code directly: `Db` runs them on the
//! pool's blocking threads (reads) or on the writer's connection (writes).

pub mod cache_table;
pub mod checkpoint;
pub mod db;
pub mod file;
pub mod hosts;
pub mod lifecycle;
pub mod outputs;
pub mod pool;
pub mod queries;
pub mod schedules;
pub mod schema;
pub mod writer;

pub use db::Db;

use std::path::Path;
use std::time::Duration;

use deadpool_sqlite::{Config as PoolConfig, Runtime};

pub use pool::Pool;
use pool::{Hook, HookError, LocalFileManager};
use rusqlite::Connection;

use crate::config::DbConfig;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "cannot open the database at {path}: {reason}; check that the data directory is writable"
    )]
    Open { path: String, reason: String },
    #[error(
        "{path} is not a SQLite database or is damaged ({reason}): move it aside \
         (mv {path} {path}.damaged) and restart picketd to start afresh, or restore it from a backup"
    )]
    Damaged { path: String, reason: String },
    #[error(
        "the database file {path} {what} while picketd was running; writes are refused so \
         that nothing is reported stored that is not: restore the file, or restart picketd to \
         open (or create) a fresh database there"
    )]
    FileReplaced { path: String, what: String },
    #[error("database error: {0}")]
    Sql(rusqlite::Error),
    /// deadpool's errors, as text: its error type is generic over the manager.
    #[error("database pool error: {0}")]
    Pool(String),
    #[error("commit failed: {0}")]
    CommitFailed(rusqlite::Error),
    #[error(
        "the database is damaged ({0}): `picket health --deep` shows where; stop picketd, \
         then restore picket.db from a backup, or move it aside to start afresh"
    )]
    Corrupt(rusqlite::Error),
    #[error(
        "the disk holding the database is full ({0}): free space in the data directory \
         (`picket health` shows how much is left); nothing of this write was stored"
    )]
    DiskFull(rusqlite::Error),
    #[error("the database writer has stopped (picketd is shutting down); retry once it is back")]
    WriterStopped,
    #[error("the database writer dropped the write; see the daemon log")]
    WriteLost,
    #[error(transparent)]
    BadCursor(#[from] BadCursor),
}

impl StorageError {
    /// A fault of the storage rather than of the write: disk full, I/O error, file gone,
    /// busy. The same write may succeed later, so a caller holding results keeps them and
    /// tries again instead of dropping them.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            StorageError::FileReplaced { .. }
            | StorageError::DiskFull(_)
            | StorageError::CommitFailed(_)
            | StorageError::Pool(_)
            | StorageError::WriteLost => true,
            StorageError::Sql(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                C::DiskFull
                    | C::SystemIoFailure
                    | C::CannotOpen
                    | C::ReadOnly
                    | C::DatabaseBusy
                    | C::DatabaseLocked
                    | C::OutOfMemory
            ),
            _ => false,
        }
    }
}

/// An error from opening `path`: a damaged file gets the recovery steps, the rest the
/// writability hint.
fn open_error(path: &Path, e: Option<&rusqlite::Error>, reason: String) -> StorageError {
    let path = path.display().to_string();
    let damaged = matches!(
        e,
        Some(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    );
    if damaged {
        StorageError::Damaged { path, reason }
    } else {
        StorageError::Open { path, reason }
    }
}

/// The SQLite error inside a pool error, when there is one.
fn pool_sqlite_error(
    e: &deadpool::managed::PoolError<rusqlite::Error>,
) -> Option<&rusqlite::Error> {
    use deadpool::managed::{HookError as H, PoolError as P};
    match e {
        P::Backend(e) | P::PostCreateHook(H::Backend(e)) => Some(e),
        _ => None,
    }
}

/// A page cursor this daemon did not give out (or from another listing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cursor {cursor:?} is not one this daemon gave out; drop --cursor to start over, or pass \
     the next_cursor of the previous page of the same listing"
)]
pub struct BadCursor {
    pub cursor: String,
}

impl BadCursor {
    /// The query functions return rusqlite errors; a bad cursor rides inside one and is
    /// taken out again by `From<rusqlite::Error> for StorageError`.
    pub(crate) fn into_sql(cursor: &str) -> rusqlite::Error {
        rusqlite::Error::ToSqlConversionFailure(Box::new(BadCursor {
            cursor: cursor.to_string(),
        }))
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::ToSqlConversionFailure(inner) => match inner.downcast::<BadCursor>() {
                Ok(bad) => StorageError::BadCursor(*bad),
                Err(other) => StorageError::Sql(rusqlite::Error::ToSqlConversionFailure(other)),
            },
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StorageError::DiskFull(e)
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::DatabaseCorrupt
                    || f.code == rusqlite::ErrorCode::NotADatabase =>
            {
                StorageError::Corrupt(e)
            }
            e => StorageError::Sql(e),
        }
    }
}

impl StorageError {
    /// A failed COMMIT: a full disk is told as such, the rest as a failed commit.
    pub fn from_commit(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StorageError::DiskFull(e)
            }
            e => StorageError::CommitFailed(e),
        }
    }
}

/// Runs `f` in a transaction: committed when it returns `Some`, rolled back on `None` or
/// an error. BEGIN/COMMIT/ROLLBACK are cached statements: rusqlite's `Transaction` parses
/// them again on every use, 3% of a cached repeat scan's daemon time. Also how a read of
/// several statements takes one snapshot and one lock instead of one per statement.
pub fn transaction<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<Option<T>>,
) -> rusqlite::Result<Option<T>> {
    c.prepare_cached("BEGIN")?.execute([])?;
    let outcome = f(c).and_then(|kept| {
        if kept.is_some() {
            c.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(kept)
    });
    // Not committed (`f` gave up, or COMMIT itself failed): undo, unless SQLite already has.
    if !matches!(outcome, Ok(Some(_))) && !c.is_autocommit() {
        c.prepare_cached("ROLLBACK")?.execute([])?;
    }
    outcome
}

/// The database and its -wal/-shm files readable by the daemon's user only: they hold every
/// finding. The file is created here, 0600 and not through a link, before SQLite opens it
/// (SQLite gives -wal and -shm the database file's mode); files an older picketd made
/// world-readable are narrowed.
fn make_private(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(db)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        match std::fs::symlink_metadata(&name) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Pragmas every pooled connection gets, applied by the post_create hook.
pub fn pragmas(cfg: &DbConfig) -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {}; \
         PRAGMA foreign_keys = ON; PRAGMA mmap_size = {}; PRAGMA temp_store = MEMORY;",
        cfg.busy_timeout_ms, cfg.mmap_size
    )
}

/// Opens the pool and runs migrations. The pool's connections all carry `pragmas(cfg)`.
pub async fn open(path: &Path, cfg: &DbConfig) -> Result<Pool, StorageError> {
    make_private(path)
        .map_err(|e| open_error(path, None, format!("cannot make it private (0600): {e}")))?;
    let sql = pragmas(cfg);
    let pool = Pool::builder(LocalFileManager::new(
        &PoolConfig::new(path),
        Runtime::Tokio1,
    ))
    .max_size(cfg.pool_size)
    .wait_timeout(Some(Duration::from_secs(30)))
    .runtime(Runtime::Tokio1)
    .post_create(Hook::async_fn(move |conn, _| {
        let sql = sql.clone();
        Box::pin(async move {
            conn.interact(move |c| c.execute_batch(&sql))
                .await
                .map_err(|e| HookError::message(e.to_string()))?
                .map_err(HookError::Backend)
        })
    }))
    .build()
    .map_err(|e| open_error(path, None, e.to_string()))?;
    let conn = pool
        .get()
        .await
        .map_err(|e| open_error(path, pool_sqlite_error(&e), e.to_string()))?;
    conn.interact(schema::migrate)
        .await
        .map_err(|e| open_error(path, None, e.to_string()))?
        .map_err(|e| open_error(path, Some(&e), format!("migration failed: {e}")))?;
    conn.interact(|c| schema::probe_tables(c))
        .await
        .map_err(|e| open_error(path, None, e.to_string()))?
        .map_err(|e| open_error(path, Some(&e), format!("reading its tables: {e}")))?;
    Ok(pool)
}
