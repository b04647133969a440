//! picketd as a library: the daemon's parts, wired together by `main.rs`. Integration
//! tests and benchmarks use these modules directly.
//!
//! ```text
//! picket ──frames──▶ ipc::server (one task per connection, ipc::lock owns the socket path)
//!                      │ Request                ipc::handlers (one function per command)
//!                      ▼
//!               scan::scheduler ── admits scans ──▶ scan::supervisor (one per scan)
//!                                                     │ each tool run
//!                  cache::cached_run ◀────────────────┤ lookup / share / lead
//!                  cache::actor (L1 memory, L2 SQLite)│
//!                  run::tool_actor (queue, concurrency, run::host_limits, run::process)
//!                  parsers::* (raw output → services, findings)
//!                  storage::Db (pool reads, storage::writer batches) ◀── persist runs
//!               scan::board ──events──▶ followers (picket --follow, wait, status)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | `config` | picketd.toml: defaults, layering, validation (keys, placeholders, triggers, log levels); `config::origins`: where each effective value came from (`--print-config`) |
//! | `scope` | target parsing, allow/deny rules, name resolution |
//! | `metrics` | counters, histograms, slow queries, process figures, the queue-depth question actors answer |
//! | `ipc` | socket and data-dir locks, accept loop, connections, handshake, request handlers |
//! | `scan` | scheduler, scan supervisor, scan board (live progress and events) |
//! | `run` | tool specs, tool versions remembered across restarts, tool actors, host limits, the process runner, its helper (one subreaper per run) and /proc tree walks |
//! | `cache` | the cache actor and the cached-run path |
//! | `storage` | every SQL statement: pool, schema, queries, the cache table, the `Db` handle, the writer, checkpoints |
//! | `systemd` | the `--print-systemd-scope` drop-in: the kernel fence of the scope |
//! | `notify` | `[notify]` hooks at a scan's end: the payload, webhooks (signed, retried) and exec hooks, the allow list webhooks must match |
//! | `schedule` | recurring scans: the task that submits due schedules through the normal scan path, due-time rules (interval, cron, missed runs) |
//! | `http` | the JSON API over `api.sock` and opt-in loopback TCP: the same handlers as `ipc`, answered as `--json` documents |
//! | `cluster` | optional `[cluster]`: several nodes as one over Redis Streams (coordinator and worker roles) |
//! | `parsers` | one parser per tool, the generic mapping, shared normalisation, finding titles in words (`parsers::titles`) |

pub mod cache;
pub mod cluster;
pub mod config;
pub mod http;
pub mod ipc;
pub mod metrics;
pub mod notify;
pub mod parsers;
pub mod run;
pub mod scan;
pub mod schedule;
pub mod scope;
pub mod storage;
pub mod systemd;
