//! Every query the daemon makes, as plain functions over a rusqlite connection.
//!
//! Pagination is keyset (cursor = last key seen), never OFFSET, so a page costs the same
//! at row 10 and at row 1,000,000. Must not block an async executor: callers run these on
//! the pool's blocking threads.

use picket_protocol::*;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::parsers::ParsedOutput;

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn severity_rank(s: Severity) -> i64 {
    s as i64
}

fn severity_from_rank(r: i64) -> Severity {
    Severity::ALL
        .get(r.clamp(0, 4) as usize)
        .copied()
        .unwrap_or(Severity::Info)
}

fn status_from<T: std::str::FromStr>(s: String, fallback: T) -> T {
    s.parse().unwrap_or(fallback)
}

/// What a new scan row holds.
#[derive(Debug, Clone)]
pub struct NewScan {
    pub targets: Vec<String>,
    pub profile: String,
    pub ports: Option<String>,
    pub tools: Vec<String>,
    pub priority: i32,
    pub no_cache: bool,
    pub status: ScanStatus,
}

pub fn create_scan(tx: &Connection, scan: &NewScan) -> rusqlite::Result<ScanId> {
    let now = now_ms();
    tx.prepare_cached(
        "INSERT INTO scans (targets, profile, ports, tools, priority, no_cache, status, created_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
    )?
    .execute(
        params![json_list(&scan.targets), scan.profile, scan.ports, json_list(&scan.tools), scan.priority, scan.no_cache, scan.status.as_str(), now],
    )?;
    let id = tx.last_insert_rowid();
    let mut stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO scan_targets (scan_id, target) VALUES (?1, ?2)")?;
    for t in &scan.targets {
        stmt.execute(params![id, t])?;
    }
    Ok(id)
}

pub fn set_scan_status(
    conn: &Connection,
    id: ScanId,
    status: ScanStatus,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    let now = now_ms();
    match status {
        ScanStatus::Running => conn
            .prepare_cached(
                "UPDATE scans SET status = ?2, started_ms = COALESCE(started_ms, ?3), finished_ms = NULL
                 WHERE id = ?1 AND status IN ('queued', 'interrupted')",
            )?
            .execute(params![id, status.as_str(), now])?,
        s if s.is_final() => conn
            .prepare_cached("UPDATE scans SET status = ?2, finished_ms = ?3, error = COALESCE(?4, error) WHERE id = ?1")?
            .execute(params![id, s.as_str(), now, error])?,
        s => conn
            .prepare_cached("UPDATE scans SET status = ?2, error = COALESCE(?3, error) WHERE id = ?1")?
            .execute(params![id, s.as_str(), error])?,
    };
    Ok(())
}

/// Removes a scan that was refused after its row was written (busy), so no trace of it
/// stays behind as if it were pending.
pub fn delete_scan(conn: &Connection, id: ScanId) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM scans WHERE id = ?1", [id])
}

pub fn add_scan_warning(conn: &Connection, id: ScanId, warning: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE scans SET warnings = json_insert(warnings, '$[#]', ?2) WHERE id = ?1",
        params![id, warning],
    )?;
    Ok(())
}

/// Writes a finished run with everything it found, in the caller's transaction, so a run's
/// results land all together or not at all. Findings are upserted by fingerprint, hosts
/// merged by address. The run is stored with its parser's notes folded in (its warnings,
/// and a partial output as a warning with the run marked truncated), whichever path
/// brought it here: a real run, a cache hit or an import.
pub fn finish_run(
    tx: &Connection,
    scan: ScanId,
    run: &ToolRun,
    parsed: &ParsedOutput,
) -> rusqlite::Result<i64> {
    let now = now_ms();
    let warnings = super::hosts::run_warnings(run, parsed);
    let truncated = run.truncated || parsed.partial.is_some();
    let run_id = upsert_run(tx, scan, run, (truncated, &warnings), now)?;
    super::hosts::store_hosts(tx, scan, run_id, &parsed.hosts)?;
    let mut svc = tx.prepare_cached(
        // Two tools naming one endpoint alike (nmap and whatweb both say "http") share a row,
        // whichever run is stored first (discovery streams: a follow-up may be stored before
        // it). What the row ends up saying must not depend on that order: the longer (more
        // specific) product and version win, then the greater, and TLS if either says so.
        "INSERT INTO services (scan_id, run_id, host, port, proto, name, product, version, tls) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)
         ON CONFLICT (scan_id, host, port, proto, name) DO UPDATE SET
           product = CASE WHEN length(coalesce(excluded.product, '')) > length(coalesce(product, ''))
                            OR (length(coalesce(excluded.product, '')) = length(coalesce(product, ''))
                                AND coalesce(excluded.product, '') > coalesce(product, ''))
                          THEN excluded.product ELSE product END,
           version = CASE WHEN length(coalesce(excluded.version, '')) > length(coalesce(version, ''))
                            OR (length(coalesce(excluded.version, '')) = length(coalesce(version, ''))
                                AND coalesce(excluded.version, '') > coalesce(version, ''))
                          THEN excluded.version ELSE version END,
           tls = tls OR excluded.tls",
    )?;
    for s in &parsed.services {
        svc.execute(params![
            scan, run_id, s.host, s.port, s.proto, s.name, s.product, s.version, s.tls
        ])?;
    }
    let linked = link_findings(tx, scan, &parsed.findings, now)?;
    if linked > 0 {
        tx.prepare_cached("UPDATE scans SET findings_count = findings_count + ?2 WHERE id = ?1")?
            .execute(params![scan, linked as i64])?;
    }
    super::lifecycle::resolve_missing(tx, scan, run, truncated, now)?;
    Ok(run_id)
}

/// The run's row (a resumed scan's run replaces the one it had); answers its id.
/// `(truncated, warnings)` are the run's as stored, the parser's notes folded in.
fn upsert_run(
    tx: &Connection,
    scan: ScanId,
    run: &ToolRun,
    (truncated, warnings): (bool, &[String]),
    now: i64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO tool_runs (scan_id, tool, target, status, exit_code, duration_ms, cache_hit, attempts, tool_version,
                                started_ms, finished_ms, truncated, error, warnings, cached_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)
         ON CONFLICT (scan_id, tool, target) DO UPDATE SET status = excluded.status, exit_code = excluded.exit_code,
             duration_ms = excluded.duration_ms, cache_hit = excluded.cache_hit, attempts = excluded.attempts,
             tool_version = excluded.tool_version, started_ms = COALESCE(excluded.started_ms, started_ms),
             finished_ms = excluded.finished_ms, truncated = excluded.truncated, error = excluded.error,
             warnings = excluded.warnings, cached_at = excluded.cached_at
         RETURNING id",
    )?
    .query_row(
        params![
            scan,
            run.tool,
            run.target,
            run.status.as_str(),
            run.exit_code,
            run.duration_ms.map(|d| d as i64),
            run.cache_hit,
            run.attempts,
            run.tool_version,
            run.started_at.map(Timestamp::millis),
            run.finished_at.map_or(now, Timestamp::millis),
            truncated,
            run.error,
            json_list(warnings),
            run.cached_at
        ],
        |r| r.get(0),
    )
}

/// Stores each finding once by fingerprint (first/last seen kept) and links it to the
/// scan with the severity and detail this scan saw, marked fresh when the finding is new
/// or reopened (it was resolved); answers how many links are new.
fn link_findings(
    tx: &Connection,
    scan: ScanId,
    findings: &[Finding],
    now: i64,
) -> rusqlite::Result<usize> {
    // Insert-or-ignore then update, not one upsert with RETURNING: SQLite runs an upsert
    // with RETURNING as a multi-write statement with its own statement journal, which
    // inside the writer's savepoint made each finding cost more than the one before
    // (measured: 57% of the writer's time in memjrnlTruncate; see BENCHMARKS.md).
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO findings (fingerprint, tool, host, port, severity, title, detail, cve, evidence,
                                         first_seen_ms, last_seen_ms, first_scan_id, last_scan_id)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?10,?11,?11)",
    )?;
    let mut seen_again = tx.prepare_cached(
        "UPDATE findings SET last_seen_ms = ?2, last_scan_id = ?3, detail = ?4, severity = ?5, cve = ?6
         WHERE fingerprint = ?1",
    )?;
    let mut id_of = tx.prepare_cached("SELECT id FROM findings WHERE fingerprint = ?1")?;
    let mut link = tx.prepare_cached(
        "INSERT OR IGNORE INTO scan_findings (scan_id, finding_id, severity, fresh, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut cves =
        tx.prepare_cached("INSERT OR IGNORE INTO finding_cves (cve, finding_id) VALUES (?1, ?2)")?;
    let mut linked = 0usize;
    for f in findings {
        let sev = severity_rank(f.severity);
        let cve = f.cve.join(" ");
        let inserted = insert.execute(params![
            f.fingerprint,
            f.tool,
            f.host,
            f.port,
            sev,
            f.title,
            f.detail,
            cve,
            f.evidence,
            now,
            scan
        ])?;
        let (id, fresh): (i64, bool) = if inserted == 1 {
            (tx.last_insert_rowid(), true)
        } else {
            seen_again.execute(params![f.fingerprint, now, scan, f.detail, sev, cve])?;
            let id = id_of.query_row([&f.fingerprint], |r| r.get(0))?;
            (id, super::lifecycle::seen_again(tx, scan, id)?)
        };
        linked += link.execute(params![scan, id, sev, fresh, f.detail])?;
        for c in &f.cve {
            cves.execute(params![c, id])?;
        }
    }
    Ok(linked)
}

// Rows are read by position from these explicit column lists: looking columns up by
// name cost almost half of `show`'s time (see BENCHMARKS.md).
// The last two are the run's id and when retention removed its output (a subquery on
// run_outputs' primary key, so RUN_COLS still reads from tool_runs alone).
const RUN_COLS: &str =
    "tool, target, status, exit_code, duration_ms, cache_hit, attempts, tool_version, started_ms, finished_ms, truncated, error, warnings, cached_at, id, (SELECT removed_ms FROM run_outputs WHERE run_id = tool_runs.id)";
const SERVICE_COLS: &str = "host, port, proto, name, product, version, tls";
pub(super) const FINDING_COLS: &str = "f.id, f.tool, f.host, f.port, f.severity, f.title, f.detail, f.cve, f.evidence, f.fingerprint, f.first_seen_ms, f.last_seen_ms, f.state, f.resolved_ms, f.resolved_scan_id, f.reopened_count";
/// FINDING_COLS as one scan saw them: its severity and detail (older rows have no detail
/// of their own: the latest stands in).
const SCAN_FINDING_COLS: &str = "f.id, f.tool, f.host, f.port, sf.severity, f.title, COALESCE(sf.detail, f.detail), f.cve, f.evidence, f.fingerprint, f.first_seen_ms, f.last_seen_ms, f.state, f.resolved_ms, f.resolved_scan_id, f.reopened_count";
const SCAN_COLS: &str = "s.id, s.targets, s.profile, s.ports, s.tools, s.priority, s.no_cache, s.status, s.created_ms, s.started_ms, s.finished_ms, s.error, s.warnings, s.findings_count";

/// A tool run from RUN_COLS, starting at column `at`.
fn run_from_row(r: &Row, at: usize) -> rusqlite::Result<ToolRun> {
    Ok(ToolRun {
        tool: r.get(at)?,
        target: r.get(at + 1)?,
        status: status_from(r.get(at + 2)?, RunStatus::Failed),
        exit_code: r.get(at + 3)?,
        duration_ms: r.get::<_, Option<i64>>(at + 4)?.map(|d| d.max(0) as u64),
        cache_hit: r.get(at + 5)?,
        attempts: r.get(at + 6)?,
        tool_version: r.get(at + 7)?,
        started_at: r.get::<_, Option<i64>>(at + 8)?.map(Timestamp),
        finished_at: r.get::<_, Option<i64>>(at + 9)?.map(Timestamp),
        truncated: r.get(at + 10)?,
        // Rows stored before protocol 5 may hold "" for no error: the contract says null.
        error: r
            .get::<_, Option<String>>(at + 11)?
            .filter(|e| !e.is_empty()),
        warnings: parse_list(&r.get::<_, String>(at + 12)?),
        cached_at: r.get(at + 13)?,
        id: r.get(at + 14)?,
        output_removed_at: r.get::<_, Option<i64>>(at + 15)?.map(rfc3339),
    })
}

/// Names that only say "TLS is spoken here" (sslscan's `ssl`): a discovery tool's name for
/// the same port (`https`, `imaps`) says more.
const TLS_ONLY_NAMES: &[&str] = &["ssl", "tls"];

/// What several tools said about one port, as one service: rows stay stored per tool (a
/// resumed or re-parsed run replaces its own), and `show` merges them. `rows` come sorted
/// by host, port, proto. The most specific name wins (not a bare `ssl`), a product and
/// version are taken from the row that has them, and TLS from any row.
pub fn one_row_per_port(rows: Vec<Service>) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::with_capacity(rows.len());
    for s in rows {
        match out.last_mut() {
            Some(k) if k.host == s.host && k.port == s.port && k.proto == s.proto => {
                if TLS_ONLY_NAMES.contains(&k.name.as_str())
                    && !TLS_ONLY_NAMES.contains(&s.name.as_str())
                {
                    k.name = s.name;
                }
                if k.version.is_none() && s.version.is_some() {
                    (k.product, k.version) = (s.product.or(k.product.take()), s.version);
                } else if k.product.is_none() {
                    k.product = s.product;
                }
                k.tls |= s.tls;
            }
            _ => out.push(s),
        }
    }
    out
}

fn service_from_row(r: &Row) -> rusqlite::Result<Service> {
    Ok(Service {
        host: r.get(0)?,
        port: r.get(1)?,
        proto: r.get(2)?,
        name: r.get(3)?,
        product: r.get(4)?,
        version: r.get(5)?,
        tls: r.get(6)?,
    })
}

pub(super) fn finding_from_row(r: &Row) -> rusqlite::Result<Finding> {
    let cve: String = r.get(7)?;
    Ok(Finding {
        id: r.get(0)?,
        tool: r.get(1)?,
        host: r.get(2)?,
        port: r.get(3)?,
        severity: severity_from_rank(r.get(4)?),
        title: r.get(5)?,
        detail: r.get(6)?,
        cve: cve.split_whitespace().map(String::from).collect(),
        evidence: r.get(8)?,
        fingerprint: r.get(9)?,
        first_seen: Some(rfc3339(r.get(10)?)),
        last_seen: Some(rfc3339(r.get(11)?)),
        state: status_from(r.get(12)?, FindingState::Open),
        resolved_at: r.get::<_, Option<i64>>(13)?.map(rfc3339),
        resolved_scan: r.get(14)?,
        reopened_count: r.get::<_, i64>(15)?.clamp(0, u32::MAX as i64) as u32,
    })
}

/// The scan row alone, as stored.
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub id: ScanId,
    pub request: NewScan,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub findings_count: u64,
}

/// A scan row from SCAN_COLS.
fn scan_row(r: &Row) -> rusqlite::Result<ScanRow> {
    Ok(ScanRow {
        id: r.get(0)?,
        request: NewScan {
            targets: parse_list(&r.get::<_, String>(1)?),
            profile: r.get(2)?,
            ports: r.get(3)?,
            tools: parse_list(&r.get::<_, String>(4)?),
            priority: r.get(5)?,
            no_cache: r.get(6)?,
            status: status_from(r.get(7)?, ScanStatus::Failed),
        },
        created_ms: r.get(8)?,
        started_ms: r.get(9)?,
        finished_ms: r.get(10)?,
        error: r.get(11)?,
        warnings: parse_list(&r.get::<_, String>(12)?),
        findings_count: r.get::<_, i64>(13)?.max(0) as u64,
    })
}

pub fn scan_row_by_id(conn: &Connection, id: ScanId) -> rusqlite::Result<Option<ScanRow>> {
    conn.prepare_cached(&format!("SELECT {SCAN_COLS} FROM scans s WHERE s.id = ?1"))?
        .query_row([id], scan_row)
        .optional()
}

/// A scan with its runs, services and findings, read in one transaction (one snapshot, one
/// lock instead of four). None if there is no such scan.
pub fn get_scan(conn: &Connection, id: ScanId) -> rusqlite::Result<Option<ScanDetail>> {
    super::transaction(conn, |c| scan_detail(c, id).map(Some)).map(Option::flatten)
}

fn scan_detail(conn: &Connection, id: ScanId) -> rusqlite::Result<Option<ScanDetail>> {
    let Some(row) = scan_row_by_id(conn, id)? else {
        return Ok(None);
    };
    let tool_runs = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM tool_runs WHERE scan_id = ?1 ORDER BY id"
        ))?
        .query_map([id], |r| run_from_row(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let hosts = super::hosts::scan_hosts(conn, id)?;
    let services = conn
        .prepare_cached(&format!(
            // The order of the unique index, so no sort is needed.
            "SELECT {SERVICE_COLS} FROM services WHERE scan_id = ?1 ORDER BY host, port, proto, name"
        ))?
        .query_map([id], service_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let services = one_row_per_port(services);
    let findings = conn
        .prepare_cached(&format!(
            "SELECT {SCAN_FINDING_COLS} FROM scan_findings sf JOIN findings f ON f.id = sf.finding_id
             WHERE sf.scan_id = ?1 ORDER BY sf.severity DESC, sf.finding_id DESC"
        ))?
        .query_map([id], finding_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (new_count, resolved) = super::lifecycle::scan_changes(conn, id)?;
    Ok(Some(ScanDetail {
        id,
        targets: row.request.targets,
        profile: row.request.profile,
        ports: row.request.ports,
        tools: row.request.tools,
        priority: row.request.priority,
        status: row.request.status,
        created_at: rfc3339(row.created_ms),
        started_at: row.started_ms.map(rfc3339),
        finished_at: row.finished_ms.map(rfc3339),
        error: row.error,
        warnings: row.warnings,
        tool_runs,
        hosts,
        services,
        findings,
        new_count,
        resolved,
    }))
}

/// One finding with the scans that reported it and the run of its latest scan that
/// produced it (the same tool, on a target naming its host; else that tool's first run).
/// None if there is no such finding.
pub fn get_finding(conn: &Connection, id: i64) -> rusqlite::Result<Option<FindingDetail>> {
    super::transaction(conn, |c| finding_detail(c, id))
}

fn finding_detail(conn: &Connection, id: i64) -> rusqlite::Result<Option<FindingDetail>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {FINDING_COLS}, f.first_scan_id, f.last_scan_id FROM findings f WHERE f.id = ?1"
        ))?
        .query_row([id], |r| {
            Ok((
                finding_from_row(r)?,
                r.get::<_, i64>(16)?,
                r.get::<_, i64>(17)?,
            ))
        })
        .optional()?;
    let Some((finding, first_scan, last_scan)) = row else {
        return Ok(None);
    };
    let scans = conn
        .prepare_cached("SELECT scan_id FROM scan_findings WHERE finding_id = ?1 ORDER BY scan_id")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<ScanId>>>()?;
    let runs = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM tool_runs WHERE scan_id = ?1 AND tool = ?2 ORDER BY id"
        ))?
        .query_map(params![last_scan, finding.tool], |r| run_from_row(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let run = runs
        .iter()
        .find(|r| r.target.contains(finding.host.as_str()))
        .or(runs.first())
        .cloned();
    Ok(Some(FindingDetail {
        finding,
        first_scan,
        last_scan,
        scans,
        run,
    }))
}

fn bad_cursor(c: &str) -> rusqlite::Error {
    crate::storage::BadCursor::into_sql(c)
}

pub fn list_scans(conn: &Connection, q: &ListQuery) -> rusqlite::Result<ScanPage> {
    let limit = q.limit.clamp(1, 1000) as i64;
    let before: i64 = match &q.cursor {
        Some(c) => c.parse().map_err(|_| bad_cursor(c))?,
        None => i64::MAX,
    };
    // One statement per filter combination, so each walks its own index
    // (scan_targets' key, scans_by_status, or the rowid) in keyset order.
    let mut sql = format!("SELECT {SCAN_COLS} FROM ");
    sql += match q.target {
        Some(_) => "scan_targets t JOIN scans s ON s.id = t.scan_id WHERE t.target = :target AND t.scan_id < :before",
        None => "scans s WHERE s.id < :before",
    };
    if q.status.is_some() {
        sql += " AND s.status = :status";
    }
    sql += if q.target.is_some() {
        " ORDER BY t.scan_id DESC LIMIT :limit"
    } else {
        " ORDER BY s.id DESC LIMIT :limit"
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let limit_plus_one = limit + 1;
    let mut args: Vec<(&str, &dyn rusqlite::ToSql)> =
        vec![(":before", &before), (":limit", &limit_plus_one)];
    let status = q.status.map(|s| s.as_str());
    if let Some(t) = &q.target {
        args.push((":target", t));
    }
    if let Some(s) = &status {
        args.push((":status", s));
    }
    let scans = stmt
        .query_map(args.as_slice(), |r| {
            let row = scan_row(r)?;
            Ok(ScanSummary {
                id: row.id,
                targets: row.request.targets,
                profile: row.request.profile,
                status: row.request.status,
                created_at: rfc3339(row.created_ms),
                finished_at: row.finished_ms.map(rfc3339),
                findings_count: row.findings_count,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page(
        scans,
        limit as usize,
        |s| s.id.to_string(),
        |scans, next_cursor| ScanPage { scans, next_cursor },
    ))
}

/// Cuts one extra row off a page and turns its predecessor's key into the next cursor.
fn page<T, P>(
    mut rows: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
    make: impl Fn(Vec<T>, Option<String>) -> P,
) -> P {
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(&key)
    } else {
        None
    };
    make(rows, next)
}

pub fn findings_page(conn: &Connection, q: &FindingsQuery) -> rusqlite::Result<FindingPage> {
    let limit = q.limit.clamp(1, 1000) as i64;
    let min = severity_rank(q.min_severity.unwrap_or(Severity::Info));
    let (csev, cid): (i64, i64) = match &q.cursor {
        Some(c) => {
            let (a, b) = c.split_once('.').ok_or_else(|| bad_cursor(c))?;
            (
                a.parse().map_err(|_| bad_cursor(c))?,
                b.parse().map_err(|_| bad_cursor(c))?,
            )
        }
        None => (i64::MAX, i64::MAX),
    };
    let state = q.state.map(FindingState::as_str);
    let findings = match q.scan {
        Some(scan) => conn
            .prepare_cached(&format!(
                "SELECT {FINDING_COLS} FROM scan_findings sf JOIN findings f ON f.id = sf.finding_id
                 WHERE sf.scan_id = ?1 AND sf.severity >= ?2 AND (sf.severity, sf.finding_id) < (?3, ?4)
                   AND (?5 IS NULL OR f.host = ?5) AND (?7 IS NULL OR f.state = ?7)
                 ORDER BY sf.severity DESC, sf.finding_id DESC LIMIT ?6"
            ))?
            .query_map(params![scan, min, csev, cid, q.target, limit + 1, state], finding_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => {
            let sql = if q.state.is_some() && q.target.is_none() {
                format!(
                    "SELECT {FINDING_COLS} FROM findings f WHERE f.state = ?7 AND f.severity >= ?2 AND (f.severity, f.id) < (?3, ?4)
                       AND ?1 IS NULL AND ?5 IS NULL ORDER BY f.severity DESC, f.id DESC LIMIT ?6"
                )
            } else if q.target.is_some() {
                format!(
                    "SELECT {FINDING_COLS} FROM findings f WHERE f.host = ?5 AND f.severity >= ?2 AND (f.severity, f.id) < (?3, ?4)
                       AND ?1 IS NULL AND (?7 IS NULL OR f.state = ?7) ORDER BY f.severity DESC, f.id DESC LIMIT ?6"
                )
            } else {
                format!(
                    "SELECT {FINDING_COLS} FROM findings f WHERE f.severity >= ?2 AND (f.severity, f.id) < (?3, ?4)
                       AND ?1 IS NULL AND ?5 IS NULL AND (?7 IS NULL OR f.state = ?7) ORDER BY f.severity DESC, f.id DESC LIMIT ?6"
                )
            };
            conn.prepare_cached(&sql)?
                .query_map(params![Option::<i64>::None, min, csev, cid, q.target, limit + 1, state], finding_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(page(
        findings,
        limit as usize,
        |f| format!("{}.{}", severity_rank(f.severity), f.id),
        |findings, next_cursor| FindingPage {
            findings,
            next_cursor,
        },
    ))
}

/// Scans that were queued or running when the daemon last stopped.
pub fn unfinished_scans(conn: &Connection) -> rusqlite::Result<Vec<ScanRow>> {
    conn.prepare_cached(&format!(
        "SELECT {SCAN_COLS} FROM scans s WHERE s.status IN ('queued', 'running', 'interrupted') ORDER BY s.priority DESC, s.id"
    ))?
        .query_map([], scan_row)?
        .collect()
}

/// Runs of a scan that ended (done/failed/...) and the services each found: on resume they
/// are not re-run, and their services still trigger follow-ups.
pub fn finished_runs(
    conn: &Connection,
    scan: ScanId,
) -> rusqlite::Result<Vec<(ToolRun, Vec<Service>)>> {
    let runs: Vec<(i64, ToolRun)> = conn
        .prepare_cached(&format!(
            "SELECT id, {RUN_COLS} FROM tool_runs WHERE scan_id = ?1 AND status NOT IN ('queued', 'running') ORDER BY id"
        ))?
        .query_map([scan], |r| Ok((r.get(0)?, run_from_row(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(runs.len());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SERVICE_COLS} FROM services WHERE run_id = ?1"
    ))?;
    for (id, run) in runs {
        let services = stmt
            .query_map([id], service_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push((run, services));
    }
    Ok(out)
}

pub fn mark_interrupted(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE scans SET status = 'interrupted' WHERE status = 'running'",
        [],
    )?;
    conn.execute("UPDATE tool_runs SET status = 'cancelled', error = 'daemon stopped during the run' WHERE status = 'running'", [])
}

/// `PRAGMA quick_check`'s answer: `["ok"]`, or up to 10 problems it found.
pub fn quick_check(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(10)")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Ids of the scan's findings that no earlier scan had (first seen by this one): what
/// notify/'s `only_new` hooks wait for.
pub fn new_finding_ids(conn: &Connection, scan: ScanId) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(
        "SELECT f.id FROM scan_findings sf JOIN findings f ON f.id = sf.finding_id
         WHERE sf.scan_id = ?1 AND f.first_scan_id = ?1",
    )?
    .query_map([scan], |r| r.get(0))?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::storage::schema::migrate(&mut c).unwrap();
        c
    }

    fn new_scan(c: &Connection, target: &str, status: ScanStatus) -> ScanId {
        let s = NewScan {
            targets: vec![target.into()],
            profile: "quick".into(),
            ports: None,
            tools: vec![],
            priority: 0,
            no_cache: false,
            status,
        };
        create_scan(c, &s).unwrap()
    }

    #[test]
    fn list_pages_by_cursor_and_filters_by_target_and_status() {
        let c = db();
        for i in 0..25 {
            let status = if i % 2 == 0 {
                ScanStatus::Queued
            } else {
                ScanStatus::Done
            };
            new_scan(
                &c,
                if i % 5 == 0 { "127.0.0.5" } else { "127.0.0.1" },
                status,
            );
        }
        let mut q = ListQuery {
            limit: 10,
            ..Default::default()
        };
        let mut seen = vec![];
        loop {
            let page = list_scans(&c, &q).unwrap();
            seen.extend(page.scans.iter().map(|s| s.id));
            match page.next_cursor {
                Some(cur) => q.cursor = Some(cur),
                None => break,
            }
        }
        assert_eq!(
            seen,
            (1..=25).rev().collect::<Vec<_>>(),
            "every scan once, newest first"
        );
        let by_target = list_scans(
            &c,
            &ListQuery {
                target: Some("127.0.0.5".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            by_target.scans.iter().map(|s| s.id).collect::<Vec<_>>(),
            [21, 16, 11, 6, 1]
        );
        let done = list_scans(
            &c,
            &ListQuery {
                status: Some(ScanStatus::Done),
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(done.scans.len(), 12);
        assert!(done.scans.iter().all(|s| s.status == ScanStatus::Done));
        let both = ListQuery {
            target: Some("127.0.0.5".into()),
            status: Some(ScanStatus::Done),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(
            list_scans(&c, &both)
                .unwrap()
                .scans
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>(),
            [16, 6]
        );
    }

    #[test]
    fn a_cursor_this_daemon_never_gave_is_its_own_error() {
        let c = db();
        new_scan(&c, "127.0.0.1", ScanStatus::Done);
        let bad = list_scans(
            &c,
            &ListQuery {
                cursor: Some("x".into()),
                limit: 5,
                ..Default::default()
            },
        )
        .unwrap_err();
        match crate::storage::StorageError::from(bad) {
            crate::storage::StorageError::BadCursor(b) => {
                assert_eq!(b.cursor, "x");
                assert!(b.to_string().contains("drop --cursor"), "{b}");
            }
            other => panic!("a bad cursor came out as {other:?}"),
        }
        let findings = FindingsQuery {
            cursor: Some("3".into()),
            limit: 5,
            ..Default::default()
        };
        let bad = findings_page(&c, &findings).unwrap_err();
        assert!(matches!(
            crate::storage::StorageError::from(bad),
            crate::storage::StorageError::BadCursor(_)
        ));
    }

    #[test]
    fn findings_count_follows_linked_findings_and_dedupes() {
        let c = db();
        let id = new_scan(&c, "127.0.0.1", ScanStatus::Running);
        let f = crate::parsers::new_finding(
            "t",
            "127.0.0.1",
            Some(80),
            Severity::Low,
            "x",
            "d",
            vec![],
            "e",
        );
        let run = ToolRun {
            exit_code: Some(0),
            duration_ms: Some(1),
            attempts: 1,
            started_at: Some(Timestamp(1)),
            finished_at: Some(Timestamp(2)),
            ..ToolRun::new("t", "127.0.0.1", RunStatus::Done)
        };
        let parsed = ParsedOutput {
            findings: vec![f.clone(), f],
            ..ParsedOutput::default()
        };
        finish_run(&c, id, &run, &parsed).unwrap();
        finish_run(&c, id, &run, &parsed).unwrap();
        let page = list_scans(
            &c,
            &ListQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            page.scans[0].findings_count, 1,
            "one finding, however often it is reported"
        );
    }

    #[test]
    fn a_finding_comes_with_every_scan_that_saw_it_and_the_run_of_the_latest() {
        let c = db();
        let f = crate::parsers::new_finding(
            "t",
            "127.0.0.1",
            Some(80),
            Severity::High,
            "x",
            "what is wrong, in words",
            vec!["CVE-2013-2566".into()],
            "e",
        );
        let run = ToolRun {
            exit_code: Some(0),
            duration_ms: Some(1),
            attempts: 1,
            started_at: Some(Timestamp(1_000)),
            finished_at: Some(Timestamp(2_000)),
            ..ToolRun::new("t", "127.0.0.1:80", RunStatus::Done)
        };
        let parsed = ParsedOutput {
            findings: vec![f],
            ..ParsedOutput::default()
        };
        let first = new_scan(&c, "127.0.0.1", ScanStatus::Running);
        finish_run(&c, first, &run, &parsed).unwrap();
        let second = new_scan(&c, "127.0.0.1", ScanStatus::Running);
        finish_run(&c, second, &run, &parsed).unwrap();
        let id = get_scan(&c, second).unwrap().unwrap().findings[0].id;
        let d = get_finding(&c, id).unwrap().unwrap();
        assert_eq!((d.first_scan, d.last_scan), (first, second));
        assert_eq!(d.scans, vec![first, second]);
        assert_eq!(d.finding.detail, "what is wrong, in words");
        assert_eq!(d.finding.cve, vec!["CVE-2013-2566".to_string()]);
        let produced = d.run.expect("the run of the latest scan");
        assert_eq!(
            (produced.tool.as_str(), produced.target.as_str()),
            ("t", "127.0.0.1:80")
        );
        assert_eq!(produced.started_at, Some(Timestamp(1_000)));
        assert!(get_finding(&c, id + 1000).unwrap().is_none());
    }

    #[test]
    fn findings_in_one_state_walk_their_index() {
        let c = db();
        let mut stmt = c
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT {FINDING_COLS} FROM findings f WHERE f.state = 'open' AND f.severity >= 0
                   AND (f.severity, f.id) < (9, 9) ORDER BY f.severity DESC, f.id DESC LIMIT 5"
            ))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let plan = plan.join(" | ");
        assert!(
            plan.contains("findings_by_state") && !plan.contains("TEMP B-TREE"),
            "{plan}"
        );
    }

    #[test]
    fn list_queries_walk_an_index() {
        let c = db();
        let plan = |sql: &str| -> String {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            stmt.query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let by_status = plan("SELECT s.* FROM scans s WHERE s.id < 10 AND s.status = 'done' ORDER BY s.id DESC LIMIT 5");
        assert!(by_status.contains("scans_by_status"), "{by_status}");
        let by_target = plan(
            "SELECT s.* FROM scan_targets t JOIN scans s ON s.id = t.scan_id WHERE t.target = 'x' AND t.scan_id < 10 ORDER BY t.scan_id DESC LIMIT 5",
        );
        assert!(
            by_target.contains("USING PRIMARY KEY") && !by_target.contains("TEMP B-TREE"),
            "{by_target}"
        );
    }

    #[test]
    fn what_nmap_and_sslscan_say_of_one_port_is_one_service() {
        let svc =
            |port: u16, name: &str, product: Option<&str>, version: Option<&str>, tls| Service {
                host: "127.0.0.1".into(),
                port,
                proto: "tcp".into(),
                name: name.into(),
                product: product.map(String::from),
                version: version.map(String::from),
                tls,
            };
        // In the stored order: host, port, proto, name.
        let rows = vec![
            svc(80, "http", Some("nginx"), None, false),
            svc(443, "https", Some("nginx"), Some("1.24"), false),
            svc(443, "ssl", None, None, true),
            svc(8443, "ssl", None, None, true),
            svc(8443, "ssl/http", Some("Werkzeug"), Some("3.0"), true),
        ];
        let got = one_row_per_port(rows);
        assert_eq!(
            got,
            vec![
                svc(80, "http", Some("nginx"), None, false),
                svc(443, "https", Some("nginx"), Some("1.24"), true),
                svc(8443, "ssl/http", Some("Werkzeug"), Some("3.0"), true),
            ]
        );
    }
}
