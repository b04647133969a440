//! What every page shares: the template environment (templates embedded in the binary,
//! HTML auto-escaped), asking the socket protocol's handler for a `Response`, error pages.
//! Must not know any page's data: the page files build their contexts.

use std::sync::{Arc, LazyLock};

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use minijinja::{context, Environment, Value};
use picket_protocol::{ErrorKind, ErrorReply, Request, Response};

use crate::http::answer::status_of;
use crate::http::auth::csrf_token;
use crate::ipc::handlers::{self, Reply};
use crate::ipc::state::DaemonState;

/// Every template, by the name pages render it with.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("scans.html", include_str!("templates/scans.html")),
    ("scan.html", include_str!("templates/scan.html")),
    ("findings.html", include_str!("templates/findings.html")),
    ("finding.html", include_str!("templates/finding.html")),
    ("diff.html", include_str!("templates/diff.html")),
    (
        "performance.html",
        include_str!("templates/performance.html"),
    ),
    ("tools.html", include_str!("templates/tools.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("error.html", include_str!("templates/error.html")),
];

static TEMPLATE_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Names end in .html, so minijinja escapes every value for HTML.
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("dashboard template {name}: {e:#}"));
    }
    env.add_filter("bytes", human_bytes);
    env.add_filter("ms", human_ms);
    env.add_filter("pct", percent);
    env
});

/// A page: `template` rendered with `ctx` plus what the layout needs (`nav`, `csrf`).
pub fn page(req: &HttpRequest, template: &str, nav: &str, ctx: Value) -> HttpResponse {
    page_with_status(StatusCode::OK, req, template, nav, ctx)
}

pub fn page_with_status(
    status: StatusCode,
    req: &HttpRequest,
    template: &str,
    nav: &str,
    ctx: Value,
) -> HttpResponse {
    let full = context! {
        nav => nav,
        csrf => csrf_token(req),
        version => env!("CARGO_PKG_VERSION"),
        ..ctx
    };
    match render(template, full) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            // Pages hold scan data: never kept by a browser or proxy.
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!("dashboard template {template}: {e:#}");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "the dashboard page could not be drawn ({e}); report this as a bug in picketd"
                ))
        }
    }
}

/// Renders one template; public to the module's tests.
pub fn render(template: &str, ctx: Value) -> Result<String, minijinja::Error> {
    TEMPLATE_ENV.get_template(template)?.render(ctx)
}

/// The error page of a handler's refusal, with the HTTP status the API would give.
pub fn error_page(req: &HttpRequest, e: &ErrorReply) -> HttpResponse {
    let ctx = context! { title => "Error", message => e.message, hint => e.hint };
    page_with_status(status_of(e.kind), req, "error.html", "", ctx)
}

/// 303: after a form's POST, the browser GETs `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Asks the socket protocol's handler; its error reply as `Err`.
pub async fn ask(state: &Arc<DaemonState>, request: Request) -> Result<Response, ErrorReply> {
    match handlers::handle(state, request).await {
        Reply::One(Response::Error(e)) => Err(e),
        Reply::One(response) => Ok(response),
        Reply::Stream(_) => Err(unexpected("a stream of events")),
    }
}

/// An answer of another kind than the page asked for: a bug, said as one.
pub fn unexpected(what: &str) -> ErrorReply {
    ErrorReply::new(
        ErrorKind::Internal,
        format!("the daemon answered {what} where the dashboard expected another answer"),
        "report this as a bug in picketd",
    )
}

/// A bad query parameter or form field, named with what would be right.
pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> ErrorReply {
    ErrorReply::new(ErrorKind::Invalid, message, hint)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_ms(ms: Option<u64>) -> String {
    match ms {
        None => "–".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(TEMPLATE_ENV.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn values_are_escaped_for_html() {
        let ctx = context! { title => "x", message => "<script>alert(1)</script>", hint => "" };
        let html = render("error.html", ctx).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn figures_read_as_words() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(human_ms(Some(1500)), "1.5 s");
        assert_eq!(human_ms(None), "–");
        assert_eq!(percent(0.25), "25.0 %");
    }
}
