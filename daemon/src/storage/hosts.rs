//! The `hosts` table: one row per (scan, address) with what the tools learned about the
//! host itself (state, names, OS guesses, MAC and vendor), and a run's warnings as stored.
//!
//! Owns the merge rule for a host two runs of one scan both report: names are the union
//! (first seen first), the OS list comes from the run that has one (the first), state, MAC
//! and vendor are filled when still absent. Must not decide what a run's warnings are
//! beyond folding the parser's notes in: the run path and the parsers say what they are.

use picket_protocol::{Host, HostName, OsMatch, ScanId, ToolRun};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::parsers::ParsedOutput;

/// The warnings a run is stored with: its own, then what its parser could not place, then
/// (for output that ended early) what was cut. Each is said once, in that order.
pub fn run_warnings(run: &ToolRun, parsed: &ParsedOutput) -> Vec<String> {
    let partial = parsed
        .partial
        .as_ref()
        .map(|p| format!("partial output: {p}"));
    let mut out: Vec<String> = Vec::with_capacity(run.warnings.len() + parsed.warnings.len());
    for w in run.warnings.iter().chain(&parsed.warnings).chain(&partial) {
        if !out.contains(w) {
            out.push(w.clone());
        }
    }
    out
}

/// How many notes the parser left on this output (its warnings, and a partial output):
/// what `picket_parser_warnings_total` counts.
pub fn parser_notes(parsed: &ParsedOutput) -> u64 {
    parsed.warnings.len() as u64 + u64::from(parsed.partial.is_some())
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// Stores the hosts a run reported, merged into those other runs of the scan reported.
/// Most hosts are new to the scan and cost one insert; a host seen before costs a read
/// and an update.
pub fn store_hosts(
    tx: &Connection,
    scan: ScanId,
    run_id: i64,
    hosts: &[Host],
) -> rusqlite::Result<()> {
    if hosts.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO hosts (scan_id, address, run_id, state, mac, vendor, hostnames, os)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
    )?;
    let mut known = tx.prepare_cached(&format!(
        "SELECT {HOST_COLS} FROM hosts WHERE scan_id = ?1 AND address = ?2"
    ))?;
    let mut update = tx.prepare_cached(
        "UPDATE hosts SET state = ?3, mac = ?4, vendor = ?5, hostnames = ?6, os = ?7
         WHERE scan_id = ?1 AND address = ?2",
    )?;
    for h in hosts {
        let inserted = insert.execute(params![
            scan,
            h.address,
            run_id,
            h.state,
            h.mac,
            h.vendor,
            to_json(&h.hostnames),
            to_json(&h.os)
        ])?;
        if inserted == 1 {
            continue;
        }
        let Some(mut had) = known
            .query_row(params![scan, h.address], host_from_row)
            .optional()?
        else {
            continue;
        };
        if !merge(&mut had, h) {
            continue;
        }
        update.execute(params![
            scan,
            h.address,
            had.state,
            had.mac,
            had.vendor,
            to_json(&had.hostnames),
            to_json(&had.os)
        ])?;
    }
    Ok(())
}

/// Folds `new` into `had` by the merge rule; answers whether `had` changed.
pub fn merge(had: &mut Host, new: &Host) -> bool {
    let before = had.clone();
    for n in &new.hostnames {
        if !had.hostnames.contains(n) {
            had.hostnames.push(n.clone());
        }
    }
    if had.os.is_empty() {
        had.os = new.os.clone();
    }
    for (field, value) in [
        (&mut had.state, &new.state),
        (&mut had.mac, &new.mac),
        (&mut had.vendor, &new.vendor),
    ] {
        if field.is_none() {
            *field = value.clone();
        }
    }
    *had != before
}

const HOST_COLS: &str = "address, state, mac, vendor, hostnames, os";

fn host_from_row(r: &Row) -> rusqlite::Result<Host> {
    Ok(Host {
        address: r.get(0)?,
        state: r.get(1)?,
        mac: r.get(2)?,
        vendor: r.get(3)?,
        hostnames: from_json::<Vec<HostName>>(&r.get::<_, String>(4)?),
        os: from_json::<Vec<OsMatch>>(&r.get::<_, String>(5)?),
    })
}

/// A scan's hosts, by address (the unique index's order: no sort).
pub fn scan_hosts(conn: &Connection, scan: ScanId) -> rusqlite::Result<Vec<Host>> {
    conn.prepare_cached(&format!(
        "SELECT {HOST_COLS} FROM hosts WHERE scan_id = ?1 ORDER BY address"
    ))?
    .query_map([scan], host_from_row)?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str, kind: &str) -> HostName {
        HostName {
            name: n.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn merge_unions_names_keeps_the_first_os_and_fills_what_is_absent() {
        let mut had = Host {
            address: "10.0.0.1".into(),
            state: Some("up".into()),
            hostnames: vec![name("a.test", "PTR")],
            os: vec![],
            mac: None,
            vendor: None,
        };
        let new = Host {
            address: "10.0.0.1".into(),
            state: Some("down".into()),
            hostnames: vec![name("a.test", "PTR"), name("a", "user")],
            os: vec![OsMatch {
                name: "Linux 5.X".into(),
                accuracy: 96,
            }],
            mac: Some("00:11:22:33:44:55".into()),
            vendor: Some("Acme".into()),
        };
        assert!(merge(&mut had, &new));
        assert_eq!(had.state.as_deref(), Some("up"), "a known state stays");
        assert_eq!(
            had.hostnames,
            vec![name("a.test", "PTR"), name("a", "user")]
        );
        assert_eq!(had.os, new.os);
        assert_eq!(had.mac, new.mac);
        let again = had.clone();
        assert!(
            !merge(&mut had, &new),
            "merging the same host twice changes nothing"
        );
        assert_eq!(had, again);
    }

    #[test]
    fn show_reads_a_scans_hosts_in_key_order_without_a_sort() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::storage::schema::migrate(&mut c).unwrap();
        let plan: Vec<String> = c
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT {HOST_COLS} FROM hosts WHERE scan_id = 1 ORDER BY address"
            ))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let plan = plan.join(" | ");
        assert!(
            plan.contains("USING INDEX sqlite_autoindex_hosts") && !plan.contains("TEMP B-TREE"),
            "{plan}"
        );
    }

    #[test]
    fn run_warnings_put_the_runs_own_first_and_say_what_was_cut() {
        let run = ToolRun {
            warnings: vec!["own".into()],
            ..ToolRun::new("nmap", "t", picket_protocol::RunStatus::Done)
        };
        let parsed = ParsedOutput {
            warnings: vec!["unplaced".into(), "own".into()],
            partial: Some("no </nmaprun>".into()),
            ..ParsedOutput::default()
        };
        assert_eq!(
            run_warnings(&run, &parsed),
            ["own", "unplaced", "partial output: no </nmaprun>"]
        );
        assert_eq!(parser_notes(&parsed), 3);
    }
}
