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

pub mod config;
pub mod conn;
pub mod remote;
pub mod runner;
pub mod runs;
pub mod start;
pub mod worker;

pub use config::{ClusterConfig, ClusterConfigError, Role};
