//! Joining the cluster at start: connect to Redis, refuse a protocol other nodes don't
//! speak, register this node and keep it registered, make the cluster's Redis the cache's
//! L2, and listen for freed host slots. Must not touch scans or runs (the transport does).

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use futures::FutureExt;
use redis::aio::ConnectionManager;

use crate::cache::actor::{CacheActor, UseShared};
use crate::cluster::cache::SharedCache;
use crate::cluster::config::ClusterConfig;
use crate::cluster::lease::Leases;
use crate::cluster::nodes::{self, NodeError};
use crate::metrics::GetDepth;
use crate::run::toolbox::Toolbox;

/// What a joined node keeps: the connection for commands and the lease semaphore.
#[derive(Clone)]
pub struct Joined {
    pub conn: ConnectionManager,
    pub leases: Leases,
}

pub async fn connect(cfg: &ClusterConfig) -> Result<(redis::Client, ConnectionManager), NodeError> {
    let client = redis::Client::open(cfg.redis.as_str())?;
    let conn = ConnectionManager::new(client.clone()).await?;
    Ok((client, conn))
}

/// Tool runs this node is running now (what the registry reports).
pub async fn runs_in_flight(toolbox: &Toolbox) -> u64 {
    let mut n = 0;
    for (_, addr) in toolbox.actors() {
        if let Ok((_, running)) = addr.send(GetDepth).await {
            n += running;
        }
    }
    n
}

pub async fn join(
    cfg: &ClusterConfig,
    cache: &Addr<CacheActor>,
    toolbox: Arc<Toolbox>,
) -> Result<Joined, NodeError> {
    let (client, mut conn) = connect(cfg).await?;
    nodes::check_versions(&mut conn, &cfg.node_id).await?;
    nodes::beat(&mut conn, cfg, 0).await?;
    let lease = Duration::from_secs(cfg.lease_secs);
    cache.do_send(UseShared(SharedCache::new(
        conn.clone(),
        &cfg.node_id,
        lease,
    )));
    let leases = Leases::new(conn.clone(), lease);
    actix::spawn(leases.clone().listen(client));
    let in_flight = move || {
        let toolbox = toolbox.clone();
        async move { runs_in_flight(&toolbox).await }.boxed()
    };
    actix::spawn(nodes::heartbeat(conn.clone(), cfg.clone(), in_flight));
    tracing::info!(node = %cfg.node_id, redis = %crate::cluster::status::redacted(&cfg.redis), "joined the cluster");
    Ok(Joined { conn, leases })
}
