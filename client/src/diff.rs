//! `picket diff A B` and `picket diff --target T`: what changed between two stored scans
//! (findings new, resolved, unchecked and changed; services opened, closed and changed),
//! computed from the two scans as `show` gives them. Must not decide what is resolved
//! itself: the daemon marks that when it stores a complete run; this only reads it.

use std::collections::{BTreeMap, BTreeSet};

use clap::Args;
use picket_client::Client;
use picket_protocol::json::{DiffDoc, FindingChange, ServiceChange};
use picket_protocol::{Finding, FindingState, ListQuery, ScanDetail, ScanId, ScanStatus, Service};

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
            let page = conn
                .list(ListQuery {
                    target: Some(target.clone()),
                    status: Some(ScanStatus::Done),
                    limit: 2,
                    cursor: None,
                })
                .await?;
            match page.scans.as_slice() {
                [newer, older] => (older.id, newer.id),
                _ => {
                    return Err(Failure::Local(format!(
                        "{target} has fewer than two done scans: nothing to compare"
                    )))
                }
            }
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

/// Resolved between the two scans: by `to` itself, or by a scan after `from` up to `to`
/// (and not reopened since).
fn resolved_between(f: &Finding, from: ScanId, to: &ScanDetail) -> bool {
    to.resolved.iter().any(|r| r.fingerprint == f.fingerprint)
        || (f.state == FindingState::Resolved
            && f.resolved_scan.is_some_and(|s| s > from && s <= to.id))
}

type PortKey = (String, u16, String);

fn by_port(services: &[Service]) -> BTreeMap<PortKey, &Service> {
    services
        .iter()
        .map(|s| ((s.host.clone(), s.port, s.proto.clone()), s))
        .collect()
}

pub fn diff(a: &ScanDetail, b: &ScanDetail) -> DiffDoc {
    let in_a: BTreeMap<&str, &Finding> = a
        .findings
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let in_b: BTreeSet<&str> = b.findings.iter().map(|f| f.fingerprint.as_str()).collect();
    let new = b
        .findings
        .iter()
        .filter(|f| !in_a.contains_key(f.fingerprint.as_str()))
        .cloned()
        .collect();
    let (resolved, unchecked): (Vec<Finding>, Vec<Finding>) = a
        .findings
        .iter()
        .filter(|f| !in_b.contains(f.fingerprint.as_str()))
        .cloned()
        .partition(|f| resolved_between(f, a.id, b));
    let changed = b
        .findings
        .iter()
        .filter_map(|f| {
            let before = in_a.get(f.fingerprint.as_str())?;
            (before.severity != f.severity || before.detail != f.detail).then(|| FindingChange {
                finding: f.clone(),
                severity_before: before.severity,
                detail_before: before.detail.clone(),
            })
        })
        .collect();
    let (sa, sb) = (by_port(&a.services), by_port(&b.services));
    let services_opened = sb
        .iter()
        .filter(|(k, _)| !sa.contains_key(*k))
        .map(|(_, s)| (*s).clone())
        .collect();
    let services_closed = sa
        .iter()
        .filter(|(k, _)| !sb.contains_key(*k))
        .map(|(_, s)| (*s).clone())
        .collect();
    let services_changed = sb
        .iter()
        .filter_map(|(k, after)| {
            let before = sa.get(k)?;
            let differs = (&before.name, &before.product, &before.version)
                != (&after.name, &after.product, &after.version);
            differs.then(|| ServiceChange {
                before: (*before).clone(),
                after: (*after).clone(),
            })
        })
        .collect();
    DiffDoc {
        from: a.id,
        to: b.id,
        new,
        resolved,
        unchecked,
        changed,
        services_opened,
        services_closed,
        services_changed,
    }
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
