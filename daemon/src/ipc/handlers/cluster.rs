//! `picket cluster`: the cluster as this node's Redis shows it, and the same figures for
//! `picket metrics`. Connects per request (an operator's question, not a hot path) with a
//! short deadline, so an unreachable Redis answers with an error instead of hanging.
//! Must not change anything in Redis.

use std::sync::Arc;
use std::time::Duration;

use picket_protocol::{ClusterReport, ErrorKind, Response};

use crate::cluster::config::ClusterConfig;
use crate::cluster::{join, status};
use crate::ipc::handlers::error;
use crate::ipc::state::DaemonState;

const DEADLINE: Duration = Duration::from_secs(3);

async fn fetch(cfg: &ClusterConfig) -> Result<ClusterReport, String> {
    let ask = async {
        let (_, mut conn) = join::connect(cfg).await.map_err(|e| e.to_string())?;
        status::report(&mut conn, cfg)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(DEADLINE, ask).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Redis at {} did not answer within {}s",
            crate::cluster::conn::redacted(&cfg.redis),
            DEADLINE.as_secs()
        )),
    }
}

pub async fn cluster(state: &Arc<DaemonState>) -> Response {
    let Some(cfg) = state.config().cluster.clone() else {
        return error(
            ErrorKind::Invalid,
            "this picketd is not part of a cluster (its configuration has no [cluster] section)",
            "add [cluster] with redis, node_id and roles to picketd.toml (README \"Cluster\") and restart picketd",
        );
    };
    match fetch(&cfg).await {
        Ok(r) => Response::Cluster(Box::new(r)),
        Err(e) => error(
            ErrorKind::Internal,
            format!("cannot read the cluster's state: {e}"),
            "check that redis-server runs and [cluster] redis points at it",
        ),
    }
}

/// The cluster part of `picket metrics`: None alone, or when Redis does not answer.
pub async fn for_metrics(state: &Arc<DaemonState>) -> Option<ClusterReport> {
    let cfg = state.config().cluster.clone()?;
    fetch(&cfg)
        .await
        .map_err(|e| tracing::warn!("metrics: cluster figures left out: {e}"))
        .ok()
}
