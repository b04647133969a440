//! The kernel fence under systemd: the drop-in (`picketd --print-systemd-scope`) that lets
//! picketd's unit, which denies every IP address but loopback, reach exactly the networks
//! of the configured `[scope] allow` rules.
//!
//! Why a printed drop-in and not a live one: systemd applies `IPAddressAllow=` with BPF on
//! the whole unit (picketd and every tool it starts), which the daemon cannot and should not
//! change from inside; the operator installs the drop-in and restarts the unit. Must not
//! resolve names (a fence fixed from one DNS answer would go stale silently) nor decide
//! whether a target is in scope (scope.rs does, at every step; this is the second wall).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::ScopeConfig;

/// Where the drop-in goes, for the comment that says how to install it.
pub const DROP_IN_PATH: &str = "/etc/systemd/system/picketd.service.d/scope.conf";

/// An allow rule as the fence sees it.
enum Fenced {
    Net(IpNet),
    /// A host name or `*.domain`: no address systemd could be given.
    Name(String),
}

fn classify(rule: &str) -> Fenced {
    let t = rule.trim();
    if let Ok(net) = t.parse::<IpNet>() {
        return Fenced::Net(net.trunc());
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Fenced::Net(IpNet::from(ip));
    }
    Fenced::Name(t.to_string())
}

/// The drop-in text for `scope`: `IPAddressAllow=` with every address rule of `allow`, and
/// comment lines for what the fence cannot express (names, deny rules).
pub fn drop_in(scope: &ScopeConfig) -> String {
    let (mut nets, mut names) = (Vec::new(), Vec::new());
    for rule in &scope.allow {
        match classify(rule) {
            Fenced::Net(n) => nets.push(n.to_string()),
            // Loopback, which the unit itself allows.
            Fenced::Name(n) if n.eq_ignore_ascii_case("localhost") => {}
            Fenced::Name(n) => names.push(n),
        }
    }
    let mut lines = vec![
        "# picketd's scope as a kernel fence, printed by `picketd --print-systemd-scope`."
            .to_string(),
        format!("# Install as {DROP_IN_PATH}, then"),
        "# `systemctl daemon-reload; systemctl restart picketd`; print it again after every".into(),
        "# change of [scope] allow. picketd.service denies every address but loopback".into(),
        "# (IPAddressDeny=any, IPAddressAllow=localhost); this adds the scope's networks.".into(),
    ];
    if !names.is_empty() {
        lines.extend([
            format!(
                "# Not fenced: the name rules {} (a name can resolve to any",
                names.join(", ")
            ),
            "# address, so none is written here). The kernel refuses their targets unless an"
                .into(),
            "# address rule covers them: add their addresses to [scope] allow, print this again."
                .into(),
        ]);
    }
    if !scope.deny.is_empty() {
        lines.extend([
            "# [scope] deny rules are enforced by picketd only: in systemd an allowed address"
                .to_string(),
            "# wins over a denied one.".into(),
        ]);
    }
    lines.push("[Service]".into());
    if nets.is_empty() {
        lines.push(
            "# No address rule in [scope] allow: loopback stays the only reachable network.".into(),
        );
    } else {
        lines.push(format!("IPAddressAllow={}", nets.join(" ")));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(allow: &[&str], deny: &[&str]) -> ScopeConfig {
        ScopeConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn address_rules_become_one_allow_line_and_names_a_comment() {
        let text = drop_in(&scope(
            &[
                "127.0.0.0/8",
                "::1/128",
                "localhost",
                "10.1.2.3",
                "192.168.7.9/24",
                "*.lab.example",
            ],
            &["10.1.2.4"],
        ));
        let allow: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("IPAddressAllow="))
            .collect();
        assert_eq!(
            allow,
            ["IPAddressAllow=127.0.0.0/8 ::1/128 10.1.2.3/32 192.168.7.0/24"]
        );
        let comments: String = text.lines().filter(|l| l.starts_with('#')).collect();
        assert!(comments.contains("name rules *.lab.example ("), "{text}");
        assert!(
            comments.contains("deny rules are enforced by picketd only"),
            "{text}"
        );
        assert!(text.contains("\n[Service]\n"), "{text}");
    }

    #[test]
    fn no_address_rule_adds_nothing_to_the_fence() {
        let text = drop_in(&scope(&["scanme.example"], &[]));
        assert!(
            !text.lines().any(|l| l.starts_with("IPAddressAllow")),
            "{text}"
        );
        assert!(text.contains("scanme.example"), "{text}");
    }
}
