//! One function per command: build the request, call the daemon through picket-client,
//! hand the answer to render. Must not format output itself nor speak the protocol.

use std::path::Path;
use std::time::Duration;

use picket_client::{CacheReply, Client, ImportFile};
use picket_protocol::*;
use serde_json::json;

use crate::cli::{CacheCmd, Cli, Command, FindingsArgs, ListArgs, ScanArgs};
use crate::failure::Failure;
use crate::render::{self, Out};

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let socket = cli
        .socket
        .clone()
        .unwrap_or_else(picket_client::default_socket);
    let out = Out { json: cli.json };
    let timeout = match cli.timeout {
        Some(0) => None,
        Some(secs) => Some(Duration::from_secs(secs)),
        None => Some(DEFAULT_TIMEOUT),
    };
    let mut conn = connect(&socket, cli.no_autostart, timeout).await?;
    // An import's answer takes as long as its report is large: only an explicit --timeout
    // bounds it.
    if cli.timeout.is_none() && matches!(cli.command, Command::Import { .. }) {
        conn.set_timeout(None);
    }
    conn.set_max_frame(cli.max_frame_bytes);
    match cli.command {
        Command::Ping => out.ping(&conn.ping().await?),
        Command::Health { deep } => {
            let h = conn.health(deep).await?;
            out.health(&h)?;
            if !h.ok {
                return Err(Failure::Local(
                    "the daemon reports failing health checks".into(),
                ));
            }
            Ok(())
        }
        Command::Stats => out.stats(&conn.metrics().await?),
        Command::Metrics { format } => {
            let m = conn.metrics().await?;
            if format == "json" {
                render::print_json(&m);
            } else {
                print!("{}", picket_protocol::prometheus::render(&m));
            }
            Ok(())
        }
        Command::Cache(cmd) => cache(&mut conn, out, cmd).await,
        Command::Shutdown => {
            conn.shutdown().await?;
            out.message(json!({"shutting_down": true}), "picketd is shutting down")
        }
        Command::Scan(args) => scan(&mut conn, out, args).await,
        Command::Status { scan } => out.status(&conn.status(scan).await?),
        Command::List(args) => list(&mut conn, out, args).await,
        Command::Show { scan } => show(&mut conn, out, scan).await,
        Command::Findings(args) => findings(&mut conn, out, args).await,
        Command::Wait { scans } => wait(&mut conn, out, scans, false).await,
        Command::Cancel { scan } => {
            let was = conn.cancel(scan).await?;
            out.message(
                json!({"id": scan, "cancelled": true, "was": was}),
                &format!("scan {scan} cancelled (was {was})"),
            )
        }
        Command::Tools => out.tools(&conn.tools().await?),
        Command::Import {
            tool,
            file,
            target,
            max_import_bytes,
        } => {
            let import = ImportFile {
                tool,
                path: file,
                target,
                max_bytes: max_import_bytes,
            };
            let id = conn.import_file(import).await?;
            show(&mut conn, out, id).await
        }
        Command::Report(args) => crate::report::run(&mut conn, out, args).await,
    }
}

/// How long picket waits for the daemon by default (`--timeout` / PICKET_TIMEOUT change it):
/// long enough for a loaded daemon, short enough that a stopped one is reported, not hung on.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

async fn connect(
    socket: &Path,
    no_autostart: bool,
    timeout: Option<Duration>,
) -> Result<Client, Failure> {
    let conn = if no_autostart {
        Client::connect_within(socket, timeout).await
    } else {
        Client::connect_or_start_within(socket, timeout).await
    };
    Ok(conn?)
}

fn usage(message: String, hint: &str) -> Failure {
    Failure::Usage {
        message,
        hint: hint.into(),
    }
}

/// An optional word argument (a status, a severity) parsed to its type; a word the type
/// does not know is a usage error with `hint`, before anything is asked of the daemon.
fn parse_word<T: std::str::FromStr<Err = UnknownWord>>(
    word: Option<String>,
    hint: &str,
) -> Result<Option<T>, Failure> {
    word.map(|w| w.parse::<T>().map_err(|e| usage(e.to_string(), hint)))
        .transpose()
}

async fn scan(conn: &mut Client, out: Out, args: ScanArgs) -> Result<(), Failure> {
    let request = ScanRequest {
        targets: args.targets,
        profile: args.profile,
        tools: args.tools,
        ports: args.ports,
        priority: args.priority,
        no_cache: args.no_cache,
    };
    let accepted = conn.scan(request).await?;
    let id = accepted.id;
    if !args.wait && !args.follow {
        return out.message(
            json!({"id": id, "queued_behind": accepted.queued_behind}),
            &format!("scan {id} submitted"),
        );
    }
    if args.follow && !out.json {
        println!("scan {id} submitted");
    }
    wait(conn, out, vec![id], args.follow).await
}

async fn wait(
    conn: &mut Client,
    out: Out,
    scans: Vec<ScanId>,
    follow: bool,
) -> Result<(), Failure> {
    let live = follow && !out.json;
    let mut events = conn.wait(scans.clone(), follow).await?;
    while let Some(e) = events.next().await? {
        if live {
            render::event(&e);
        }
    }
    let mut details = Vec::new();
    for id in scans {
        details.push(conn.show(id).await?);
    }
    if out.json {
        if details.len() == 1 {
            render::print_json(&details[0]);
        } else {
            render::print_json(&details);
        }
    } else {
        for d in &details {
            render::scan_summary(d);
        }
    }
    let not_done: Vec<String> = details
        .iter()
        .filter(|d| d.status != ScanStatus::Done)
        .map(|d| format!("scan {} {}", d.id, d.status))
        .collect();
    if !not_done.is_empty() {
        return Err(Failure::ScansNotDone(not_done.join(", ")));
    }
    Ok(())
}

async fn list(conn: &mut Client, out: Out, args: ListArgs) -> Result<(), Failure> {
    let status = parse_word::<ScanStatus>(args.status, "see `picket list --help`")?;
    let query = ListQuery {
        target: args.target,
        status,
        limit: args.limit,
        cursor: args.cursor,
    };
    out.scans(&conn.list(query).await?)
}

async fn show(conn: &mut Client, out: Out, scan: ScanId) -> Result<(), Failure> {
    let d = conn.show(scan).await?;
    if out.json {
        render::print_json(&d);
    } else {
        render::scan_summary(&d);
    }
    Ok(())
}

async fn findings(conn: &mut Client, out: Out, args: FindingsArgs) -> Result<(), Failure> {
    let min_severity = parse_word::<Severity>(
        args.min_severity,
        "severities: info, low, medium, high, critical",
    )?;
    let query = FindingsQuery {
        scan: args.scan,
        min_severity,
        target: args.target,
        limit: args.limit,
        cursor: args.cursor,
    };
    out.findings(&conn.findings(query).await?)
}

async fn cache(conn: &mut Client, out: Out, cmd: CacheCmd) -> Result<(), Failure> {
    let command = match cmd {
        CacheCmd::Stats => CacheCommand::Stats,
        CacheCmd::Clear => CacheCommand::Clear,
        CacheCmd::Cleanup => CacheCommand::Cleanup,
        CacheCmd::Invalidate { target, scan, tool } => {
            if target.is_none() && scan.is_none() && tool.is_none() {
                return Err(usage(
                    "invalidate needs --target, --scan or --tool".into(),
                    "`picket cache clear` drops everything",
                ));
            }
            CacheCommand::Invalidate { target, scan, tool }
        }
    };
    match conn.cache(command).await? {
        CacheReply::Stats(s) => out.cache_stats(&s),
        CacheReply::Removed(removed) => out.message(
            json!({"removed": removed}),
            &format!("removed {removed} cached results"),
        ),
    }
}
