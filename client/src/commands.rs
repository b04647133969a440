//! One function per command: build the request, call the daemon through picket-client,
//! hand the answer to render. Must not format output itself nor speak the protocol.

use std::path::Path;
use std::time::Duration;

use picket_client::{CacheReply, Client, ClientError, ImportFile};
use picket_protocol::json::{CacheChangedDoc, CancelDoc, ShutdownDoc, SubmittedDoc, WaitDoc};
use picket_protocol::*;

use crate::cli::{CacheCmd, Cli, Command, FindingsArgs, ListArgs, ScanArgs};
use crate::failure::Failure;
use crate::render::{self, Out};

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let out = Out { json: cli.json };
    // Bare `picket` shows what runs, as pueue does.
    let command = cli.command.unwrap_or(Command::Status { scan: None });
    match command {
        Command::Completions { shell } => {
            crate::shell::completions(shell);
            return Ok(());
        }
        Command::Man => {
            let page = crate::shell::man_page().map_err(|e| Failure::Local(e.to_string()))?;
            std::io::Write::write_all(&mut std::io::stdout(), &page)
                .map_err(|e| Failure::Local(e.to_string()))?;
            return Ok(());
        }
        _ => {}
    }
    let timeout = match cli.timeout {
        Some(0) => None,
        Some(secs) => Some(Duration::from_secs(secs)),
        None => Some(DEFAULT_TIMEOUT),
    };
    let mut conn = connect(cli.socket.as_deref(), cli.no_autostart, timeout).await?;
    // An import's answer takes as long as its report is large: only an explicit --timeout
    // bounds it.
    if cli.timeout.is_none() && matches!(command, Command::Import { .. }) {
        conn.set_timeout(None);
    }
    conn.set_max_frame(cli.max_frame_bytes);
    dispatch(&mut conn, out, command).await
}

/// The commands that talk to the daemon, one call each.
async fn dispatch(conn: &mut Client, out: Out, command: Command) -> Result<(), Failure> {
    match command {
        Command::Completions { .. } | Command::Man => Ok(()),
        Command::Ping => {
            let socket = conn.socket().to_path_buf();
            out.ping(&conn.ping().await?, &socket)
        }
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
        Command::Cache(cmd) => cache(conn, out, cmd).await,
        Command::Shutdown => {
            conn.shutdown().await?;
            out.message(
                ShutdownDoc {
                    shutting_down: true,
                },
                "picketd is shutting down",
            )
        }
        Command::Scan(args) => scan(conn, out, args).await,
        Command::Status { scan } => out.status(&conn.status(scan).await?),
        Command::List(args) => list(conn, out, args).await,
        Command::Show { scan, verbose } => show(conn, out, scan, verbose).await,
        Command::Findings(args) => findings(conn, out, args).await,
        Command::Finding { id } => out.finding_detail(&conn.finding(id).await?),
        Command::Wait { scans } => wait(conn, out, scans, false).await.map(drop),
        Command::Follow { scan } => wait(conn, out, vec![scan], true).await.map(drop),
        Command::Cancel { scan } => {
            let was = conn.cancel(scan).await?;
            out.message(
                CancelDoc {
                    id: scan,
                    cancelled: true,
                    was,
                },
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
            show(conn, out, id, false).await
        }
        Command::Report(args) => crate::report::run(conn, out, args).await,
        Command::Schedule(cmd) => crate::schedule::run(conn, out, cmd).await,
        Command::Output { run } => crate::output::output(conn, out, run).await,
        Command::Diff(args) => crate::diff::run(conn, out, args).await,
        Command::Web { open } => crate::web::run(conn, out, open).await,
        Command::Cluster => crate::cluster::show(conn, out).await,
    }
}

/// How long picket waits for the daemon by default (`--timeout` / PICKET_TIMEOUT change it):
/// long enough for a loaded daemon, short enough that a stopped one is reported, not hung on.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemon at `socket` when one is named (--socket, PICKET_SOCKET), else the one
/// picket-client finds (the user's, else the system's; see `Client::connect_found`).
async fn connect(
    socket: Option<&Path>,
    no_autostart: bool,
    timeout: Option<Duration>,
) -> Result<Client, Failure> {
    let conn = match socket {
        Some(socket) if no_autostart => Client::connect_within(socket, timeout).await,
        Some(socket) => Client::connect_or_start_within(socket, timeout).await,
        None => {
            let (socket, found) = Client::connect_found(timeout, !no_autostart).await;
            let refused = matches!(
                &found,
                Err(ClientError::SocketDenied { .. } | ClientError::Rejected { .. })
            );
            if refused && socket == Path::new(picket_client::SYSTEM_SOCKET) {
                // Said, not hidden: a private daemon started instead would show none of the
                // system daemon's scans.
                eprintln!(
                    "picket: no picketd of yours runs on {}, and the system daemon on {} \
                     refused you; no private daemon was started (pass --socket to use one)",
                    picket_client::default_socket().display(),
                    picket_client::SYSTEM_SOCKET
                );
            }
            found
        }
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

async fn scan(conn: &mut Client, out: Out, mut args: ScanArgs) -> Result<(), Failure> {
    let fail_on = parse_word::<Severity>(args.fail_on.take(), "")?;
    if fail_on.is_some() && !args.wait && !args.follow {
        return Err(usage(
            "--fail-on needs --wait or --follow: the findings are known when the scan ends".into(),
            "add --wait",
        ));
    }
    if let Some((hosts, ports, note)) =
        crate::targets::ports_from_targets(&args.targets, args.ports.as_deref())
    {
        eprintln!("note: {note}");
        (args.targets, args.ports) = (hosts, Some(ports));
    }
    let request = ScanRequest {
        targets: args.targets,
        profile: args.profile,
        tools: args.tools,
        ports: args.ports,
        priority: args.priority,
        no_cache: args.no_cache,
        max_age_secs: args.max_age,
    };
    let accepted = conn.scan(request).await?;
    let id = accepted.id;
    if !args.wait && !args.follow {
        return out.message(
            SubmittedDoc {
                id,
                queued_behind: accepted.queued_behind,
            },
            &format!("scan {id} submitted"),
        );
    }
    if args.follow && !out.json {
        crate::term::emit(&format!("scan {id} submitted"));
    }
    let details = wait_for(conn, out, vec![id], args.follow, true).await?;
    match fail_on {
        Some(at) => fail_on_findings(details.iter().flat_map(|d| &d.findings), at),
        None => Ok(()),
    }
}

/// `--fail-on`: a failure naming the findings at or above `at`, if there are any.
fn fail_on_findings<'a>(
    findings: impl Iterator<Item = &'a Finding>,
    at: Severity,
) -> Result<(), Failure> {
    let hits: Vec<String> = findings
        .filter(|f| f.severity >= at)
        .map(|f| format!("{} ({})", f.id, f.severity))
        .collect();
    if hits.is_empty() {
        return Ok(());
    }
    Err(Failure::FailOn(format!(
        "{} finding(s) at or above {at}: {}",
        hits.len(),
        hits.join(", ")
    )))
}

async fn wait(
    conn: &mut Client,
    out: Out,
    scans: Vec<ScanId>,
    follow: bool,
) -> Result<Vec<ScanDetail>, Failure> {
    wait_for(conn, out, scans, follow, false).await
}

/// Waits for the scans to end (live under a spinner when following in a terminal) and
/// prints them: `--json`, one scan document when `single` (`scan --wait`, like `show`),
/// else the `wait` document (a list, however many).
async fn wait_for(
    conn: &mut Client,
    out: Out,
    scans: Vec<ScanId>,
    follow: bool,
    single: bool,
) -> Result<Vec<ScanDetail>, Failure> {
    if follow && !out.json {
        follow_live(conn, &scans).await?;
    } else {
        let mut events = conn.wait(scans.clone(), follow).await?;
        while events.next().await?.is_some() {}
    }
    let mut details = Vec::new();
    for id in scans {
        details.push(conn.show(id).await?);
    }
    if out.json && single && details.len() == 1 {
        render::print_json(&details[0]);
    } else if out.json {
        render::print_json(&WaitDoc {
            scans: details.clone(),
        });
    } else {
        for d in &details {
            render::scan_summary(d, false);
            render::end_summary(d);
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
    Ok(details)
}

/// Exit code of a follower detached with Ctrl-C: the shell's for an interrupt (128 + SIGINT).
pub const DETACHED_EXIT: i32 = 130;

/// Shows the scans' events as they come, under a spinner; Ctrl-C detaches (the daemon's
/// scan goes on) with a message saying how to come back, and exits `DETACHED_EXIT`.
async fn follow_live(conn: &mut Client, scans: &[ScanId]) -> Result<(), Failure> {
    let mut events = conn.wait(scans.to_vec(), true).await?;
    let progress = crate::progress::Progress::new();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        tokio::select! {
            e = events.next() => match e {
                Ok(Some(e)) => progress.event(&e),
                Ok(None) => break,
                Err(e) => {
                    progress.clear();
                    return Err(e.into());
                }
            },
            _ = &mut interrupt => {
                progress.clear();
                let ids: Vec<String> = scans.iter().map(|s| s.to_string()).collect();
                let n = ids.join(" ");
                eprintln!("detached; the scan goes on: `picket follow {n}` or `picket cancel {n}`");
                std::process::exit(DETACHED_EXIT);
            }
        }
    }
    progress.clear();
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

async fn show(conn: &mut Client, out: Out, scan: ScanId, verbose: bool) -> Result<(), Failure> {
    let d = conn.show(scan).await?;
    if out.json {
        render::print_json(&d);
    } else {
        render::scan_summary(&d, verbose);
    }
    Ok(())
}

async fn findings(conn: &mut Client, out: Out, args: FindingsArgs) -> Result<(), Failure> {
    let min_severity = parse_word::<Severity>(
        args.min_severity,
        "severities: info, low, medium, high, critical",
    )?;
    let fail_on = parse_word::<Severity>(args.fail_on, "")?;
    // "all" is no filter; clap allows only the three words.
    let state = args.state.parse::<FindingState>().ok();
    let query = FindingsQuery {
        scan: args.scan,
        min_severity,
        target: args.target.clone(),
        limit: args.limit,
        cursor: args.cursor,
        state,
    };
    out.findings(&conn.findings(query).await?, args.verbose)?;
    let Some(at) = fail_on else {
        return Ok(());
    };
    // Asked apart: the page shown may be cut by --limit, --cursor or --min-severity.
    let worst = FindingsQuery {
        scan: args.scan,
        min_severity: Some(at),
        target: args.target,
        limit: 1,
        cursor: None,
        state,
    };
    fail_on_findings(conn.findings(worst).await?.findings.iter(), at)
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
            CacheChangedDoc { removed },
            &format!("removed {removed} cached results"),
        ),
    }
}
