//! Requests, responses and streamed events. Every client frame carries a request id; the
//! daemon answers with frames carrying the same id. Streaming requests (follow, wait) get
//! `Response::Event` frames until `Response::End`. An answer too big for one frame comes as
//! `Response::Part` frames followed by its usual variant (see parts.rs); an import streams
//! its report as `ImportStart`, `ImportChunk`s and `ImportEnd`, all under one request id.
//! Must stay bincode-friendly: no untagged enums, no skipped fields, no `serde_json::Value`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ErrorReply;
use crate::model::*;
use crate::parts::AnswerPart;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub id: u64,
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerFrame {
    pub id: u64,
    pub response: Response,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    Ping,
    /// `deep`: also run SQLite's `PRAGMA quick_check` (reads the whole database).
    Health {
        deep: bool,
    },
    Stats,
    Shutdown,
    Scan(ScanRequest),
    Status {
        scan: Option<ScanId>,
    },
    List(ListQuery),
    Show {
        scan: ScanId,
    },
    Findings(FindingsQuery),
    /// Streams events of the scans until all are final, then `End`.
    Wait {
        scans: Vec<ScanId>,
        follow: bool,
    },
    Cancel {
        scan: ScanId,
    },
    Tools,
    Import(ImportRequest),
    Cache(CacheCommand),
    Metrics,
    // Appended (bincode enums are positional): the streamed import of protocol 3.
    /// Opens a streamed import; the report follows as `ImportChunk` frames with the same
    /// id, then `ImportEnd`. The one answer comes after `ImportEnd` (or earlier, as an
    /// error, in which case the daemon skips the rest of the upload).
    ImportStart(ImportHeader),
    ImportChunk(Vec<u8>),
    ImportEnd,
    // Appended, protocol 5.
    /// One finding with the scans and the run that produced it.
    Finding {
        id: i64,
    },
    // Appended, protocol 6.
    /// Recurring scans: add, list, pause, resume, remove, run now.
    Schedule(ScheduleCommand),
    /// A run's raw output, kept as evidence (`picket output RUN`).
    Output {
        run: i64,
    },
    // Appended, protocol 7.
    /// Where the HTTP API's TCP door listens and where its token is (`picket web`).
    Web,
    /// `picket cluster`: the nodes, streams and dead letters of this node's cluster.
    Cluster,
}

impl Request {
    /// Short name for logs and per-kind metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Health { .. } => "health",
            Request::Stats => "stats",
            Request::Shutdown => "shutdown",
            Request::Scan(_) => "scan",
            Request::Status { .. } => "status",
            Request::List(_) => "list",
            Request::Show { .. } => "show",
            Request::Findings(_) => "findings",
            Request::Wait { .. } => "wait",
            Request::Cancel { .. } => "cancel",
            Request::Tools => "tools",
            Request::Import(_) => "import",
            Request::Cache(_) => "cache",
            Request::Metrics => "metrics",
            Request::ImportStart(_) | Request::ImportChunk(_) | Request::ImportEnd => "import",
            Request::Finding { .. } => "finding",
            Request::Schedule(_) => "schedule",
            Request::Output { .. } => "output",
            Request::Web => "web",
            Request::Cluster => "cluster",
        }
    }
}

/// `picket scan`'s options; also the body of `POST /v1/scans` (targets as the daemon takes
/// them: `host:port` is the client's shorthand, there use `ports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Hosts, addresses or networks, each within the daemon's scope.
    pub targets: Vec<String>,
    /// quick (default), tls, web, full, thorough, or one from the config.
    #[serde(default)]
    pub profile: Option<String>,
    /// Only these tools of the profile.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Ports to scan, e.g. "80,443".
    #[serde(default)]
    pub ports: Option<String>,
    #[serde(default)]
    pub priority: i32,
    /// Run every tool even when a cached result is fresh.
    #[serde(default)]
    pub no_cache: bool,
    /// `--max-age`: cached results older than this many seconds are not used (0: none).
    #[serde(default)]
    pub max_age_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ListQuery {
    pub target: Option<String>,
    pub status: Option<ScanStatus>,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FindingsQuery {
    pub scan: Option<ScanId>,
    pub min_severity: Option<Severity>,
    pub target: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
    /// Only findings in this state; None: all.
    #[serde(default)]
    pub state: Option<FindingState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub tool: String,
    pub file_name: String,
    pub content: Vec<u8>,
    pub target: Option<String>,
}

/// What a streamed import is: the tool whose parser reads it, where it came from, how big
/// the client says it is (checked against the daemon's limit before any byte is taken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportHeader {
    pub tool: String,
    pub file_name: String,
    pub size: u64,
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Pong(PingInfo),
    Health(HealthReport),
    Stats(StatsReport),
    ShuttingDown,
    ScanAccepted {
        id: ScanId,
        queued_behind: u32,
    },
    Status(Vec<ScanProgress>),
    Scans(ScanPage),
    Scan(Box<ScanDetail>),
    Findings(FindingPage),
    Cancelled {
        id: ScanId,
        was: ScanStatus,
    },
    Tools(Vec<ToolInfo>),
    CacheStats(CacheStatsReport),
    CacheChanged {
        removed: u64,
    },
    Metrics(Box<MetricsReport>),
    Event(ScanEvent),
    /// Ends a stream of events.
    End,
    Error(ErrorReply),
    // Appended (bincode enums are positional): answers of any size, protocol 3.
    /// A leading piece of a big answer; the answer's usual variant follows with the rest.
    Part(AnswerPart),
    // Appended, protocol 5.
    Finding(Box<FindingDetail>),
    // Appended, protocol 6.
    /// Every schedule command answers with the schedules it concerns (`list`: all).
    Schedules(Vec<ScheduleInfo>),
    Output(Box<RunOutput>),
    // Appended, protocol 7.
    Web(WebInfo),
    Cluster(Box<ClusterReport>),
}

/// `picket web`: the TCP door of the HTTP API (`[http] listen`), if it is open. Also the
/// `picket web --json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebInfo {
    /// `http://127.0.0.1:PORT/` (https with TLS); none: no `[http] listen` configured.
    pub url: Option<String>,
    /// The bearer token's file (`DATA_DIR/http-token`, readable by the daemon's user).
    pub token_file: Option<String>,
    /// `[http] metrics_listen`'s `/metrics`, served without a token.
    pub metrics_url: Option<String>,
}

/// A run's raw output as the tool wrote it (or the imported report), with what says which
/// run it is. `bytes` is empty when none is kept: `removed_at` then says whether retention
/// removed it. Big outputs come as `AnswerPart::OutputBytes` parts first (see parts.rs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutput {
    pub run: i64,
    pub scan: ScanId,
    pub tool: String,
    pub target: String,
    /// An output was stored with the run (false for a failed run: it has none).
    pub stored: bool,
    /// The output's size before compression.
    pub size: u64,
    /// When the retention policy removed it (RFC 3339).
    pub removed_at: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingInfo {
    pub daemon_version: String,
    pub protocol_version: u32,
    pub pid: u32,
    pub uptime_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthReport {
    pub ok: bool,
    pub checks: Vec<HealthCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
pub struct PoolStatus {
    pub max_size: u64,
    pub size: u64,
    pub available: u64,
    pub waiting: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct StatsReport {
    pub uptime_ms: u64,
    pub connections_total: u64,
    pub connections_open: u64,
    pub requests_served: u64,
    pub protocol_errors: u64,
    pub refused_peers: u64,
    pub db_pool: PoolStatus,
    pub scans_running: u64,
    pub scans_queued: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanProgress {
    pub id: ScanId,
    pub targets: Vec<String>,
    pub profile: String,
    pub status: ScanStatus,
    pub runs_total: u32,
    pub runs_finished: u32,
    pub running: Vec<String>,
    pub findings_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanPage {
    pub scans: Vec<ScanSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FindingPage {
    pub findings: Vec<Finding>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    pub name: String,
    pub program: String,
    pub installed: bool,
    pub path: Option<String>,
    pub version: Option<String>,
    pub concurrency: u32,
    pub timeout_secs: u64,
    pub cache_ttl_secs: u64,
    pub triggers: Vec<String>,
}

/// Progress of a scan, streamed to followers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanEvent {
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
        services: u32,
        findings: u32,
    },
    Warning {
        scan: ScanId,
        message: String,
    },
    Finished {
        scan: ScanId,
        status: ScanStatus,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheCommand {
    Stats,
    Clear,
    /// Drops expired entries now (the daemon also does it periodically).
    Cleanup,
    Invalidate {
        target: Option<String>,
        scan: Option<ScanId>,
        tool: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct CacheStatsReport {
    pub l1_entries: u64,
    pub l1_bytes: u64,
    pub l1_capacity_bytes: u64,
    pub l2_entries: u64,
    pub l2_bytes: u64,
    /// hits_l1 + hits_l2 + hits_shared.
    pub hits: u64,
    pub hits_l1: u64,
    pub hits_l2: u64,
    /// Lookups answered by another scan's run of the same key (single flight).
    pub hits_shared: u64,
    /// Lookups that ran the tool (including --no-cache ones).
    pub misses: u64,
    pub bypassed: u64,
    /// hits / (hits + misses).
    pub hit_rate: f64,
    pub evictions: u64,
    pub expirations: u64,
    pub inserts: u64,
    pub in_flight: u64,
    /// Lookups waiting for an in-flight run of the same key.
    pub in_flight_waiters: u64,
}

/// A histogram: cumulative counts per upper bound (seconds), like Prometheus'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LabeledHistogram {
    pub label: String,
    pub histogram: Histogram,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LabeledCount {
    pub labels: Vec<(String, String)>,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlowQueryReport {
    pub query: String,
    pub micros: u64,
    pub at: String,
}

/// Everything `picket metrics` and `picket stats` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct MetricsReport {
    pub stats: StatsReport,
    pub cache: CacheStatsReport,
    pub request_latency: Vec<LabeledHistogram>,
    pub tool_run_duration: Vec<LabeledHistogram>,
    pub scan_duration: Histogram,
    pub query_duration: Histogram,
    pub scans_by_status: Vec<LabeledCount>,
    pub tool_runs_by_status: Vec<LabeledCount>,
    pub findings_by_severity: Vec<LabeledCount>,
    /// Records parsers could not place and partial outputs, by tool (each is a warning on
    /// its run too).
    pub parser_warnings: Vec<LabeledCount>,
    pub queue_depths: Vec<LabeledCount>,
    pub slow_queries: Vec<SlowQueryReport>,
    pub slow_query_threshold_ms: u64,
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    /// Scan-end notifications by hook kind (webhook, exec) and outcome (ok, failed).
    #[serde(default)]
    pub notify_sent: Vec<LabeledCount>,
    /// Compressed bytes of stored tool outputs, as of the last retention pass (protocol 6).
    #[serde(default)]
    pub output_bytes_stored: u64,
    /// Stored tool outputs removed by retention since start (protocol 6).
    #[serde(default)]
    pub outputs_removed: u64,
    /// The cluster as this node sees it (protocol 7); null without `[cluster]` or when
    /// Redis did not answer.
    #[serde(default)]
    pub cluster: Option<ClusterReport>,
}

pub type ScheduleId = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleCommand {
    Add(ScheduleSpec),
    List,
    Pause {
        id: ScheduleId,
    },
    Resume {
        id: ScheduleId,
    },
    Remove {
        id: ScheduleId,
    },
    /// Submits its scan now; the next due time does not move.
    RunNow {
        id: ScheduleId,
    },
}

/// `picket schedule add`'s options, also the body of `POST /v1/schedules`: when a schedule
/// runs (exactly one of `every_secs` and `cron`) and the scan it submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub targets: Vec<String>,
    #[serde(default)]
    pub every_secs: Option<u64>,
    /// Five fields (or six, with seconds first), read in `tz`.
    #[serde(default)]
    pub cron: Option<String>,
    /// `local` (the daemon's timezone, the default) or `UTC`.
    #[serde(default)]
    pub tz: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub ports: Option<String>,
}

/// One stored schedule, as `picket schedule list --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleInfo {
    pub id: ScheduleId,
    pub name: Option<String>,
    pub targets: Vec<String>,
    pub every_secs: Option<u64>,
    pub cron: Option<String>,
    pub tz: String,
    pub profile: Option<String>,
    pub tools: Vec<String>,
    pub ports: Option<String>,
    pub paused: bool,
    pub created_at: crate::Timestamp,
    /// Null while paused.
    pub next_run_at: Option<crate::Timestamp>,
    pub last_run_at: Option<crate::Timestamp>,
    pub last_scan: Option<ScanId>,
    /// Why the last due run submitted no scan (scope, busy queue, unknown profile); null
    /// once one is accepted again.
    pub last_error: Option<String>,
}

/// `picket cluster`: every node registered in the cluster's Redis, the streams runs and
/// results travel on, and the dead letters (runs that failed `max_deliveries` times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
pub struct ClusterReport {
    /// The node that answered.
    pub node_id: String,
    /// The Redis it uses, without any password.
    pub redis: String,
    pub nodes: Vec<ClusterNode>,
    pub streams: Vec<ClusterStream>,
    /// Entries of `picket:dead`.
    pub dead_letters: u64,
}

/// One node's registration (`picket:nodes:{node_id}`), refreshed every few seconds; it
/// disappears when the node stops heartbeating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterNode {
    pub node_id: String,
    /// `coordinator`, `worker` or both.
    pub roles: Vec<String>,
    /// The picketd package version.
    pub version: String,
    pub protocol_version: u32,
    /// Tool runs this node is running now.
    pub runs_in_flight: u64,
    /// The last heartbeat (RFC 3339, the Redis server's clock).
    pub heartbeat_at: String,
    /// How long ago that was, by the Redis server's clock.
    pub heartbeat_age_ms: u64,
}

/// One stream and its consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterStream {
    pub stream: String,
    pub group: String,
    /// Entries in the stream (XLEN).
    pub length: u64,
    /// Delivered to a consumer and not yet acknowledged.
    pub pending: u64,
    /// Entries not yet delivered to the group; null when Redis cannot tell.
    pub lag: Option<u64>,
}
