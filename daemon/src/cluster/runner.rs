//! Where a run the cache does not answer goes: this node's ToolActor, or the cluster's run
//! stream when this node coordinates a cluster. The one seam between the scan path and the
//! transport; must not look at the cache (cache/cached_run.rs does, before this).

use std::sync::Arc;

use actix::Addr;

use crate::cache::cached_run::RunError;
use crate::cluster::remote::Remote;
use crate::run::spec::ToolSpec;
use crate::run::tool_actor::{RunTool, ToolActor, ToolJob, ToolResult};

pub enum Runner {
    Local(Addr<ToolActor>),
    Remote(Remote),
}

impl Runner {
    pub async fn run(&self, spec: &Arc<ToolSpec>, job: ToolJob) -> Result<ToolResult, RunError> {
        match self {
            Self::Local(actor) => actor.send(RunTool(job)).await.map_err(RunError::ToolActor),
            Self::Remote(remote) => Ok(remote.run(spec, job).await),
        }
    }
}
