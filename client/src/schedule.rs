//! `picket schedule`: recurring scans kept by the daemon. Owns the subcommand's arguments,
//! its one request and its output (a table for people, `SchedulesDoc` for programs). Must
//! not compute due times: the daemon answers them.

use clap::{Args, Subcommand};
use picket_client::{Client, ClientError};
use picket_protocol::json::SchedulesDoc;
use picket_protocol::*;

use crate::cli::parse_age;
use crate::failure::Failure;
use crate::render::{print_json, Out};
use crate::time::local;

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Scan targets again and again: every DUR or at cron times.
    Add(AddArgs),
    /// Every schedule with its next run time and last scan.
    List,
    /// Stop running a schedule (it stays, without a next run time).
    Pause {
        /// The schedule's id (see `picket schedule list`).
        id: i64,
    },
    /// Run a paused schedule again, from one period from now.
    Resume {
        /// The schedule's id.
        id: i64,
    },
    /// Delete a schedule (its scans stay).
    Remove {
        /// The schedule's id.
        id: i64,
    },
    /// Submit the schedule's scan now; its next run time stays.
    RunNow {
        /// The schedule's id.
        id: i64,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["every", "cron"])))]
pub struct AddArgs {
    /// Targets, as `picket scan` takes them; checked against the scope now and at each run.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Run every DUR (e.g. 30s, 10m, 6h, 1d); at least 1s.
    #[arg(long, value_name = "DUR", value_parser = parse_age)]
    pub every: Option<u64>,
    /// Run at the times of a cron expression (minute hour day month weekday, e.g.
    /// "0 3 * * 1-5"; a leading seconds field is allowed).
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The timezone the cron expression is read in: local (the daemon's) or UTC.
    #[arg(long, value_name = "TZ", requires = "cron")]
    pub tz: Option<String>,
    /// Profile to run (see picketd.toml); default quick.
    #[arg(long)]
    pub profile: Option<String>,
    /// Run exactly these tools instead of a profile (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Ports to scan (e.g. 80,443 or 8000-8010).
    #[arg(long)]
    pub ports: Option<String>,
    /// A name to recognise the schedule by.
    #[arg(long)]
    pub name: Option<String>,
}

pub async fn run(conn: &mut Client, out: Out, cmd: ScheduleCmd) -> Result<(), Failure> {
    let command = match cmd {
        ScheduleCmd::Add(a) => ScheduleCommand::Add(ScheduleSpec {
            name: a.name,
            targets: a.targets,
            every_secs: a.every,
            cron: a.cron,
            tz: a.tz,
            profile: a.profile,
            tools: a.tools,
            ports: a.ports,
        }),
        ScheduleCmd::List => ScheduleCommand::List,
        ScheduleCmd::Pause { id } => ScheduleCommand::Pause { id },
        ScheduleCmd::Resume { id } => ScheduleCommand::Resume { id },
        ScheduleCmd::Remove { id } => ScheduleCommand::Remove { id },
        ScheduleCmd::RunNow { id } => ScheduleCommand::RunNow { id },
    };
    let verb = match &command {
        ScheduleCommand::Add(_) => "added",
        ScheduleCommand::List => "",
        ScheduleCommand::Pause { .. } => "paused",
        ScheduleCommand::Resume { .. } => "resumed",
        ScheduleCommand::Remove { .. } => "removed",
        ScheduleCommand::RunNow { .. } => "submitted",
    };
    let schedules = match conn.call(Request::Schedule(command)).await? {
        Response::Schedules(s) => s,
        other => {
            return Err(ClientError::Unexpected {
                request: "schedule",
                answer: Box::new(other),
            }
            .into())
        }
    };
    if out.json {
        print_json(&SchedulesDoc { schedules });
        return Ok(());
    }
    if verb.is_empty() && schedules.is_empty() {
        crate::term::emit("no schedules (add one: picket schedule add 127.0.0.1 --every 6h)");
    }
    for s in &schedules {
        human(s, verb);
    }
    Ok(())
}

fn when(s: &ScheduleInfo) -> String {
    match (&s.cron, s.every_secs) {
        (Some(c), _) => format!("cron \"{c}\" ({})", s.tz),
        (None, Some(secs)) => format!("every {}", crate::time::duration(secs * 1000)),
        (None, None) => "never".into(),
    }
}

fn human(s: &ScheduleInfo, verb: &str) {
    let name = s
        .name
        .as_deref()
        .map(|n| format!(" {n}"))
        .unwrap_or_default();
    let state = if s.paused { " [paused]" } else { "" };
    let head = format!("schedule {}{name}{state}", s.id);
    let head = if verb.is_empty() {
        head
    } else {
        format!("{head} {verb}")
    };
    crate::term::emit(&format!("{head}: {} {}", s.targets.join(" "), when(s)));
    let what = match (&s.profile, s.tools.is_empty()) {
        (_, false) => format!("tools {}", s.tools.join(",")),
        (Some(p), true) => format!("profile {p}"),
        (None, true) => "profile quick".into(),
    };
    let ports = s
        .ports
        .as_deref()
        .map(|p| format!(", ports {p}"))
        .unwrap_or_default();
    let next = s
        .next_run_at
        .map(|t| local(&t.to_rfc3339()))
        .unwrap_or_else(|| "-".into());
    let last = match s.last_scan {
        Some(id) => format!("scan {id}"),
        None => "none".into(),
    };
    crate::term::emit(&format!("  {what}{ports}; next run {next}; last {last}"));
    if let Some(e) = &s.last_error {
        crate::term::emit(&format!("  last run refused: {e}"));
    }
}
