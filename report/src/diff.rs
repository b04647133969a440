//! What changed between two stored scans (findings new, resolved, unchecked and changed;
//! services opened, closed and changed), computed from the two scans as `show` gives them,
//! and which two scans `--target` / `?target=` compares. Must not decide what is resolved
//! itself: the daemon marks that when it stores a complete run; this only reads it.

use std::collections::{BTreeMap, BTreeSet};

use picket_protocol::json::{DiffDoc, FindingChange, ServiceChange};
use picket_protocol::{Finding, FindingState, ListQuery, ScanDetail, ScanId, ScanPage, ScanStatus};
use picket_protocol::Service;

/// The listing that finds a target's last two finished (done) scans, newest first.
pub fn target_query(target: &str) -> ListQuery {
    ListQuery {
        target: Some(target.to_string()),
        status: Some(ScanStatus::Done),
        limit: 2,
        cursor: None,
    }
}

/// The older and the newer scan of `target_query`'s page, or why there is no pair.
pub fn target_pair(target: &str, page: &ScanPage) -> Result<(ScanId, ScanId), String> {
    match page.scans.as_slice() {
        [newer, older] => Ok((older.id, newer.id)),
        _ => Err(format!(
            "{target} has fewer than two done scans: nothing to compare"
        )),
    }
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

/// The diff from scan `a` (older) to scan `b` (newer).
pub fn diff(a: &ScanDetail, b: &ScanDetail) -> DiffDoc {
    let (new, resolved, unchecked, changed) = findings(a, b);
    let (services_opened, services_closed, services_changed) = services(a, b);
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

type FindingSets = (Vec<Finding>, Vec<Finding>, Vec<Finding>, Vec<FindingChange>);

fn findings(a: &ScanDetail, b: &ScanDetail) -> FindingSets {
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
    (new, resolved, unchecked, changed)
}

type ServiceSets = (Vec<Service>, Vec<Service>, Vec<ServiceChange>);

fn services(a: &ScanDetail, b: &ScanDetail) -> ServiceSets {
    let (sa, sb) = (by_port(&a.services), by_port(&b.services));
    let opened = sb
        .iter()
        .filter(|(k, _)| !sa.contains_key(*k))
        .map(|(_, s)| (*s).clone())
        .collect();
    let closed = sa
        .iter()
        .filter(|(k, _)| !sb.contains_key(*k))
        .map(|(_, s)| (*s).clone())
        .collect();
    let changed = sb
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
    (opened, closed, changed)
}

#[cfg(test)]
mod tests {
    use picket_protocol::{Finding, ScanDetail, Service, Severity};

    use super::*;
    use crate::tests::finding;

    fn scan(id: ScanId, findings: Vec<Finding>, services: Vec<Service>) -> ScanDetail {
        let mut s = crate::tests::scan(id, findings);
        s.services = services;
        s
    }

    fn service(port: u16, version: &str) -> Service {
        Service {
            host: "127.0.0.1".into(),
            port,
            proto: "tcp".into(),
            name: "http".into(),
            product: Some("Prod".into()),
            version: Some(version.into()),
            tls: false,
        }
    }

    #[test]
    fn sorts_findings_and_services_into_their_sets() {
        let kept = finding("t", Some(80), Severity::Low, "kept");
        let mut grown = kept.clone();
        grown.severity = Severity::High;
        let gone = finding("t", Some(80), Severity::Medium, "gone");
        let fixed = finding("t", Some(80), Severity::Medium, "fixed");
        let still_fixed = fixed.clone();
        let fresh = finding("t", Some(80), Severity::Info, "fresh");
        let a = scan(
            1,
            vec![kept, gone, still_fixed],
            vec![service(80, "1"), service(22, "1")],
        );
        let mut b = scan(2, vec![grown, fresh], vec![service(80, "2"), service(443, "1")]);
        b.resolved = vec![fixed];
        let d = diff(&a, &b);
        assert_eq!((d.from, d.to), (1, 2));
        assert_eq!(d.new.iter().map(|f| &f.title).collect::<Vec<_>>(), ["fresh"]);
        assert_eq!(d.resolved.iter().map(|f| &f.title).collect::<Vec<_>>(), ["fixed"]);
        assert_eq!(d.unchecked.iter().map(|f| &f.title).collect::<Vec<_>>(), ["gone"]);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].severity_before, Severity::Low);
        assert_eq!(d.services_opened.iter().map(|s| s.port).collect::<Vec<_>>(), [443]);
        assert_eq!(d.services_closed.iter().map(|s| s.port).collect::<Vec<_>>(), [22]);
        assert_eq!(d.services_changed.len(), 1);
        assert_eq!(d.services_changed[0].before.version.as_deref(), Some("1"));
    }

    #[test]
    fn a_target_needs_two_done_scans() {
        let page: ScanPage = serde_json::from_value(serde_json::json!({
            "scans": [], "next_cursor": null
        }))
        .unwrap_or_else(|e| panic!("ScanPage's shape changed: {e}"));
        let err = target_pair("127.0.0.1", &page).unwrap_err();
        assert!(err.contains("fewer than two done scans"), "{err}");
        assert_eq!(target_query("x").limit, 2);
    }
}
