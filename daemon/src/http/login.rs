//! The dashboard's door: `GET /login` (a small accessible form, field `token`), `POST /login`
//! (the token shown once opens a session: cookie `picket_session`, HttpOnly,
//! SameSite=Strict, Path=/, Secure under TLS; then to `/`), `POST /logout`, and
//! `GET /session` (how this request authenticated and, for a session, its CSRF token, for
//! scripts of the page that send changes with `X-CSRF-Token`). Must not
//! check requests other than these (http/auth.rs does) nor hold any script or style (the
//! CSP forbids inline ones).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::http::auth::{Gate, Identity, SESSION_COOKIE};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/session", web::get().to(session));
}

#[derive(Debug, serde::Serialize)]
struct SessionDoc {
    /// `"bearer"` or `"session"`.
    authenticated_by: &'static str,
    /// The value `X-CSRF-Token` (or the form field `csrf_token`) must carry; none for bearer.
    csrf_token: Option<String>,
}

async fn session(req: HttpRequest) -> HttpResponse {
    let by = match req.extensions().get::<Identity>() {
        Some(Identity::Session { .. }) => "session",
        _ => "bearer",
    };
    HttpResponse::Ok().json(SessionDoc {
        authenticated_by: by,
        csrf_token: crate::http::auth::csrf_token(&req),
    })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn form() -> HttpResponse {
    page(StatusCode::OK, None)
}

async fn login(gate: web::Data<Gate>, form: web::Form<LoginForm>) -> HttpResponse {
    if !gate.token_matches(&form.token) {
        return page(
            StatusCode::UNAUTHORIZED,
            Some("That is not this daemon's token. Copy it again from the file picket web names."),
        );
    }
    let Ok(id) = gate.open_session() else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("The operating system gave no randomness for a session; try again."),
        );
    };
    let cookie = Cookie::build(SESSION_COOKIE, id)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(gate.secure)
        .finish();
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, "/"))
        .finish()
}

/// Reached only authenticated (and, with a cookie, with the CSRF token): auth.rs checks.
async fn logout(gate: web::Data<Gate>, req: HttpRequest) -> HttpResponse {
    if let Some(Identity::Session { id, .. }) = req.extensions().get::<Identity>() {
        gate.close_session(id);
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(gate.secure)
        .finish();
    gone.make_removal();
    HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

fn page(status: StatusCode, error: Option<&str>) -> HttpResponse {
    let error = error
        .map(|e| format!("<p role=\"alert\" id=\"login-error\">{e}</p>\n"))
        .unwrap_or_default();
    let described = if error.is_empty() {
        "token-help"
    } else {
        "token-help login-error"
    };
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Picket</title>
</head>
<body>
<main>
<h1>Log in to Picket</h1>
{error}<form method="post" action="/login">
<p><label for="token">API token</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus aria-describedby="{described}"></p>
<p id="token-help">The token is in the daemon's data directory, in the file <code>http-token</code>; <code>picket web</code> prints where.</p>
<p><button type="submit">Log in</button></p>
</form>
</main>
</body>
</html>
"#
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}
