//! `GET /metrics`: every metric in Prometheus text, the same bytes `picket metrics` prints
//! (picket_protocol::prometheus), on both doors and on `[http] metrics_listen`. Must not
//! gather figures itself: the `Metrics` handler of the socket protocol does.

use actix_web::{web, HttpResponse};
use picket_protocol::{ErrorKind, ErrorReply, Request, Response};

use crate::http::answer::{document, error_document};
use crate::ipc::handlers::{self, Reply};
use crate::ipc::state::DaemonState;

/// Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(state: web::Data<DaemonState>) -> HttpResponse {
    match handlers::handle(&state.into_inner(), Request::Metrics).await {
        Reply::One(Response::Metrics(report)) => HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .body(picket_protocol::prometheus::render(&report)),
        Reply::One(other) => document(other),
        Reply::Stream(_) => error_document(&ErrorReply::new(
            ErrorKind::Internal,
            "the metrics request answered with a stream",
            "report this as a bug in picketd",
        )),
    }
}
