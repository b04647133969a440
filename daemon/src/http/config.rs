//! `[http]`: the opt-in TCP listener of the JSON API and dashboard. Must not bind anything
//! (http/server.rs and http/tcp.rs do); validation here refuses what would expose the daemon
//! by mistake: a non-loopback address needs `allow_remote = true` and TLS.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `"127.0.0.1:PORT"`; none: only `api.sock` serves the API.
    pub listen: Option<SocketAddr>,
    /// Lets `listen` (and `metrics_listen`) be a non-loopback address; `listen` then also
    /// needs `tls_cert` and `tls_key`.
    pub allow_remote: bool,
    /// PEM certificate chain; with `tls_key`, the TCP door speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Extra `Host` names the TCP door answers to (`name` or `name:port`), besides
    /// 127.0.0.1, localhost and [::1] on the listen port: everything else is refused, so a
    /// DNS-rebinding page cannot reach the API.
    pub allowed_hosts: Vec<String>,
    /// A second listener serving only `/metrics`, without a token, for a Prometheus that
    /// cannot send one. Loopback unless `allow_remote`.
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HttpConfigError {
    #[error(
        "[http] {field} = \"{addr}\" is not a loopback address, and the API would be reachable \
         from other machines; use 127.0.0.1:PORT, or set allow_remote = true{}",
        if *.needs_tls { " with tls_cert and tls_key" } else { "" }
    )]
    Remote {
        field: &'static str,
        addr: SocketAddr,
        needs_tls: bool,
    },
    #[error(
        "[http] sets only one of tls_cert and tls_key; set both (the certificate chain and its \
         private key, PEM) or neither"
    )]
    HalfTls,
    #[error(
        "[http] allowed_hosts entry \"{0}\" is not a host name (or name:port); use names such \
         as \"picket.example.org\" without scheme, path or spaces"
    )]
    BadHost(String),
}

impl HttpConfig {
    /// Whether the TCP door speaks TLS.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    pub fn validate(&self) -> Result<(), HttpConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(HttpConfigError::HalfTls);
        }
        if let Some(addr) = self.listen {
            if !addr.ip().is_loopback() && !(self.allow_remote && self.tls()) {
                return Err(HttpConfigError::Remote {
                    field: "listen",
                    addr,
                    needs_tls: true,
                });
            }
        }
        if let Some(addr) = self.metrics_listen {
            if !addr.ip().is_loopback() && !self.allow_remote {
                return Err(HttpConfigError::Remote {
                    field: "metrics_listen",
                    addr,
                    needs_tls: false,
                });
            }
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|h| !host_like(h)) {
            return Err(HttpConfigError::BadHost(bad.clone()));
        }
        Ok(())
    }
}

fn host_like(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_listen(addr: &str) -> HttpConfig {
        HttpConfig {
            listen: Some(addr.parse().unwrap()),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn loopback_needs_nothing_more() {
        with_listen("127.0.0.1:8080").validate().unwrap();
        with_listen("[::1]:8080").validate().unwrap();
    }

    #[test]
    fn remote_needs_allow_remote_and_tls() {
        let mut c = with_listen("0.0.0.0:8080");
        let err = c.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("allow_remote = true with tls_cert"),
            "{err}"
        );
        c.allow_remote = true;
        assert!(matches!(c.validate(), Err(HttpConfigError::Remote { .. })));
        c.tls_cert = Some("/c.pem".into());
        assert_eq!(c.validate(), Err(HttpConfigError::HalfTls));
        c.tls_key = Some("/k.pem".into());
        c.validate().unwrap();
    }

    #[test]
    fn remote_metrics_needs_allow_remote() {
        let mut c = HttpConfig {
            metrics_listen: Some("10.0.0.1:9100".parse().unwrap()),
            ..HttpConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(HttpConfigError::Remote {
                field: "metrics_listen",
                ..
            })
        ));
        c.allow_remote = true;
        c.validate().unwrap();
    }

    #[test]
    fn allowed_hosts_are_names() {
        let mut c = with_listen("127.0.0.1:8080");
        c.allowed_hosts = vec!["picket.lan".into(), "http://evil/".into()];
        assert_eq!(
            c.validate(),
            Err(HttpConfigError::BadHost("http://evil/".into()))
        );
    }
}
