//! `[cluster]`: where Redis is, who this node is, what it does, and the timings of leases,
//! heartbeats and redelivery. Must not connect to anything: validation only.

use serde::{Deserialize, Serialize};

/// What a node does; a node may do both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes scans from users (socket, API), keeps their SQLite, enqueues runs.
    Coordinator,
    /// Runs tools for the runs it reads from the shared stream.
    Worker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://127.0.0.1:6379` or `rediss://user:password@host:port` (TLS).
    pub redis: String,
    /// Unique per node; part of every run id this node enqueues (scan ids are per node).
    pub node_id: String,
    pub roles: Vec<Role>,
    /// How long a run's lease (its host slot and its place in the stream) lasts without a
    /// heartbeat; a dead worker's runs are reclaimed after it.
    pub lease_secs: u64,
    /// Deliveries after which a run goes to the dead-letter stream and ends failed.
    pub max_deliveries: u32,
    /// Runs a worker holds at once (each read takes one free slot: prefetch 1). Per-tool
    /// concurrency still comes from each tool's own limit.
    pub worker_slots: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis: "redis://127.0.0.1:6379".into(),
            node_id: String::new(),
            roles: vec![Role::Coordinator, Role::Worker],
            lease_secs: 30,
            max_deliveries: 3,
            worker_slots: 16,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterConfigError {
    #[error("[cluster] node_id is empty; give each node a unique id (letters, digits, '-', '_')")]
    NoNodeId,
    #[error("[cluster] node_id {0:?} has characters other than letters, digits, '-' and '_'")]
    BadNodeId(String),
    #[error("[cluster] roles is empty; use [\"coordinator\"], [\"worker\"] or both")]
    NoRoles,
    #[error("[cluster] redis {0:?} is not a redis:// or rediss:// URL")]
    BadUrl(String),
    #[error("[cluster] lease_secs must be at least 3 (heartbeats come every lease/3)")]
    ShortLease,
    #[error("[cluster] max_deliveries must be at least 1")]
    NoDeliveries,
    #[error("[cluster] worker_slots must be at least 1 (runs a worker holds at once)")]
    NoSlots,
}

impl ClusterConfig {
    pub fn validate(&self) -> Result<(), ClusterConfigError> {
        if self.node_id.is_empty() {
            return Err(ClusterConfigError::NoNodeId);
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if !self.node_id.chars().all(ok) {
            return Err(ClusterConfigError::BadNodeId(self.node_id.clone()));
        }
        if self.roles.is_empty() {
            return Err(ClusterConfigError::NoRoles);
        }
        if !(self.redis.starts_with("redis://") || self.redis.starts_with("rediss://")) {
            return Err(ClusterConfigError::BadUrl(self.redis.clone()));
        }
        if self.lease_secs < 3 {
            return Err(ClusterConfigError::ShortLease);
        }
        if self.max_deliveries == 0 {
            return Err(ClusterConfigError::NoDeliveries);
        }
        if self.worker_slots == 0 {
            return Err(ClusterConfigError::NoSlots);
        }
        Ok(())
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}
