//! Figure 4, ingest and queries.
//!
//! Ingest: 1,000,000 findings (200,000 with --quick) written through the DbActor's writer
//! path, exactly as the daemon persists a finished run: `Db::write` calling
//! `storage::queries::finish_run` with a `ParsedOutput` of 1,000 findings per run, one run
//! per scan (the scan row created first by `create_scan`, as the daemon does at submission),
//! up to 8 writes in flight (the writer batches what is queued into one transaction).
//! Against it, in the same run: a bare rusqlite insert of the same rows (scans,
//! scan_targets, tool_runs, findings, scan_findings, finding_cves) into the same schema
//! and pragmas, in a single transaction. Ratio = bare time / DbActor time.
//!
//! Queries: a real picketd started on the DbActor-written database (1,000,000 findings in
//! 1,000 scans) answers `findings` (first page, 50: the CLI default), `list` (first page,
//! 20) and `show` (a random scan of 1,000 findings) over one persistent connection; p95 of
//! each. The SQL those three run is captured with sqlite3_trace_v2 while calling the same
//! `storage::queries` functions on the same database, and its EXPLAIN QUERY PLAN written to
//! the plans file; a plan step that scans a table without an index or sorts in a temp
//! b-tree counts as unindexed.

use std::ffi::{c_int, c_uint, c_void, CStr};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use picket_client::Client;
use picket_protocol::*;
use picketd::config::DbConfig;
use picketd::metrics::Metrics;
use picketd::parsers::{new_finding, ParsedOutput};
use picketd::storage::queries::{self, NewScan};
use picketd::storage::Db;
use rusqlite::{ffi, params};

use crate::env::{bench_env, runtime, start_daemon};
use crate::report::{Cmp, Report, Samples};
use crate::Opts;

const PER_RUN: usize = 1_000;
const IN_FLIGHT: usize = 8;

/// `findings` as the CLI asks by default: the first page of 50 of all findings.
fn first_findings_page() -> FindingsQuery {
    FindingsQuery {
        limit: 50,
        ..Default::default()
    }
}

/// `list` as the CLI asks by default: the first page of 20 scans.
fn first_scans_page() -> ListQuery {
    ListQuery {
        limit: 20,
        ..Default::default()
    }
}

/// The findings of run `c`: deterministic, distinct fingerprints, a spread of severities,
/// hosts and ports, one in ten with a CVE.
fn chunk(c: usize) -> ParsedOutput {
    let findings = (c * PER_RUN..(c + 1) * PER_RUN)
        .map(|i| {
            let h = i % 1000;
            let severity = match i % 10 {
                0..=4 => Severity::Info,
                5 | 6 => Severity::Low,
                7 => Severity::Medium,
                8 => Severity::High,
                _ => Severity::Critical,
            };
            let cve = if i % 10 == 9 {
                vec![format!("CVE-2024-{:05}", i % 100_000)]
            } else {
                vec![]
            };
            new_finding(
                "bench",
                &format!("127.0.{}.{}", h / 250, h % 250 + 1),
                Some((i % 1000 + 1) as u16),
                severity,
                format!("Synthetic finding {}", i % 997),
                format!("detail of synthetic finding {i}: what the tool said about it, in a sentence or two"),
                cve,
                format!("ev-{i}"),
            )
        })
        .collect();
    ParsedOutput {
        findings,
        ..ParsedOutput::default()
    }
}

fn run_row() -> ToolRun {
    let now = queries::now_ms();
    ToolRun {
        exit_code: Some(0),
        duration_ms: Some(1),
        attempts: 1,
        started_at: Some(picket_protocol::Timestamp(now)),
        finished_at: Some(picket_protocol::Timestamp(now)),
        ..ToolRun::new("bench", "127.0.0.1", RunStatus::Done)
    }
}

fn new_scan() -> NewScan {
    NewScan {
        targets: vec!["127.0.0.1".into()],
        profile: "custom".into(),
        ports: None,
        tools: vec!["bench".into()],
        priority: 0,
        no_cache: false,
        status: ScanStatus::Done,
    }
}

/// The daemon's writer path; returns the time from the first write to the last answer.
fn through_db_actor(dir: &Path, runs: usize) -> anyhow::Result<Duration> {
    let chunks: Vec<ParsedOutput> = (0..runs).map(chunk).collect();
    let path = dir.join("picket.db");
    actix::System::new().block_on(async move {
        let cfg = DbConfig::default();
        let pool = picketd::storage::open(&path, &cfg).await?;
        let metrics = Arc::new(Metrics::new(cfg.slow_query_ms));
        let db = Db::start(pool, metrics, cfg.write_batch);
        let start = Instant::now();
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(chunks)
            .map(|parsed| {
                let db = db.clone();
                async move {
                    let scan = db
                        .write("create scan", |c| queries::create_scan(c, &new_scan()))
                        .await?;
                    let run = run_row();
                    db.write("finish tool run", move |c| {
                        queries::finish_run(c, scan, &run, &parsed)
                    })
                    .await?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let took = start.elapsed();
        results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        db.close().await;
        Ok(took)
    })
}

/// A new database at `path` with the daemon's pragmas and schema.
fn fresh_db(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(&picketd::storage::pragmas(&DbConfig::default()))?;
    picketd::storage::schema::migrate(&mut conn)?;
    Ok(conn)
}

/// Diagnostic between the two: the daemon's own query functions (`create_scan`,
/// `finish_run`) on one connection in one transaction, without the actor, the writer task,
/// its batching or its checkpoints. Splits a gap into "the SQL" and "the path".
fn queries_one_transaction(dir: &Path, runs: usize) -> anyhow::Result<Duration> {
    let chunks: Vec<ParsedOutput> = (0..runs).map(chunk).collect();
    let mut conn = fresh_db(&dir.join("direct.db"))?;
    let start = Instant::now();
    let tx = conn.transaction()?;
    for parsed in &chunks {
        let scan = queries::create_scan(&tx, &new_scan())?;
        queries::finish_run(&tx, scan, &run_row(), parsed)?;
    }
    tx.commit()?;
    Ok(start.elapsed())
}

/// The physical limit: the same rows, prepared statements, one transaction.
fn bare_insert(dir: &Path, runs: usize) -> anyhow::Result<Duration> {
    let chunks: Vec<ParsedOutput> = (0..runs).map(chunk).collect();
    let mut conn = fresh_db(&dir.join("bare.db"))?;
    let start = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut scan = tx.prepare(
            "INSERT INTO scans (targets, profile, ports, tools, priority, no_cache, status, created_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        )?;
        let mut target =
            tx.prepare("INSERT INTO scan_targets (scan_id, target) VALUES (?1, ?2)")?;
        let mut run = tx.prepare(
            "INSERT INTO tool_runs (scan_id, tool, target, status, exit_code, duration_ms, cache_hit, attempts, tool_version,
                                    started_ms, finished_ms, truncated, error) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
        )?;
        let mut finding = tx.prepare(
            "INSERT INTO findings (fingerprint, tool, host, port, severity, title, detail, cve, evidence, first_seen_ms, last_seen_ms,
                                   first_scan_id, last_scan_id) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?10,?11,?11)",
        )?;
        let mut link = tx.prepare(
            "INSERT INTO scan_findings (scan_id, finding_id, severity) VALUES (?1, ?2, ?3)",
        )?;
        let mut cves = tx.prepare("INSERT INTO finding_cves (cve, finding_id) VALUES (?1, ?2)")?;
        for parsed in &chunks {
            let now = queries::now_ms();
            let s = new_scan();
            scan.execute(params![
                r#"["127.0.0.1"]"#,
                s.profile,
                s.ports,
                r#"["bench"]"#,
                s.priority,
                s.no_cache,
                s.status.as_str(),
                now
            ])?;
            let scan_id = tx.last_insert_rowid();
            target.execute(params![scan_id, "127.0.0.1"])?;
            let r = run_row();
            run.execute(params![
                scan_id,
                r.tool,
                r.target,
                r.status.as_str(),
                r.exit_code,
                r.duration_ms.map(|d| d as i64),
                r.cache_hit,
                r.attempts,
                r.tool_version,
                r.started_at.map(|t| t.millis()),
                r.finished_at.map(|t| t.millis()),
                r.truncated,
                r.error
            ])?;
            for f in &parsed.findings {
                let sev = f.severity as i64;
                finding.execute(params![
                    f.fingerprint,
                    f.tool,
                    f.host,
                    f.port,
                    sev,
                    f.title,
                    f.detail,
                    f.cve.join(" "),
                    f.evidence,
                    now,
                    scan_id
                ])?;
                let id = tx.last_insert_rowid();
                link.execute(params![scan_id, id, sev])?;
                for c in &f.cve {
                    cves.execute(params![c, id])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(start.elapsed())
}

fn count(db: &Path, table: &str) -> anyhow::Result<i64> {
    let c = rusqlite::Connection::open(db)?;
    Ok(c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
}

static TRACED: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_trace(
    evt: c_uint,
    _: *mut c_void,
    stmt: *mut c_void,
    _: *mut c_void,
) -> c_int {
    if evt == ffi::SQLITE_TRACE_STMT {
        // SAFETY: for SQLITE_TRACE_STMT, `stmt` is the prepared statement being run;
        // sqlite3_sql returns its text, owned by the statement, valid during the callback.
        let sql = unsafe { ffi::sqlite3_sql(stmt as *mut ffi::sqlite3_stmt) };
        if !sql.is_null() {
            let text = unsafe { CStr::from_ptr(sql) }
                .to_string_lossy()
                .into_owned();
            TRACED.lock().unwrap_or_else(|p| p.into_inner()).push(text);
        }
    }
    0
}

/// Runs `f` on `conn` and returns the SQL statements it ran (as prepared, unexpanded).
fn traced<R>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
) -> anyhow::Result<Vec<String>> {
    TRACED.lock().unwrap_or_else(|p| p.into_inner()).clear();
    // SAFETY: the handle is this live connection's; the callback is a plain function that
    // only reads the statement's text; it is removed before returning.
    unsafe {
        ffi::sqlite3_trace_v2(
            conn.handle(),
            ffi::SQLITE_TRACE_STMT,
            Some(on_trace),
            std::ptr::null_mut(),
        );
    }
    let r = f(conn);
    unsafe {
        ffi::sqlite3_trace_v2(conn.handle(), 0, None, std::ptr::null_mut());
    }
    r?;
    let mut v = std::mem::take(&mut *TRACED.lock().unwrap_or_else(|p| p.into_inner()));
    // Transaction control has no plan; only the queries are explained.
    v.retain(|sql| !matches!(sql.trim(), "BEGIN" | "COMMIT" | "ROLLBACK"));
    v.dedup();
    Ok(v)
}

/// EXPLAIN QUERY PLAN of `sql`, as the indented tree sqlite3's shell prints.
fn plan(conn: &rusqlite::Connection, sql: &str) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    // Parameters left NULL: the plan of a prepared statement does not depend on them
    // (no ANALYZE statistics exist for STAT4 to use).
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows: Vec<(i64, i64, String)> = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut depth = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (id, parent, detail) in rows {
        let d = depth.get(&parent).map_or(0, |d| d + 1);
        depth.insert(id, d);
        out.push(format!("{}{}", "  ".repeat(d), detail));
    }
    Ok(out)
}

fn unindexed(step: &str) -> bool {
    let s = step.trim();
    (s.starts_with("SCAN ") && !s.contains("USING") && !s.starts_with("SCAN CONSTANT"))
        || s.contains("TEMP B-TREE")
}

/// Captures and explains the SQL of the three measured commands (and the same commands'
/// filtered variants); returns the plans text and the number of unindexed steps.
fn explain(db: &Path, scan: ScanId) -> anyhow::Result<(String, usize)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let findings_sql = |q: FindingsQuery| traced(&conn, |c| queries::findings_page(c, &q));
    let list_sql = |q: ListQuery| traced(&conn, |c| queries::list_scans(c, &q));
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "findings (first page, limit 50)",
            findings_sql(first_findings_page())?,
        ),
        ("list (first page, limit 20)", list_sql(first_scans_page())?),
        ("show SCAN", traced(&conn, |c| queries::get_scan(c, scan))?),
        (
            "findings SCAN --min-severity high (not timed)",
            findings_sql(FindingsQuery {
                scan: Some(scan),
                min_severity: Some(Severity::High),
                ..first_findings_page()
            })?,
        ),
        (
            "findings --target 127.0.0.1 (not timed)",
            findings_sql(FindingsQuery {
                target: Some("127.0.0.1".into()),
                ..first_findings_page()
            })?,
        ),
        (
            "list --target 127.0.0.1 (not timed)",
            list_sql(ListQuery {
                target: Some("127.0.0.1".into()),
                ..first_scans_page()
            })?,
        ),
    ];
    let mut text = String::new();
    let mut bad = 0;
    for (name, stmts) in cases {
        let _ = writeln!(text, "### {name}\n");
        for sql in stmts {
            let squeezed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(text, "```\n{squeezed}\n");
            for step in plan(&conn, &sql)? {
                if unindexed(&step) {
                    bad += 1;
                }
                let _ = writeln!(text, "{step}");
            }
            let _ = writeln!(text, "```\n");
        }
    }
    Ok((text, bad))
}

async fn time_requests(
    client: &mut Client,
    n: usize,
    mut make: impl FnMut(usize) -> Request,
    check: impl Fn(&Response) -> bool,
) -> anyhow::Result<Samples> {
    for i in 0..20 {
        client.call(make(i)).await?;
    }
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let req = make(i);
        let t = Instant::now();
        let r = client.call(req).await?;
        v.push(t.elapsed());
        if !check(&r) {
            bail!("unexpected answer: {r:?}");
        }
    }
    Ok(Samples::new(v))
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let total = opts.size(1_000_000, 200_000);
    let runs = total / PER_RUN;
    let dir = tempfile::Builder::new().prefix("pkbench-db").tempdir()?;
    let actor_dir = dir.path().join("actor");
    let bare_dir = dir.path().join("bare");
    std::fs::create_dir_all(&actor_dir)?;
    std::fs::create_dir_all(&bare_dir)?;
    ingest(report, &actor_dir, &bare_dir, total)?;
    let _ = std::fs::remove_dir_all(&bare_dir);
    query_plans(opts, report, &actor_dir.join("picket.db"), total)?;
    through_the_daemon(opts, report, &actor_dir, runs)
}

/// `total` findings through the DbActor into `actor_dir`, and bare into `bare_dir`.
fn ingest(
    report: &mut Report,
    actor_dir: &Path,
    bare_dir: &Path,
    total: usize,
) -> anyhow::Result<()> {
    let runs = total / PER_RUN;
    let actor = through_db_actor(actor_dir, runs).context("DbActor ingest")?;
    let bare = bare_insert(bare_dir, runs).context("bare insert")?;
    let direct = queries_one_transaction(bare_dir, runs).context("direct queries")?;
    let (na, nb) = (
        count(&actor_dir.join("picket.db"), "findings")?,
        count(&bare_dir.join("bare.db"), "findings")?,
    );
    if na != total as i64 || nb != total as i64 {
        bail!("expected {total} findings, got {na} (DbActor) and {nb} (bare)");
    }
    report.add(
        &format!(
            "ingest: {} findings, DbActor / bare rusqlite",
            thousands(total)
        ),
        bare.as_secs_f64() / actor.as_secs_f64(),
        "ratio",
        Cmp::AtLeast,
        0.5,
        format!(
            "DbActor {:.2} s ({:.0} findings/s, {runs} runs of {PER_RUN}, {IN_FLIGHT} in flight); \
             bare single transaction {:.2} s ({:.0} findings/s); diagnostic: picketd's \
             create_scan + finish_run in one transaction, no actor: {:.2} s",
            actor.as_secs_f64(),
            total as f64 / actor.as_secs_f64(),
            bare.as_secs_f64(),
            total as f64 / bare.as_secs_f64(),
            direct.as_secs_f64()
        ),
    );
    Ok(())
}

/// Query plans of what the daemon runs, on the same data.
fn query_plans(opts: &Opts, report: &mut Report, db: &Path, total: usize) -> anyhow::Result<()> {
    let runs = total / PER_RUN;
    let some_scan = (runs / 2) as ScanId;
    let (plans, bad) = explain(db, some_scan)?;
    let header = format!(
        "EXPLAIN QUERY PLAN of the SQL that picketd runs for each command, captured with \
         sqlite3_trace_v2 on a database of {total} findings in {runs} scans.\n\n"
    );
    std::fs::write(&opts.plans, header + &plans)?;
    report.add(
        "queries: unindexed plan steps (SCAN w/o index, TEMP B-TREE)",
        bad as f64,
        "count",
        Cmp::AtMost,
        0.0,
        format!("plans in {}", opts.plans.display()),
    );
    Ok(())
}

/// `findings`, `list` and `show` timed through a daemon started on the DbActor's database.
fn through_the_daemon(
    opts: &Opts,
    report: &mut Report,
    data_dir: &Path,
    runs: usize,
) -> anyhow::Result<()> {
    let env = bench_env("")?.with_data_dir(data_dir);
    let (_daemon, _) = start_daemon(&env)?;
    let rt = runtime();
    let n = opts.size(1_000, 300);
    let (f, l, s) = rt.block_on(async {
        let mut client = Client::connect(env.socket()).await?;
        time_three_commands(&mut client, n, runs).await
    })?;
    for (name, samples, what) in [
        (
            "queries: `findings` first page (50) p95",
            &f,
            "first 50 of all findings",
        ),
        (
            "queries: `list` first page (20) p95",
            &l,
            "20 scans with finding counts",
        ),
        (
            "queries: `show` p95 (scan of 1,000 findings)",
            &s,
            "random scan, its run and 1,000 findings",
        ),
    ] {
        report.add(
            name,
            samples.ms(95.0),
            "ms",
            Cmp::AtMost,
            5.0,
            format!(
                "{n} requests over one connection, {what}; p50 {:.3} ms, p99 {:.3} ms",
                samples.ms(50.0),
                samples.ms(99.0)
            ),
        );
    }
    Ok(())
}

/// `n` each of `findings` (first 50), `list` (first 20) and `show` of a random one of
/// the `runs` scans.
async fn time_three_commands(
    client: &mut Client,
    n: usize,
    runs: usize,
) -> anyhow::Result<(Samples, Samples, Samples)> {
    let f = time_requests(
        client,
        n,
        |_| Request::Findings(first_findings_page()),
        |r| matches!(r, Response::Findings(p) if p.findings.len() == 50),
    )
    .await?;
    let l = time_requests(
        client,
        n,
        |_| Request::List(first_scans_page()),
        |r| matches!(r, Response::Scans(p) if p.scans.len() == 20),
    )
    .await?;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let s = time_requests(
        client,
        n,
        |_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            Request::Show {
                scan: (seed % runs as u64) as ScanId + 1,
            }
        },
        |r| matches!(r, Response::Scan(d) if d.findings.len() == PER_RUN),
    )
    .await?;
    Ok((f, l, s))
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
