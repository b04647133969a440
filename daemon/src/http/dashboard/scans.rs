//! `/`: the scans, newest first, with live status and progress, and the form that starts a
//! scan (`POST /scans`: the same `Request::Scan` as `picket scan`, so the same validation
//! and scope check). Must not check the scope itself: the handler refuses what is outside.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{ErrorReply, ListQuery, Request, Response, ScanProgress, ScanRequest};
use serde::{Deserialize, Serialize};

use super::render::{ask, error_page, invalid, page_with_status, see_other, unexpected};
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default)]
    target: String,
    #[serde(default)]
    status: String,
    cursor: Option<String>,
    /// The scan the form just started, for the notice.
    started: Option<i64>,
}

/// The start form's fields as a browser sends them: every field a string.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct StartForm {
    #[serde(default)]
    targets: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    tools: String,
    #[serde(default)]
    ports: String,
    #[serde(default)]
    priority: String,
    /// A checkbox: present ("on") when ticked.
    no_cache: Option<String>,
}

pub async fn page(req: HttpRequest, state: State, q: web::Query<ListParams>) -> HttpResponse {
    let q = q.into_inner();
    render_list(&req, &state.into_inner(), q, None, &StartForm::default()).await
}

pub async fn start(req: HttpRequest, state: State, form: web::Form<StartForm>) -> HttpResponse {
    let form = form.into_inner();
    let state = state.into_inner();
    let refusal = match scan_request(&form) {
        Ok(request) => match ask(&state, Request::Scan(request)).await {
            Ok(Response::ScanAccepted { id, .. }) => return see_other(&format!("/?started={id}")),
            Ok(_) => unexpected("something other than an accepted scan"),
            Err(e) => e,
        },
        Err(e) => e,
    };
    render_list(&req, &state, ListParams::default(), Some(refusal), &form).await
}

/// The form as `picket scan` would send it: targets split on spaces or commas.
pub fn scan_request(form: &StartForm) -> Result<ScanRequest, ErrorReply> {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let targets = words(&form.targets);
    if targets.is_empty() {
        return Err(invalid(
            "no target given",
            "enter a host, address, CIDR range or URL in Targets",
        ));
    }
    let priority = match form.priority.trim() {
        "" => 0,
        p => p.parse().map_err(|_| {
            invalid(
                format!("priority '{p}' is not a whole number"),
                "enter a number such as 0 or 10, or leave Priority empty",
            )
        })?,
    };
    Ok(ScanRequest {
        targets,
        profile: optional(&form.profile),
        tools: words(&form.tools),
        ports: optional(&form.ports),
        priority,
        no_cache: form.no_cache.is_some(),
        max_age_secs: None,
    })
}

async fn render_list(
    req: &HttpRequest,
    state: &std::sync::Arc<DaemonState>,
    q: ListParams,
    form_error: Option<ErrorReply>,
    form: &StartForm,
) -> HttpResponse {
    let status = match q.status.as_str() {
        "" => None,
        s => match s.parse() {
            Ok(s) => Some(s),
            Err(e) => {
                return error_page(req, &invalid(format!("{e}"), "pick a status from the list"))
            }
        },
    };
    let query = ListQuery {
        target: Some(q.target.clone()).filter(|t| !t.is_empty()),
        status,
        limit: 0,
        cursor: q.cursor.clone(),
    };
    let page = match ask(state, Request::List(query)).await {
        Ok(Response::Scans(page)) => page,
        Ok(_) => return error_page(req, &unexpected("something other than scans")),
        Err(e) => return error_page(req, &e),
    };
    let progress = match ask(state, Request::Status { scan: None }).await {
        Ok(Response::Status(scans)) => scans,
        _ => Vec::new(),
    };
    let by_id: HashMap<i64, ScanProgress> = progress.into_iter().map(|p| (p.id, p)).collect();
    let code = form_error
        .as_ref()
        .map_or(StatusCode::OK, |e| crate::http::answer::status_of(e.kind));
    let ctx = context! {
        title => "Scans",
        scans => page.scans,
        progress => by_id.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<HashMap<_, _>>(),
        next_cursor => page.next_cursor,
        filter => q,
        statuses => picket_protocol::ScanStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        form => form,
        form_error => form_error.map(|e| context! { message => e.message, hint => e.hint }),
    };
    page_with_status(code, req, "scans.html", "scans", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{ScanStatus, ScanSummary};

    fn form(targets: &str, priority: &str) -> StartForm {
        StartForm {
            targets: targets.into(),
            tools: "nmap, whatweb".into(),
            priority: priority.into(),
            no_cache: Some("on".into()),
            ..StartForm::default()
        }
    }

    #[test]
    fn the_form_reads_as_picket_scan() {
        let r = scan_request(&form("127.0.0.1, http://localhost:8080/\nlocalhost", "5")).unwrap();
        assert_eq!(
            r.targets,
            ["127.0.0.1", "http://localhost:8080/", "localhost"]
        );
        assert_eq!(r.tools, ["nmap", "whatweb"]);
        assert_eq!(
            (r.priority, r.no_cache, r.profile, r.ports),
            (5, true, None, None)
        );
    }

    #[test]
    fn bad_fields_are_refused_with_the_fix() {
        let e = scan_request(&form("  ", "")).unwrap_err();
        assert!(
            e.message.contains("no target") && e.hint.contains("Targets"),
            "{e:?}"
        );
        let e = scan_request(&form("127.0.0.1", "high")).unwrap_err();
        assert!(
            e.message.contains("'high'") && e.hint.contains("number"),
            "{e:?}"
        );
    }

    fn listing(csrf: Option<&str>, error: Option<&str>) -> String {
        let scan = ScanSummary {
            id: 7,
            targets: vec!["127.0.0.1".into()],
            profile: "quick".into(),
            status: ScanStatus::Running,
            created_at: "2026-11-30T23:00:00Z".into(),
            finished_at: None,
            findings_count: 2,
        };
        let progress = ScanProgress {
            id: 7,
            targets: scan.targets.clone(),
            profile: "quick".into(),
            status: ScanStatus::Running,
            runs_total: 4,
            runs_finished: 1,
            running: vec!["nmap".into()],
            findings_count: 2,
        };
        let ctx = context! {
            title => "Scans", nav => "scans", csrf => csrf,
            scans => vec![scan], progress => HashMap::from([("7".to_string(), progress)]),
            next_cursor => Some("abc"), filter => ListParams::default(),
            statuses => vec!["queued", "done"], form => StartForm::default(),
            form_error => error.map(|m| context! { message => m, hint => "fix it" }),
        };
        super::super::render::render("scans.html", ctx).unwrap()
    }

    #[test]
    fn the_list_shows_status_progress_and_a_live_region() {
        let html = listing(None, None);
        assert!(html.contains(r#"href="/scans/7""#), "{html}");
        assert!(html.contains(r#"data-status="running""#), "{html}");
        assert!(html.contains(r#"<progress max="4" value="1""#), "{html}");
        assert!(
            html.contains(r#"id="scans-live""#) && html.contains("data-live"),
            "{html}"
        );
        assert!(html.contains("cursor=abc"), "{html}");
        // No inline script or style: the CSP forbids them.
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{html}"
        );
    }

    #[test]
    fn the_form_carries_the_csrf_token_and_its_error() {
        let html = listing(Some("tok123"), Some("target outside the scope"));
        assert!(
            html.contains(r#"name="csrf_token" value="tok123""#),
            "{html}"
        );
        assert!(html.contains(r#"role="alert""#) && html.contains("target outside the scope"));
        let without = listing(None, None);
        assert!(!without.contains("csrf_token"), "{without}");
        for field in [
            "targets", "profile", "tools", "ports", "priority", "no_cache",
        ] {
            assert!(
                without.contains(&format!(r#"for="{field}""#)),
                "label of {field}"
            );
        }
    }
}
