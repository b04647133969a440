//! `/scans/{id}`: one scan with its runs, hosts, services and findings, re-read live as its
//! runs finish; `POST /scans/{id}/cancel` (the `picket cancel` request). Must not compute
//! findings or states: `Request::Show` answers them.

use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{Request, Response, ScanDetail};

use super::render::{self, ask, error_page, see_other, unexpected};
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

async fn page_of(req: &HttpRequest, state: &State, id: i64) -> HttpResponse {
    match ask(&state.clone().into_inner(), Request::Show { scan: id }).await {
        Ok(Response::Scan(detail)) => render::page(req, "scan.html", "scans", context_of(&detail)),
        Ok(_) => error_page(req, &unexpected("something other than a scan")),
        Err(e) => error_page(req, &e),
    }
}

pub async fn page(req: HttpRequest, state: State, id: web::Path<i64>) -> HttpResponse {
    page_of(&req, &state, id.into_inner()).await
}

pub async fn cancel(req: HttpRequest, state: State, id: web::Path<i64>) -> HttpResponse {
    let id = id.into_inner();
    match ask(&state.into_inner(), Request::Cancel { scan: id }).await {
        Ok(_) => see_other(&format!("/scans/{id}")),
        Err(e) => error_page(&req, &e),
    }
}

/// The template's data: the scan, and how far its runs are.
pub fn context_of(scan: &ScanDetail) -> minijinja::Value {
    let finished = scan
        .tool_runs
        .iter()
        .filter(|r| r.status.is_final())
        .count();
    context! {
        title => format!("Scan #{}", scan.id),
        scan => scan,
        runs_finished => finished,
        is_final => scan.status.is_final(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use picket_protocol::{Finding, FindingState, RunStatus, ScanStatus, Severity, ToolRun};

    pub fn scan(status: ScanStatus) -> ScanDetail {
        let finding = Finding {
            id: 11,
            tool: "whatweb".into(),
            host: "127.0.0.1".into(),
            port: Some(8080),
            severity: Severity::Low,
            title: "Missing <X-Frame-Options>".into(),
            detail: String::new(),
            cve: vec![],
            evidence: "x-frame-options".into(),
            fingerprint: "f".into(),
            first_seen: None,
            last_seen: None,
            state: FindingState::Open,
            resolved_at: None,
            resolved_scan: None,
            reopened_count: 0,
        };
        ScanDetail {
            id: 3,
            targets: vec!["127.0.0.1".into()],
            profile: "quick".into(),
            ports: None,
            tools: vec![],
            priority: 0,
            status,
            created_at: "2026-11-30T23:00:00Z".into(),
            started_at: None,
            finished_at: None,
            error: None,
            warnings: vec![],
            tool_runs: vec![
                ToolRun::new("nmap", "127.0.0.1", RunStatus::Done),
                ToolRun::new("whatweb", "http://127.0.0.1:8080/", RunStatus::Running),
            ],
            hosts: vec![],
            services: vec![],
            findings: vec![finding],
            new_count: 1,
            resolved: vec![],
        }
    }

    fn html(status: ScanStatus, csrf: Option<&str>) -> String {
        let ctx = context! { nav => "scans", csrf => csrf, ..context_of(&scan(status)) };
        super::super::render::render("scan.html", ctx).unwrap()
    }

    #[test]
    fn a_running_scan_shows_progress_and_can_be_cancelled() {
        let page = html(ScanStatus::Running, Some("t0k"));
        assert!(page.contains(r#"<progress max="2" value="1""#), "{page}");
        assert!(page.contains(r#"action="/scans/3/cancel""#), "{page}");
        assert!(page.contains(r#"value="t0k""#), "{page}");
        assert!(page.contains(r#"id="scan-live""#), "{page}");
        assert!(page.contains("Missing &lt;X-Frame-Options&gt;"), "{page}");
        assert!(page.contains(r#"href="/findings/11""#), "{page}");
    }

    #[test]
    fn a_final_scan_has_no_cancel_button() {
        let page = html(ScanStatus::Done, None);
        assert!(!page.contains("/cancel"), "{page}");
        assert!(page.contains(r#"data-status="done""#), "{page}");
    }
}
