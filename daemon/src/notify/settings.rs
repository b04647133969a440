//! The `[notify]` table of picketd.toml: its shape, its defaults, and the checks made at load
//! (each message names the key and the fix), including the `allow` list every webhook's host
//! must match. Must not send anything: notify/mod.rs does, from a config that passed here.

use std::net::IpAddr;

use picket_protocol::Severity;
use serde::{Deserialize, Serialize};

/// `[notify]`: who may be called (`allow`) and what to call at each scan's end (`hooks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Hosts webhooks may reach: `host`, `host:port` or a CIDR. Separate from `[scope]`:
    /// the scan scope says what may be scanned, this says where results may be sent.
    pub allow: Vec<String>,
    /// `[[notify.hooks]]`, each a webhook or an exec hook.
    pub hooks: Vec<Hook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    Webhook,
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The payload itself.
    #[default]
    Json,
    /// `{"text": …}`: what Slack's (and Mattermost's) incoming webhooks take.
    Slack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hook {
    pub kind: HookKind,
    /// Names the hook in logs; the URL's host or the program otherwise.
    pub name: Option<String>,
    /// webhook: where to POST.
    pub url: Option<String>,
    /// webhook: key of the `X-Picket-Signature: sha256=<hex>` HMAC over the body.
    pub secret: Option<String>,
    pub format: Format,
    /// exec: program and arguments (argv, never a shell); the payload arrives on stdin.
    pub command: Vec<String>,
    pub timeout_secs: u64,
    /// webhook: attempts after the first, with exponential backoff.
    pub retries: u32,
    /// Findings below this are left out of the payload and do not count for `only_new`.
    pub min_severity: Severity,
    /// Only when the scan found findings no earlier scan had (at or above `min_severity`).
    pub only_new: bool,
}

impl Default for Hook {
    fn default() -> Self {
        Self {
            kind: HookKind::Webhook,
            name: None,
            url: None,
            secret: None,
            format: Format::Json,
            command: vec![],
            timeout_secs: 10,
            retries: 3,
            min_severity: Severity::Info,
            only_new: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyConfigError {
    #[error("notify.hooks[{0}]: a webhook needs url = \"http://host:port/path\"")]
    NoUrl(usize),
    #[error("notify.hooks[{index}].url = \"{url}\" is not an http(s) URL: {why}")]
    BadUrl {
        index: usize,
        url: String,
        why: String,
    },
    #[error(
        "notify.hooks[{index}].url: host {host} is not in [notify] allow = [{allow}]; \
         add \"{host}\" (or its network as a CIDR) to [notify] allow if results may go there"
    )]
    NotAllowed {
        index: usize,
        host: String,
        allow: String,
    },
    #[error("notify.allow: \"{0}\" is neither host, host:port nor a CIDR such as 10.0.0.0/8")]
    BadAllow(String),
    #[error("notify.hooks[{0}]: an exec hook needs command = [\"program\", \"arg\", …]")]
    NoCommand(usize),
    #[error("notify.hooks[{index}]: {key} is for {kind} hooks only; remove it")]
    WrongKey {
        index: usize,
        key: &'static str,
        kind: &'static str,
    },
    #[error("notify.hooks[{0}].timeout_secs must be at least 1")]
    ZeroTimeout(usize),
}

impl NotifyConfig {
    pub fn validate(&self) -> Result<(), NotifyConfigError> {
        let allow = self
            .allow
            .iter()
            .map(|a| AllowRule::parse(a).ok_or_else(|| NotifyConfigError::BadAllow(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, h) in self.hooks.iter().enumerate() {
            if h.timeout_secs == 0 {
                return Err(NotifyConfigError::ZeroTimeout(i));
            }
            match h.kind {
                HookKind::Webhook => self.check_webhook(i, h, &allow)?,
                HookKind::Exec => {
                    if h.command.is_empty() || h.command[0].is_empty() {
                        return Err(NotifyConfigError::NoCommand(i));
                    }
                    let key = if h.url.is_some() {
                        "url"
                    } else if h.secret.is_some() {
                        "secret"
                    } else {
                        continue;
                    };
                    return Err(NotifyConfigError::WrongKey {
                        index: i,
                        key,
                        kind: "webhook",
                    });
                }
            }
        }
        Ok(())
    }

    fn check_webhook(
        &self,
        index: usize,
        h: &Hook,
        allow: &[AllowRule],
    ) -> Result<(), NotifyConfigError> {
        if !h.command.is_empty() {
            return Err(NotifyConfigError::WrongKey {
                index,
                key: "command",
                kind: "exec",
            });
        }
        let raw = h.url.as_deref().ok_or(NotifyConfigError::NoUrl(index))?;
        let bad = |why: &str| NotifyConfigError::BadUrl {
            index,
            url: raw.to_string(),
            why: why.to_string(),
        };
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => HostName::Name(d.to_ascii_lowercase()),
            Some(url::Host::Ipv4(a)) => HostName::Ip(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => HostName::Ip(IpAddr::V6(a)),
            None => return Err(bad("it has no host")),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        if allow.iter().any(|r| r.admits(&host, port)) {
            return Ok(());
        }
        Err(NotifyConfigError::NotAllowed {
            index,
            host: url.host_str().unwrap_or_default().to_string(),
            allow: self
                .allow
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

enum HostName {
    Name(String),
    Ip(IpAddr),
}

/// One `[notify] allow` entry.
enum AllowRule {
    Net(ipnet::IpNet),
    Host { host: String, port: Option<u16> },
}

impl AllowRule {
    fn parse(s: &str) -> Option<AllowRule> {
        let s = s.trim();
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Some(AllowRule::Net(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Some(AllowRule::Net(ipnet::IpNet::from(ip)));
        }
        if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
            return Some(AllowRule::Host {
                host: sa.ip().to_string(),
                port: Some(sa.port()),
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
            None => (s, None),
        };
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        valid.then(|| AllowRule::Host {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn admits(&self, host: &HostName, port: u16) -> bool {
        match (self, host) {
            (AllowRule::Net(net), HostName::Ip(ip)) => net.contains(ip),
            (AllowRule::Host { host: h, port: p }, name) => {
                let same = match name {
                    HostName::Name(n) => n == h,
                    HostName::Ip(ip) => h.parse::<IpAddr>().is_ok_and(|a| a == *ip),
                };
                same && p.is_none_or(|p| p == port)
            }
            (AllowRule::Net(_), HostName::Name(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: &str) -> Hook {
        Hook {
            url: Some(url.into()),
            ..Hook::default()
        }
    }

    fn config(allow: &[&str], url: &str) -> NotifyConfig {
        NotifyConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            hooks: vec![webhook(url)],
        }
    }

    #[test]
    fn allow_list_admits_hosts_ports_and_networks() {
        assert!(config(&["127.0.0.1"], "http://127.0.0.1:9000/x")
            .validate()
            .is_ok());
        assert!(config(&["127.0.0.0/8"], "http://127.0.0.9:9000/x")
            .validate()
            .is_ok());
        assert!(config(&["hooks.example:443"], "https://HOOKS.example/x")
            .validate()
            .is_ok());
        assert!(config(&["127.0.0.1:9000"], "http://127.0.0.1:9000/")
            .validate()
            .is_ok());
    }

    #[test]
    fn a_url_outside_the_allow_list_is_refused_naming_the_list() {
        for (allow, url) in [
            (&[][..], "http://127.0.0.1/"),
            (&["127.0.0.1:9000"][..], "http://127.0.0.1:9001/"),
            (&["10.0.0.0/8"][..], "http://hooks.example/"),
            (&["hooks.example"][..], "http://evil.example/"),
        ] {
            let e = config(allow, url).validate().unwrap_err().to_string();
            assert!(e.contains("[notify] allow"), "{e}");
        }
    }

    #[test]
    fn malformed_entries_name_the_key() {
        let e = config(&["a b"], "http://x/").validate().unwrap_err();
        assert!(e.to_string().contains("notify.allow"), "{e}");
        let mut c = config(&["127.0.0.1"], "ftp://127.0.0.1/");
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("http or https"));
        c.hooks = vec![Hook {
            kind: HookKind::Exec,
            ..Hook::default()
        }];
        assert!(c.validate().unwrap_err().to_string().contains("command"));
    }
}
