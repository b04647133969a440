//! Finding lifecycle: which open findings a complete run resolves, and what a scan changed
//! (how many findings it saw first or reopened, which it resolved).
//!
//! Runs inside `finish_run`'s transaction, so a run's findings and what it resolved land
//! together. Must not resolve anything for a run that did not end complete (failed, timed
//! out, cancelled, skipped, cut): a missing finding there says nothing about the asset.

use picket_protocol::{Finding, RunStatus, ScanId, ToolRun};
use rusqlite::{params, Connection};

/// The asset a run looked at: its host, and its port when the target names one (a URL or
/// `host:port`); a bare host is the whole host.
pub fn asset_of(target: &str) -> (String, Option<u16>) {
    if target.contains("://") {
        if let Some(u) = url::Url::parse(target).ok().filter(|u| u.has_host()) {
            let host = u.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return (host.to_string(), u.port_or_known_default());
        }
    }
    if let Some(rest) = target.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_string(), port);
        }
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.to_string(), Some(p)),
            Err(_) => (target.to_string(), None),
        },
        _ => (target.to_string(), None),
    }
}

/// Ports a `--ports` spec names ("80,443,8000-8100", `T:`/`U:` prefixes allowed). None
/// when a part cannot be read: then no port's finding is resolved by a host run, since
/// what it covered is unknown.
fn port_spec(spec: &str) -> Option<Vec<(u16, u16)>> {
    spec.split(',')
        .map(|p| {
            let p = p.trim();
            let p = p
                .strip_prefix("T:")
                .or_else(|| p.strip_prefix("U:"))
                .unwrap_or(p);
            match p.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => p.parse().ok().map(|x| (x, x)),
            }
        })
        .collect()
}

/// Whether a run on a host (not a port) covered `port`: any port when the scan named none
/// (the tool's own choice), else the ports it named.
fn host_run_covers(ports: &Option<Option<Vec<(u16, u16)>>>, port: Option<u16>) -> bool {
    match (port, ports) {
        (None, _) | (_, None) => true,
        (Some(_), Some(None)) => false,
        (Some(p), Some(Some(ranges))) => ranges.iter().any(|&(a, b)| a <= p && p <= b),
    }
}

/// Resolves the open findings of `run`'s tool on its asset that this scan did not report
/// (their `last_scan_id` is another scan): only for a complete run. Answers how many.
pub fn resolve_missing(
    tx: &Connection,
    scan: ScanId,
    run: &ToolRun,
    truncated: bool,
    now: i64,
) -> rusqlite::Result<usize> {
    if run.status != RunStatus::Done || truncated {
        return Ok(0);
    }
    let (host, port) = asset_of(&run.target);
    let candidates: Vec<(i64, Option<u16>)> = tx
        .prepare_cached(
            "SELECT id, port FROM findings
             WHERE tool = ?1 AND host = ?2 AND state = 'open' AND last_scan_id != ?3",
        )?
        .query_map(params![run.tool, host, scan], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let scan_ports = if port.is_none() {
        let spec: Option<String> = tx
            .prepare_cached("SELECT ports FROM scans WHERE id = ?1")?
            .query_row([scan], |r| r.get(0))?;
        spec.map(|s| port_spec(&s))
    } else {
        None
    };
    let mut record = tx.prepare_cached(
        "INSERT OR IGNORE INTO scan_resolutions (scan_id, finding_id) VALUES (?1, ?2)",
    )?;
    let mut resolve = tx.prepare_cached(
        "UPDATE findings SET state = 'resolved', resolved_ms = ?2, resolved_scan_id = ?3 WHERE id = ?1",
    )?;
    let mut n = 0;
    for (id, fport) in candidates {
        let covered = match port {
            Some(p) => fport == Some(p),
            None => host_run_covers(&scan_ports, fport),
        };
        if covered {
            record.execute(params![scan, id])?;
            resolve.execute(params![id, now, scan])?;
            n += 1;
        }
    }
    Ok(n)
}

/// A finding stored before seen again: reopens it when it was resolved (its resolution
/// by this very scan, if any, is taken back). Answers whether it was resolved.
pub fn seen_again(tx: &Connection, scan: ScanId, id: i64) -> rusqlite::Result<bool> {
    let reopened = tx
        .prepare_cached(
            "UPDATE findings SET state = 'open', resolved_ms = NULL, resolved_scan_id = NULL,
                    reopened_count = reopened_count + 1
             WHERE id = ?1 AND state = 'resolved'",
        )?
        .execute([id])?;
    if reopened > 0 {
        tx.prepare_cached("DELETE FROM scan_resolutions WHERE scan_id = ?1 AND finding_id = ?2")?
            .execute(params![scan, id])?;
    }
    Ok(reopened > 0)
}

/// How many of a scan's findings were new to it (first seen or reopened), and the
/// findings it resolved.
pub fn scan_changes(conn: &Connection, scan: ScanId) -> rusqlite::Result<(u64, Vec<Finding>)> {
    let fresh: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM scan_findings WHERE scan_id = ?1 AND fresh = 1")?
        .query_row([scan], |r| r.get(0))?;
    let resolved = conn
        .prepare_cached(&format!(
            "SELECT {} FROM scan_resolutions sr JOIN findings f ON f.id = sr.finding_id
             WHERE sr.scan_id = ?1 ORDER BY f.severity DESC, f.id DESC",
            super::queries::FINDING_COLS
        ))?
        .query_map([scan], super::queries::finding_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((fresh.max(0) as u64, resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_of_run_targets() {
        let a = |t: &str| asset_of(t);
        assert_eq!(a("127.0.0.1"), ("127.0.0.1".into(), None));
        assert_eq!(a("127.0.0.1:8080"), ("127.0.0.1".into(), Some(8080)));
        assert_eq!(a("http://127.0.0.1:81/x"), ("127.0.0.1".into(), Some(81)));
        assert_eq!(
            a("https://example.test"),
            ("example.test".into(), Some(443))
        );
        assert_eq!(a("[::1]:443"), ("::1".into(), Some(443)));
        assert_eq!(a("::1"), ("::1".into(), None));
        assert_eq!(a("10.0.0.0/24"), ("10.0.0.0/24".into(), None));
    }

    #[test]
    fn a_host_run_covers_the_ports_its_scan_named() {
        let named = Some(port_spec("T:80,8000-8100"));
        assert!(host_run_covers(&named, Some(80)));
        assert!(host_run_covers(&named, Some(8050)));
        assert!(!host_run_covers(&named, Some(443)));
        assert!(host_run_covers(&named, None));
        assert!(
            host_run_covers(&None, Some(443)),
            "no --ports: the tool's own"
        );
        assert!(!host_run_covers(&Some(port_spec("top-100")), Some(80)));
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::storage::schema::migrate(&mut c).unwrap();
        c
    }

    fn scan(c: &Connection) -> ScanId {
        let s = crate::storage::queries::NewScan {
            targets: vec!["127.0.0.1".into()],
            profile: "custom".into(),
            ports: None,
            tools: vec![],
            priority: 0,
            no_cache: false,
            status: picket_protocol::ScanStatus::Running,
        };
        crate::storage::queries::create_scan(c, &s).unwrap()
    }

    fn run(target: &str, status: RunStatus, truncated: bool) -> ToolRun {
        ToolRun {
            exit_code: Some(0),
            duration_ms: Some(1),
            attempts: 1,
            truncated,
            ..ToolRun::new("t", target, status)
        }
    }

    fn store(c: &Connection, run: &ToolRun, ports: &[u16]) -> ScanId {
        let id = scan(c);
        let findings = ports
            .iter()
            .map(|&p| {
                let sev = picket_protocol::Severity::Low;
                crate::parsers::new_finding("t", "127.0.0.1", Some(p), sev, "x", "d", vec![], "e")
            })
            .collect();
        let parsed = crate::parsers::ParsedOutput {
            findings,
            ..Default::default()
        };
        crate::storage::queries::finish_run(c, id, run, &parsed).unwrap();
        id
    }

    fn states(c: &Connection) -> Vec<(u16, String, Option<ScanId>, u32)> {
        c.prepare(
            "SELECT port, state, resolved_scan_id, reopened_count FROM findings ORDER BY port",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn complete_runs_resolve_what_they_miss_and_others_resolve_nothing() {
        let c = db();
        let host = run("127.0.0.1", RunStatus::Done, false);
        let first = store(&c, &host, &[80, 443]);
        for not_complete in [
            run("127.0.0.1", RunStatus::Failed, false),
            run("127.0.0.1", RunStatus::TimedOut, false),
            run("127.0.0.1", RunStatus::Cancelled, false),
            run("127.0.0.1", RunStatus::Skipped, false),
            run("127.0.0.1", RunStatus::Done, true),
        ] {
            store(&c, &not_complete, &[]);
        }
        assert!(states(&c).iter().all(|s| s.1 == "open"), "{:?}", states(&c));
        // A run on port 443 only resolves what it covers.
        let on_443 = store(&c, &run("127.0.0.1:443", RunStatus::Done, false), &[]);
        assert_eq!(
            states(&c),
            vec![
                (80, "open".into(), None, 0),
                (443, "resolved".into(), Some(on_443), 0)
            ]
        );
        let (fresh, resolved) = scan_changes(&c, on_443).unwrap();
        assert_eq!((fresh, resolved.len()), (0, 1));
        assert_eq!(resolved[0].port, Some(443));
        let again = store(&c, &host, &[443]);
        assert_eq!(
            states(&c),
            vec![
                (80, "resolved".into(), Some(again), 0),
                (443, "open".into(), None, 1)
            ]
        );
        let (fresh, resolved) = scan_changes(&c, again).unwrap();
        assert_eq!((fresh, resolved.len()), (1, 1), "443 reopened, 80 resolved");
        assert_eq!(scan_changes(&c, first).unwrap().0, 2);
    }
}
