//! `picket report`: its arguments, and gathering the scans it covers (explicit ids, or a
//! target's scans since a date) through picket-client, then writing the chosen format to a
//! file or stdout. Must not build any format itself (picket-report does, for the daemon's
//! `/v1/reports` too, so both give the same bytes).

use std::path::PathBuf;

use clap::Args;
use picket_client::Client;
use picket_protocol::{ListQuery, ScanDetail, ScanId, Severity};
use serde_json::json;

use picket_report::{created_since, render, valid_since, Format, Report, NOTHING_TO_REPORT};
use crate::failure::Failure;
use crate::render::Out;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Scans to report on (ids); or use --target.
    #[arg(required_unless_present = "target", conflicts_with = "target")]
    pub scans: Vec<ScanId>,
    /// Every stored scan of this target (as given to `picket scan`).
    #[arg(long)]
    pub target: Option<String>,
    /// Only scans created at or after this UTC date or time (2026-11-30, 2026-11-30T08:00:00Z).
    #[arg(long, value_parser = since_arg)]
    pub since: Option<String>,
    /// The report's format: SARIF for code-scanning tools, a self-contained HTML page,
    /// Markdown for tickets, CSV for spreadsheets, JUnit XML for CI.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write the report here instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// JUnit: findings at or above this severity are failing test cases.
    #[arg(long, default_value = "medium", value_parser = severity_arg)]
    pub fail_on: Severity,
}

// Checked by clap, so a mistyped argument is a usage error before the daemon is asked.
fn since_arg(since: &str) -> Result<String, String> {
    if valid_since(since) {
        Ok(since.to_string())
    } else {
        Err("expected a UTC date like 2026-11-30 or a time like 2026-11-30T08:00:00Z".into())
    }
}

fn severity_arg(word: &str) -> Result<Severity, String> {
    word.parse()
        .map_err(|e: picket_protocol::UnknownWord| e.to_string())
}

/// How many scans one listing page asks for while collecting a target's scans.
const PAGE: u32 = 100;

pub async fn run(conn: &mut Client, out: Out, args: ReportArgs) -> Result<(), Failure> {
    let ids = match &args.target {
        Some(target) => target_scans(conn, target).await?,
        None => args.scans.clone(),
    };
    let mut scans: Vec<ScanDetail> = Vec::new();
    for id in ids {
        let scan = conn.show(id).await?;
        if args
            .since
            .as_deref()
            .is_none_or(|s| created_since(&scan, s))
        {
            scans.push(scan);
        }
    }
    if scans.is_empty() {
        return Err(Failure::Local(NOTHING_TO_REPORT.into()));
    }
    let report = Report::new(scans);
    let text =
        render(&report, args.format, args.fail_on).map_err(|e| Failure::Local(e.to_string()))?;
    let Some(path) = args.output else {
        print!("{text}");
        return Ok(());
    };
    std::fs::write(&path, text)
        .map_err(|e| Failure::Local(format!("cannot write {}: {e}", path.display())))?;
    out.message(
        json!({"written": path, "scans": report.scans.iter().map(|s| s.id).collect::<Vec<_>>(), "findings": report.findings.len()}),
        &format!(
            "{} written: {} scans, {} findings",
            path.display(),
            report.scans.len(),
            report.findings.len()
        ),
    )
}

async fn target_scans(conn: &mut Client, target: &str) -> Result<Vec<ScanId>, Failure> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = conn
            .list(ListQuery {
                target: Some(target.to_string()),
                status: None,
                limit: PAGE,
                cursor,
            })
            .await?;
        ids.extend(page.scans.iter().map(|s| s.id));
        match page.next_cursor {
            Some(c) if !page.scans.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok(ids)
}
