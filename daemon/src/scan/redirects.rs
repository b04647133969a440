//! Redirects reported by a scan's runs: each is checked against the scope in force; in
//! scope it becomes a service the supervisor follows up like a URL target, out of scope it
//! becomes an info finding saying which redirect was not followed and why.
//!
//! No tool follows a redirect itself (whatweb `--follow-redirect=never`, nuclei `-dr`):
//! this is the only way a redirect leads anywhere. Must not schedule runs (the supervisor
//! does) nor start anything; the only I/O is the scope check's name lookup.

use picket_protocol::{Finding, Service, Severity};

use crate::parsers::{new_finding, Redirect};
use crate::run::spec::host_port;
use crate::scope::{CheckedTarget, Scope, ScopeError};

/// A redirect and the scope's answer for its endpoint.
pub type Verdict = (Redirect, Result<CheckedTarget, ScopeError>);

/// The endpoint a redirect points to, as a URL the scope check reads (`scheme://host:port/`):
/// follow-ups scan the endpoint, not the location's path or query.
pub fn endpoint_url(r: &Redirect) -> String {
    format!("{}://{}/", r.scheme, host_port(&r.host, r.port))
}

/// Checks each redirect's endpoint (a name is resolved and every address checked, as for
/// a target the user gives).
pub async fn check_all(scope: &Scope, redirects: Vec<Redirect>) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(redirects.len());
    for r in redirects {
        let verdict = scope.check(&endpoint_url(&r)).await;
        verdicts.push((r, verdict));
    }
    verdicts
}

/// The service an in-scope redirect names, at the checked address.
pub fn service(r: &Redirect, checked: &CheckedTarget) -> Service {
    Service {
        host: checked.host.clone(),
        port: r.port,
        proto: "tcp".into(),
        name: r.scheme.clone(),
        product: None,
        version: None,
        tls: r.scheme == "https",
    }
}

/// The info finding for a redirect that was not followed, on the endpoint that answered
/// with it, naming the location and the scope's reason.
pub fn not_followed(tool: &str, r: &Redirect, why: &ScopeError) -> Finding {
    new_finding(
        tool,
        &r.from_host,
        Some(r.from_port),
        Severity::Info,
        format!("Redirect not followed: {}", r.location),
        format!(
            "{} redirects to {}; Picket did not follow it: {why}",
            r.from_url, r.location
        ),
        Vec::new(),
        format!("redirect {}", endpoint_url(r)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScopeConfig;

    fn redirect(host: &str, port: u16) -> Redirect {
        Redirect {
            from_url: "http://127.0.0.1:8080/".into(),
            from_host: "127.0.0.1".into(),
            from_port: 8080,
            location: format!("http://{}/x?y=1", host_port(host, port)),
            scheme: "http".into(),
            host: host.into(),
            port,
        }
    }

    #[tokio::test]
    async fn in_scope_redirects_are_services_and_the_others_findings_with_the_reason() {
        let scope = Scope::from_config(&ScopeConfig {
            deny: vec!["127.0.0.9".into()],
            ..ScopeConfig::default()
        })
        .unwrap();
        let all = vec![
            redirect("127.0.0.2", 8081),
            redirect("::1", 8443),
            redirect("10.0.0.1", 80),
            redirect("127.0.0.9", 80),
        ];
        let verdicts = check_all(&scope, all).await;
        let s = service(&verdicts[1].0, verdicts[1].1.as_ref().unwrap());
        assert_eq!(
            (s.host.as_str(), s.port, s.name.as_str()),
            ("::1", 8443, "http")
        );
        assert!(verdicts[0].1.is_ok());
        let out = verdicts[2].1.as_ref().unwrap_err();
        assert!(matches!(out, ScopeError::OutOfScope { .. }), "{out:?}");
        let denied = verdicts[3].1.as_ref().unwrap_err();
        let f = not_followed("whatweb", &verdicts[3].0, denied);
        assert_eq!(f.title, "Redirect not followed: http://127.0.0.9:80/x?y=1");
        assert_eq!(
            (f.host.as_str(), f.port, f.severity),
            ("127.0.0.1", Some(8080), Severity::Info)
        );
        assert!(
            f.detail.contains("denied by scope rule \"127.0.0.9/32\""),
            "{}",
            f.detail
        );
    }
}
