//! Request dispatch: one function per command, grouped by topic in this folder.
//! Must not do socket I/O: the server writes what a handler returns.

mod admin;

use std::sync::Arc;

use futures::stream::BoxStream;
use picket_protocol::{ErrorKind, ErrorReply, Request, Response};

use crate::daemon_state::DaemonState;
use crate::storage::StorageError;

/// What a handler gives back: one answer, or a stream of events the server ends with `End`.
pub enum Reply {
    One(Response),
    Stream(BoxStream<'static, Response>),
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Reply::One(r)
    }
}

pub(crate) fn error(kind: ErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Response {
    Response::Error(ErrorReply::new(kind, message, hint))
}

pub(crate) fn storage_error(e: StorageError) -> Response {
    tracing::error!("storage: {e}");
    error(ErrorKind::Internal, e.to_string(), "check the daemon log (journalctl -u picketd) and the data directory")
}

pub async fn handle(state: &Arc<DaemonState>, request: Request) -> Reply {
    match request {
        Request::Ping => admin::ping(state).into(),
        Request::Health => admin::health(state).await.into(),
        Request::Stats => admin::stats(state).await.into(),
        Request::Shutdown => admin::shutdown(state).into(),
        other => error(
            ErrorKind::Invalid,
            format!("the '{}' command is not available in this daemon build", other.kind()),
            "upgrade picketd",
        )
        .into(),
    }
}
