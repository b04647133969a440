//! `/diff?a=&b=` (or `?target=`): what changed from scan `a` to scan `b`, computed by
//! `picket_report::diff` from the two scans `Request::Show` gives, as `picket diff` does.
//! Must not match findings itself: picket-report owns the diff.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{ErrorReply, Request, Response, ScanDetail, ScanId};
use serde::{Deserialize, Serialize};

use super::render::{self, ask, error_page, invalid, unexpected};
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Pair {
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
    #[serde(default)]
    target: String,
}

pub async fn page(req: HttpRequest, state: State, q: web::Query<Pair>) -> HttpResponse {
    let pair = q.into_inner();
    let state = state.into_inner();
    let asked = !(pair.a.is_empty() && pair.b.is_empty() && pair.target.is_empty());
    let diff = if asked {
        match diff_of(&state, &pair).await {
            Ok(d) => Some(d),
            Err(e) => return error_page(&req, &e),
        }
    } else {
        None
    };
    let ctx = context! { title => "Diff", pair => pair, diff => diff };
    render::page(&req, "diff.html", "diff", ctx)
}

async fn diff_of(
    state: &Arc<DaemonState>,
    pair: &Pair,
) -> Result<picket_protocol::json::DiffDoc, ErrorReply> {
    let (from, to) = match pair.target.trim() {
        "" => (scan_number(&pair.a, "a")?, scan_number(&pair.b, "b")?),
        target => {
            let query = picket_report::diff::target_query(target);
            match ask(state, Request::List(query)).await? {
                Response::Scans(page) => {
                    picket_report::diff::target_pair(target, &page).map_err(|m| {
                        invalid(m, "scan the target again, or compare two scan numbers")
                    })?
                }
                _ => return Err(unexpected("something other than scans")),
            }
        }
    };
    let a = show(state, from).await?;
    let b = show(state, to).await?;
    Ok(picket_report::diff(&a, &b))
}

async fn show(state: &Arc<DaemonState>, id: ScanId) -> Result<ScanDetail, ErrorReply> {
    match ask(state, Request::Show { scan: id }).await? {
        Response::Scan(detail) => Ok(*detail),
        _ => Err(unexpected("something other than a scan")),
    }
}

/// A scan number from a form field (`12` or `#12`).
pub fn scan_number(field: &str, name: &str) -> Result<ScanId, ErrorReply> {
    let text = field.trim().trim_start_matches('#');
    text.parse().map_err(|_| {
        invalid(
            format!("{name} '{}' is not a scan number", field.trim()),
            "give two scan numbers (a: the older, b: the newer), or a target",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_numbers_are_read_or_refused_with_the_fix() {
        assert_eq!(scan_number(" #12 ", "a").unwrap(), 12);
        let e = scan_number("", "b").unwrap_err();
        assert!(
            e.message.contains("b ''") && e.hint.contains("two scan numbers"),
            "{e:?}"
        );
    }

    #[test]
    fn the_page_lists_what_changed() {
        let mut older = super::super::scan::tests::scan(picket_protocol::ScanStatus::Done);
        older.findings.clear();
        let newer = super::super::scan::tests::scan(picket_protocol::ScanStatus::Done);
        let diff = picket_report::diff(&older, &newer);
        assert_eq!(diff.new.len(), 1);
        let ctx = context! {
            title => "Diff", nav => "diff",
            pair => Pair { a: "3".into(), b: "3".into(), target: String::new() },
            diff => Some(diff),
        };
        let html = render::render("diff.html", ctx).unwrap();
        assert!(html.contains("New (1)"), "{html}");
        assert!(html.contains("Missing &lt;X-Frame-Options&gt;"), "{html}");
        assert!(html.contains("Resolved (0)"), "{html}");
    }
}
