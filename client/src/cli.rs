//! The command line, as clap types. Must not run anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "picket",
    version,
    about = "Client for picketd, the local security-scan orchestrator",
    long_about = "Client for picketd, the local security-scan orchestrator.\n\n\
        Without a command, shows the running and queued scans (`picket status`).\n\n\
        The daemon is found at --socket / $PICKET_SOCKET when given; else at the user's \
        socket ($XDG_RUNTIME_DIR/picket/picketd.sock) when a daemon runs there; else at the \
        system daemon's (/run/picket/picketd.sock); else picket starts the user's own daemon \
        (never when a system daemon is there but refuses this user: that is an error).\n\n\
        Exit codes: 0 success; 1 failure (a scan that did not end done, not found); \
        2 usage error; 3 daemon unreachable or timed out; 4 refused; 130 detached from \
        a followed scan with Ctrl-C (the scan goes on)."
)]
pub struct Cli {
    /// Print one JSON document on stdout (errors as {"error": {...}}).
    #[arg(long, global = true)]
    pub json: bool,
    /// picketd's socket. Default: the user's daemon if one runs, else the system daemon's
    /// (see above); `picket ping` shows which.
    #[arg(
        long,
        global = true,
        env = "PICKET_SOCKET",
        value_name = "PATH",
        hide_env_values = true
    )]
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
    #[arg(long, global = true, env = "PICKET_MAX_FRAME_BYTES", value_name = "BYTES", default_value_t = picket_protocol::DEFAULT_MAX_FRAME)]
    pub max_frame_bytes: usize,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Daemon version, protocol version, uptime, pid, and the socket used.
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
        /// Output format.
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
    Status {
        /// The scan to show (default: all running and queued).
        scan: Option<i64>,
    },
    /// Stored scans, newest first.
    List(ListArgs),
    /// One scan: its tool runs, services and findings.
    Show {
        /// The scan's id (`picket list` shows them).
        scan: i64,
        /// Show each finding's detail, CVEs, evidence and first/last seen.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Findings, most severe first.
    Findings(FindingsArgs),
    /// One finding: every field, its detail text, CVEs, first and last seen, the run that
    /// produced it.
    Finding {
        /// The finding's id (the first column of `picket findings --json`'s `id`).
        id: i64,
    },
    /// Wait until the scans end; prints their summaries.
    Wait {
        /// The scans' ids.
        #[arg(required = true)]
        scans: Vec<i64>,
    },
    /// Follow a queued or running scan live (each run's start and end), then its summary;
    /// Ctrl-C detaches and leaves the scan running.
    Follow {
        /// The scan's id (`picket status` shows the running ones).
        scan: i64,
    },
    /// Cancel a queued or running scan; its tools are killed.
    Cancel {
        /// The scan's id.
        scan: i64,
    },
    /// Configured tools: installed or not, version, limits.
    Tools,
    /// Parse an existing report of a supported tool into a stored scan.
    Import {
        /// The tool that wrote the report (e.g. nmap, sslscan, testssl, whatweb).
        tool: String,
        /// The report file.
        file: PathBuf,
        /// The target the report is about (default: what the report says).
        #[arg(long)]
        target: Option<String>,
        /// Largest report sent; the daemon's [limits] max_import_bytes must allow it too.
        #[arg(long, env = "PICKET_MAX_IMPORT_BYTES", default_value_t = picket_client::DEFAULT_MAX_IMPORT_BYTES)]
        max_import_bytes: u64,
    },
    /// Print a shell completion script (where to put it: README, Install).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `picket man | man -l -`).
    Man,
    /// Report on scans as SARIF, HTML, Markdown, CSV or JUnit XML.
    Report(crate::report::ReportArgs),
    /// Recurring scans: add, list, pause, resume, remove, run-now.
    #[command(subcommand)]
    Schedule(crate::schedule::ScheduleCmd),
    /// Print a run's raw output byte for byte (the tool's report, or the imported file);
    /// `picket show SCAN` lists runs with their ids.
    Output {
        /// The run's id (`id` of a tool run in `picket show --json`).
        run: i64,
    },
    /// What changed between two scans: new, resolved and changed findings, services
    /// opened, closed or changed.
    Diff(crate::diff::DiffArgs),
    /// Where the HTTP API and web dashboard listen (`[http] listen`) and how to log in.
    Web {
        /// Also open the dashboard in a browser ($BROWSER, else xdg-open).
        #[arg(long)]
        open: bool,
    },
    /// The cluster this daemon belongs to ([cluster]): nodes with heartbeats, roles,
    /// versions and runs in flight; stream lengths, pending entries and lag; dead letters.
    Cluster,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Targets: IP, CIDR, host name or http(s) URL.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Profile: quick (default), tls, web, full, thorough, or one from the config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Run exactly these tools on the targets (comma-separated; `picket tools` lists them).
    #[arg(long, value_delimiter = ',', value_name = "TOOL,...")]
    pub tools: Vec<String>,
    /// Ports to scan, e.g. 80,443 (nmap's default set when absent).
    #[arg(long, value_name = "PORTS")]
    pub ports: Option<String>,
    /// Higher runs first when scans queue.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Run every tool even if a cached result exists.
    #[arg(long)]
    pub no_cache: bool,
    /// Use cached results only when younger than this (e.g. 0s, 90s, 10m, 2h, 1d; 0s runs
    /// every tool afresh and refreshes the cache).
    #[arg(long, value_name = "DUR", value_parser = parse_age)]
    pub max_age: Option<u64>,
    /// Wait for the scan to end and print its summary.
    #[arg(long, conflicts_with = "follow")]
    pub wait: bool,
    /// Show progress as it happens (each run's start and end, a timer while tools run),
    /// then the summary; Ctrl-C detaches, the scan goes on.
    #[arg(long)]
    pub follow: bool,
    /// With --wait or --follow: exit 7 when the scan has a finding of this severity or
    /// above (for CI gates); 0 otherwise.
    #[arg(long, value_name = "SEVERITY", value_parser = SEVERITIES)]
    pub fail_on: Option<String>,
}

/// The severities, least severe first, as `--fail-on` and `--min-severity` take them.
pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only scans of this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only scans in this state.
    #[arg(long, value_parser = ["queued", "running", "done", "failed", "cancelled", "interrupted"])]
    pub status: Option<String>,
    /// Most scans shown.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Go on from where the previous page ended (its `more: --cursor` line).
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only this scan's findings (default: all scans).
    pub scan: Option<i64>,
    /// Only findings this severe or more.
    #[arg(long, value_parser = ["info", "low", "medium", "high", "critical"])]
    pub min_severity: Option<String>,
    /// Only findings on this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Most findings shown.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Go on from where the previous page ended (its `more: --cursor` line).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Show each finding's detail, CVEs, evidence and first/last seen.
    #[arg(short, long)]
    pub verbose: bool,
    /// Exit 7 when a finding of this severity or above exists (for the same scan and
    /// target; whatever --min-severity, --limit and --cursor show); 0 otherwise.
    #[arg(long, value_name = "SEVERITY", value_parser = SEVERITIES)]
    pub fail_on: Option<String>,
    /// Open findings (still reported by the latest complete run on their asset), resolved
    /// ones (a later complete run no longer reported them), or all.
    #[arg(long, default_value = "open", value_parser = ["open", "resolved", "all"])]
    pub state: String,
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
        /// Entries of this target.
        #[arg(long, group = "what")]
        target: Option<String>,
        /// Entries made by this scan.
        #[arg(long, group = "what")]
        scan: Option<i64>,
        /// Entries of this tool.
        #[arg(long, group = "what")]
        tool: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every argument of every command says what it is for in `--help`.
    fn undocumented(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                missing.push(format!("{path} {}", sub.get_name()));
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    #[test]
    fn every_argument_and_command_has_help_text() {
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "picket", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}

/// A duration as people write it: a number and a unit (s, m, h, d), several joined
/// ("1h30m"); answers seconds.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("'{text}' is not a duration: write a number and a unit, e.g. 0s, 90s, 10m, 2h, 1d")
    };
    let (mut total, mut digits) = (0u64, String::new());
    let mut chars = text.trim().chars().peekable();
    if chars.peek().is_none() {
        return Err(bad());
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(c) = chars.next_if(|c| c.is_ascii_alphabetic()) {
            unit.push(c);
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let scale = match unit.as_str() {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod age_tests {
    use super::parse_age;

    #[test]
    fn ages_read_as_people_write_them_and_a_bare_number_is_refused() {
        assert_eq!(parse_age("0s"), Ok(0));
        assert_eq!(parse_age("10m"), Ok(600));
        assert_eq!(parse_age("2h"), Ok(7200));
        assert_eq!(parse_age("1h30m"), Ok(5400));
        assert_eq!(parse_age("1d"), Ok(86_400));
        for bad in ["", "10", "m", "5x", "-1s", "1.5h"] {
            let e = parse_age(bad).unwrap_err();
            assert!(
                e.contains("not a duration") && e.contains("10m"),
                "{bad}: {e}"
            );
        }
    }
}
