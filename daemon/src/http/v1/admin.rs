//! `/v1/health` and `/v1/stats`: `picket health` and `picket stats`. Must not compute a
//! check or a figure itself (ipc/handlers/admin.rs does).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use picket_protocol::Request;
use serde::Deserialize;

use super::{Endpoint, Routes, State, Ty};
use crate::http::answer::call;

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/health", "health")
            .summary("The daemon's health checks (`picket health`)")
            .query("deep", Ty::Bool, "Also check the database file (reads all of it)")
            .answers(200, "health"),
        health,
    );
    r.add(
        Endpoint::new(Method::GET, "/stats", "stats")
            .summary("Counters, cache, pools, queues and latencies (`picket stats`)")
            .answers(200, "metrics"),
        stats,
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthParams {
    #[serde(default)]
    deep: bool,
}

async fn health(state: State, q: web::Query<HealthParams>) -> HttpResponse {
    call(&state.into_inner(), Request::Health { deep: q.deep }).await
}

/// `picket stats --json` prints the metrics document: the same request.
async fn stats(state: State) -> HttpResponse {
    call(&state.into_inner(), Request::Metrics).await
}
