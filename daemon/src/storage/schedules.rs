//! The `schedules` table: recurring scans and their due times. Must not compute due times
//! (schedule/timing.rs does) nor submit scans: it stores what it is given.

use picket_protocol::{ScanId, ScheduleId, ScheduleInfo, ScheduleSpec, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::queries::now_ms;

const COLUMNS: &str = "id, name, targets, every_secs, cron, tz, profile, tools, ports, paused, \
     created_ms, next_run_ms, last_run_ms, last_scan, last_error";

fn list_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn list_from(s: String) -> Vec<String> {
    serde_json::from_str(&s).unwrap_or_default()
}

fn from_row(r: &Row) -> rusqlite::Result<ScheduleInfo> {
    let every: Option<i64> = r.get(3)?;
    let ms = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp))
    };
    Ok(ScheduleInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        targets: list_from(r.get(2)?),
        every_secs: every.map(|s| s.max(0) as u64),
        cron: r.get(4)?,
        tz: r.get(5)?,
        profile: r.get(6)?,
        tools: list_from(r.get(7)?),
        ports: r.get(8)?,
        paused: r.get(9)?,
        created_at: Timestamp(r.get(10)?),
        next_run_at: ms(11)?,
        last_run_at: ms(12)?,
        last_scan: r.get(13)?,
        last_error: r.get(14)?,
    })
}

/// Stores a checked spec, first due at `next_run_ms`; answers its id.
pub fn insert(
    conn: &Connection,
    spec: &ScheduleSpec,
    tz: &str,
    next_run_ms: i64,
) -> rusqlite::Result<ScheduleId> {
    conn.prepare_cached(
        "INSERT INTO schedules (name, targets, every_secs, cron, tz, profile, tools, ports, created_ms, next_run_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    )?
    .execute(params![
        spec.name,
        list_json(&spec.targets),
        spec.every_secs.map(|s| s as i64),
        spec.cron,
        tz,
        spec.profile,
        list_json(&spec.tools),
        spec.ports,
        now_ms(),
        next_run_ms
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: ScheduleId) -> rusqlite::Result<Option<ScheduleInfo>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<ScheduleInfo>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY id"))?
        .query_map([], from_row)?
        .collect()
}

/// Active schedules due at or before `now_ms`, earliest first.
pub fn due(conn: &Connection, now_ms: i64) -> rusqlite::Result<Vec<ScheduleInfo>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM schedules WHERE next_run_ms IS NOT NULL AND next_run_ms <= ?1 \
         AND paused = 0 ORDER BY next_run_ms, id"
    ))?
    .query_map([now_ms], from_row)?
    .collect()
}

/// The earliest due time of an active schedule, if any.
pub fn next_due(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT MIN(next_run_ms) FROM schedules WHERE paused = 0",
        [],
        |r| r.get(0),
    )
}

/// Pauses (no due time) or resumes (due at `next_run_ms`); false when there is no such id.
pub fn set_paused(
    conn: &Connection,
    id: ScheduleId,
    paused: bool,
    next_run_ms: Option<i64>,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("UPDATE schedules SET paused = ?2, next_run_ms = ?3 WHERE id = ?1")?
        .execute(params![id, paused, next_run_ms])?;
    Ok(n == 1)
}

pub fn remove(conn: &Connection, id: ScheduleId) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM schedules WHERE id = ?1")?
        .execute([id])?;
    Ok(n == 1)
}

/// What one run of a schedule left: the scan it made or why it made none. `next_run_ms`
/// (when given) is its new due time; a run-now keeps the old one.
pub struct RunRecord {
    pub ran_ms: i64,
    pub scan: Option<ScanId>,
    pub error: Option<String>,
    pub next_run_ms: Option<i64>,
}

pub fn record_run(conn: &Connection, id: ScheduleId, run: &RunRecord) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE schedules SET last_run_ms = ?2, last_scan = COALESCE(?3, last_scan), \
         last_error = ?4, next_run_ms = CASE WHEN paused = 0 THEN COALESCE(?5, next_run_ms) \
         ELSE NULL END WHERE id = ?1",
    )?
    .execute(params![
        id,
        run.ran_ms,
        run.scan,
        run.error,
        run.next_run_ms
    ])?;
    Ok(())
}
