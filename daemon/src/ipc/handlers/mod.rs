//! Request dispatch: one function per command, grouped by topic in this folder.
//! Must not do socket I/O: the server writes what a handler returns.

mod admin;
mod cache;
mod cluster;
mod outputs;
pub mod scans;
mod schedules;
pub mod tools;

use std::sync::Arc;

use futures::stream::BoxStream;
use picket_protocol::{ErrorKind, ErrorReply, Request, Response};

use crate::ipc::state::DaemonState;
use crate::storage::StorageError;

/// What a handler gives back: one answer, or a stream of events the server ends with `End`.
// Made and moved once per request, so boxing the answer would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    One(Response),
    Stream(BoxStream<'static, Response>),
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Reply::One(r)
    }
}

pub(crate) fn error(
    kind: ErrorKind,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Response {
    Response::Error(ErrorReply::new(kind, message, hint))
}

pub(crate) fn storage_error(e: StorageError) -> Response {
    tracing::error!("storage: {e}");
    error(
        ErrorKind::Internal,
        e.to_string(),
        "check the daemon log (journalctl -u picketd) and the data directory",
    )
}

pub async fn handle(state: &Arc<DaemonState>, request: Request) -> Reply {
    match request {
        Request::Ping => admin::ping(state).into(),
        Request::Health { deep } => admin::health(state, deep).await.into(),
        Request::Stats => admin::stats(state).await.into(),
        Request::Shutdown => admin::shutdown(state).into(),
        Request::Scan(req) => scans::scan(state, req).await.into(),
        Request::Status { scan } => scans::status(state, scan).await.into(),
        Request::List(q) => scans::list(state, q).await.into(),
        Request::Show { scan } => scans::show(state, scan).await.into(),
        Request::Findings(q) => scans::findings(state, q).await.into(),
        Request::Wait { scans: ids, follow } => scans::wait(state, ids, follow).await,
        Request::Cancel { scan } => scans::cancel(state, scan).await.into(),
        Request::Tools => tools::list(state).await.into(),
        Request::Import(req) => tools::import(state, req).await.into(),
        Request::Cache(cmd) => cache::cache(state, cmd).await.into(),
        Request::Metrics => admin::metrics(state).await.into(),
        Request::Finding { id } => scans::finding(state, id).await.into(),
        Request::Schedule(cmd) => schedules::schedule(state, cmd).await.into(),
        Request::Output { run } => outputs::output(state, run).await.into(),
        Request::Web => Response::Web(crate::http::tcp::web_info()).into(),
        Request::Cluster => cluster::cluster(state).await.into(),
        // The server hands ImportStart and its upload to ipc/upload.rs; these come unasked.
        Request::ImportStart(_) | Request::ImportChunk(_) | Request::ImportEnd => error(
            ErrorKind::Invalid,
            "an import chunk outside of an import",
            "use a picket client of the same version as the daemon",
        )
        .into(),
    }
}
