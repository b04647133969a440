//! `/v1/tools` (`picket tools`) and `/v1/runs/{id}/output` (`picket output RUN`: a run's raw
//! output byte for byte). Must not read outputs from storage itself (the handler does) nor
//! re-encode them: the bytes go out as the tool wrote them.

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpResponse};
use picket_protocol::{ErrorKind, ErrorReply, Request, Response};

use super::{Answer, Endpoint, Routes, State};
use crate::http::answer::{call, document, error_document};
use crate::ipc::handlers::{self, Reply};

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/tools", "listTools")
            .summary("The configured tools, installed or not, with versions (`picket tools`)")
            .answers(200, "tools"),
        tools,
    );
    r.add(
        Endpoint::new(Method::GET, "/runs/{id}/output", "runOutput")
            .summary("A run's raw output as the tool wrote it (`picket output`)")
            .id("id", "The run's id (a scan's runs[].id)")
            .answers_with(Answer::Bytes),
        output,
    );
}

async fn tools(state: State) -> HttpResponse {
    call(&state.into_inner(), Request::Tools).await
}

async fn output(state: State, id: web::Path<i64>) -> HttpResponse {
    let run = id.into_inner();
    let o = match handlers::handle(&state.into_inner(), Request::Output { run }).await {
        Reply::One(Response::Output(o)) => o,
        Reply::One(other) => return document(other),
        Reply::Stream(_) => unreachable!("an output request answers once"),
    };
    if let Some(when) = &o.removed_at {
        let mut gone = error_document(&ErrorReply::new(
            ErrorKind::NotFound,
            format!(
                "run {run}'s output ({} bytes, {} on {} in scan {}) was removed by the \
                 retention policy at {when}",
                o.size, o.tool, o.target, o.scan
            ),
            "its findings are kept; [retention] days / max_bytes in picketd.toml keep more",
        ));
        *gone.status_mut() = StatusCode::GONE;
        return gone;
    }
    if !o.stored {
        return error_document(&ErrorReply::new(
            ErrorKind::NotFound,
            format!(
                "run {run} ({} on {} in scan {}) has no stored output",
                o.tool, o.target, o.scan
            ),
            "only runs that succeeded (and imports) keep theirs",
        ));
    }
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(o.bytes)
}
