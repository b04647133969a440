//! `picket output RUN`: a stored run's raw output, decompressed, as one `Response::Output`
//! (the server cuts a big one into parts). Must not hold SQL (storage/outputs.rs does).

use std::sync::Arc;

use picket_protocol::{ErrorKind, Response, RunOutput};

use super::{error, storage_error};
use crate::ipc::state::DaemonState;
use crate::storage::outputs;

pub async fn output(state: &Arc<DaemonState>, run: i64) -> Response {
    let found = state
        .db
        .read("run output", move |c| outputs::read_output(c, run))
        .await;
    match found {
        Ok(Some(o)) => Response::Output(Box::new(RunOutput {
            run: o.run,
            scan: o.scan,
            tool: o.tool,
            target: o.target,
            stored: o.size.is_some(),
            size: o.size.unwrap_or(0),
            removed_at: o.removed_at,
            bytes: o.bytes,
        })),
        Ok(None) => error(
            ErrorKind::NotFound,
            format!("no run {run}"),
            "`picket show SCAN` lists a scan's runs with their ids (the id column, or `id` in --json)",
        ),
        Err(e) => storage_error(e),
    }
}
