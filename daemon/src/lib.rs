//! picketd as a library: the daemon's parts, wired together by main.rs.
//! Integration tests and benchmarks use these modules directly.

pub mod actors;
pub mod cached_run;
pub mod config;
pub mod daemon_state;
pub mod handlers;
pub mod host_limits;
pub mod metrics;
pub mod scan_board;
pub mod scope;
pub mod server;
pub mod socket_lock;
pub mod storage;
pub mod tool_process;
pub mod tool_registry;
pub mod toolbox;
pub mod tools;
