//! The escape sensor: proof that nothing tried to leave loopback.
//!
//! Inside the tests' private network namespace only `lo` is up, so a connect to an
//! out-of-scope address would fail without a trace. A sensor gives such an attempt a place
//! to show: a veth pair whose near end holds an address of an out-of-scope /24. Any packet
//! for that range (even the ARP request that precedes a TCP SYN) leaves through the near end
//! and moves its TX counter, which `ip -s -j link show` reads. IPv6 is off on both ends so
//! router solicitations can't move it either.
//!
//! Each sensor gets a /24 of its own (10.77.N.0/24), so tests running in parallel in the same
//! namespace never share a route. Must not run in the host's namespace: it refuses to, since
//! adding links and routes there would touch the machine's real network.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct Sensor {
    near: String,
    net: String,
}

/// Whether this process runs in a network namespace other than init's: the tests' own.
pub fn in_private_netns() -> bool {
    let own = std::fs::read_link("/proc/self/ns/net");
    let init = std::fs::read_link("/proc/1/ns/net");
    match (own, init) {
        (Ok(own), Ok(init)) => own != init,
        // /proc/1 unreadable: we are in a pid namespace of our own, so nothing to compare;
        // fall back to "only loopback and our own sensors are here".
        _ => ip(&["-o", "link", "show"])
            .lines()
            .all(|l| l.contains(": lo:") || l.contains(": pks")),
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e} (install iproute2)"));
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn disable_ipv6(dev: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
    // Absent when the kernel has no IPv6 at all, which is just as quiet.
    let _ = std::fs::write(path, "1");
}

impl Sensor {
    /// A fresh sensor on 10.77.N.0/24. Panics outside a private network namespace.
    pub fn new() -> Sensor {
        assert!(
            in_private_netns(),
            "a Sensor must run inside the tests' private network namespace \
             (scripts/test runs them under `unshare --net`)"
        );
        let n = SEQ.fetch_add(1, Ordering::Relaxed) + std::process::id() % 100 * 2;
        let (near, far) = (format!("pks{n}a"), format!("pks{n}b"));
        let net = format!("10.77.{}", n % 250);
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        disable_ipv6(&near);
        disable_ipv6(&far);
        ip(&["addr", "add", &format!("{net}.2/24"), "dev", &near]);
        ip(&["link", "set", &near, "up"]);
        ip(&["link", "set", &far, "up"]);
        Sensor { near, net }
    }

    /// An out-of-scope address that only this sensor's link can reach.
    pub fn address(&self) -> String {
        format!("{}.1", self.net)
    }

    /// Another one of the same /24, for tests that need two.
    pub fn address_n(&self, host: u8) -> String {
        format!("{}.{host}", self.net)
    }

    /// Packets sent through the near end so far.
    pub fn tx_packets(&self) -> u64 {
        let text = ip(&["-s", "-j", "link", "show", "dev", &self.near]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("ip -j output");
        v[0]["stats64"]["tx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no tx counter in {text}"))
    }
}

impl Default for Sensor {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.near])
            .output();
    }
}
