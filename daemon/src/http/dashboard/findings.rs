//! `/findings`: every finding with the filters of `picket findings` (scan, minimum
//! severity, target, state) and cursor pages; `/findings/{id}`: one finding and the scans
//! that saw it. Must not filter or page itself: `Request::Findings` does.

use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{ErrorReply, FindingsQuery, Request, Response};
use serde::{Deserialize, Serialize};

use super::render::{self, ask, error_page, invalid, unexpected};
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

/// The filter form as a browser sends it: empty strings for "any".
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Filters {
    #[serde(default)]
    scan: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    target: String,
    /// `open` (the default, as `picket findings`), `resolved` or `all`.
    #[serde(default)]
    state: String,
    cursor: Option<String>,
}

pub async fn page(req: HttpRequest, state: State, q: web::Query<Filters>) -> HttpResponse {
    let filters = q.into_inner();
    let query = match query_of(&filters) {
        Ok(q) => q,
        Err(e) => return error_page(&req, &e),
    };
    match ask(&state.into_inner(), Request::Findings(query)).await {
        Ok(Response::Findings(found)) => {
            let ctx = context! {
                title => "Findings",
                findings => found.findings,
                next_cursor => found.next_cursor,
                filter => filters,
                severities => picket_protocol::Severity::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            };
            render::page(&req, "findings.html", "findings", ctx)
        }
        Ok(_) => error_page(&req, &unexpected("something other than findings")),
        Err(e) => error_page(&req, &e),
    }
}

pub async fn one(req: HttpRequest, state: State, id: web::Path<i64>) -> HttpResponse {
    let id = id.into_inner();
    match ask(&state.into_inner(), Request::Finding { id }).await {
        Ok(Response::Finding(detail)) => {
            let ctx = context! { title => format!("Finding #{id}"), detail => detail };
            render::page(&req, "finding.html", "findings", ctx)
        }
        Ok(_) => error_page(&req, &unexpected("something other than a finding")),
        Err(e) => error_page(&req, &e),
    }
}

/// The filters as `picket findings` sends them; a word that names nothing is refused.
pub fn query_of(f: &Filters) -> Result<FindingsQuery, ErrorReply> {
    let scan = match f.scan.trim() {
        "" => None,
        s => Some(s.trim_start_matches('#').parse().map_err(|_| {
            invalid(
                format!("scan '{s}' is not a scan number"),
                "enter a number such as 12, or leave Scan empty",
            )
        })?),
    };
    let min_severity = match f.severity.as_str() {
        "" => None,
        s => Some(
            s.parse()
                .map_err(|e| invalid(format!("{e}"), "pick a severity from the list"))?,
        ),
    };
    let state = match f.state.as_str() {
        "" | "open" => Some(picket_protocol::FindingState::Open),
        "all" => None,
        s => Some(
            s.parse()
                .map_err(|e| invalid(format!("{e}"), "pick open, resolved or all"))?,
        ),
    };
    Ok(FindingsQuery {
        scan,
        min_severity,
        target: Some(f.target.trim().to_string()).filter(|t| !t.is_empty()),
        limit: 0,
        cursor: f.cursor.clone(),
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{FindingState, Severity};

    fn filters(scan: &str, severity: &str, state: &str) -> Filters {
        Filters {
            scan: scan.into(),
            severity: severity.into(),
            state: state.into(),
            ..Filters::default()
        }
    }

    #[test]
    fn filters_read_as_picket_findings() {
        let q = query_of(&filters("#4", "medium", "")).unwrap();
        assert_eq!(
            (q.scan, q.min_severity, q.state),
            (Some(4), Some(Severity::Medium), Some(FindingState::Open))
        );
        assert_eq!(query_of(&filters("", "", "all")).unwrap().state, None);
        assert_eq!(
            query_of(&filters("", "", "resolved")).unwrap().state,
            Some(FindingState::Resolved)
        );
    }

    #[test]
    fn unknown_words_are_refused_with_the_fix() {
        let e = query_of(&filters("x", "", "")).unwrap_err();
        assert!(
            e.message.contains("'x'") && e.hint.contains("number"),
            "{e:?}"
        );
        let e = query_of(&filters("", "severe", "")).unwrap_err();
        assert!(
            e.message.contains("severe") && e.message.contains("critical"),
            "{e:?}"
        );
        assert!(query_of(&filters("", "", "gone")).is_err());
    }

    #[test]
    fn the_page_keeps_the_chosen_filters() {
        let ctx = context! {
            title => "Findings", nav => "findings",
            findings => Vec::<picket_protocol::Finding>::new(), next_cursor => Some("n1"),
            filter => filters("4", "high", "resolved"), severities => vec!["low", "high"],
        };
        let html = super::super::render::render("findings.html", ctx).unwrap();
        assert!(html.contains(r#"<option selected>high</option>"#), "{html}");
        assert!(
            html.contains(r#"<option value="resolved" selected>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"id="f-scan" name="scan" inputmode="numeric" value="4""#),
            "{html}"
        );
        assert!(html.contains("cursor=n1"), "{html}");
    }
}
