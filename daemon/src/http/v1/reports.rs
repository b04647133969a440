//! `/v1/diff` and `/v1/reports`: what `picket diff --json` prints and the files `picket
//! report` writes, from the same picket-report code, so the bytes are the same. Must not
//! query the DB nor compute a diff or a format itself: scans come from the `show` and
//! `list` handlers, documents from picket-report.

use std::sync::Arc;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use picket_protocol::{
    ErrorKind, ErrorReply, ListQuery, Request, Response, ScanDetail, ScanId, ScanPage, Severity,
};
use picket_report::diff::{diff, target_pair, target_query};
use picket_report::{created_since, render, valid_since, Format, Report, NOTHING_TO_REPORT};
use serde::Deserialize;

use super::{Answer, Endpoint, Routes, State, Ty};
use crate::http::answer::{error_document, ok};
use crate::ipc::handlers::{self, Reply};
use crate::ipc::state::DaemonState;

/// How many scans one listing page asks for while collecting a target's scans (as the CLI).
const PAGE: u32 = 100;

const FORMATS: &[&str] = &["sarif", "html", "markdown", "csv", "junit"];
const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];
/// `Format::content_type` without its charset, as OpenAPI lists media types.
const MEDIA_TYPES: &[&str] = &[
    "application/sarif+json",
    "text/html",
    "text/markdown",
    "text/csv",
    "application/xml",
];

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/diff", "diffScans")
            .summary("What changed between two scans (`picket diff A B`, `--target T`)")
            .query("a", Ty::Int, "The older scan (with b)")
            .query("b", Ty::Int, "The newer scan (with a)")
            .query(
                "target",
                Ty::Str,
                "Instead of a and b: the target's last two done scans",
            )
            .answers(200, "diff"),
        get_diff,
    );
    r.add(
        Endpoint::new(Method::GET, "/reports", "report")
            .summary("A report file of scans, the bytes `picket report` writes")
            .query("scans", Ty::Str, "Scan ids, comma-separated (or target)")
            .query(
                "target",
                Ty::Str,
                "Instead of scans: every stored scan of this target",
            )
            .query(
                "since",
                Ty::Str,
                "Only scans created at or after this UTC date or time",
            )
            .query(
                "format",
                Ty::Words(FORMATS),
                "The report's format (required)",
            )
            .query(
                "fail_on",
                Ty::Words(SEVERITIES),
                "JUnit: failing at or above (medium)",
            )
            .answers_with(Answer::Files(MEDIA_TYPES)),
        get_report,
    );
}

fn invalid(message: impl Into<String>, hint: impl Into<String>) -> ErrorReply {
    ErrorReply::new(ErrorKind::Invalid, message, hint)
}

/// `picket diff A B` is `?a=A&b=B`; `picket diff --target T` is `?target=T`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    pub a: Option<ScanId>,
    pub b: Option<ScanId>,
    pub target: Option<String>,
}

async fn get_diff(state: State, q: web::Query<DiffParams>) -> HttpResponse {
    let state = state.into_inner();
    match diff_doc(&state, q.into_inner()).await {
        Ok(doc) => ok(doc),
        Err(e) => error_document(&e),
    }
}

/// The `/v1/diff` document, for pages that show a diff too (the dashboard).
pub async fn diff_doc(
    state: &Arc<DaemonState>,
    q: DiffParams,
) -> Result<picket_protocol::json::DiffDoc, ErrorReply> {
    let (from, to) = match (q.a, q.b, q.target) {
        (Some(a), Some(b), None) => (a, b),
        (None, None, Some(target)) => {
            let page = list(state, target_query(&target)).await?;
            target_pair(&target, &page).map_err(|m| {
                ErrorReply::new(
                    ErrorKind::NotFound,
                    m,
                    "finish another scan of it, or name two scans with ?a=&b=",
                )
            })?
        }
        _ => {
            return Err(invalid(
                "give two scans (?a=OLDER&b=NEWER) or a target (?target=T), not both",
                "e.g. /v1/diff?a=1&b=2 or /v1/diff?target=127.0.0.1",
            ))
        }
    };
    Ok(diff(&show(state, from).await?, &show(state, to).await?))
}

/// `picket report`'s options: `scans=1,2` or `target=T` (with `since`), `format`,
/// `fail_on` (JUnit; medium unless given).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    scans: Option<String>,
    target: Option<String>,
    since: Option<String>,
    format: Option<String>,
    fail_on: Option<String>,
}

/// What a report request asks for, checked.
struct ReportAsk {
    ids: Ids,
    since: Option<String>,
    format: Format,
    fail_on: Severity,
}

enum Ids {
    Given(Vec<ScanId>),
    Target(String),
}

async fn get_report(state: State, q: web::Query<ReportParams>) -> HttpResponse {
    let state = state.into_inner();
    let ask = match check(q.into_inner()) {
        Ok(ask) => ask,
        Err(e) => return error_document(&e),
    };
    match report(&state, &ask).await {
        Ok((text, ids)) => HttpResponse::Ok()
            .content_type(ask.format.content_type())
            .insert_header(attachment(&ids, ask.format))
            .body(text),
        Err(e) => error_document(&e),
    }
}

/// Served as a file to save: a browser on the TCP door applies that door's strict CSP to
/// what it displays, which would strip the HTML report's inline style; saved and opened,
/// the page is whole (and curl ignores the header).
fn attachment(ids: &[ScanId], format: Format) -> ContentDisposition {
    let scans = match ids {
        [one] => one.to_string(),
        [first, .., last] => format!("{first}-{last}"),
        [] => "none".into(),
    };
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(format!(
            "picket-report-{scans}.{}",
            format.extension()
        ))],
    }
}

fn check(q: ReportParams) -> Result<ReportAsk, ErrorReply> {
    let format = q
        .format
        .as_deref()
        .ok_or_else(|| {
            invalid(
                "format is missing",
                "add format=sarif|html|markdown|csv|junit",
            )
        })?
        .parse::<Format>()
        .map_err(|m| invalid(m, "add format=sarif|html|markdown|csv|junit"))?;
    let fail_on = match q.fail_on.as_deref() {
        None => Severity::Medium,
        Some(word) => word.parse().map_err(|e: picket_protocol::UnknownWord| {
            invalid(e.to_string(), "e.g. fail_on=high")
        })?,
    };
    if let Some(since) = q.since.as_deref().filter(|s| !valid_since(s)) {
        return Err(invalid(
            format!("since={since:?} is not a date"),
            "use a UTC date like 2026-11-30 or a time like 2026-11-30T08:00:00Z",
        ));
    }
    let ids = match (q.scans, q.target) {
        (Some(list), None) => Ids::Given(scan_ids(&list)?),
        (None, Some(target)) => Ids::Target(target),
        _ => {
            return Err(invalid(
                "give scans (?scans=1,2) or a target (?target=T), not both",
                "e.g. /v1/reports?scans=1,2&format=sarif",
            ))
        }
    };
    Ok(ReportAsk {
        ids,
        since: q.since,
        format,
        fail_on,
    })
}

/// `1,2,3` as scan ids.
fn scan_ids(list: &str) -> Result<Vec<ScanId>, ErrorReply> {
    let ids = list
        .split(',')
        .map(|w| w.trim().parse::<ScanId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            invalid(
                format!("scans={list:?} is not a list of scan ids"),
                "use comma-separated ids, e.g. scans=1,2",
            )
        })?;
    if ids.is_empty() {
        return Err(invalid("scans is empty", "e.g. scans=1,2"));
    }
    Ok(ids)
}

/// The report's text, gathered as `picket report` gathers it, and the scans in it.
async fn report(
    state: &Arc<DaemonState>,
    ask: &ReportAsk,
) -> Result<(String, Vec<ScanId>), ErrorReply> {
    let ids = match &ask.ids {
        Ids::Given(ids) => ids.clone(),
        Ids::Target(target) => target_scans(state, target).await?,
    };
    let mut scans = Vec::new();
    for id in ids {
        let scan = show(state, id).await?;
        if ask.since.as_deref().is_none_or(|s| created_since(&scan, s)) {
            scans.push(scan);
        }
    }
    if scans.is_empty() {
        return Err(ErrorReply::new(
            ErrorKind::NotFound,
            NOTHING_TO_REPORT,
            "check the scan ids, the target's spelling (as given to picket scan) or since",
        ));
    }
    let report = Report::new(scans);
    let text = render(&report, ask.format, ask.fail_on).map_err(|e| {
        ErrorReply::new(
            ErrorKind::Internal,
            format!("the {} report failed: {e}", ask.format.as_str()),
            "report this as a bug in picketd",
        )
    })?;
    Ok((text, report.scans.iter().map(|s| s.id).collect()))
}

async fn target_scans(state: &Arc<DaemonState>, target: &str) -> Result<Vec<ScanId>, ErrorReply> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            target: Some(target.to_string()),
            status: None,
            limit: PAGE,
            cursor,
        };
        let page = list(state, query).await?;
        ids.extend(page.scans.iter().map(|s| s.id));
        match page.next_cursor {
            Some(c) if !page.scans.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok(ids)
}

async fn show(state: &Arc<DaemonState>, scan: ScanId) -> Result<ScanDetail, ErrorReply> {
    match handlers::handle(state, Request::Show { scan }).await {
        Reply::One(Response::Scan(d)) => Ok(*d),
        other => Err(unexpected("show", other)),
    }
}

async fn list(state: &Arc<DaemonState>, query: ListQuery) -> Result<ScanPage, ErrorReply> {
    match handlers::handle(state, Request::List(query)).await {
        Reply::One(Response::Scans(page)) => Ok(page),
        other => Err(unexpected("list", other)),
    }
}

/// A handler's error as it is; anything else is a bug worth naming.
fn unexpected(what: &str, reply: Reply) -> ErrorReply {
    match reply {
        Reply::One(Response::Error(e)) => e,
        _ => ErrorReply::new(
            ErrorKind::Internal,
            format!("the {what} handler answered something other than its document"),
            "report this as a bug in picketd",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_words_and_media_types_are_picket_reports() {
        let words: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(words, FORMATS);
        let types: Vec<&str> = Format::ALL
            .iter()
            .map(|f| f.content_type().split(';').next().unwrap_or_default())
            .collect();
        assert_eq!(types, MEDIA_TYPES);
        for word in SEVERITIES {
            assert!(word.parse::<Severity>().is_ok(), "{word}");
        }
    }

    #[test]
    fn reports_are_files_named_after_their_scans() {
        let named = |ids: &[ScanId], f| attachment(ids, f).get_filename().map(str::to_string);
        assert_eq!(
            named(&[4], Format::Sarif).as_deref(),
            Some("picket-report-4.sarif")
        );
        assert_eq!(
            named(&[1, 2, 9], Format::Markdown).as_deref(),
            Some("picket-report-1-9.md")
        );
        assert!(attachment(&[1], Format::Html).is_attachment());
    }

    #[test]
    fn scan_lists_are_ids_or_a_clear_refusal() {
        assert_eq!(scan_ids("3, 1,2").ok(), Some(vec![3, 1, 2]));
        let e = scan_ids("1,,2").unwrap_err();
        assert!(e.message.contains("1,,2") && !e.hint.is_empty(), "{e:?}");
    }
}
