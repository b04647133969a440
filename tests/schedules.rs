//! Recurring scans end to end (issue 15, must-show 4): the real picketd and picket, a
//! stand-in tool that counts its starts, the daemon stopped and started again. A schedule
//! every 2 s produces scans that really run their tool; after a restart it goes on; a
//! daemon down across several due times submits one scan at start, not one per missed time.
//! The suite runs in a network namespace with only lo up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use picket_protocol::json::SchedulesDoc;
use picket_protocol::{ScanPage, ScheduleInfo};
use picket_testkit::scripts::{count_start, starts};
use picket_testkit::*;

const PATIENCE: Duration = Duration::from_secs(60);

/// A tool that records each start, then prints one finding; never cached (TTL 0), so each
/// scheduled scan starts it.
fn tick(dir: &Path) -> (ToolConfig, PathBuf) {
    let count = dir.join("tick.count");
    let script = tool_script(
        dir,
        "tick",
        &format!("{}\necho \"PICKET-FINDING tick-$1\"", count_start(&count)),
    );
    let tool = ToolConfig::new("tick")
        .program(script)
        .ttl_secs(0)
        .no_version_probe()
        .finds_marked_lines();
    (tool, count)
}

fn schedules(env: &Env, args: &[&str]) -> Vec<ScheduleInfo> {
    let mut all = vec!["schedule"];
    all.extend_from_slice(args);
    env.picket_as::<SchedulesDoc, _, _>(all).schedules
}

/// Scans with an id above `after`, oldest first, as `picket list` gives them.
fn scans_after(env: &Env, after: i64) -> Vec<picket_protocol::ScanSummary> {
    let page: ScanPage = env.picket_as(["list", "--limit", "1000"]);
    let mut new: Vec<_> = page.scans.into_iter().filter(|s| s.id > after).collect();
    new.sort_by_key(|s| s.id);
    new
}

/// Polls `what` until it holds; panics with `why` after PATIENCE.
fn until(why: &str, mut what: impl FnMut() -> bool) {
    let end = Instant::now() + PATIENCE;
    while !what() {
        assert!(Instant::now() < end, "gave up waiting: {why}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn max_scan_id(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM scans", [], |r| r.get(0))
        .unwrap()
}

fn ms(rfc3339: &str) -> i64 {
    picket_protocol::Timestamp::parse_rfc3339(rfc3339)
        .expect("an RFC 3339 time")
        .millis()
}

#[test]
fn a_schedule_runs_goes_on_after_a_restart_and_a_missed_run_is_one_scan() {
    let tools = tempfile::tempdir().unwrap();
    let (tool, count) = tick(tools.path());
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let mut daemon = env.start_daemon();

    let added = schedules(
        &env,
        &[
            "add",
            "127.0.0.1",
            "--every",
            "2s",
            "--tools",
            "tick",
            "--name",
            "often",
        ],
    );
    assert_eq!(added.len(), 1, "{added:?}");
    let id = added[0].id;
    assert_eq!(added[0].every_secs, Some(2));
    assert!(added[0].next_run_at.is_some() && !added[0].paused);

    // Scans come, through the normal path: each one started the tool.
    until("two scheduled scans ran their tool", || starts(&count) >= 2);
    let listed = schedules(&env, &["list"]);
    let last = listed[0]
        .last_scan
        .expect("the schedule names its last scan");
    let made = scans_after(&env, 0);
    assert!(made.len() >= 2, "{made:?}");
    assert!(
        made.iter().any(|s| s.id == last),
        "last scan {last} not in {made:?}"
    );
    assert!(made
        .iter()
        .all(|s| s.targets == vec!["127.0.0.1".to_string()]));

    // Down across several due times (2 s each).
    daemon.stop(Duration::from_secs(10));
    let db = env.data_dir().join("picket.db");
    let before = max_scan_id(&db);
    std::thread::sleep(Duration::from_secs(7));

    let _daemon = env.start_daemon();
    let kept = schedules(&env, &["list"]);
    assert_eq!(kept.len(), 1, "the schedule survived the restart: {kept:?}");
    assert_eq!(kept[0].id, id);

    // It goes on: two scans after the restart...
    until("two scans after the restart", || {
        scans_after(&env, before).len() >= 2
    });
    let new = scans_after(&env, before);
    // ... of which only the first came at start: a burst of the missed runs would have
    // made them all at once, before the next due time, which is 2 s after the first
    // (times as the daemon recorded them).
    let first = ms(&new[0].created_at);
    let at_start = new
        .iter()
        .filter(|s| ms(&s.created_at) < first + 1000)
        .count();
    assert_eq!(at_start, 1, "missed runs came as a burst: {new:#?}");
    let runs_before = starts(&count);
    until("the tool ran again after the restart", || {
        starts(&count) > runs_before
    });
}

#[test]
fn run_now_pause_resume_remove_and_out_of_scope_refused_at_add() {
    let tools = tempfile::tempdir().unwrap();
    let (tool, count) = tick(tools.path());
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let _daemon = env.start_daemon();

    // The same scope check as `picket scan` (default scope: loopback only).
    let out = env.picket([
        "schedule",
        "add",
        "192.0.2.7",
        "--every",
        "1h",
        "--tools",
        "tick",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let out = env.picket(["schedule", "add", "127.0.0.1", "--cron", "61 * * * *"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(schedules(&env, &["list"]).is_empty());

    let cron = schedules(
        &env,
        &[
            "add",
            "127.0.0.1",
            "--cron",
            "0 3 * * 1-5",
            "--tz",
            "UTC",
            "--tools",
            "tick",
        ],
    );
    assert_eq!(cron[0].cron.as_deref(), Some("0 3 * * 1-5"));
    assert_eq!(cron[0].tz, "UTC");
    let id = cron[0].id.to_string();

    // Run now: one scan, recorded as its last; the next due time does not move.
    let ran = schedules(&env, &["run-now", &id]);
    let scan = ran[0].last_scan.expect("run-now names its scan");
    assert_eq!(ran[0].next_run_at, cron[0].next_run_at);
    let done = env.wait_one(&scan.to_string());
    assert_eq!(done.status, picket_protocol::ScanStatus::Done, "{done:?}");
    assert_eq!(starts(&count), 1);

    let paused = schedules(&env, &["pause", &id]);
    assert!(
        paused[0].paused && paused[0].next_run_at.is_none(),
        "{paused:?}"
    );
    let resumed = schedules(&env, &["resume", &id]);
    assert!(
        !resumed[0].paused && resumed[0].next_run_at.is_some(),
        "{resumed:?}"
    );
    let human = env.picket(["schedule", "list"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("cron \"0 3 * * 1-5\" (UTC)") && text.contains(&format!("scan {scan}")),
        "{text}"
    );
    schedules(&env, &["remove", &id]);
    assert!(schedules(&env, &["list"]).is_empty());
    // Gone: not found (exit 5).
    let out = env.picket(["schedule", "pause", &id]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
}
