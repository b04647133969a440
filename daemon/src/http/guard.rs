//! What every answer of the TCP door carries and whom it answers: the `Host` allow-list
//! (against DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends
//! `Host: evil.example`) and the security headers (a strict CSP, nosniff, no referrer, no
//! framing, and never a CORS header). Must not authenticate (http/auth.rs does).

use std::collections::HashSet;
use std::net::SocketAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use picket_protocol::{ErrorKind, ErrorReply};

use crate::http::answer::error_document;

/// The Content-Security-Policy of every TCP answer: nothing inline, nothing foreign.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
form-action 'self'";

/// The `Host` values the door answers to, lowercased.
#[derive(Debug, Clone)]
pub struct Hosts(HashSet<String>);

impl Hosts {
    /// 127.0.0.1, localhost and [::1] on the bound port, the bound address itself, and each
    /// `allowed_hosts` entry (a bare name also on the bound port).
    pub fn for_door(bound: SocketAddr, extra: &[String]) -> Self {
        let port = bound.port();
        let mut set: HashSet<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| format!("{h}:{port}"))
            .collect();
        set.insert(bound.to_string());
        for h in extra {
            let h = h.to_ascii_lowercase();
            if !h.contains(':') || (h.starts_with('[') && h.ends_with(']')) {
                set.insert(format!("{h}:{port}"));
            }
            set.insert(h);
        }
        Self(set)
    }

    pub fn allows(&self, host: &str) -> bool {
        self.0.contains(&host.to_ascii_lowercase())
    }
}

/// The request's own `Host` (or HTTP/2 `:authority`); never X-Forwarded-Host, which any
/// client may set.
fn host_of(req: &ServiceRequest) -> Option<String> {
    match req.headers().get(header::HOST) {
        Some(v) => v.to_str().ok().map(str::to_string),
        None => req.uri().authority().map(|a| a.as_str().to_string()),
    }
}

/// Refuses a foreign `Host` with 421 before anything else runs.
pub async fn check_host(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let allowed = match (req.app_data::<web::Data<Hosts>>(), host_of(&req)) {
        (Some(hosts), Some(host)) => hosts.allows(&host),
        _ => false,
    };
    if !allowed {
        let mut refusal = error_document(&ErrorReply::new(
            ErrorKind::Refused,
            format!(
                "this door does not answer to Host {:?}",
                host_of(&req).unwrap_or_default()
            ),
            "use http://127.0.0.1:PORT/ or http://localhost:PORT/, or add the name to [http] \
             allowed_hosts",
        ));
        *refusal.status_mut() = StatusCode::MISDIRECTED_REQUEST;
        return Ok(req.into_response(refusal));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Adds the security headers to every answer, refusals included, and drops any CORS
/// header a route might have set: the API is same-origin only.
pub async fn secure_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    let cors: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for k in cors {
        headers.remove(k);
    }
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CROSS_ORIGIN_OPENER_POLICY, "same-origin"),
        (header::CROSS_ORIGIN_RESOURCE_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_on_the_port_and_extra_names() {
        let hosts = Hosts::for_door("127.0.0.1:8080".parse().unwrap(), &["Picket.lan".into()]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "picket.lan",
            "picket.lan:8080",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "localhost:8081",
            "evil.example:8080",
            "127.0.0.1:8080.evil",
            "",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }
}
