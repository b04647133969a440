//! Target forms the daemon does not take but people type: `host:port` (and `host:port/`),
//! turned into the target plus `--ports` before the request is sent.
//!
//! Owns only that rewrite (the daemon validates every target and refuses the rest with
//! the form to use). Must not check scope or syntax beyond recognising the form.

/// `host:port` or `host:port/` split in two; None for any other form (an address, a URL,
/// a CIDR, a `host:port/path`, which needs a scheme the client cannot guess).
fn host_and_port(raw: &str) -> Option<(String, u16)> {
    if raw.contains("://") {
        return None;
    }
    let hostport = raw.strip_suffix('/').unwrap_or(raw);
    if hostport.contains('/') {
        return None;
    }
    let (host, port) = hostport.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // A bare IPv6 address ("::1", "fe80::1") has colons of its own: not this form.
    if host.contains(':') && !hostport.starts_with('[') || host.is_empty() {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    Some((host.to_string(), port))
}

/// When every target is `host:port` and no `--ports` was given: the bare targets and the
/// ports they named, with a note saying what the scan became. Otherwise None (the daemon
/// judges the targets as typed).
pub fn ports_from_targets(
    targets: &[String],
    ports: Option<&str>,
) -> Option<(Vec<String>, String, String)> {
    if ports.is_some() || targets.is_empty() {
        return None;
    }
    let split: Vec<(String, u16)> = targets
        .iter()
        .map(|t| host_and_port(t))
        .collect::<Option<_>>()?;
    let mut nums: Vec<u16> = split.iter().map(|(_, p)| *p).collect();
    nums.sort_unstable();
    nums.dedup();
    let ports = nums
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let hosts: Vec<String> = split.into_iter().map(|(h, _)| h).collect();
    let note = format!("scanning {} --ports {ports}", hosts.join(" "));
    Some((hosts, ports, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_port_targets_become_the_host_and_its_port() {
        let (hosts, ports, note) = ports_from_targets(&v(&["127.0.0.1:8080/"]), None).unwrap();
        assert_eq!((hosts, ports.as_str()), (v(&["127.0.0.1"]), "8080"));
        assert_eq!(note, "scanning 127.0.0.1 --ports 8080");
        let (hosts, ports, _) =
            ports_from_targets(&v(&["a.test:443", "[::1]:80", "b.test:443"]), None).unwrap();
        assert_eq!(
            (hosts, ports.as_str()),
            (v(&["a.test", "::1", "b.test"]), "80,443")
        );
    }

    #[test]
    fn other_forms_and_an_explicit_ports_are_left_to_the_daemon() {
        for t in [
            "127.0.0.1",
            "::1",
            "fe80::1",
            "http://a:80/",
            "a:80/x",
            "10.0.0.0/24",
            "a:0",
        ] {
            assert_eq!(ports_from_targets(&v(&[t]), None), None, "{t}");
        }
        assert_eq!(ports_from_targets(&v(&["a:80"]), Some("443")), None);
        assert_eq!(ports_from_targets(&v(&["a:80", "b"]), None), None);
    }
}
