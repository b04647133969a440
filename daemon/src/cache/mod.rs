//! Tool results kept for reuse: the CacheActor (memory, then the SQLite table, single
//! flight) and the cached-run path a supervisor takes for every run.
//!
//! Must not run processes itself (run/ does) nor hold SQL (storage/ does).

pub mod actor;
pub mod cached_run;
