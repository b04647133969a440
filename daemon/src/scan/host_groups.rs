//! Large networks split into host groups: a CIDR target is discovered by several runs,
//! each on a block of the network, so the tool's concurrency (and the per-run streaming of
//! hosts) works across the network instead of one process walking it all.
//!
//! Blocks are aligned sub-networks (CIDR text the tools read as they read the target), at
//! least `MIN_GROUP` addresses and at most `MAX_GROUPS` of them: a /28 becomes four /30s,
//! a /16 sixty-four /22s. Must not decide scope: the blocks are inside a checked network.

use ipnet::IpNet;

/// Below this, a process per block costs more than it saves (nmap's own parallelism
/// within a run covers a few hosts at once).
const MIN_GROUP: u128 = 4;
/// Above this, the queue holds more runs than any concurrency limit would start.
const MAX_GROUPS: u128 = 64;

/// The blocks `net` is discovered in; the network itself when it is small.
pub fn split(net: IpNet) -> Vec<IpNet> {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let size: u128 = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
    if size <= MIN_GROUP {
        return vec![net];
    }
    let group = (size / MAX_GROUPS).max(MIN_GROUP);
    // A power of two, as size is: the block's prefix length.
    let group_bits = 127 - group.leading_zeros() as u8;
    let prefix = net.max_prefix_len() - group_bits;
    match net.subnets(prefix) {
        Ok(blocks) => blocks.collect(),
        Err(_) => vec![net],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(net: &str) -> Vec<String> {
        split(net.parse().unwrap())
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn networks_split_into_aligned_blocks() {
        assert_eq!(
            texts("127.0.2.0/28"),
            [
                "127.0.2.0/30",
                "127.0.2.4/30",
                "127.0.2.8/30",
                "127.0.2.12/30"
            ]
        );
        assert_eq!(texts("127.0.0.0/30"), ["127.0.0.0/30"]);
        assert_eq!(texts("127.0.0.1/32"), ["127.0.0.1/32"]);
        let b16 = texts("127.0.0.0/16");
        assert_eq!((b16.len(), b16[1].as_str()), (64, "127.0.4.0/22"));
        let v6 = texts("::1/128");
        assert_eq!(v6, ["::1/128"]);
        assert_eq!(texts("fd00::/64").len(), 64);
        assert_eq!(texts("fd00::/64")[0], "fd00::/70");
    }
}
