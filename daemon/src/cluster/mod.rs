//! Several picketd nodes as one, on Redis Streams (optional `[cluster]`; README "Cluster").
//! Coordinators own scans and their SQLite (the source of truth); workers run tools fed from
//! the shared run stream; Redis is transport, never the record. Without `[cluster]`, none of
//! this runs. Must not change how a single node works.
//!
//! | file | owns |
//! |---|---|
//! | `config` | `[cluster]`: the Redis address, this node's id and roles, the timings |

pub mod config;

pub use config::{ClusterConfig, ClusterConfigError, Role};
