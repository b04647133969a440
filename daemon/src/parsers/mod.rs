//! Tool output parsers: each turns one tool's raw output into typed services and findings.
//!
//! A parser is a pure function of bytes: it must not run processes, touch the database or
//! panic. Malformed or truncated output is a `ParseError` for that run, never a crash.

pub mod generic;
pub mod nmap;
pub(crate) mod normalize;
pub mod nuclei;
pub mod sslscan;
#[cfg(test)]
mod testkit;
pub mod testssl;
pub mod titles;
pub mod whatweb;
mod xml_tree;

use picket_protocol::{Finding, Host, Service, Severity};
use sha2::{Digest, Sha256};

/// What one run of a tool produced (serde: a cluster worker returns it, cluster/runs.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParsedOutput {
    /// Hosts with what the tool learned about them (names, OS, state); empty for tools
    /// that only report endpoints.
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    pub findings: Vec<Finding>,
    /// Redirects the tool reported and did not follow (tools run with redirects off). The
    /// parser only reports them: the scan supervisor checks each against the scope and
    /// either plans follow-up runs on it or records why it was not followed.
    pub redirects: Vec<Redirect>,
    /// Records the parser could not place (a match without a host, an element of an unknown
    /// shape), one line each: stored on the run and counted, never dropped without a word.
    pub warnings: Vec<String>,
    /// Set when the output ends early (an interrupted nmap run, a cut JSON line) but complete
    /// records were kept: says what was cut. The run is stored as truncated with this as a
    /// warning. A parser returns `ParseError::Truncated` only when nothing complete remains.
    pub partial: Option<String>,
}

/// An HTTP redirect (a 3xx `Location`, or a meta refresh) to another endpoint. Redirects
/// that stay on the endpoint that answered (same scheme, host and port) are not reported:
/// the run that saw them already covers that endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Redirect {
    /// The endpoint that answered with the redirect.
    pub from_url: String,
    pub from_host: String,
    pub from_port: u16,
    /// Where it points: absolute (a relative location is resolved against `from_url`) and
    /// clipped, so a hostile location can't bloat a finding.
    pub location: String,
    /// `http` or `https`; other schemes are not reported (no web tool would follow them).
    pub scheme: String,
    /// As written in the location: an address or a name, not checked against the scope.
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed {tool} output: {reason}")]
    Malformed { tool: &'static str, reason: String },
    #[error("{tool} output ends early (truncated): {reason}")]
    Truncated { tool: &'static str, reason: String },
    #[error("{tool} reported an error: {message}")]
    ToolReported { tool: &'static str, message: String },
}

/// Built-in parsers, selectable by name in the tool configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinParser {
    Nmap,
    Sslscan,
    Whatweb,
    Testssl,
    Nuclei,
}

impl BuiltinParser {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "nmap" => Self::Nmap,
            "sslscan" => Self::Sslscan,
            "whatweb" => Self::Whatweb,
            "testssl" | "testssl.sh" => Self::Testssl,
            "nuclei" => Self::Nuclei,
            _ => return None,
        })
    }

    pub fn parse(self, output: &[u8]) -> Result<ParsedOutput, ParseError> {
        self.parse_on(output, "")
    }

    /// Parses with the run's target (blank: none), where a record that names no host of
    /// its own (a nuclei dns or code match) is placed.
    pub fn parse_on(self, output: &[u8], default_host: &str) -> Result<ParsedOutput, ParseError> {
        match self {
            Self::Nmap => nmap::parse(output),
            Self::Sslscan => sslscan::parse(output),
            Self::Whatweb => whatweb::parse(output),
            Self::Testssl => testssl::parse(output),
            Self::Nuclei => nuclei::parse_on(output, default_host),
        }
    }
}

/// Stable identity of a finding across scans: the same issue on the same endpoint, found
/// by the same tool, hashes the same, whatever its wording of detail or its timestamp.
pub fn fingerprint(
    tool: &str,
    host: &str,
    port: Option<u16>,
    title: &str,
    evidence_key: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        tool,
        host,
        &port.map(|p| p.to_string()).unwrap_or_default(),
        title,
        evidence_key,
    ] {
        h.update(part.trim().to_ascii_lowercase().as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds a finding with its fingerprint; `evidence` is the normalized key that tells two
/// findings with the same title apart (a cipher name, a script id, a header).
#[allow(clippy::too_many_arguments)]
pub fn new_finding(
    tool: &str,
    host: &str,
    port: Option<u16>,
    severity: Severity,
    title: impl Into<String>,
    detail: impl Into<String>,
    cve: Vec<String>,
    evidence: impl Into<String>,
) -> Finding {
    let title = title.into();
    let evidence = evidence.into();
    Finding {
        id: 0,
        tool: tool.to_string(),
        host: host.to_string(),
        port,
        severity,
        fingerprint: fingerprint(tool, host, port, &title, &evidence),
        title,
        detail: detail.into(),
        cve,
        evidence,
        first_seen: None,
        last_seen: None,
        state: Default::default(),
        resolved_at: None,
        resolved_scan: None,
        reopened_count: 0,
    }
}
