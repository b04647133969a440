//! Scope and target validation: what may be scanned, decided before any process starts.
//!
//! Owns the parsing of user targets (IP, CIDR, hostname, http/https URL), the rejection of
//! anything that could become a tool option or reach a shell, and the allow/deny rules.
//! Deny beats allow. Hostnames are resolved and every address is checked: a name is in
//! scope only if every address it resolves to is, whatever name rule matches it. The tools
//! are then given the checked address, never the name as a place to connect to, so a second
//! DNS answer can't move them (the name only rides along for SNI and Host headers).
//! Lookups go through a `Resolver`, so tests can feed answers without DNS.
//! Must not start processes or talk to the database.

use std::future::Future;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::ScopeConfig;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("invalid target {target:?}: {reason}")]
    Invalid { target: String, reason: String },
    #[error("target {target} is outside the scope: {reason}; if you own it, add it to [scope] allow in picketd.toml and reload (SIGHUP)")]
    OutOfScope { target: String, reason: String },
    #[error("target {target} resolves to {addresses}, of which {outside} lies outside the scope ({allowed}); a name is in scope only if every address it resolves to is: fix the name's records, or, if you own {outside}, add its network to [scope] allow in picketd.toml and reload (SIGHUP)")]
    NameOutOfScope {
        target: String,
        /// Every address the name resolved to.
        addresses: String,
        /// Those no allow network holds.
        outside: String,
        allowed: String,
    },
    #[error("target {target} is denied by scope rule \"{rule}\"; remove that [scope] deny rule in picketd.toml if this is wrong")]
    Denied { target: String, rule: String },
    #[error("DNS lookup of {target} failed: {reason}")]
    Unresolvable { target: String, reason: String },
    #[error("invalid --ports {spec:?}: {reason}")]
    BadPorts { spec: String, reason: String },
    #[error("invalid scope rule \"{rule}\": {reason}")]
    BadRule { rule: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Net(IpNet),
    Host(String),
    /// `*.example.org`: any name below the domain (not the domain itself).
    Suffix(String),
}

impl Rule {
    fn parse(text: &str) -> Result<Rule, ScopeError> {
        let bad = |reason: &str| ScopeError::BadRule {
            rule: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        if let Ok(net) = t.parse::<IpNet>() {
            return Ok(Rule::Net(net.trunc()));
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(Rule::Net(IpNet::from(ip)));
        }
        if let Some(domain) = t.strip_prefix("*.") {
            if is_hostname(domain) {
                return Ok(Rule::Suffix(domain.to_ascii_lowercase()));
            }
            return Err(bad("the part after *. is not a valid domain"));
        }
        if is_hostname(t) {
            return Ok(Rule::Host(t.to_ascii_lowercase()));
        }
        Err(bad(
            "expected a CIDR (127.0.0.0/8), an address, a host name or *.domain",
        ))
    }

    fn matches_name(&self, name: &str) -> bool {
        match self {
            Rule::Host(h) => h == name,
            Rule::Suffix(d) => {
                name.len() > d.len() + 1
                    && name.ends_with(d.as_str())
                    && name[..name.len() - d.len()].ends_with('.')
            }
            Rule::Net(_) => false,
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, Rule::Net(n) if n.contains(&ip))
    }

    /// For CIDR targets: the whole network lies inside the rule.
    fn contains_net(&self, net: &IpNet) -> bool {
        matches!(self, Rule::Net(n) if n.contains(net))
    }

    fn overlaps_net(&self, net: &IpNet) -> bool {
        matches!(self, Rule::Net(n) if n.contains(net) || net.contains(n))
    }

    fn text(&self) -> String {
        match self {
            Rule::Net(n) => n.to_string(),
            Rule::Host(h) => h.clone(),
            Rule::Suffix(d) => format!("*.{d}"),
        }
    }
}

/// What a validated target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    Ip(IpAddr),
    Net(IpNet),
    Host(String),
    Url {
        scheme: String,
        host: String,
        port: u16,
        path: String,
    },
}

/// A target that passed syntax validation (not yet scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub original: String,
    pub kind: TargetKind,
}

/// A target that passed scope: the addresses tools may be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTarget {
    pub target: Target,
    /// The address tools will use ({host}); for a CIDR, the network text.
    pub host: String,
    /// The host name the user gave, when the target named one: tools get it only where a
    /// name matters (SNI, Host header, certificate checks), never as what to connect to.
    pub name: Option<String>,
}

impl CheckedTarget {
    /// A URL target rewritten to connect to the checked address (same scheme, port, path
    /// and query); None for other targets.
    pub fn pinned_url(&self) -> Option<String> {
        if !matches!(self.target.kind, TargetKind::Url { .. }) {
            return None;
        }
        let mut url = url::Url::parse(&self.target.original).ok()?;
        url.set_ip_host(self.host.parse().ok()?).ok()?;
        Some(url.to_string())
    }
}

/// Where host names are looked up: the system resolver in the daemon, fixed answers in
/// unit tests (so every-address rules are tested without DNS).
pub trait Resolver: Sync {
    /// Every address `name` resolves to, or why it does not resolve.
    fn lookup(&self, name: &str) -> impl Future<Output = Result<Vec<IpAddr>, String>> + Send;
}

/// The system's resolver (getaddrinfo: /etc/hosts, then DNS), bounded in time.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let lookup = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::lookup_host((name, 0)),
        );
        match lookup.await {
            Ok(Ok(addrs)) => Ok(addrs.map(|a| a.ip()).collect()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("resolution timed out after 5 s".into()),
        }
    }
}

const MAX_TARGET_LEN: usize = 2048;
/// Largest network a CIDR target may name: a scan is of assets, not of the internet.
const MIN_V4_PREFIX: u8 = 16;
const MIN_V6_PREFIX: u8 = 112;

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Syntax checks. Anything that could be read as an option, split into words, or
/// interpreted by a shell is refused here, whatever the scope says.
pub fn parse_target(raw: &str) -> Result<Target, ScopeError> {
    refuse_unsafe(raw).map_err(|reason| invalid(raw, reason))?;
    let kind = if let Ok(ip) = raw.parse::<IpAddr>() {
        TargetKind::Ip(ip)
    } else if let Some(form) = host_port_form(raw) {
        return Err(invalid(raw, form));
    } else if raw.contains('/') && !raw.contains("://") {
        parse_network(raw).map_err(|reason| invalid(raw, reason))?
    } else if raw.contains("://") {
        parse_url(raw).map_err(|reason| invalid(raw, reason))?
    } else if is_hostname(raw) {
        TargetKind::Host(raw.to_ascii_lowercase())
    } else {
        return Err(invalid(
            raw,
            "not an IP address, CIDR, host name or http(s) URL",
        ));
    };
    Ok(Target {
        original: raw.into(),
        kind,
    })
}

/// `host:port` or `host:port/path` (what a browser bar or a log line shows) split in
/// three; None for anything else. The client turns the port into `--ports`.
pub fn split_host_port(raw: &str) -> Option<(&str, u16, &str)> {
    if raw.contains("://") {
        return None;
    }
    let (hostport, path) = match raw.find('/') {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    let (host, port) = hostport.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host_ok = host.parse::<IpAddr>().is_ok() || is_hostname(host);
    host_ok.then_some((host, port, path))
}

/// The refusal of a `host:port[/path]` target, with the exact forms that say the same.
fn host_port_form(raw: &str) -> Option<String> {
    let (host, port, path) = split_host_port(raw)?;
    let bracketed = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]"),
        _ => host.to_string(),
    };
    let path = if path.is_empty() { "/" } else { path };
    Some(if path == "/" {
        format!(
            "a port is not part of a target; give it with --ports: `{host} --ports {port}` \
             (or a URL: `http://{bracketed}:{port}/` or `https://{bracketed}:{port}/`)"
        )
    } else {
        format!(
            "a path needs a scheme; give a URL: `http://{bracketed}:{port}{path}` or \
             `https://{bracketed}:{port}{path}`"
        )
    })
}

fn invalid(raw: &str, reason: impl Into<String>) -> ScopeError {
    ScopeError::Invalid {
        target: shorten(raw),
        reason: reason.into(),
    }
}

/// The reason a target is refused, kept apart from the target so the three syntax checks
/// below read as rules; `parse_target` turns it into `ScopeError::Invalid`.
type Reason = String;

/// What no target may be or hold, whatever its kind.
fn refuse_unsafe(raw: &str) -> Result<(), Reason> {
    if raw.is_empty() {
        return Err("empty target; give an IP address, CIDR, host name or http(s) URL".into());
    }
    if raw.len() > MAX_TARGET_LEN {
        return Err(format!(
            "{} bytes long; a target is at most {MAX_TARGET_LEN}",
            raw.len()
        ));
    }
    if raw.starts_with('-') {
        return Err("starts with '-', which a tool would read as an option".into());
    }
    if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "contains whitespace or a control character ({:?})",
            c
        ));
    }
    const SHELL: &[char] = &[
        ';', '|', '&', '$', '`', '<', '>', '(', ')', '{', '}', '\'', '"', '\\', '*', '!', '~', '^',
    ];
    if let Some(c) = raw.chars().find(|c| SHELL.contains(c)) {
        return Err(format!("contains the shell metacharacter '{c}'"));
    }
    Ok(())
}

/// A CIDR target, no wider than a scan of assets needs.
fn parse_network(raw: &str) -> Result<TargetKind, Reason> {
    let net: IpNet = raw
        .parse()
        .map_err(|_| "not a valid CIDR network".to_string())?;
    let too_wide = match net {
        IpNet::V4(n) => n.prefix_len() < MIN_V4_PREFIX,
        IpNet::V6(n) => n.prefix_len() < MIN_V6_PREFIX,
    };
    if too_wide {
        return Err(format!(
            "network too large; at most /{MIN_V4_PREFIX} (IPv4) or /{MIN_V6_PREFIX} (IPv6)"
        ));
    }
    Ok(TargetKind::Net(net.trunc()))
}

/// An http(s) URL without credentials, with a valid host and a port.
fn parse_url(raw: &str) -> Result<TargetKind, Reason> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("only http:// and https:// URLs are supported".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "URLs with credentials are refused; they would end up in process listings".into(),
        );
    }
    let host = match url.host() {
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(url::Host::Domain(d)) if is_hostname(d) => d.to_ascii_lowercase(),
        _ => return Err("URL has no valid host".into()),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "URL has no port".to_string())?;
    Ok(TargetKind::Url {
        scheme: url.scheme().into(),
        host,
        port,
        path: url.path().to_string(),
    })
}

fn shorten(s: &str) -> String {
    if s.len() <= 80 {
        s.to_string()
    } else {
        let cut = (0..=80).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        format!("{}... ({} bytes)", &s[..cut], s.len())
    }
}

/// Parses a ports spec ("80,443,8000-8010"): digits, commas and dashes only. Each
/// refusal names the part at fault and the form to write instead.
pub fn parse_ports(spec: &str) -> Result<String, ScopeError> {
    let invalid = |reason: String| ScopeError::BadPorts {
        spec: shorten(spec),
        reason,
    };
    if spec.is_empty() || spec.len() > 1024 {
        return Err(invalid("expected a list like 80,443 or 8000-8010".into()));
    }
    for part in spec.split(',') {
        check_port_part(part).map_err(invalid)?;
    }
    Ok(spec.to_string())
}

/// One element of a ports spec: a port or a range `a-b`, both ends 1-65535, a <= b.
fn check_port_part(part: &str) -> Result<(), Reason> {
    let port = |b: &str| -> Result<u16, Reason> {
        match b.parse::<u16>() {
            Ok(n) if n > 0 && b.bytes().all(|c| c.is_ascii_digit()) => Ok(n),
            _ if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                Err(format!("'{part}': {b} is not a port; ports are 1-65535"))
            }
            _ => Err(format!(
                "'{part}' is not a port (1-65535) or a range a-b, e.g. 80 or 8000-8010"
            )),
        }
    };
    match part.split_once('-') {
        None if part.is_empty() => Err("an empty element (two commas in a row?)".into()),
        None => port(part).map(drop),
        Some(("", end)) => Err(format!(
            "range '{part}' has no start; write 1-{end} for every port up to {end}"
        )),
        Some((start, "")) => Err(format!(
            "range '{part}' has no end; write {start}-65535 for every port from {start}"
        )),
        Some((start, end)) => {
            let (a, b) = (port(start)?, port(end)?);
            if a > b {
                return Err(format!("range '{part}' runs backwards; write {b}-{a}"));
            }
            Ok(())
        }
    }
}

/// The configured scope: allow and deny rules.
#[derive(Debug, Clone)]
pub struct Scope {
    allow: Vec<Rule>,
    deny: Vec<Rule>,
}

impl Scope {
    pub fn from_config(cfg: &ScopeConfig) -> Result<Scope, ScopeError> {
        Ok(Scope {
            allow: cfg
                .allow
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_, _>>()?,
            deny: cfg
                .deny
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_, _>>()?,
        })
    }

    fn allowed_text(&self) -> String {
        if self.allow.is_empty() {
            "the allow list is empty".into()
        } else {
            format!(
                "allowed: {}",
                self.allow
                    .iter()
                    .map(Rule::text)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    /// The allow networks alone: what an address of a name must lie in.
    fn allowed_networks(&self) -> String {
        let nets: Vec<String> = self
            .allow
            .iter()
            .filter(|r| matches!(r, Rule::Net(_)))
            .map(Rule::text)
            .collect();
        if nets.is_empty() {
            "no allow rule is a network".into()
        } else {
            format!("allowed networks: {}", nets.join(", "))
        }
    }

    /// Refuses `target` if a deny rule matches: deny beats allow, so this comes first.
    fn not_denied(&self, target: &str, hit: impl Fn(&Rule) -> bool) -> Result<(), ScopeError> {
        match self.deny.iter().find(|r| hit(r)) {
            Some(rule) => Err(ScopeError::Denied {
                target: target.into(),
                rule: rule.text(),
            }),
            None => Ok(()),
        }
    }

    fn check_ip(&self, target: &str, ip: IpAddr) -> Result<(), ScopeError> {
        self.not_denied(target, |r| r.matches_ip(ip))?;
        if !self.allow.iter().any(|r| r.matches_ip(ip)) {
            return Err(ScopeError::OutOfScope {
                target: target.into(),
                reason: format!("{ip} matches no allow rule ({})", self.allowed_text()),
            });
        }
        Ok(())
    }

    /// A name passes only if it is not denied and every address it resolves to passes:
    /// deny rules per address first (deny beats allow), then each address must match an
    /// allow network. A name allow rule alone is not enough, since the answer is not ours.
    fn check_name(&self, target: &str, name: &str, addrs: &[IpAddr]) -> Result<(), ScopeError> {
        self.not_denied(target, |r| r.matches_name(name))?;
        for ip in addrs {
            self.not_denied(&format!("{target} ({ip})"), |r| r.matches_ip(*ip))?;
        }
        let outside: Vec<String> = addrs
            .iter()
            .filter(|ip| !self.allow.iter().any(|r| r.matches_ip(**ip)))
            .map(IpAddr::to_string)
            .collect();
        if outside.is_empty() {
            return Ok(());
        }
        let all: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
        Err(ScopeError::NameOutOfScope {
            target: target.into(),
            addresses: all.join(", "),
            outside: outside.join(", "),
            allowed: self.allowed_networks(),
        })
    }

    /// The deny rules that name `name` itself, without a lookup: a run started later keeps
    /// its checked address, but a reload that denied the name must still stop it.
    pub fn check_name_rules(&self, name: &str) -> Result<(), ScopeError> {
        self.not_denied(name, |r| r.matches_name(name))
    }

    /// For addresses a tool reported (a discovered service): in scope or not, no lookup.
    pub fn check_address(&self, text: &str) -> Result<(), ScopeError> {
        let ip: IpAddr = text.parse().map_err(|_| ScopeError::Invalid {
            target: shorten(text),
            reason: "not an IP address".into(),
        })?;
        self.check_ip(text, ip)
    }

    /// Validates syntax, resolves names, and checks every address against the rules.
    pub async fn check(&self, raw: &str) -> Result<CheckedTarget, ScopeError> {
        self.check_with(raw, &SystemResolver).await
    }

    /// `check`, with names looked up through `resolver`.
    pub async fn check_with(
        &self,
        raw: &str,
        resolver: &impl Resolver,
    ) -> Result<CheckedTarget, ScopeError> {
        let target = parse_target(raw)?;
        let (host, name) = match &target.kind {
            TargetKind::Ip(ip) => {
                self.check_ip(raw, *ip)?;
                (ip.to_string(), None)
            }
            TargetKind::Net(net) => {
                self.not_denied(raw, |r| r.overlaps_net(net))?;
                if !self.allow.iter().any(|r| r.contains_net(net)) {
                    return Err(ScopeError::OutOfScope {
                        target: raw.into(),
                        reason: format!(
                            "network {net} is not inside one allow rule ({})",
                            self.allowed_text()
                        ),
                    });
                }
                (net.to_string(), None)
            }
            TargetKind::Host(name) | TargetKind::Url { host: name, .. } => {
                self.check_host(raw, name, resolver).await?
            }
        };
        Ok(CheckedTarget { target, host, name })
    }

    /// A host name (or an address written in a URL): every address it resolves to must
    /// pass; the address tools get is one of them. Answers (address, name).
    async fn check_host(
        &self,
        raw: &str,
        name: &str,
        resolver: &impl Resolver,
    ) -> Result<(String, Option<String>), ScopeError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            self.check_ip(raw, ip)?;
            return Ok((ip.to_string(), None));
        }
        let unresolvable = |reason: String| ScopeError::Unresolvable {
            target: raw.into(),
            reason,
        };
        let mut addrs = resolver.lookup(name).await.map_err(unresolvable)?;
        addrs.sort();
        addrs.dedup();
        self.check_name(raw, name, &addrs)?;
        // Prefer IPv4: the local demo services and most tools default to it.
        let pick = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first());
        match pick {
            Some(a) => Ok((a.to_string(), Some(name.to_string()))),
            None => Err(unresolvable("no addresses".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Scope {
        Scope::from_config(&ScopeConfig::default()).unwrap()
    }

    #[tokio::test]
    async fn hostile_targets_are_invalid() {
        let long = "a".repeat(10 * 1024);
        let listed = include_str!("../tests/data/hostile_targets.txt").lines();
        for t in listed.chain(["", long.as_str()]) {
            let err = loopback().check(t).await.unwrap_err();
            assert!(
                matches!(err, ScopeError::Invalid { .. }),
                "{t:?} gave {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn loopback_is_in_scope_and_others_are_not() {
        let s = loopback();
        assert_eq!(s.check("127.0.0.1").await.unwrap().host, "127.0.0.1");
        assert_eq!(s.check("::1").await.unwrap().host, "::1");
        assert_eq!(
            s.check("http://127.0.0.2:8080/x").await.unwrap().host,
            "127.0.0.2"
        );
        assert_eq!(s.check("localhost").await.unwrap().host, "127.0.0.1");
        for t in [
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "127.0.0.0/7",
            "fe80::1",
        ] {
            let err = s.check(t).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    ScopeError::OutOfScope { .. } | ScopeError::Invalid { .. }
                ),
                "{t}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn deny_beats_allow() {
        let cfg = ScopeConfig {
            allow: vec!["127.0.0.0/8".into()],
            deny: vec!["127.0.0.5".into()],
        };
        let s = Scope::from_config(&cfg).unwrap();
        assert!(matches!(
            s.check("127.0.0.5").await,
            Err(ScopeError::Denied { .. })
        ));
        assert!(matches!(
            s.check("127.0.0.0/24").await,
            Err(ScopeError::Denied { .. })
        ));
        assert!(s.check("127.0.0.6").await.is_ok());
    }

    /// Answers from a table instead of DNS; a name not in it does not resolve.
    struct Answers(Vec<(&'static str, Vec<&'static str>)>);

    impl Resolver for Answers {
        async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, String> {
            match self.0.iter().find(|(n, _)| *n == name) {
                Some((_, addrs)) => Ok(addrs.iter().map(|a| a.parse().unwrap()).collect()),
                None => Err("Name or service not known".into()),
            }
        }
    }

    fn scope(allow: &[&str], deny: &[&str]) -> Scope {
        let strings = |v: &[&str]| v.iter().map(|r| r.to_string()).collect();
        Scope::from_config(&ScopeConfig {
            allow: strings(allow),
            deny: strings(deny),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_name_with_one_out_of_scope_address_is_refused_naming_it() {
        let dns = Answers(vec![("myhost.lan", vec!["127.0.0.1", "10.77.3.1"])]);
        // Allowed by a name rule or not, the out-of-scope answer refuses it.
        for s in [
            scope(&["127.0.0.0/8", "myhost.lan"], &[]),
            scope(&["127.0.0.0/8"], &[]),
        ] {
            for t in [
                "myhost.lan",
                "http://myhost.lan:8080/x",
                "https://myhost.lan/",
            ] {
                let err = s.check_with(t, &dns).await.unwrap_err();
                assert!(
                    matches!(err, ScopeError::NameOutOfScope { .. }),
                    "{t}: {err:?}"
                );
                let msg = err.to_string();
                assert!(
                    msg.contains(
                        "resolves to 10.77.3.1, 127.0.0.1, of which 10.77.3.1 lies outside"
                    ),
                    "{msg}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_name_rule_alone_does_not_let_an_outside_address_in() {
        let dns = Answers(vec![("myhost.lan", vec!["192.168.1.5"])]);
        let err = scope(&["myhost.lan"], &[])
            .check_with("myhost.lan", &dns)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("192.168.1.5"), "{err}");
    }

    #[tokio::test]
    async fn a_name_whose_every_address_is_in_scope_is_checked_to_an_address() {
        let dns = Answers(vec![("myhost.lan", vec!["::1", "127.0.0.7", "127.0.0.7"])]);
        let s = scope(&["127.0.0.0/8", "::1/128", "myhost.lan"], &[]);
        let checked = s.check_with("myhost.lan", &dns).await.unwrap();
        assert_eq!(checked.host, "127.0.0.7", "IPv4 preferred");
        assert_eq!(checked.name.as_deref(), Some("myhost.lan"));
        let url = s
            .check_with("https://MyHost.lan:8443/", &dns)
            .await
            .unwrap();
        assert_eq!(
            (url.host.as_str(), url.name.as_deref()),
            ("127.0.0.7", Some("myhost.lan"))
        );
        // An address, in a URL or not, has no name to carry.
        let ip = s.check_with("http://127.0.0.3:80/", &dns).await.unwrap();
        assert_eq!((ip.host.as_str(), ip.name), ("127.0.0.3", None));
    }

    #[tokio::test]
    async fn deny_beats_allow_for_each_address_of_a_name() {
        let dns = Answers(vec![("myhost.lan", vec!["127.0.0.1", "127.0.0.9"])]);
        let s = scope(&["127.0.0.0/8", "myhost.lan"], &["127.0.0.9"]);
        let err = s.check_with("myhost.lan", &dns).await.unwrap_err();
        assert_eq!(
            err,
            ScopeError::Denied {
                target: "myhost.lan (127.0.0.9)".into(),
                rule: "127.0.0.9/32".into()
            }
        );
        let by_name = scope(&["127.0.0.0/8"], &["myhost.lan"]);
        assert!(matches!(
            by_name.check_with("myhost.lan", &dns).await,
            Err(ScopeError::Denied { .. })
        ));
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_refused() {
        let err = loopback()
            .check_with("nowhere.lan", &Answers(vec![]))
            .await
            .unwrap_err();
        assert!(matches!(err, ScopeError::Unresolvable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("DNS lookup of nowhere.lan failed"),
            "{text}"
        );
        assert!(!text.contains("scope"), "{text}");
    }

    #[test]
    fn suffix_rules_match_below_the_domain_only() {
        let r = Rule::parse("*.lab.test").unwrap();
        assert!(r.matches_name("a.lab.test"));
        assert!(!r.matches_name("lab.test"));
        assert!(!r.matches_name("evillab.test"));
    }

    #[test]
    fn ports_spec() {
        assert!(parse_ports("80,443,8000-8010").is_ok());
        for bad in ["", "0", "70000", "80;id", "-p1", "10-5", "+80", "80 443"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_ports_spec_names_the_range_and_the_form_to_write() {
        let msg = |spec: &str| parse_ports(spec).unwrap_err().to_string();
        let cases = [
            ("80-", "range '80-' has no end; write 80-65535"),
            ("-80", "range '-80' has no start; write 1-80"),
            ("10-5", "range '10-5' runs backwards; write 5-10"),
            ("70000", "'70000': 70000 is not a port; ports are 1-65535"),
            ("80,,443", "an empty element"),
            ("http", "'http' is not a port (1-65535) or a range a-b"),
        ];
        for (spec, want) in cases {
            let got = msg(spec);
            assert!(got.starts_with("invalid --ports"), "{got}");
            assert!(got.contains(want), "{spec}: {got}");
            assert!(
                !got.contains("target"),
                "a ports spec is not a target: {got}"
            );
        }
    }

    #[test]
    fn host_port_targets_are_refused_with_the_exact_form_to_use() {
        let msg = |t: &str| parse_target(t).unwrap_err().to_string();
        let m = msg("127.0.0.1:8080/");
        assert!(m.contains("`127.0.0.1 --ports 8080`"), "{m}");
        assert!(m.contains("`http://127.0.0.1:8080/`"), "{m}");
        assert!(!m.contains("CIDR"), "{m}");
        let m = msg("localhost:8443");
        assert!(m.contains("`localhost --ports 8443`"), "{m}");
        let m = msg("[::1]:8080/admin");
        assert!(m.contains("`https://[::1]:8080/admin`"), "{m}");
        // What was valid stays valid.
        for ok in [
            "::1",
            "127.0.0.1",
            "10.1.0.0/24",
            "http://127.0.0.1:8080/x",
            "a.test",
        ] {
            parse_target(ok).unwrap();
        }
    }
}
