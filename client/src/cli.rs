//! The command line, as clap types. Must not run anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "picket",
    version,
    about = "Client for picketd, the local security-scan orchestrator"
)]
pub struct Cli {
    /// Print one JSON document on stdout (errors as {"error": {...}}).
    #[arg(long, global = true)]
    pub json: bool,
    /// picketd's socket (default: $XDG_RUNTIME_DIR/picket/picketd.sock).
    #[arg(long, global = true, env = "PICKET_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Do not start picketd when none answers.
    #[arg(long, global = true)]
    pub no_autostart: bool,
    /// Seconds to wait for picketd to accept the connection and for each answer; 0: wait
    /// forever. Default 30; event streams (`wait`, `scan --follow`) and `import` (without
    /// this option) are never timed.
    #[arg(long, global = true, env = "PICKET_TIMEOUT", value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Largest request (one frame) this client sends or answer frame it takes; the
    /// daemon's max_frame_bytes must allow it too. Big answers and imports need no more.
    #[arg(long, global = true, env = "PICKET_MAX_FRAME_BYTES", default_value_t = picket_protocol::DEFAULT_MAX_FRAME)]
    pub max_frame_bytes: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Daemon version, protocol version, uptime, pid.
    Ping,
    /// Health checks of the daemon: database file, free disk space, scope.
    Health {
        /// Also check the database's integrity (`PRAGMA quick_check`; reads all of it).
        #[arg(long)]
        deep: bool,
    },
    /// Performance report: cache, database pool, queues, latencies, slow queries.
    Stats,
    /// All metrics, as Prometheus text (default) or JSON.
    Metrics {
        #[arg(long, value_parser = ["prometheus", "json"], default_value = "prometheus")]
        format: String,
    },
    /// The tool-result cache.
    #[command(subcommand)]
    Cache(CacheCmd),
    /// Stop the daemon gracefully.
    Shutdown,
    /// Scan targets (IP, CIDR, host name or http(s) URL) within the configured scope.
    Scan(ScanArgs),
    /// Running and queued scans, or one scan's progress.
    Status { scan: Option<i64> },
    /// Stored scans, newest first.
    List(ListArgs),
    /// One scan: its tool runs, services and findings.
    Show { scan: i64 },
    /// Findings, most severe first.
    Findings(FindingsArgs),
    /// Wait until the scans end; prints their summaries.
    Wait {
        #[arg(required = true)]
        scans: Vec<i64>,
    },
    /// Cancel a queued or running scan; its tools are killed.
    Cancel { scan: i64 },
    /// Configured tools: installed or not, version, limits.
    Tools,
    /// Parse an existing report of a supported tool into a stored scan.
    Import {
        tool: String,
        file: PathBuf,
        #[arg(long)]
        target: Option<String>,
        /// Largest report sent; the daemon's [limits] max_import_bytes must allow it too.
        #[arg(long, env = "PICKET_MAX_IMPORT_BYTES", default_value_t = picket_client::DEFAULT_MAX_IMPORT_BYTES)]
        max_import_bytes: u64,
    },
    /// Report on scans as SARIF, HTML, Markdown, CSV or JUnit XML.
    Report(crate::report::ReportArgs),
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Profile: quick (default), tls, web, full, thorough, or one from the config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Run exactly these tools on the targets (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Ports to scan, e.g. 80,443 (nmap's default set when absent).
    #[arg(long)]
    pub ports: Option<String>,
    /// Higher runs first when scans queue.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Run every tool even if a cached result exists.
    #[arg(long)]
    pub no_cache: bool,
    /// Wait for the scan to end and print its summary.
    #[arg(long, conflicts_with = "follow")]
    pub wait: bool,
    /// Show progress as it happens, then the summary.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    pub scan: Option<i64>,
    #[arg(long)]
    pub min_severity: Option<String>,
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCmd {
    /// Entries, bytes, hits (L1, L2, shared), misses, hit rate, evictions, expirations.
    Stats,
    /// Drop every entry.
    Clear,
    /// Drop expired entries now.
    Cleanup,
    /// Drop the entries of one target, scan or tool.
    Invalidate {
        #[arg(long, group = "what")]
        target: Option<String>,
        #[arg(long, group = "what")]
        scan: Option<i64>,
        #[arg(long, group = "what")]
        tool: Option<String>,
    },
}
