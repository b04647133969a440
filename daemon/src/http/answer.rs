//! A handler's `Response` as an HTTP answer: the `picket --json` document of the same
//! command (`picket_protocol::json`), and a status code that says what went wrong. Must not
//! build answers of its own: every body here is a document the CLI also prints.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use picket_protocol::json::*;
use picket_protocol::{ErrorKind, ErrorReply, Request, Response};
use serde::Serialize;

use crate::ipc::handlers::{self, Reply};
use crate::ipc::state::DaemonState;

/// Runs one request through the socket protocol's handler and answers with its document.
pub async fn call(state: &Arc<DaemonState>, request: Request) -> HttpResponse {
    match handlers::handle(state, request).await {
        Reply::One(response) => document(response),
        // Streams are served as Server-Sent Events by their own routes.
        Reply::Stream(_) => error_document(&ErrorReply::new(
            ErrorKind::Internal,
            "this request answers with a stream of events",
            "use the /events route of the API",
        )),
    }
}

/// 200 with `Doc<T>` (`schema_version` first, then `body`'s fields).
pub fn ok<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Ok().json(Doc::new(body))
}

/// The document a CLI `--json` prints for the same answer.
pub fn document(response: Response) -> HttpResponse {
    match response {
        Response::Health(h) => ok(h),
        Response::Scans(page) => ok(page),
        Response::Scan(detail) => ok(detail),
        Response::Findings(page) => ok(page),
        Response::Finding(f) => ok(f),
        Response::Status(scans) => ok(StatusDoc { scans }),
        Response::Tools(tools) => ok(ToolsDoc { tools }),
        Response::CacheStats(s) => ok(s),
        Response::CacheChanged { removed } => ok(CacheChangedDoc { removed }),
        Response::Metrics(m) => ok(m),
        Response::Schedules(schedules) => ok(SchedulesDoc { schedules }),
        Response::ScanAccepted { id, queued_behind } => {
            HttpResponse::Created().json(Doc::new(SubmittedDoc { id, queued_behind }))
        }
        Response::Cancelled { id, was } => ok(CancelDoc {
            id,
            cancelled: true,
            was,
        }),
        Response::ShuttingDown => ok(ShutdownDoc {
            shutting_down: true,
        }),
        Response::Error(e) => error_document(&e),
        other => error_document(&ErrorReply::new(
            ErrorKind::Internal,
            format!(
                "the daemon answered {:?} where the API has no document for it",
                kind_of(&other)
            ),
            "report this as a bug in picketd",
        )),
    }
}

fn kind_of(r: &Response) -> &'static str {
    match r {
        Response::Pong(_) => "pong",
        Response::Stats(_) => "stats",
        Response::Event(_) => "event",
        Response::End => "end",
        Response::Part(_) => "part",
        Response::Output(_) => "output",
        Response::Web(_) => "web",
        _ => "another answer",
    }
}

/// The HTTP status for an error kind: the CLI's exit code in HTTP's words.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid | ErrorKind::VersionMismatch => StatusCode::BAD_REQUEST,
        ErrorKind::Refused => StatusCode::FORBIDDEN,
        ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"schema_version", "error": {...}}`, as `picket --json` prints a daemon's error.
pub fn error_document(e: &ErrorReply) -> HttpResponse {
    let exit_code = match e.kind {
        ErrorKind::Invalid => 2,
        ErrorKind::Refused | ErrorKind::Busy => 4,
        ErrorKind::NotFound => 5,
        ErrorKind::VersionMismatch | ErrorKind::Internal => 1,
    };
    let doc = Doc::new(ErrorDoc {
        error: ErrorBody {
            kind: error_kind_name(e.kind).into(),
            message: e.message.clone(),
            hint: (!e.hint.is_empty()).then(|| e.hint.clone()),
            exit_code,
            daemon_version: None,
            daemon_protocol: None,
        },
    });
    HttpResponse::build(status_of(e.kind)).json(doc)
}
