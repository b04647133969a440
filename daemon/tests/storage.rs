//! Issue 2, "Must show" 6: the SQLite storage, through picketd's own `storage::open`.
//!
//! Migrations are idempotent across restarts (same file opened three times: one schema
//! version, every table and index, earlier data intact), and the pragmas are on EVERY pooled
//! connection, checked while all of them are held at once, with non-default config values so
//! a hard-coded pragma would fail.

use std::collections::BTreeSet;
use std::path::Path;

use picket_protocol::ScanStatus;
use picketd::config::DbConfig;
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
