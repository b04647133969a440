//! The connection pool: deadpool-sqlite's connections, with a recycle check that stays on
//! the async thread.
//!
//! deadpool-sqlite's own Manager checks every connection it hands out by running
//! `SELECT $1` through `interact`, a second trip to the blocking pool (and a statement
//! parse) in front of every read, a quarter of a small `show`. A SQLite connection to a
//! local file does not go stale as a network connection does; what makes one unusable is a
//! panic while it was locked, which the poisoned mutex still tells. Connections are still
//! opened as deadpool-sqlite's Manager opens them, except that only the first may create
//! the file.
//! Must not hold SQL: pragmas and migrations live in `storage`.

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_sqlite::{Config, Runtime};
use deadpool_sync::SyncWrapper;
use rusqlite::OpenFlags;
use std::sync::atomic::{AtomicBool, Ordering};

pub type Pool = managed::Pool<LocalFileManager>;
pub type Object = managed::Object<LocalFileManager>;
pub type Hook = managed::Hook<LocalFileManager>;
pub type HookError = managed::HookError<rusqlite::Error>;

#[derive(Debug)]
pub struct LocalFileManager {
    runtime: Runtime,
    /// The database file, for the checks of `storage::file`.
    path: std::path::PathBuf,
    /// Only the first connection may create the file: a later one opening a path whose
    /// file was deleted would create an empty database there, which a restart would then
    /// take for the real one (every scan gone). It fails instead (see `storage::file`).
    may_create: AtomicBool,
}

impl LocalFileManager {
    pub fn new(config: &Config, runtime: Runtime) -> Self {
        Self {
            runtime,
            path: config.path.clone(),
            may_create: AtomicBool::new(true),
        }
    }

    /// The database file this pool's connections open.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl managed::Manager for LocalFileManager {
    type Type = SyncWrapper<rusqlite::Connection>;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let path = self.path.clone();
        let mut flags = OpenFlags::default();
        if !self.may_create.swap(false, Ordering::Relaxed) {
            flags.remove(OpenFlags::SQLITE_OPEN_CREATE);
        }
        SyncWrapper::new(self.runtime, move || {
            rusqlite::Connection::open_with_flags(path, flags)
        })
        .await
    }

    async fn recycle(&self, conn: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if conn.is_mutex_poisoned() {
            return Err(RecycleError::message(
                "a query panicked while holding this connection; it is dropped",
            ));
        }
        Ok(())
    }
}
