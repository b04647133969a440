//! The `--json` contract: one document type per command output, each carrying
//! `schema_version`, and the JSON Schemas generated from them (shipped in `schemas/`).
//! Must not print nor decide exit codes: the client fills these and prints them.
//!
//! Rules the types keep: the same thing has the same shape in every command (a scan in
//! `show`, `scan --wait`, `import` and each item of `wait`), counts are named `*_count`,
//! times are RFC 3339 strings, and an absent value is `null`, never `""`.

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::messages::*;
use crate::model::*;

/// Bumped when a document changes incompatibly (a field renamed, removed or retyped);
/// adding a field does not bump it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// A document: `schema_version` first, then the command's fields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Doc<T> {
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Doc<T> {
    pub fn new(body: T) -> Self {
        Doc {
            schema_version: JSON_SCHEMA_VERSION,
            body,
        }
    }
}

/// `picket ping`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PingDoc {
    pub daemon_version: String,
    pub client_version: String,
    pub protocol_version: u32,
    pub pid: u32,
    pub uptime_ms: u64,
    /// The socket the client used (it looks in several places: README "Which daemon").
    pub socket: String,
}

/// `picket scan` without `--wait`/`--follow`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SubmittedDoc {
    pub id: ScanId,
    pub queued_behind: u32,
}

/// `picket wait`: always a list, one scan or many.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WaitDoc {
    pub scans: Vec<ScanDetail>,
}

/// `picket status`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StatusDoc {
    pub scans: Vec<ScanProgress>,
}

/// `picket tools`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ToolsDoc {
    pub tools: Vec<ToolInfo>,
}

/// `picket cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CancelDoc {
    pub id: ScanId,
    pub cancelled: bool,
    pub was: ScanStatus,
}

/// `picket cache clear | cleanup | invalidate`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CacheChangedDoc {
    pub removed: u64,
}

/// `picket schedule add | list | pause | resume | remove | run-now`: the schedules the
/// command concerns (`list`: all of them).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SchedulesDoc {
    pub schedules: Vec<ScheduleInfo>,
}

/// `picket shutdown`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ShutdownDoc {
    pub shutting_down: bool,
}

/// `picket diff A B` / `picket diff --target T`: what changed from scan `from` to scan `to`.
/// Findings are matched by fingerprint, services by host, port and protocol.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DiffDoc {
    pub from: ScanId,
    pub to: ScanId,
    /// In `to`, not in `from`.
    pub new: Vec<Finding>,
    /// In `from`, and resolved since: a complete run after `from`, up to `to`, of the same
    /// tool on the same asset no longer reported them.
    pub resolved: Vec<Finding>,
    /// In `from`, not in `to`, yet not resolved: `to` had no complete run of their tool
    /// on their asset (it failed, was cut or did not run), so nothing is known.
    pub unchecked: Vec<Finding>,
    /// In both, with another severity or detail.
    pub changed: Vec<FindingChange>,
    pub services_opened: Vec<Service>,
    pub services_closed: Vec<Service>,
    /// On the same port in both, with another name, product or version.
    pub services_changed: Vec<ServiceChange>,
}

/// A finding both scans saw: as `to` saw it, and what `from` saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FindingChange {
    pub finding: Finding,
    pub severity_before: Severity,
    pub detail_before: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ServiceChange {
    pub before: Service,
    pub after: Service,
}

/// Any failure, usage errors included: `{"schema_version", "error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDoc {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// usage, not_running, unreachable, timeout, autostart_failed, rejected, too_large,
    /// invalid, refused, busy, not_found, version_mismatch, internal, scan_not_done,
    /// fail_on, error.
    pub kind: String,
    pub message: String,
    /// What to do about it; null when there is nothing to say.
    pub hint: Option<String>,
    /// The process's exit code (README: exit codes).
    pub exit_code: i32,
    /// The daemon's versions when it refused the handshake; null otherwise.
    pub daemon_version: Option<String>,
    pub daemon_protocol: Option<u32>,
}

/// The kinds an `ErrorReply` can have, as `ErrorBody.kind` names them.
pub fn error_kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Invalid => "invalid",
        ErrorKind::Refused => "refused",
        ErrorKind::Busy => "busy",
        ErrorKind::NotFound => "not_found",
        ErrorKind::VersionMismatch => "version_mismatch",
        ErrorKind::Internal => "internal",
    }
}

fn schema<T: JsonSchema>() -> Schema {
    schemars::schema_for!(Doc<T>)
}

/// Every document's schema, by file stem (`schemas/STEM.json`), and the commands printing it.
pub fn schemas() -> Vec<(&'static str, &'static str, Schema)> {
    let mut all = documents();
    for (stem, commands, schema) in &mut all {
        schema.insert("title".into(), format!("picket --json: {stem}").into());
        schema.insert(
            "description".into(),
            format!("Printed by: {commands}.").into(),
        );
    }
    all
}

fn documents() -> Vec<(&'static str, &'static str, Schema)> {
    vec![
        ("ping", "ping", schema::<PingDoc>()),
        ("web", "web", schema::<WebInfo>()),
        ("health", "health", schema::<HealthReport>()),
        (
            "metrics",
            "stats, metrics --format json",
            schema::<MetricsReport>(),
        ),
        (
            "submitted",
            "scan (without --wait/--follow)",
            schema::<SubmittedDoc>(),
        ),
        (
            "scan",
            "show, scan --wait/--follow, import",
            schema::<ScanDetail>(),
        ),
        ("wait", "wait", schema::<WaitDoc>()),
        ("status", "status", schema::<StatusDoc>()),
        ("list", "list", schema::<ScanPage>()),
        ("findings", "findings", schema::<FindingPage>()),
        ("finding", "finding", schema::<FindingDetail>()),
        ("cancel", "cancel", schema::<CancelDoc>()),
        ("tools", "tools", schema::<ToolsDoc>()),
        ("cache-stats", "cache stats", schema::<CacheStatsReport>()),
        (
            "cache-changed",
            "cache clear, cleanup, invalidate",
            schema::<CacheChangedDoc>(),
        ),
        ("shutdown", "shutdown", schema::<ShutdownDoc>()),
        (
            "schedules",
            "schedule add, list, pause, resume, remove, run-now",
            schema::<SchedulesDoc>(),
        ),
        ("diff", "diff", schema::<DiffDoc>()),
        ("error", "any command that fails", schema::<ErrorDoc>()),
        (
            "event",
            "the HTTP API's Server-Sent Events (/v1/events, /v1/scans/{id}/events)",
            schema::<EventDoc>(),
        ),
        ("cluster", "cluster", schema::<ClusterReport>()),
    ]
}

/// One event of a scan as the HTTP API streams it (each Server-Sent Event's `data`; its
/// `event:` line is `kind`): what `picket follow` shows live, as a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventDoc {
    Started {
        scan: ScanId,
    },
    ToolStarted {
        scan: ScanId,
        tool: String,
        target: String,
    },
    ToolFinished {
        scan: ScanId,
        run: ToolRun,
        services_count: u32,
        findings_count: u32,
    },
    Warning {
        scan: ScanId,
        message: String,
    },
    /// The last event of its scan.
    Finished {
        scan: ScanId,
        status: ScanStatus,
    },
}

impl EventDoc {
    /// The `kind` field's value, the SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            EventDoc::Started { .. } => "started",
            EventDoc::ToolStarted { .. } => "tool_started",
            EventDoc::ToolFinished { .. } => "tool_finished",
            EventDoc::Warning { .. } => "warning",
            EventDoc::Finished { .. } => "finished",
        }
    }
}

impl From<ScanEvent> for EventDoc {
    fn from(e: ScanEvent) -> Self {
        match e {
            ScanEvent::Started { scan } => EventDoc::Started { scan },
            ScanEvent::ToolStarted { scan, tool, target } => {
                EventDoc::ToolStarted { scan, tool, target }
            }
            ScanEvent::ToolFinished {
                scan,
                run,
                services,
                findings,
            } => EventDoc::ToolFinished {
                scan,
                run,
                services_count: services,
                findings_count: findings,
            },
            ScanEvent::Warning { scan, message } => EventDoc::Warning { scan, message },
            ScanEvent::Finished { scan, status } => EventDoc::Finished { scan, status },
        }
    }
}
