//! One function per command: build the request, call the daemon, hand the answer to render.
//! Must not format output itself.

use std::path::PathBuf;

use picket_protocol::*;
use serde_json::json;

use crate::autostart;
use crate::cli::{CacheCmd, Cli, Command, FindingsArgs, ListArgs, ScanArgs};
use crate::connection::{default_socket, Connection};
use crate::failure::ClientError;
use crate::render::{self, Out};

pub async fn run(cli: Cli) -> Result<(), ClientError> {
    let socket = cli.socket.clone().unwrap_or_else(default_socket);
    let out = Out { json: cli.json };
    let mut conn = connect(&socket, cli.no_autostart).await?;
    match cli.command {
        Command::Ping => match conn.call(Request::Ping).await? {
            Response::Pong(p) => out.ping(&p),
            other => unexpected(other),
        },
        Command::Health => match conn.call(Request::Health).await? {
            Response::Health(h) => {
                out.health(&h)?;
                if !h.ok {
                    return Err(ClientError::Local(
                        "the daemon reports failing health checks".into(),
                    ));
                }
                Ok(())
            }
            other => unexpected(other),
        },
        Command::Stats => match conn.call(Request::Metrics).await? {
            Response::Metrics(m) => out.stats(&m),
            other => unexpected(other),
        },
        Command::Metrics { format } => match conn.call(Request::Metrics).await? {
            Response::Metrics(m) if format == "json" => {
                render::print_json(&m);
                Ok(())
            }
            Response::Metrics(m) => {
                print!("{}", picket_protocol::prometheus::render(&m));
                Ok(())
            }
            other => unexpected(other),
        },
        Command::Cache(cmd) => cache(&mut conn, out, cmd).await,
        Command::Shutdown => match conn.call(Request::Shutdown).await? {
            Response::ShuttingDown => {
                out.message(json!({"shutting_down": true}), "picketd is shutting down")
            }
            other => unexpected(other),
        },
        Command::Scan(args) => scan(&mut conn, out, args).await,
        Command::Status { scan } => match conn.call(Request::Status { scan }).await? {
            Response::Status(s) => out.status(&s),
            other => unexpected(other),
        },
        Command::List(args) => list(&mut conn, out, args).await,
        Command::Show { scan } => show(&mut conn, out, scan).await,
        Command::Findings(args) => findings(&mut conn, out, args).await,
        Command::Wait { scans } => wait(&mut conn, out, scans, false).await,
        Command::Cancel { scan } => match conn.call(Request::Cancel { scan }).await? {
            Response::Cancelled { id, was } => out.message(
                json!({"id": id, "cancelled": true, "was": was}),
                &format!("scan {id} cancelled (was {was})"),
            ),
            other => unexpected(other),
        },
        Command::Tools => match conn.call(Request::Tools).await? {
            Response::Tools(t) => out.tools(&t),
            other => unexpected(other),
        },
        Command::Import { tool, file, target } => import(&mut conn, out, tool, file, target).await,
    }
}

async fn connect(socket: &std::path::Path, no_autostart: bool) -> Result<Connection, ClientError> {
    match Connection::connect(socket).await {
        Err(ClientError::NotRunning { .. }) if !no_autostart => {
            autostart::start_and_connect(socket).await
        }
        other => other,
    }
}

fn unexpected(r: Response) -> Result<(), ClientError> {
    Err(ClientError::Local(format!(
        "unexpected answer from the daemon: {r:?}"
    )))
}

fn usage(message: String, hint: &str) -> ClientError {
    ClientError::Usage {
        message,
        hint: hint.into(),
    }
}

async fn scan(conn: &mut Connection, out: Out, args: ScanArgs) -> Result<(), ClientError> {
    let request = ScanRequest {
        targets: args.targets,
        profile: args.profile,
        tools: args.tools,
        ports: args.ports,
        priority: args.priority,
        no_cache: args.no_cache,
    };
    let id = match conn.call(Request::Scan(request)).await? {
        Response::ScanAccepted { id, queued_behind } => {
            if !args.wait && !args.follow {
                return out.message(
                    json!({"id": id, "queued_behind": queued_behind}),
                    &format!("scan {id} submitted"),
                );
            }
            if args.follow && !out.json {
                println!("scan {id} submitted");
            }
            id
        }
        other => return unexpected(other),
    };
    wait(conn, out, vec![id], args.follow).await
}

async fn wait(
    conn: &mut Connection,
    out: Out,
    scans: Vec<ScanId>,
    follow: bool,
) -> Result<(), ClientError> {
    let live = follow && !out.json;
    conn.stream(
        Request::Wait {
            scans: scans.clone(),
            follow,
        },
        |r| {
            if let (true, Response::Event(e)) = (live, &r) {
                render::event(e);
            }
        },
    )
    .await?;
    let mut details = Vec::new();
    for id in scans {
        match conn.call(Request::Show { scan: id }).await? {
            Response::Scan(d) => details.push(*d),
            other => return unexpected(other),
        }
    }
    let failed = details.iter().any(|d| d.status != ScanStatus::Done);
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
    if failed {
        let states: Vec<String> = details
            .iter()
            .filter(|d| d.status != ScanStatus::Done)
            .map(|d| format!("scan {} {}", d.id, d.status))
            .collect();
        return Err(ClientError::ScansNotDone(states.join(", ")));
    }
    Ok(())
}

async fn list(conn: &mut Connection, out: Out, args: ListArgs) -> Result<(), ClientError> {
    let status = match args.status {
        Some(s) => Some(
            s.parse::<ScanStatus>()
                .map_err(|e| usage(e, "see `picket list --help`"))?,
        ),
        None => None,
    };
    let query = ListQuery {
        target: args.target,
        status,
        limit: args.limit,
        cursor: args.cursor,
    };
    match conn.call(Request::List(query)).await? {
        Response::Scans(page) => out.scans(&page),
        other => unexpected(other),
    }
}

async fn show(conn: &mut Connection, out: Out, scan: ScanId) -> Result<(), ClientError> {
    match conn.call(Request::Show { scan }).await? {
        Response::Scan(d) => {
            if out.json {
                render::print_json(&d);
            } else {
                render::scan_summary(&d);
            }
            Ok(())
        }
        other => unexpected(other),
    }
}

async fn findings(conn: &mut Connection, out: Out, args: FindingsArgs) -> Result<(), ClientError> {
    let min_severity = match args.min_severity {
        Some(s) => Some(
            s.parse::<Severity>()
                .map_err(|e| usage(e, "severities: info, low, medium, high, critical"))?,
        ),
        None => None,
    };
    let query = FindingsQuery {
        scan: args.scan,
        min_severity,
        target: args.target,
        limit: args.limit,
        cursor: args.cursor,
    };
    match conn.call(Request::Findings(query)).await? {
        Response::Findings(page) => out.findings(&page),
        other => unexpected(other),
    }
}

async fn import(
    conn: &mut Connection,
    out: Out,
    tool: String,
    file: PathBuf,
    target: Option<String>,
) -> Result<(), ClientError> {
    let content = std::fs::read(&file)
        .map_err(|e| ClientError::Local(format!("cannot read {}: {e}", file.display())))?;
    let file_name = file.display().to_string();
    let id = match conn
        .call(Request::Import(ImportRequest {
            tool,
            file_name,
            content,
            target,
        }))
        .await?
    {
        Response::ScanAccepted { id, .. } => id,
        other => return unexpected(other),
    };
    show(conn, out, id).await
}

async fn cache(conn: &mut Connection, out: Out, cmd: CacheCmd) -> Result<(), ClientError> {
    let request = match cmd {
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
    match conn.call(Request::Cache(request)).await? {
        Response::CacheStats(s) => out.cache_stats(&s),
        Response::CacheChanged { removed } => out.message(
            json!({"removed": removed}),
            &format!("removed {removed} cached results"),
        ),
        other => unexpected(other),
    }
}
