//! Picket's end-to-end harness, shared by the root package's tests/ and benches/: they
//! drive the real `picketd` and `picket` binaries, each daemon in a private world of its own.
//!
//! Owns: finding the built binaries (`bins`), the private world and the daemons started in
//! it (`env`, `daemon`), process helpers that turn hangs into failures (`process`), stand-in
//! tool configs and scripts (`config`, `scripts`), the loopback scan targets (`targets`), the
//! escape sensor that proves nothing left loopback (`sensor`),
//! reading the client's `--json` output, typed or not (`output`) and the HTTP API's
//! `api.sock` through curl or a kept-alive connection (`api`), outside validators such as
//! promtool (`checkers`).
//!
//! Must not assert anything about Picket's behaviour (the tests do), must not build the
//! binaries (`cargo build --workspace` does), and must not share anything between two `Env`s,
//! so that tests run in parallel.

pub mod api;
pub mod bins;
pub mod checkers;
pub mod config;
pub mod daemon;
pub mod env;
pub mod http;
pub mod output;
pub mod process;
pub mod scripts;
pub mod sensor;
pub mod targets;
// Appended: the cluster tests' redis-server and `[cluster]` section (issue 17).
pub mod cluster;

pub use bins::{bin_dir, picket_bin, picket_for_everyone, picketd_bin, require_installed};
pub use config::{ConfigBuilder, ToolConfig};
pub use daemon::Daemon;
pub use env::Env;
pub use nix::sys::signal::Signal;
pub use output::{describe, json, parse, stderr, stdout};
pub use process::{
    eventually, output_with_deadline, pid_alive, processes_with, KillOnDrop, CLIENT_DEADLINE,
    EVENTUALLY, READY_DEADLINE,
};
pub use scripts::tool_script;
pub use sensor::Sensor;
