//! Issue 2, "Must show" 6: the SQLite storage, through picketd's own `storage::open`.
//!
//! Migrations are idempotent across restarts (same file opened three times: one schema
//! version, every table and index, earlier data intact), and the pragmas are on EVERY pooled
//! connection, checked while all of them are held at once, with non-default config values so
//! a hard-coded pragma would fail.
//!
//! Issue 12: hosts are stored per (scan, address) and merged when two runs of a scan report
//! the same host; a run's warnings are its own plus its parser's, a partial output is a
//! warning on a run stored truncated; a file at schema 3 migrates with its rows kept.

use std::collections::BTreeSet;
use std::path::Path;

use picket_protocol::{
    Host, HostName, OsMatch, RunStatus, ScanStatus, Service, Timestamp, ToolRun,
};
use picketd::config::DbConfig;
use picketd::parsers::ParsedOutput;
use picketd::storage::{self, queries, schema::SCHEMA_VERSION};

/// Tables of DESIGN.md's storage section, plus the ones the schema adds for the CLI's queries.
const TABLES: &[&str] = &[
    "schema_version",
    "scans",
    "scan_targets",
    "tool_runs",
    "services",
    "findings",
    "scan_findings",
    "finding_cves",
    "cache_entries",
    "hosts",
];

/// The access paths the CLI needs (DESIGN.md): (table, leading column of some index on it).
/// Checked by content, not by index name, so renaming an index or turning it into a
/// PRIMARY KEY/UNIQUE constraint does not break the test, but dropping it does.
const ACCESS_PATHS: &[(&str, &str, &str)] = &[
    ("scans", "status", "scans by status"),
    ("scan_targets", "target", "scans by target"),
    ("tool_runs", "scan_id", "tool_runs by scan"),
    ("scan_findings", "scan_id", "findings by scan"),
    ("findings", "severity", "findings by severity"),
    ("findings", "fingerprint", "findings by fingerprint"),
    ("finding_cves", "cve", "findings by cve"),
    ("cache_entries", "target", "cache invalidation by target"),
    ("cache_entries", "tool", "cache invalidation by tool"),
    ("cache_entries", "scan_id", "cache invalidation by scan"),
    ("cache_entries", "expires_ms", "cache cleanup by expiry"),
    ("hosts", "scan_id", "hosts by scan (show)"),
];

fn config() -> DbConfig {
    DbConfig {
        pool_size: 5,
        busy_timeout_ms: 4321,
        mmap_size: 48 * 1024 * 1024,
        ..DbConfig::default()
    }
}

fn names(conn: &rusqlite::Connection, kind: &str) -> BTreeSet<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = ?1")
        .unwrap();
    stmt.query_map([kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Leading column of every index on `table` (named indexes and constraint autoindexes).
fn index_leading_columns(conn: &rusqlite::Connection, table: &str) -> BTreeSet<String> {
    let mut list = conn
        .prepare(&format!("PRAGMA index_list(\"{table}\")"))
        .unwrap();
    let indexes: Vec<String> = list
        .query_map([], |r| r.get::<_, String>("name"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut leading = BTreeSet::new();
    for index in indexes {
        let mut info = conn
            .prepare(&format!("PRAGMA index_info(\"{index}\")"))
            .unwrap();
        let first: Option<String> = info
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>("seqno")?,
                    r.get::<_, Option<String>>("name")?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .find(|(seq, _)| *seq == 0)
            .and_then(|(_, name)| name);
        leading.extend(first);
    }
    // An INTEGER PRIMARY KEY is the rowid, an index in all but name.
    let mut cols = conn
        .prepare(&format!("PRAGMA table_info(\"{table}\")"))
        .unwrap();
    let pk: Vec<(String, i64)> = cols
        .query_map([], |r| {
            Ok((r.get::<_, String>("name")?, r.get::<_, i64>("pk")?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    leading.extend(pk.into_iter().filter(|(_, n)| *n == 1).map(|(c, _)| c));
    leading
}

fn assert_schema(conn: &rusqlite::Connection, round: usize) {
    let versions: Vec<u32> = conn
        .prepare("SELECT version FROM schema_version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        versions,
        vec![SCHEMA_VERSION],
        "open #{round}: schema_version rows"
    );

    let tables = names(conn, "table");
    for t in TABLES {
        assert!(
            tables.contains(*t),
            "open #{round}: table {t} missing; tables: {tables:?}"
        );
    }
    for (table, column, what) in ACCESS_PATHS {
        let leading = index_leading_columns(conn, table);
        assert!(leading.contains(*column), "open #{round}: no index for {what} ({table}.{column} leading); indexes lead with {leading:?}");
    }
}

async fn schema_snapshot(pool: &picketd::storage::Pool) -> Vec<(String, String, Option<String>)> {
    let conn = pool.get().await.unwrap();
    conn.interact(|c| {
        let mut stmt = c
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn migrations_are_idempotent_across_three_opens_and_keep_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("picket.db");
    let cfg = config();

    let new_scan = queries::NewScan {
        targets: vec!["127.0.0.1".into()],
        profile: "quick".into(),
        ports: Some("80".into()),
        tools: vec![],
        priority: 3,
        no_cache: false,
        status: ScanStatus::Queued,
    };

    let mut first_snapshot = None;
    let mut scan_ids = Vec::new();
    for round in 1..=3 {
        let pool = storage::open(&path, &cfg)
            .await
            .unwrap_or_else(|e| panic!("open #{round}: {e}"));
        let snapshot = schema_snapshot(&pool).await;
        match &first_snapshot {
            None => first_snapshot = Some(snapshot),
            Some(first) => assert_eq!(first, &snapshot, "open #{round} changed the schema"),
        }
        let conn = pool.get().await.unwrap();
        let scan = new_scan.clone();
        let earlier = scan_ids.clone();
        let id = conn
            .interact(move |c| {
                assert_schema(c, round);
                // Everything written by earlier opens is still there.
                for id in &earlier {
                    let s = queries::get_scan(c, *id)
                        .unwrap()
                        .unwrap_or_else(|| panic!("open #{round}: scan {id} lost"));
                    assert_eq!(s.targets, vec!["127.0.0.1".to_string()]);
                    assert_eq!(s.priority, 3);
                }
                queries::create_scan(c, &scan).unwrap()
            })
            .await
            .unwrap();
        scan_ids.push(id);
        drop(conn);
        pool.close();
    }
    assert_eq!(scan_ids.len(), 3);

    // And migrate itself, called again on a migrated file, finds the current version and does nothing.
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(storage::schema::migrate(&mut conn).unwrap(), SCHEMA_VERSION);
    assert_schema(&conn, 4);
}

#[derive(Debug, PartialEq)]
struct Pragmas {
    journal_mode: String,
    synchronous: i64,
    busy_timeout: i64,
    foreign_keys: i64,
    mmap_size: i64,
}

fn read_pragmas(c: &rusqlite::Connection) -> Pragmas {
    let one_i = |p: &str| {
        c.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    Pragmas {
        journal_mode: c
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .unwrap()
            .to_lowercase(),
        synchronous: one_i("synchronous"),
        busy_timeout: one_i("busy_timeout"),
        foreign_keys: one_i("foreign_keys"),
        mmap_size: one_i("mmap_size"),
    }
}

async fn check_every_pooled_connection(path: &Path, cfg: &DbConfig) {
    let pool = storage::open(path, cfg).await.unwrap();
    let expected = Pragmas {
        journal_mode: "wal".into(),
        synchronous: 1, // NORMAL
        busy_timeout: cfg.busy_timeout_ms as i64,
        foreign_keys: 1,
        mmap_size: cfg.mmap_size as i64,
    };
    // Hold all of them at once, so each is a distinct connection.
    let mut held = Vec::new();
    for _ in 0..cfg.pool_size {
        held.push(pool.get().await.unwrap());
    }
    let status = pool.status();
    assert_eq!(
        status.size, cfg.pool_size,
        "pool did not open {} connections: {status:?}",
        cfg.pool_size
    );
    assert_eq!(status.available, 0, "{status:?}");
    for (i, conn) in held.iter().enumerate() {
        let got = conn.interact(|c| read_pragmas(c)).await.unwrap();
        assert_eq!(got, expected, "pooled connection #{i} of {}", cfg.pool_size);
    }
    drop(held);
    pool.close();
}

#[tokio::test]
async fn pragmas_are_applied_to_every_pooled_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("picket.db");
    check_every_pooled_connection(&path, &config()).await;
    // Other values on the same file, to show they come from the config, not constants.
    let other = DbConfig {
        pool_size: 3,
        busy_timeout_ms: 777,
        mmap_size: 8 * 1024 * 1024,
        ..DbConfig::default()
    };
    check_every_pooled_connection(&path, &other).await;
}

fn run(tool: &str, target: &str) -> ToolRun {
    ToolRun {
        exit_code: Some(0),
        duration_ms: Some(5),
        attempts: 1,
        started_at: Some(Timestamp(1)),
        finished_at: Some(Timestamp(2)),
        ..ToolRun::new(tool, target, RunStatus::Done)
    }
}

fn name(n: &str, kind: &str) -> HostName {
    HostName {
        name: n.into(),
        kind: kind.into(),
    }
}

fn os(n: &str, accuracy: u8) -> OsMatch {
    OsMatch {
        name: n.into(),
        accuracy,
    }
}

fn scan_of(c: &rusqlite::Connection, targets: &[&str]) -> i64 {
    let row = queries::NewScan {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        profile: "full".into(),
        ports: None,
        tools: vec![],
        priority: 0,
        no_cache: false,
        status: ScanStatus::Running,
    };
    queries::create_scan(c, &row).unwrap()
}

fn memory_db() -> rusqlite::Connection {
    let mut c = rusqlite::Connection::open_in_memory().unwrap();
    storage::schema::migrate(&mut c).unwrap();
    c
}

#[test]
fn hosts_are_stored_by_address_and_merged_across_two_runs_of_a_scan() {
    let c = memory_db();
    let id = scan_of(&c, &["10.0.0.0/30"]);
    let first = ParsedOutput {
        hosts: vec![
            Host {
                address: "10.0.0.2".into(),
                state: Some("up".into()),
                hostnames: vec![name("b.example.test", "PTR")],
                os: vec![],
                mac: None,
                vendor: None,
            },
            Host {
                address: "10.0.0.1".into(),
                state: Some("down".into()),
                ..Host::default()
            },
        ],
        ..ParsedOutput::default()
    };
    queries::finish_run(&c, id, &run("nmap", "10.0.0.0/30"), &first).unwrap();
    // A second run of the same scan (an OS scan, say) reports 10.0.0.2 again.
    let second = ParsedOutput {
        hosts: vec![Host {
            address: "10.0.0.2".into(),
            state: Some("down".into()),
            hostnames: vec![name("b", "user"), name("b.example.test", "PTR")],
            os: vec![os("Linux 5.0 - 5.14", 96), os("Linux 4.15", 90)],
            mac: Some("02:42:AC:11:00:02".into()),
            vendor: Some("Example Networks".into()),
        }],
        ..ParsedOutput::default()
    };
    queries::finish_run(&c, id, &run("nmap-os", "10.0.0.2"), &second).unwrap();
    let shown = queries::get_scan(&c, id).unwrap().unwrap();
    let addresses: Vec<&str> = shown.hosts.iter().map(|h| h.address.as_str()).collect();
    assert_eq!(
        addresses,
        ["10.0.0.1", "10.0.0.2"],
        "one row per address, by address"
    );
    let b = &shown.hosts[1];
    assert_eq!(
        b.hostnames,
        vec![name("b.example.test", "PTR"), name("b", "user")],
        "names are the union, first seen first"
    );
    assert_eq!(
        b.os, second.hosts[0].os,
        "the OS list of the run that has one"
    );
    assert_eq!(
        b.state.as_deref(),
        Some("up"),
        "a state already known stays"
    );
    assert_eq!(
        b.mac.as_deref(),
        Some("02:42:AC:11:00:02"),
        "filled when absent"
    );
    assert_eq!(b.vendor.as_deref(), Some("Example Networks"));
    assert_eq!(shown.hosts[0].state.as_deref(), Some("down"));

    // A third run with another OS guess does not replace the one stored.
    let third = ParsedOutput {
        hosts: vec![Host {
            address: "10.0.0.2".into(),
            os: vec![os("FreeBSD 13", 85)],
            ..Host::default()
        }],
        ..ParsedOutput::default()
    };
    queries::finish_run(&c, id, &run("nmap-os", "10.0.0.3"), &third).unwrap();
    let again = queries::get_scan(&c, id).unwrap().unwrap();
    assert_eq!(again.hosts[1].os, second.hosts[0].os);
    // Another scan's host of the same address is its own row.
    let other = scan_of(&c, &["10.0.0.2"]);
    queries::finish_run(&c, other, &run("nmap", "10.0.0.2"), &third).unwrap();
    let other = queries::get_scan(&c, other).unwrap().unwrap();
    assert_eq!(other.hosts, third.hosts);
}

#[test]
fn a_runs_warnings_and_a_partial_output_are_stored_on_the_run() {
    let c = memory_db();
    let id = scan_of(&c, &["127.0.0.1"]);
    let mut own = run("nuclei", "http://127.0.0.1:8080");
    own.warnings = vec!["the run's own warning".into()];
    let parsed = ParsedOutput {
        warnings: vec!["a dns match without a host: not placed".into()],
        ..ParsedOutput::default()
    };
    queries::finish_run(&c, id, &own, &parsed).unwrap();
    let cut = ParsedOutput {
        services: vec![Service {
            host: "127.0.0.1".into(),
            port: 22,
            proto: "tcp".into(),
            name: "ssh".into(),
            product: None,
            version: None,
            tls: false,
        }],
        partial: Some("the report ends inside host 2 (no </nmaprun>)".into()),
        ..ParsedOutput::default()
    };
    queries::finish_run(&c, id, &run("nmap", "127.0.0.1"), &cut).unwrap();
    let shown = queries::get_scan(&c, id).unwrap().unwrap();
    let nuclei = &shown.tool_runs[0];
    assert_eq!(
        nuclei.warnings,
        [
            "the run's own warning",
            "a dns match without a host: not placed"
        ]
    );
    assert!(!nuclei.truncated && nuclei.error.is_none(), "{nuclei:?}");
    let nmap = &shown.tool_runs[1];
    assert_eq!(nmap.status, RunStatus::Done);
    assert!(
        nmap.truncated,
        "a partial output is stored truncated: {nmap:?}"
    );
    assert_eq!(
        nmap.warnings,
        ["partial output: the report ends inside host 2 (no </nmaprun>)"]
    );
    assert_eq!(shown.services.len(), 1, "what was complete is kept");
    // A resumed scan's run replaces its row, warnings included.
    queries::finish_run(&c, id, &run("nmap", "127.0.0.1"), &ParsedOutput::default()).unwrap();
    let shown = queries::get_scan(&c, id).unwrap().unwrap();
    assert!(shown.tool_runs[1].warnings.is_empty() && !shown.tool_runs[1].truncated);
}

#[tokio::test]
async fn a_file_at_schema_3_migrates_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("picket.db");
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        storage::schema::migrate_to(&mut c, 3).unwrap();
        // Rows as a picketd of schema 3 wrote them (no warnings column, no hosts table).
        c.execute_batch(
            "INSERT INTO scans (id, targets, profile, tools, status, created_ms)
                 VALUES (1, '[\"127.0.0.1\"]', 'quick', '[]', 'done', 1000);
             INSERT INTO scan_targets (scan_id, target) VALUES (1, '127.0.0.1');
             INSERT INTO tool_runs (id, scan_id, tool, target, status, truncated, error)
                 VALUES (1, 1, 'nmap', '127.0.0.1', 'done', 0, 'imported from old.xml');
             INSERT INTO services (scan_id, run_id, host, port, proto, name)
                 VALUES (1, 1, '127.0.0.1', 22, 'tcp', 'ssh');",
        )
        .unwrap();
        assert!(
            c.prepare("SELECT warnings FROM tool_runs").is_err(),
            "the file really is at schema 3"
        );
    }
    let pool = storage::open(&path, &config()).await.unwrap();
    let conn = pool.get().await.unwrap();
    conn.interact(|c| {
        assert_schema(c, 1);
        let old = queries::get_scan(c, 1)
            .unwrap()
            .expect("the old scan is kept");
        assert_eq!(old.targets, ["127.0.0.1"]);
        assert_eq!(old.services.len(), 1);
        assert_eq!(old.tool_runs.len(), 1);
        assert!(
            old.tool_runs[0].warnings.is_empty(),
            "old runs have no warnings"
        );
        assert_eq!(
            old.tool_runs[0].error.as_deref(),
            Some("imported from old.xml")
        );
        assert!(old.hosts.is_empty());
        // And the migrated file takes the new rows.
        let parsed = ParsedOutput {
            hosts: vec![Host {
                address: "127.0.0.1".into(),
                state: Some("up".into()),
                hostnames: vec![name("localhost", "PTR")],
                ..Host::default()
            }],
            warnings: vec!["w".into()],
            ..ParsedOutput::default()
        };
        queries::finish_run(c, 1, &run("nmap-os", "127.0.0.1"), &parsed).unwrap();
        let now = queries::get_scan(c, 1).unwrap().unwrap();
        assert_eq!(now.hosts, parsed.hosts);
        assert_eq!(now.tool_runs[1].warnings, ["w"]);
    })
    .await
    .unwrap();
    drop(conn);
    pool.close();
}
