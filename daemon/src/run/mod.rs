//! Tool runs: the configured tools as runnable specs, one ToolActor per tool with its
//! queue and concurrency, per-host politeness slots, the scope gate asked just before a
//! run starts, and the process runner (argv only, timeouts, output caps) with its helper
//! and /proc tree walks that end a run's whole process tree; discovery output read host
//! by host while it runs; tool versions remembered across restarts.
//!
//! Must not decide what a scan runs (scan/ does) nor persist results (storage/ does).

pub mod discovery_stream;
pub mod helper;
pub mod host_limits;
pub mod process;
pub mod scope_gate;
pub mod spec;
pub mod tool_actor;
pub mod toolbox;
pub mod tree;
pub mod versions;
