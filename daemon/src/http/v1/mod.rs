//! The `/v1` routes: one function per endpoint, each building the socket protocol's
//! `Request` from the path and query and answering through http/answer.rs. Must not run
//! queries or touch actors itself: the handler of the same command does.

use actix_web::{web, HttpResponse};
use picket_protocol::{ListQuery, Request};
use serde::Deserialize;

mod reports;

use crate::http::answer::call;
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/health", web::get().to(health))
            .route("/scans", web::get().to(list_scans))
            .configure(reports::configure),
    );
}

#[derive(Debug, Deserialize)]
struct HealthParams {
    #[serde(default)]
    deep: bool,
}

async fn health(state: State, q: web::Query<HealthParams>) -> HttpResponse {
    call(&state.into_inner(), Request::Health { deep: q.deep }).await
}

/// `picket list`'s options; `limit` 0 takes the daemon's default page size.
#[derive(Debug, Deserialize)]
struct ListParams {
    target: Option<String>,
    status: Option<picket_protocol::ScanStatus>,
    #[serde(default)]
    limit: u32,
    cursor: Option<String>,
}

async fn list_scans(state: State, q: web::Query<ListParams>) -> HttpResponse {
    let q = q.into_inner();
    let query = ListQuery {
        target: q.target,
        status: q.status,
        limit: q.limit,
        cursor: q.cursor,
    };
    call(&state.into_inner(), Request::List(query)).await
}
