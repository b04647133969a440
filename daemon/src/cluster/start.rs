//! Starting this node's part of the cluster from `[cluster]`: the Redis connection, the
//! coordinator's results consumer, the worker. Wiring only; main.rs calls it so that its
//! own lines stay few. Must not run anything without `[cluster]`.

use std::sync::Arc;

use crate::cluster::conn::{ConnError, Redis};
use crate::cluster::lease::Leases;
use crate::cluster::remote::Remote;
use crate::cluster::worker::Worker;
use crate::cluster::{ClusterConfig, Role};
use crate::run::toolbox::Toolbox;

/// This node's cluster parts; both None without `[cluster]`.
#[derive(Clone, Default)]
pub struct Node {
    pub redis: Option<Redis>,
    pub config: Option<ClusterConfig>,
    pub remote: Option<Remote>,
    /// The per-target lease semaphore (cluster/lease.rs), shared by both roles.
    pub leases: Option<Leases>,
}

/// Connects and starts the coordinator side (if the node has that role). The worker
/// starts later (`start_worker`), once the toolbox has its tools.
/// `per_target` is `[limits] per_target`: how many runs one host gets at once across the
/// cluster (leases taken before a run is enqueued).
pub async fn connect(config: Option<&ClusterConfig>, per_target: u32) -> Result<Node, ConnError> {
    let Some(config) = config else {
        return Ok(Node::default());
    };
    let redis = Redis::open(&config.redis).await?;
    let leases = Leases::new(
        redis.manager.clone(),
        std::time::Duration::from_secs(config.lease_secs),
    );
    actix::spawn(leases.clone().listen(redis.clone()));
    let remote = config
        .has(Role::Coordinator)
        .then(|| Remote::start(redis.clone(), &config.node_id, leases.clone(), per_target));
    tracing::info!(node = %config.node_id, roles = ?config.roles, "cluster: connected to {}", crate::cluster::conn::redacted(&config.redis));
    Ok(Node {
        redis: Some(redis),
        config: Some(config.clone()),
        remote,
        leases: Some(leases),
    })
}

impl Node {
    pub fn start_worker(&self, toolbox: Arc<Toolbox>) -> Option<Worker> {
        let (redis, config) = (self.redis.clone()?, self.config.as_ref()?);
        let leases = self.leases.clone()?;
        config
            .has(Role::Worker)
            .then(|| Worker::start(redis, config, toolbox, leases))
    }
}
