//! nmap `<host>` -> `Host`: address, state, host names, OS matches, MAC and vendor. Pure
//! functions of one host's tree; must not read ports or scripts (the parent module does).
//!
//! * address: the ipv4 one, else ipv6, else the first host name (what services use too).
//! * state: `<status state>` as written ("up", "down"); None when absent.
//! * host names: each `<hostname name type>` once, kind = its type ("PTR", "user").
//! * OS: each `<osmatch name accuracy>`, and the nmap 4.x `<osclass>` elements whose
//!   accuracy no match has (see `os_class`), best accuracy first (nmap's order among equals); nmap 2.x wrote "100%",
//!   the sign is dropped; an accuracy that is no number is 0.
//! * MAC: `<address addrtype="mac">` with its `vendor`.

use std::collections::HashMap;

use picket_protocol::{Host, HostName, OsMatch};

use super::XmlNode;

/// nmap writes a few names and at most a few dozen OS guesses per host; more is hostile
/// input, and keeping them bounded keeps their de-duplication linear in the report.
const MAX_LISTED: usize = 64;

pub(super) fn host_address(host: &XmlNode) -> Option<&str> {
    address_of(host, "ipv4")
        .or_else(|| address_of(host, "ipv6"))
        .or_else(|| {
            host.child("hostnames").and_then(|h| {
                h.children_named("hostname")
                    .find_map(|n| n.attr_nonempty("name"))
            })
        })
}

fn address_of<'a>(host: &'a XmlNode, kind: &str) -> Option<&'a str> {
    host.children_named("address")
        .find(|a| a.attr("addrtype") == Some(kind))
        .and_then(|a| a.attr_nonempty("addr"))
}

pub(super) fn host_record(host: &XmlNode, address: &str) -> Host {
    let mut hostnames: Vec<HostName> = Vec::new();
    for name in host
        .children_named("hostnames")
        .flat_map(|h| h.children_named("hostname"))
        .take(MAX_LISTED)
    {
        let Some(n) = name.attr_nonempty("name") else {
            continue;
        };
        let entry = HostName {
            name: n.to_string(),
            kind: name.attr_nonempty("type").unwrap_or_default().to_string(),
        };
        if !hostnames.contains(&entry) {
            hostnames.push(entry);
        }
    }
    let mut os: Vec<OsMatch> = host
        .children_named("os")
        .flat_map(|o| o.children_named("osmatch"))
        .take(MAX_LISTED)
        .filter_map(|m| {
            Some(OsMatch {
                name: m.attr_nonempty("name")?.to_string(),
                accuracy: accuracy(m.attr("accuracy").unwrap_or_default()),
            })
        })
        .collect();
    let matched = os.len();
    for class in host
        .children_named("os")
        .flat_map(|o| o.children_named("osclass"))
        .take(MAX_LISTED)
        .filter_map(os_class)
    {
        match os.iter_mut().position(|m| m.accuracy == class.accuracy) {
            Some(i) if i >= matched => {
                if let Some(guess) = os.get_mut(i) {
                    guess.name.push_str(" or ");
                    guess.name.push_str(&class.name);
                }
            }
            Some(_) => {}
            None => os.push(class),
        }
    }
    // Stable: nmap's own order stays among equal accuracies.
    os.sort_by_key(|m| std::cmp::Reverse(m.accuracy));
    let mac = host
        .children_named("address")
        .find(|a| a.attr("addrtype") == Some("mac"));
    Host {
        address: address.to_string(),
        state: host
            .child("status")
            .and_then(|s| s.attr_nonempty("state"))
            .map(str::to_string),
        hostnames,
        os,
        mac: mac
            .and_then(|m| m.attr_nonempty("addr"))
            .map(str::to_string),
        vendor: mac
            .and_then(|m| m.attr_nonempty("vendor"))
            .map(str::to_string),
    }
}

/// An `<osclass>` directly in `<os>` (nmap 4.x writes them beside the matches, later
/// versions inside each match), named "vendor family generation (type)". As python-libnmap
/// counts them: a class describes the match of its accuracy; classes of an accuracy no
/// match has are one guess of their own, named "A or B".
fn os_class(class: &XmlNode) -> Option<OsMatch> {
    let vendor = class.attr_nonempty("vendor");
    let family = class
        .attr_nonempty("osfamily")
        .filter(|f| Some(*f) != vendor);
    let mut name = [vendor, family, class.attr_nonempty("osgen")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        return None;
    }
    if let Some(kind) = class.attr_nonempty("type") {
        name.push_str(&format!(" ({kind})"));
    }
    Some(OsMatch {
        name,
        accuracy: accuracy(class.attr("accuracy").unwrap_or_default()),
    })
}

fn accuracy(raw: &str) -> u8 {
    raw.trim()
        .trim_end_matches('%')
        .parse::<u8>()
        .map_or(0, |a| a.min(100))
}

/// Hosts by address in first-seen order. A second `<host>` with the same address (a
/// target given twice, merged reports) adds what the first lacked instead of a second
/// record: "up" wins over "down", names and OS matches are joined.
#[derive(Debug, Default)]
pub(super) struct HostSet {
    hosts: Vec<Host>,
    index: HashMap<String, usize>,
}

impl HostSet {
    pub fn push(&mut self, host: Host) {
        let Some(kept) = self
            .index
            .get(&host.address)
            .and_then(|&i| self.hosts.get_mut(i))
        else {
            self.index.insert(host.address.clone(), self.hosts.len());
            self.hosts.push(host);
            return;
        };
        if host.state.as_deref() == Some("up") || kept.state.is_none() {
            kept.state = host.state.or(kept.state.take());
        }
        for name in host.hostnames {
            if kept.hostnames.len() < MAX_LISTED && !kept.hostnames.contains(&name) {
                kept.hostnames.push(name);
            }
        }
        if kept.os.is_empty() {
            kept.os = host.os;
        }
        if kept.mac.is_none() {
            kept.mac = host.mac;
            kept.vendor = host.vendor;
        }
    }

    pub fn into_vec(self) -> Vec<Host> {
        self.hosts
    }
}
