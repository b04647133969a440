//! Schema migrations: an ordered list of SQL steps and the `schema_version` table.
//!
//! Owns table and index definitions. Each step runs once, inside a transaction, and records
//! its number, so running `migrate` on every start is idempotent; `probe_tables` reads a
//! page or two of each table at start. Must not hold queries.

use rusqlite::Connection;

/// Index i holds the SQL that brings the schema from version i to i+1.
const MIGRATIONS: &[&str] = &[
    // 1: the whole schema of DESIGN.md.
    r#"
    CREATE TABLE scans (
        id           INTEGER PRIMARY KEY,
        targets      TEXT NOT NULL,          -- JSON array, as the user gave them
        profile      TEXT NOT NULL,
        ports        TEXT,
        tools        TEXT NOT NULL,          -- JSON array (explicit --tools), may be []
        priority     INTEGER NOT NULL DEFAULT 0,
        no_cache     INTEGER NOT NULL DEFAULT 0,
        status       TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        started_ms   INTEGER,
        finished_ms  INTEGER,
        error        TEXT,
        warnings     TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX scans_by_status ON scans(status, id);
    -- One row per (scan, target) so `list --target` is an index range, keyset on id.
    CREATE TABLE scan_targets (
        scan_id  INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        target   TEXT NOT NULL,
        PRIMARY KEY (target, scan_id)
    ) WITHOUT ROWID;
    CREATE TABLE tool_runs (
        id           INTEGER PRIMARY KEY,
        scan_id      INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        tool         TEXT NOT NULL,
        target       TEXT NOT NULL,
        status       TEXT NOT NULL,
        exit_code    INTEGER,
        duration_ms  INTEGER,
        cache_hit    INTEGER NOT NULL DEFAULT 0,
        attempts     INTEGER NOT NULL DEFAULT 0,
        tool_version TEXT,
        started_ms   INTEGER,
        finished_ms  INTEGER,
        truncated    INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        UNIQUE (scan_id, tool, target)
    );
    CREATE TABLE services (
        id       INTEGER PRIMARY KEY,
        scan_id  INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        run_id   INTEGER REFERENCES tool_runs(id) ON DELETE CASCADE,
        host     TEXT NOT NULL,
        port     INTEGER NOT NULL,
        proto    TEXT NOT NULL,
        name     TEXT NOT NULL,
        product  TEXT,
        version  TEXT,
        tls      INTEGER NOT NULL DEFAULT 0,
        UNIQUE (scan_id, host, port, proto, name)
    );
    -- A finding is unique by fingerprint across scans; scan_findings says which scans saw it.
    CREATE TABLE findings (
        id            INTEGER PRIMARY KEY,
        fingerprint   TEXT NOT NULL UNIQUE,
        tool          TEXT NOT NULL,
        host          TEXT NOT NULL,
        port          INTEGER,
        severity      INTEGER NOT NULL,      -- 0 info .. 4 critical
        title         TEXT NOT NULL,
        detail        TEXT NOT NULL,
        cve           TEXT NOT NULL DEFAULT '',  -- space-separated
        evidence      TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms  INTEGER NOT NULL,
        first_scan_id INTEGER NOT NULL,
        last_scan_id  INTEGER NOT NULL
    );
    CREATE INDEX findings_by_severity ON findings(severity DESC, id DESC);
    CREATE INDEX findings_by_host ON findings(host, severity DESC, id DESC);
    CREATE TABLE scan_findings (
        scan_id    INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        finding_id INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
        severity   INTEGER NOT NULL,         -- copied so a scan's page sorts in the index
        PRIMARY KEY (scan_id, severity, finding_id)
    ) WITHOUT ROWID;
    CREATE INDEX scan_findings_by_finding ON scan_findings(finding_id);
    CREATE TABLE finding_cves (
        cve        TEXT NOT NULL,
        finding_id INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
        PRIMARY KEY (cve, finding_id)
    ) WITHOUT ROWID;
    CREATE TABLE cache_entries (
        key          TEXT PRIMARY KEY,
        tool         TEXT NOT NULL,
        tool_version TEXT,
        target       TEXT NOT NULL,
        scan_id      INTEGER,
        created_ms   INTEGER NOT NULL,
        expires_ms   INTEGER NOT NULL,
        exit_code    INTEGER,
        truncated    INTEGER NOT NULL DEFAULT 0,
        output       BLOB NOT NULL
    );
    CREATE INDEX cache_by_target ON cache_entries(target);
    CREATE INDEX cache_by_tool ON cache_entries(tool);
    CREATE INDEX cache_by_scan ON cache_entries(scan_id);
    CREATE INDEX cache_by_expiry ON cache_entries(expires_ms);
    "#,
    // 2: findings per scan kept on the row, so `list` never counts a scan's findings.
    r#"
    ALTER TABLE scans ADD COLUMN findings_count INTEGER NOT NULL DEFAULT 0;
    UPDATE scans SET findings_count = (SELECT COUNT(*) FROM scan_findings WHERE scan_id = scans.id);
    "#,
    // 3: a scan's tool runs in order without a sort (`show`), services by run (resume).
    r#"
    CREATE INDEX tool_runs_by_scan ON tool_runs(scan_id, id);
    CREATE INDEX services_by_run ON services(run_id);
    "#,
    // 4: hosts as records of their own (names, OS, state, MAC), one row per (scan,
    // address), merged when several runs of a scan report the same host; the unique index
    // is also `show`'s order (laid out like services). A run's warnings: what its parser
    // could not place or had to cut.
    r#"
    CREATE TABLE hosts (
        id         INTEGER PRIMARY KEY,
        scan_id    INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        address    TEXT NOT NULL,
        run_id     INTEGER REFERENCES tool_runs(id) ON DELETE SET NULL,  -- the first run that reported it
        state      TEXT,
        mac        TEXT,
        vendor     TEXT,
        hostnames  TEXT NOT NULL DEFAULT '[]',  -- JSON [{name, kind}]
        os         TEXT NOT NULL DEFAULT '[]',  -- JSON [{name, accuracy}], best first
        UNIQUE (scan_id, address)
    );
    CREATE INDEX hosts_by_run ON hosts(run_id);
    ALTER TABLE tool_runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
    "#,
    // 5: when a cached run's output was produced (RFC 3339), so `show` says its age.
    r#"
    ALTER TABLE tool_runs ADD COLUMN cached_at TEXT;
    "#,
    // 6 (issue 15, schedules): recurring scans. `next_run_ms` is the one due time kept, so
    // a daemon down across many due times finds one past time, not a list: one run at start.
    // `last_scan` has no foreign key: a schedule outlives the scans it made.
    r#"
    CREATE TABLE schedules (
        id           INTEGER PRIMARY KEY,
        name         TEXT,
        targets      TEXT NOT NULL,               -- JSON array, as the user gave them
        every_secs   INTEGER,                     -- exactly one of every_secs and cron
        cron         TEXT,
        tz           TEXT NOT NULL DEFAULT 'local',
        profile      TEXT,
        tools        TEXT NOT NULL DEFAULT '[]',  -- JSON array
        ports        TEXT,
        paused       INTEGER NOT NULL DEFAULT 0,
        created_ms   INTEGER NOT NULL,
        next_run_ms  INTEGER,                     -- NULL while paused
        last_run_ms  INTEGER,
        last_scan    INTEGER,
        last_error   TEXT
    );
    CREATE INDEX schedules_due ON schedules(next_run_ms) WHERE next_run_ms IS NOT NULL;
    "#,
    // 7: each run's raw output (zstd), kept as evidence. Retention empties `data` and
    // notes when (`removed_ms`), oldest first by `created_ms`; the run row stays.
    r#"
    CREATE TABLE run_outputs (
        run_id       INTEGER PRIMARY KEY REFERENCES tool_runs(id) ON DELETE CASCADE,
        created_ms   INTEGER NOT NULL,
        size         INTEGER NOT NULL,       -- bytes before compression
        stored_bytes INTEGER NOT NULL,       -- bytes of `data`
        data         BLOB,                   -- NULL once removed by retention
        removed_ms   INTEGER
    );
    CREATE INDEX run_outputs_kept_by_age ON run_outputs(created_ms, run_id) WHERE data IS NOT NULL;
    "#,
    // 8: finding lifecycle. A finding is open until a later complete run of its tool on
    // its asset misses it (resolved, by which scan and when); seen again, it reopens.
    // Per scan: which findings it saw first or reopened (`fresh`), the severity and detail
    // it saw (for diffs), and which it resolved (`scan_resolutions`, read by scan only:
    // no index by finding, which would also cover the table and be what the start's probe
    // of each table's first row reads). The table comes before the indexes, so the file
    // still ends in index pages the probe does not read (tests/storage_faults.rs damages
    // the last two).
    r#"
    CREATE TABLE scan_resolutions (
        scan_id    INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        finding_id INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
        PRIMARY KEY (scan_id, finding_id)
    ) WITHOUT ROWID;
    ALTER TABLE findings ADD COLUMN state TEXT NOT NULL DEFAULT 'open';
    ALTER TABLE findings ADD COLUMN resolved_ms INTEGER;
    ALTER TABLE findings ADD COLUMN resolved_scan_id INTEGER;
    ALTER TABLE findings ADD COLUMN reopened_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE scan_findings ADD COLUMN fresh INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE scan_findings ADD COLUMN detail TEXT;
    UPDATE scan_findings SET fresh = 1
     WHERE scan_id = (SELECT first_scan_id FROM findings WHERE id = scan_findings.finding_id);
    CREATE INDEX findings_open_by_asset ON findings(tool, host, port) WHERE state = 'open';
    -- `picket findings` (open by default): a keyset walk in one state.
    CREATE INDEX findings_by_state ON findings(state, severity DESC, id DESC);
    "#,
];

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Rows in `schema_version`: the health check's proof that the schema is there (an error
/// when the table is missing).
pub fn version_rows(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
}

/// Reads the first row of every table: the root page and one leaf of each b-tree, so a
/// database whose pages were overwritten is caught at start (a few pages per table, not the
/// whole file: `PRAGMA quick_check`, in `picket health --deep`, reads all of it).
pub fn probe_tables(conn: &Connection) -> rusqlite::Result<()> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables {
        let sql = format!("SELECT * FROM \"{}\" LIMIT 1", table.replace('"', "\"\""));
        conn.prepare(&sql)?.query([])?.next()?;
    }
    Ok(())
}

/// Brings the database to `SCHEMA_VERSION`. Returns the version found before.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the database to `version` (at most `SCHEMA_VERSION`), never down: how a test
/// makes the file an older picketd left, to check the steps after it keep its rows.
pub fn migrate_to(conn: &mut Connection, version: u32) -> rusqlite::Result<u32> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found: u32 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .or_else(|e| {
            if e == rusqlite::Error::QueryReturnedNoRows {
                Ok(0)
            } else {
                Err(e)
            }
        })?;
    let steps = MIGRATIONS.iter().enumerate().take(version as usize);
    for (i, sql) in steps.skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [i as u32 + 1],
        )?;
        tx.commit()?;
    }
    Ok(found)
}
