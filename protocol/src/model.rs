//! Domain values shared by daemon and client: scans, tool runs, services, findings.
//! Their serde shape is the `--json` contract of DESIGN.md; renaming a field breaks users.
//! Must not hold behaviour beyond parsing/printing names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::time::Timestamp;

pub type ScanId = i64;

/// A word that names none of an enum's values (`--status fnished`), with the ones it could be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}': expected one of {}", expected.join(", "))]
pub struct UnknownWord {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static [&'static str],
}

/// The words a message uses for an enum's type: never the Rust name ("unknown Severity").
fn type_words(rust_name: &'static str) -> &'static str {
    match rust_name {
        "Severity" => "severity",
        "ScanStatus" => "scan status",
        "RunStatus" => "run status",
        "FindingState" => "finding state",
        other => other,
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s.to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownWord {
                        what: type_words(stringify!($name)),
                        given: other.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

named_enum!(
    /// Ordered from least to most severe, so `>=` filters work.
    Severity { Info = "info", Low = "low", Medium = "medium", High = "high", Critical = "critical" }
);

named_enum!(ScanStatus {
    Queued = "queued",
    Running = "running",
    Done = "done",
    Failed = "failed",
    Cancelled = "cancelled",
    Interrupted = "interrupted",
});

named_enum!(RunStatus {
    Queued = "queued",
    Running = "running",
    Done = "done",
    Failed = "failed",
    TimedOut = "timed_out",
    Cancelled = "cancelled",
    Skipped = "skipped",
});

named_enum!(
    /// Open until a later complete run of the same tool on the same asset no longer
    /// reports it; seen again after that, it is open again (reopened).
    FindingState { Open = "open", Resolved = "resolved" }
);

// By hand: `named_enum!` has no place for a variant's `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for FindingState {
    fn default() -> Self {
        FindingState::Open
    }
}

impl ScanStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ScanStatus::Done | ScanStatus::Failed | ScanStatus::Cancelled
        )
    }
}

impl RunStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// A network service seen by a tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Service {
    pub host: String,
    pub port: u16,
    pub proto: String,
    pub name: String,
    pub product: Option<String>,
    pub version: Option<String>,
    /// True when the service speaks TLS (nmap `tunnel="ssl"`, https, ...).
    pub tls: bool,
}

/// One finding, as stored and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Row id once stored; 0 before.
    pub id: i64,
    pub tool: String,
    pub host: String,
    pub port: Option<u16>,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    pub cve: Vec<String>,
    /// Stable key used for the fingerprint (e.g. the cipher name, the script id).
    pub evidence: String,
    pub fingerprint: String,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// "open", or "resolved" once a later complete run of the same tool on the same host
    /// and port no longer reported it.
    #[serde(default)]
    pub state: FindingState,
    /// When and by which scan it was resolved; null while open.
    #[serde(default)]
    pub resolved_at: Option<String>,
    #[serde(default)]
    pub resolved_scan: Option<ScanId>,
    /// How many times it was seen again after being resolved.
    #[serde(default)]
    pub reopened_count: u32,
}

/// One execution (or cache answer) of one tool against one target within a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolRun {
    pub tool: String,
    pub target: String,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    pub cache_hit: bool,
    pub attempts: u32,
    pub tool_version: Option<String>,
    /// When the run started and ended: RFC 3339 in JSON (milliseconds, UTC), so runs can
    /// be compared for overlap.
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The output was cut (the size cap, or the tool stopped mid-report): what was
    /// complete in it is kept, and `warnings` says what was lost.
    pub truncated: bool,
    pub error: Option<String>,
    /// What the parser could not place or had to leave out, one line each; a run is never
    /// quietly smaller than its output.
    pub warnings: Vec<String>,
    /// When the output this run replays was produced (RFC 3339), for a run answered by the
    /// cache; None for a run that ran. Lets every view say how old a cached result is.
    #[serde(default)]
    pub cached_at: Option<String>,
    /// The run's row id, stable: what `picket output RUN` takes. 0 in a run not read
    /// from the database (a live event before it is stored).
    #[serde(default)]
    pub id: i64,
    /// When the retention policy removed this run's raw output (RFC 3339); None while it
    /// is kept, or when none was stored.
    #[serde(default)]
    pub output_removed_at: Option<String>,
}

impl ToolRun {
    /// A run of `tool` on `target` in `status`, nothing else known yet: what every producer
    /// (a tool actor, the cache, an import, a test) starts from and fills in.
    pub fn new(tool: impl Into<String>, target: impl Into<String>, status: RunStatus) -> Self {
        Self {
            tool: tool.into(),
            target: target.into(),
            status,
            exit_code: None,
            duration_ms: None,
            cache_hit: false,
            attempts: 0,
            tool_version: None,
            started_at: None,
            finished_at: None,
            truncated: false,
            error: None,
            warnings: Vec::new(),
            cached_at: None,
            id: 0,
            output_removed_at: None,
        }
    }
}

/// A host a tool reported, with what it learned about the host itself (not its ports).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Host {
    pub address: String,
    /// "up" or "down" as the tool says; None when it does not say.
    pub state: Option<String>,
    pub hostnames: Vec<HostName>,
    /// Operating-system guesses, best first.
    pub os: Vec<OsMatch>,
    pub mac: Option<String>,
    pub vendor: Option<String>,
}

/// A name of a host and where it came from: "PTR" (reverse DNS) or "user" (the name the
/// user gave as target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostName {
    pub name: String,
    pub kind: String,
}

/// One operating-system guess and the tool's confidence in it, in percent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OsMatch {
    pub name: String,
    pub accuracy: u8,
}

/// A scan with everything it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanDetail {
    pub id: ScanId,
    pub targets: Vec<String>,
    pub profile: String,
    pub ports: Option<String>,
    pub tools: Vec<String>,
    pub priority: i32,
    pub status: ScanStatus,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub tool_runs: Vec<ToolRun>,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    pub findings: Vec<Finding>,
    /// Findings of `findings` this scan saw first, or saw again after they were resolved.
    #[serde(default)]
    pub new_count: u64,
    /// Findings this scan resolved: open before, not reported by its complete runs.
    #[serde(default)]
    pub resolved: Vec<Finding>,
}

/// A scan as listed (no children).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanSummary {
    pub id: ScanId,
    pub targets: Vec<String>,
    pub profile: String,
    pub status: ScanStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// How many findings the scan has (`show` lists them in `findings`).
    pub findings_count: u64,
}

/// One finding with where it came from (`picket finding ID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FindingDetail {
    pub finding: Finding,
    /// The scan that first reported it and the latest one.
    pub first_scan: ScanId,
    pub last_scan: ScanId,
    /// Every scan that reported it, oldest first.
    pub scans: Vec<ScanId>,
    /// The run of `last_scan` that produced it (tool, target, when), if still stored.
    pub run: Option<ToolRun>,
}
