//! `picket diff A B` and `picket diff --target T`: what changed between two stored scans
//! (findings new, resolved, unchecked and changed; services opened, closed and changed),
//! printed for people or as `--json`. Must not compute the diff itself: picket-report does
//! (for the daemon's `/v1/diff` too, so both give the same document).

use clap::Args;
use picket_client::Client;
use picket_protocol::json::DiffDoc;
use picket_protocol::{ScanId, Service};
use picket_report::diff::{diff, target_pair, target_query};

use crate::failure::Failure;
use crate::render::{finding_line, print_json, Out};
use crate::style;

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older scan and the newer one (ids); or use --target.
    #[arg(
        num_args = 2,
        required_unless_present = "target",
        conflicts_with = "target"
    )]
    pub scans: Vec<ScanId>,
    /// The last two finished (done) scans of this target, as given to `picket scan`.
    #[arg(long)]
    pub target: Option<String>,
}

pub async fn run(conn: &mut Client, out: Out, args: DiffArgs) -> Result<(), Failure> {
    let (from, to) = match &args.target {
        Some(target) => {
            let page = conn.list(target_query(target)).await?;
            target_pair(target, &page).map_err(Failure::Local)?
        }
        None => (args.scans[0], args.scans[1]),
    };
    let (a, b) = (conn.show(from).await?, conn.show(to).await?);
    let doc = diff(&a, &b);
    if out.json {
        print_json(&doc);
    } else {
        print_human(&doc);
    }
    Ok(())
}

fn service_line(s: &Service) -> String {
    let what = [
        Some(s.name.as_str()),
        s.product.as_deref(),
        s.version.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    format!("{}:{}/{}  {what}", s.host, s.port, s.proto)
}

fn section<T>(title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    println!(
        "{}",
        style::paint(style::heading(), &format!("{title} ({})", items.len()))
    );
    for i in items {
        println!("  {}", line(i));
    }
}

fn print_human(d: &DiffDoc) {
    println!(
        "{}",
        style::paint(
            style::heading(),
            &format!("scan {} → scan {}", d.from, d.to)
        )
    );
    section("new findings", &d.new, finding_line);
    section("resolved findings", &d.resolved, finding_line);
    section(
        "not rechecked (no complete run on their asset)",
        &d.unchecked,
        finding_line,
    );
    section("changed findings", &d.changed, |c| {
        let mut line = finding_line(&c.finding);
        if c.severity_before != c.finding.severity {
            line += &format!("  (was {})", c.severity_before);
        }
        if c.detail_before != c.finding.detail {
            line += "  (detail changed)";
        }
        line
    });
    section("services opened", &d.services_opened, service_line);
    section("services closed", &d.services_closed, service_line);
    section("services changed", &d.services_changed, |c| {
        format!(
            "{}  (was {})",
            service_line(&c.after),
            service_line(&c.before)
        )
    });
    let nothing = d.new.is_empty()
        && d.resolved.is_empty()
        && d.unchecked.is_empty()
        && d.changed.is_empty()
        && d.services_opened.is_empty()
        && d.services_closed.is_empty()
        && d.services_changed.is_empty();
    if nothing {
        println!("no changes");
    }
}
