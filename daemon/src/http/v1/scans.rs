//! `/v1/scans` and `/v1/status`: `picket list`, `scan`, `show`, `cancel` and `status`.
//! Must not admit, check the scope of, or look up a scan itself (ipc/handlers/scans.rs
//! does, for both doors alike).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use picket_protocol::{ListQuery, Request, ScanId, ScanRequest, ScanStatus};
use serde::Deserialize;

use super::{json_body, Endpoint, Routes, State, Ty};
use crate::http::answer::{call, error_document};

const STATUSES: &[&str] = &[
    "queued",
    "running",
    "done",
    "failed",
    "cancelled",
    "interrupted",
];

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/scans", "listScans")
            .summary("Scans, newest first, a page at a time (`picket list`)")
            .query("target", Ty::Str, "Only scans of this target")
            .query("status", Ty::Words(STATUSES), "Only scans in this state")
            .query("limit", Ty::Int, "Most scans in the page (default 20)")
            .query("cursor", Ty::Str, "The previous page's next_cursor")
            .answers(200, "list"),
        list,
    );
    r.add(
        Endpoint::new(Method::POST, "/scans", "createScan")
            .summary("Submits a scan (`picket scan`), checked against the scope")
            .body::<ScanRequest>("ScanRequest")
            .answers(201, "submitted"),
        create,
    );
    r.add(
        Endpoint::new(Method::GET, "/scans/{id}", "showScan")
            .summary("One scan with its runs, services and findings (`picket show`)")
            .id("id", "The scan's id")
            .answers(200, "scan"),
        show,
    );
    r.add(
        Endpoint::new(Method::POST, "/scans/{id}/cancel", "cancelScan")
            .summary("Cancels a queued or running scan (`picket cancel`)")
            .id("id", "The scan's id")
            .answers(200, "cancel"),
        cancel,
    );
    r.add(
        Endpoint::new(Method::GET, "/status", "status")
            .summary("Progress of queued and running scans (`picket status`)")
            .query("scan", Ty::Int, "Only this scan")
            .answers(200, "status"),
        status,
    );
}

/// `picket list`'s options; `limit` defaults to the CLI's 20, so both print the same page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    target: Option<String>,
    status: Option<ScanStatus>,
    #[serde(default = "default_list_limit")]
    limit: u32,
    cursor: Option<String>,
}

fn default_list_limit() -> u32 {
    20
}

async fn list(state: State, q: web::Query<ListParams>) -> HttpResponse {
    let q = q.into_inner();
    let query = ListQuery {
        target: q.target,
        status: q.status,
        limit: q.limit,
        cursor: q.cursor,
    };
    call(&state.into_inner(), Request::List(query)).await
}

async fn create(state: State, body: web::Bytes) -> HttpResponse {
    match json_body::<ScanRequest>(&body, "scan") {
        Ok(request) => call(&state.into_inner(), Request::Scan(request)).await,
        Err(e) => error_document(&e),
    }
}

async fn show(state: State, id: web::Path<ScanId>) -> HttpResponse {
    let scan = id.into_inner();
    call(&state.into_inner(), Request::Show { scan }).await
}

async fn cancel(state: State, id: web::Path<ScanId>) -> HttpResponse {
    let scan = id.into_inner();
    call(&state.into_inner(), Request::Cancel { scan }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusParams {
    scan: Option<ScanId>,
}

async fn status(state: State, q: web::Query<StatusParams>) -> HttpResponse {
    call(&state.into_inner(), Request::Status { scan: q.scan }).await
}
