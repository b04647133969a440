//! Discovery that streams: while an nmap run is still going, each `<host>` element it has
//! completed on stdout is parsed and that host's services are told to the scan, so the
//! follow-ups on a host start as soon as nmap has reported it, not when the whole run ends.
//!
//! A head start only: the parse of the whole output when the run ends stays the run's
//! record (stored, cached, and the services it triggers are deduplicated by the scan).
//! Must not store anything, and must never hold more than the part of the output after the
//! last complete host.

use actix::Recipient;
use picket_protocol::Service;
use tokio::sync::mpsc;

use crate::config::ParserSpec;
use crate::run::spec::ToolSpec;

/// Services a discovery run has reported so far (a streamed part of its output).
#[derive(actix::Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ServicesDiscovered(pub Vec<Service>);

/// Whether the tool's output can be read host by host while it runs: nmap XML on stdout.
pub fn streams(spec: &ToolSpec) -> bool {
    matches!(&spec.config.parser, ParserSpec::Builtin(p) if p == "nmap")
        && !spec.wants_file_output()
}

/// Reads stdout chunks as the run produces them and tells `to` the services of each host
/// element as it completes. Ends when the sender side (the process reader) is dropped.
pub fn spawn(
    spec: std::sync::Arc<ToolSpec>,
    default_host: String,
    to: Recipient<ServicesDiscovered>,
) -> mpsc::UnboundedSender<Vec<u8>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut hosts = HostSplitter::default();
        while let Some(chunk) = rx.recv().await {
            let Some(block) = hosts.push(&chunk) else {
                continue;
            };
            let doc = [b"<nmaprun>".as_slice(), &block, b"</nmaprun>"].concat();
            // A block the parser refuses streams nothing: the final parse reports it.
            if let Ok(parsed) = spec.parse(&doc, &default_host) {
                if !parsed.services.is_empty() {
                    to.do_send(ServicesDiscovered(parsed.services));
                }
            }
        }
    });
    tx
}

/// Cuts a growing XML text after each complete `</host>`: what it returns holds only
/// complete host elements (and whatever nmap wrote between them), each byte once.
#[derive(Default)]
struct HostSplitter {
    pending: Vec<u8>,
    /// How far `pending` was already searched, so each byte is looked at about once.
    searched: usize,
}

const HOST_END: &[u8] = b"</host>";

impl HostSplitter {
    /// Adds a chunk; returns the text up to the end of the last host element completed so
    /// far (starting at the first `<host` not returned before), if any.
    fn push(&mut self, chunk: &[u8]) -> Option<Vec<u8>> {
        self.pending.extend_from_slice(chunk);
        let from = self.searched.saturating_sub(HOST_END.len() - 1);
        let last_end = self.pending[from..]
            .windows(HOST_END.len())
            .rposition(|w| w == HOST_END)
            .map(|at| from + at + HOST_END.len());
        self.searched = self.pending.len();
        let end = last_end?;
        let start = find(&self.pending[..end], b"<host ")
            .or_else(|| find(&self.pending[..end], b"<host>"))
            .unwrap_or(0);
        let block = self.pending[start..end].to_vec();
        self.pending.drain(..end);
        self.searched = self.pending.len();
        Some(block)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_out_whole_whatever_the_chunking() {
        let text = concat!(
            "<?xml version=\"1.0\"?><nmaprun><hosthint><status state=\"up\"/></hosthint>",
            "<host><address addr=\"127.0.0.1\"/></host>",
            "<taskprogress/>",
            "<host><address addr=\"127.0.0.2\"/></host>",
            "<runstats/></nmaprun>"
        )
        .as_bytes();
        for size in [1, 3, 7, 64] {
            let mut s = HostSplitter::default();
            let blocks: Vec<String> = text
                .chunks(size)
                .filter_map(|c| s.push(c))
                .map(|b| String::from_utf8(b).unwrap())
                .collect();
            let joined = blocks.concat();
            assert!(joined.starts_with("<host>"), "chunk {size}: {joined}");
            assert_eq!(joined.matches("<host>").count(), 2, "chunk {size}");
            assert_eq!(joined.matches("</host>").count(), 2, "chunk {size}");
            assert!(blocks.iter().all(|b| b.ends_with("</host>")));
            assert!(!joined.contains("runstats"), "only up to the last host");
        }
    }

    #[test]
    fn nothing_before_a_host_ends() {
        let mut s = HostSplitter::default();
        assert_eq!(s.push(b"<nmaprun><host><ports>"), None);
        assert_eq!(s.push(b"</ports></hos"), None);
        assert_eq!(
            s.push(b"t><ho").as_deref(),
            Some(b"<host><ports></ports></host>".as_slice())
        );
        assert_eq!(
            s.pending, b"<ho",
            "only the tail after the last host is kept"
        );
    }
}
