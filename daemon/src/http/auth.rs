//! Who may use the TCP door and how a change proves it was meant: the bearer token
//! (`Authorization: Bearer`, for scripts and Prometheus; not ambient, so no CSRF check) or
//! the dashboard's session cookie `picket_session` (ambient, so every POST/PUT/PATCH/DELETE
//! must carry the session's CSRF token in `X-CSRF-Token` or the form field `csrf_token`).
//! Unauthenticated pages are sent to /login, API calls get 401. Must not serve pages (login.rs
//! does) nor apply to `api.sock`, whose peer check is its authentication.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures::StreamExt;
use picket_protocol::{ErrorKind, ErrorReply};

use crate::http::answer::error_document;
use crate::http::token::{random_hex, same_secret};

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "picket_session";
/// The header a cookie-authenticated change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that may carry it instead.
pub const CSRF_FIELD: &str = "csrf_token";
/// A session unused this long is forgotten.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the least recently used goes first.
const MAX_SESSIONS: usize = 256;
/// The largest form body read to find its `csrf_token`.
const MAX_FORM: usize = 1 << 20;

struct Session {
    csrf: String,
    last_seen: Instant,
}

/// The token and the live sessions of one TCP door.
pub struct Gate {
    token: String,
    sessions: Mutex<HashMap<String, Session>>,
    /// Cookies get `Secure` when the door speaks TLS.
    pub secure: bool,
}

/// How the request authenticated; in its extensions for handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Bearer,
    Session { id: String, csrf: String },
}

impl Gate {
    pub fn new(token: String, secure: bool) -> Self {
        Self {
            token,
            sessions: Mutex::new(HashMap::new()),
            secure,
        }
    }

    pub fn token_matches(&self, given: &str) -> bool {
        same_secret(given.trim(), &self.token)
    }

    /// A new session's id (the cookie's value), once the token was shown.
    pub fn open_session(&self) -> Result<String, getrandom::Error> {
        let (id, csrf) = (random_hex()?, random_hex()?);
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.last_seen.elapsed() < IDLE);
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                sessions.remove(&k);
            }
        }
        let last_seen = Instant::now();
        sessions.insert(id.clone(), Session { csrf, last_seen });
        Ok(id)
    }

    pub fn close_session(&self, id: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.remove(id);
    }

    /// The session's CSRF token, if `id` names a live session.
    fn session(&self, id: &str) -> Option<String> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get_mut(id)?;
        if session.last_seen.elapsed() >= IDLE {
            sessions.remove(id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.csrf.clone())
    }

    /// `None`: no credentials; `Some(Err)`: wrong ones.
    fn identify(&self, req: &ServiceRequest) -> Option<Result<Identity, &'static str>> {
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            let given = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
            return Some(match given {
                Some(t) if self.token_matches(t) => Ok(Identity::Bearer),
                _ => Err("the bearer token is not this daemon's"),
            });
        }
        let id = req.cookie(SESSION_COOKIE)?.value().to_string();
        Some(match self.session(&id) {
            Some(csrf) => Ok(Identity::Session { id, csrf }),
            None => Err("the session has ended"),
        })
    }
}

/// The CSRF token a page puts in its forms (field `csrf_token`), or none when the request
/// did not come with a session (bearer, or `api.sock`, where no check applies).
pub fn csrf_token(req: &HttpRequest) -> Option<String> {
    match req.extensions().get::<Identity>() {
        Some(Identity::Session { csrf, .. }) => Some(csrf.clone()),
        _ => None,
    }
}

/// The TCP door's authentication; /login passes (it checks the token itself).
pub async fn authenticate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path() == "/login" {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(gate) = req.app_data::<web::Data<Gate>>().cloned() else {
        return Ok(req.into_response(refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the TCP door has no token",
            "report this as a bug in picketd",
        )));
    };
    let identity = match gate.identify(&req) {
        Some(Ok(identity)) => identity,
        Some(Err(why)) => return Ok(unauthenticated(req, why)),
        None => {
            return Ok(unauthenticated(
                req,
                "no token or session came with the request",
            ))
        }
    };
    if let Identity::Session { csrf, .. } = &identity {
        if is_change(req.method()) && !carries_csrf(&mut req, csrf).await? {
            return Ok(req.into_response(refusal(
                StatusCode::FORBIDDEN,
                "this change came without the session's CSRF token",
                "send the X-CSRF-Token header or the csrf_token form field the page gave, \
                 or authenticate with the bearer token instead of the cookie",
            )));
        }
    }
    req.extensions_mut().insert(identity);
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn is_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The header, or else a urlencoded form's `csrf_token` (the body is read and put back).
async fn carries_csrf(req: &mut ServiceRequest, csrf: &str) -> Result<bool, actix_web::Error> {
    if let Some(v) = req.headers().get(CSRF_HEADER) {
        return Ok(v.to_str().is_ok_and(|v| same_secret(v, csrf)));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(false);
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_FORM {
            return Err(actix_web::error::ErrorPayloadTooLarge(
                "the form is larger than 1 MiB",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let found =
        url::form_urlencoded::parse(&body).any(|(k, v)| k == CSRF_FIELD && same_secret(&v, csrf));
    req.set_payload(body.into());
    Ok(found)
}

/// Pages go to /login; everything else gets 401 and the error document.
fn unauthenticated(req: ServiceRequest, why: &str) -> ServiceResponse<BoxBody> {
    let wants_page = matches!(*req.method(), Method::GET | Method::HEAD)
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    if wants_page {
        let to_login = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish();
        return req.into_response(to_login);
    }
    let mut answer = refusal(
        StatusCode::UNAUTHORIZED,
        why,
        "send Authorization: Bearer with the token in DATA_DIR/http-token (`picket web` says \
         where), or log in at /login",
    );
    answer.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"picket\""),
    );
    req.into_response(answer)
}

fn refusal(status: StatusCode, message: &str, hint: &str) -> HttpResponse {
    let mut answer = error_document(&ErrorReply::new(ErrorKind::Refused, message, hint));
    *answer.status_mut() = status;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_close_and_carry_their_own_csrf() {
        let gate = Gate::new("t".repeat(64), false);
        let a = gate.open_session().unwrap();
        let b = gate.open_session().unwrap();
        let (ca, cb) = (gate.session(&a).unwrap(), gate.session(&b).unwrap());
        assert_ne!(a, b);
        assert_ne!(ca, cb);
        gate.close_session(&a);
        assert!(gate.session(&a).is_none());
        assert!(gate.session("forged").is_none());
    }

    #[test]
    fn sessions_are_bounded() {
        let gate = Gate::new("t".repeat(64), false);
        let first = gate.open_session().unwrap();
        for _ in 0..MAX_SESSIONS {
            gate.open_session().unwrap();
        }
        assert!(gate.session(&first).is_none());
        assert_eq!(gate.sessions.lock().unwrap().len(), MAX_SESSIONS);
    }
}
