//! Joining the cluster at start: refuse a protocol other nodes don't speak (before any
//! other part starts), then register this node and keep it registered, and make the
//! cluster's Redis the cache's L2. Must not touch scans or runs (the transport does).

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use futures::FutureExt;
use redis::aio::ConnectionManager;

use crate::cache::actor::{CacheActor, UseShared};
use crate::cluster::cache::SharedCache;
use crate::cluster::config::ClusterConfig;
use crate::cluster::nodes::{self, NodeError};
use crate::cluster::start::Node;
use crate::metrics::GetDepth;
use crate::run::toolbox::Toolbox;

/// A connection of its own (for `check` and `picket cluster`: short-lived uses).
pub async fn connect(cfg: &ClusterConfig) -> Result<(redis::Client, ConnectionManager), NodeError> {
    let client = redis::Client::open(cfg.redis.as_str())?;
    let conn = ConnectionManager::new(client.clone()).await?;
    Ok((client, conn))
}

/// Refuses to start a node whose protocol differs from a registered node's; nothing
/// without `[cluster]`.
pub async fn check(cfg: Option<&ClusterConfig>) -> Result<(), NodeError> {
    let Some(cfg) = cfg else { return Ok(()) };
    let (_, mut conn) = connect(cfg).await?;
    nodes::check_versions(&mut conn, &cfg.node_id).await
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

/// Registers the node (then heartbeats) and gives the cache its shared level; nothing
/// without `[cluster]`.
pub async fn join(
    node: &Node,
    cache: &Addr<CacheActor>,
    toolbox: Arc<Toolbox>,
) -> Result<(), NodeError> {
    let (Some(cfg), Some(redis)) = (node.config.clone(), node.redis.clone()) else {
        return Ok(());
    };
    let mut conn = redis.manager.clone();
    nodes::beat(&mut conn, &cfg, 0).await?;
    let claim = Duration::from_secs(cfg.lease_secs);
    cache.do_send(UseShared(SharedCache::new(
        conn.clone(),
        &cfg.node_id,
        claim,
    )));
    let in_flight = move || {
        let toolbox = toolbox.clone();
        async move { runs_in_flight(&toolbox).await }.boxed()
    };
    actix::spawn(nodes::heartbeat(conn, cfg, in_flight));
    Ok(())
}
