//! The connection pool: deadpool-sqlite's connections, with a recycle check that stays on
//! the async thread.
//!
//! deadpool-sqlite's own Manager checks every connection it hands out by running
//! `SELECT $1` through `interact`, a second trip to the blocking pool (and a statement
//! parse) in front of every read, a quarter of a small `show`. A SQLite connection to a
//! local file does not go stale as a network connection does; what makes one unusable is a
//! panic while it was locked, which the poisoned mutex still tells. Connections are still
//! made by deadpool-sqlite's Manager, so everything else about them is the crate's.
//! Must not hold SQL: pragmas and migrations live in `storage`.

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_sqlite::{Config, Runtime};
use deadpool_sync::SyncWrapper;

pub type Pool = managed::Pool<LocalFileManager>;
pub type Object = managed::Object<LocalFileManager>;
pub type Hook = managed::Hook<LocalFileManager>;
pub type HookError = managed::HookError<rusqlite::Error>;

#[derive(Debug)]
pub struct LocalFileManager {
    inner: deadpool_sqlite::Manager,
    /// The database file, for the checks of `storage::file`.
    path: std::path::PathBuf,
}

impl LocalFileManager {
    pub fn new(config: &Config, runtime: Runtime) -> Self {
        Self {
            inner: deadpool_sqlite::Manager::from_config(config, runtime),
            path: config.path.clone(),
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
        self.inner.create().await
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
