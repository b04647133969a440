//! `/v1/findings`: `picket findings` (filters, states, pages) and `picket finding ID`.
//! Must not filter or page findings itself (ipc/handlers/scans.rs and storage do).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use picket_protocol::{FindingState, FindingsQuery, Request, ScanId, Severity};
use serde::Deserialize;

use super::{invalid, Endpoint, Routes, State, Ty};
use crate::http::answer::call;

const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];
const STATES: &[&str] = &["open", "resolved", "all"];

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/findings", "listFindings")
            .summary("Findings, most severe first, a page at a time (`picket findings`)")
            .query("scan", Ty::Int, "Only this scan's findings")
            .query("min_severity", Ty::Words(SEVERITIES), "Only this severe or more")
            .query("target", Ty::Str, "Only findings on this target")
            .query("state", Ty::Words(STATES), "open (default), resolved or all")
            .query("limit", Ty::Int, "Most findings in the page (default 50)")
            .query("cursor", Ty::Str, "The previous page's next_cursor")
            .answers(200, "findings"),
        list,
    );
    r.add(
        Endpoint::new(Method::GET, "/findings/{id}", "showFinding")
            .summary("One finding with the scans and the run that saw it (`picket finding`)")
            .id("id", "The finding's id")
            .answers(200, "finding"),
        show,
    );
}

/// `picket findings`' options and defaults (state open, 50 a page).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingsParams {
    scan: Option<ScanId>,
    min_severity: Option<Severity>,
    target: Option<String>,
    state: Option<String>,
    #[serde(default = "default_limit")]
    limit: u32,
    cursor: Option<String>,
}

fn default_limit() -> u32 {
    50
}

async fn list(state: State, q: web::Query<FindingsParams>) -> HttpResponse {
    let q = q.into_inner();
    let finding_state = match q.state.as_deref().unwrap_or("open") {
        "all" => None,
        word => match word.parse::<FindingState>() {
            Ok(s) => Some(s),
            Err(e) => return invalid(e.to_string(), "state: open, resolved or all"),
        },
    };
    let query = FindingsQuery {
        scan: q.scan,
        min_severity: q.min_severity,
        target: q.target,
        limit: q.limit,
        cursor: q.cursor,
        state: finding_state,
    };
    call(&state.into_inner(), Request::Findings(query)).await
}

async fn show(state: State, id: web::Path<i64>) -> HttpResponse {
    let id = id.into_inner();
    call(&state.into_inner(), Request::Finding { id }).await
}
