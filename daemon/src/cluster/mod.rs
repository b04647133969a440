//! Several picketd nodes as one, on Redis Streams (optional `[cluster]`; README "Cluster").
//! Coordinators own scans and their SQLite (the source of truth); workers run tools fed from
//! the shared run stream; Redis is transport, never the record. Without `[cluster]`, none of
//! this runs. Must not change how a single node works.
//!
//! | file | owns |
//! |---|---|
//! | `config` | `[cluster]`: the Redis address, this node's id and roles, the timings |
//! | `conn` | connections: a reconnecting manager, a dedicated one per blocking reader |
//! | `runs` | key names, the run descriptor and the result as they travel |
//! | `runner` | a run goes to the local ToolActor or to the cluster |
//! | `remote` | coordinator: enqueue, wait, results consumer, acknowledge after storing, cancel |
//! | `worker` | worker: read runs, heartbeat, reclaim, dead letters, cancel, drain |
//! | `start` | starting this node's parts from `[cluster]` |
//! | `lease` | the per-target lease semaphore (`picket:slots:{host}`, one Lua script per step, the server's clock) |
//! | `cache` | the shared L2 cache (`picket:cache:{key}`) and single flight across nodes (`picket:inflight:{key}`) |
//! | `nodes` | the node registry (`picket:nodes:{id}`, heartbeats with a TTL), the protocol-version refusal |
//! | `status` | what `picket cluster` and `picket_cluster_*` show: nodes, streams, pending, lag, dead letters |
//! | `join` | joining at start: connect, check versions, register, shared cache, slot-freed listener |

pub mod cache;
pub mod config;
pub mod conn;
pub mod join;
pub mod lease;
pub mod nodes;
pub mod remote;
pub mod runner;
pub mod runs;
pub mod start;
pub mod status;
pub mod worker;

pub use config::{ClusterConfig, ClusterConfigError, Role};
