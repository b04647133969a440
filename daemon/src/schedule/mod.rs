//! Recurring scans. Owns the one task that waits for the next due schedule and submits its
//! scan, and the pure due-time rules (`timing`). The schedules themselves live in SQLite
//! (storage::schedules), so they survive restarts; the task keeps no state of its own but a
//! wake-up, re-reading the table each time.
//!
//! Must not run tools, queue scans nor check scope itself: a due run is a `picket scan`
//! request handed to ipc::handlers::scans::scan, with its validation, scope check, queue
//! and limits. A refused run (scope, busy queue, a profile since removed) is recorded in
//! `last_error` and the schedule stays active: the next due time may well succeed.

pub mod timing;

use std::sync::Arc;
use std::time::Duration;

use picket_protocol::{Response, ScanRequest, ScheduleInfo};

use crate::ipc::handlers::scans;
use crate::ipc::state::DaemonState;
use crate::storage::queries::now_ms;
use crate::storage::schedules::{self, RunRecord};
use timing::Repeat;

/// The longest sleep between looks at the table: a clock stepped forward (suspend, NTP) is
/// noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How a schedule's scan is asked for: exactly what `picket scan` would send.
pub fn scan_request(s: &ScheduleInfo) -> ScanRequest {
    ScanRequest {
        targets: s.targets.clone(),
        profile: s.profile.clone(),
        tools: s.tools.clone(),
        ports: s.ports.clone(),
        priority: 0,
        no_cache: false,
        max_age_secs: None,
    }
}

pub fn repeat_of(s: &ScheduleInfo) -> Result<Repeat, timing::TimingError> {
    Repeat::new(s.every_secs, s.cron.as_deref(), Some(&s.tz))
}

/// Submits one run of `s` through the normal scan path; answers what to record.
/// `next_run_ms`: the new due time (None: keep it, as run-now does).
pub async fn fire(
    state: &Arc<DaemonState>,
    s: &ScheduleInfo,
    next_run_ms: Option<i64>,
) -> RunRecord {
    let ran_ms = now_ms();
    let (scan, error) = match scans::scan(state, scan_request(s)).await {
        Response::ScanAccepted { id, .. } => (Some(id), None),
        Response::Error(e) => (None, Some(format!("{} ({})", e.message, e.hint))),
        other => (None, Some(format!("unexpected answer: {other:?}"))),
    };
    match (&scan, &error) {
        (Some(id), _) => tracing::info!(schedule = s.id, scan = id, "scheduled scan submitted"),
        (None, Some(why)) => tracing::warn!(schedule = s.id, "scheduled scan refused: {why}"),
        _ => {}
    }
    RunRecord {
        ran_ms,
        scan,
        error,
        next_run_ms,
    }
}

/// Runs every schedule due now, once each, then moves its due time past now.
async fn run_due(state: &Arc<DaemonState>) -> Result<(), crate::storage::StorageError> {
    let now = now_ms();
    let due = state
        .db
        .read("due schedules", move |c| schedules::due(c, now))
        .await?;
    for s in due {
        let next = match repeat_of(&s).and_then(|r| timing::after_run(&r, now)) {
            Ok(n) => Some(n),
            Err(e) => {
                // Stored checked, so only a cron with no future time gets here: park it.
                tracing::warn!(schedule = s.id, "schedule has no next time: {e}");
                let id = s.id;
                state
                    .db
                    .write("park schedule", move |c| {
                        schedules::set_paused(c, id, true, None)
                    })
                    .await?;
                continue;
            }
        };
        let record = fire(state, &s, next).await;
        let id = s.id;
        state
            .db
            .write("record schedule run", move |c| {
                schedules::record_run(c, id, &record)
            })
            .await?;
    }
    Ok(())
}

/// The schedule task: until shutdown, sleeps until the earliest due time (or a wake-up from
/// a schedule command) and runs what is due. Started once, after the daemon is ready, so a
/// run missed while it was down is submitted once here.
pub async fn run(state: Arc<DaemonState>) {
    loop {
        if let Err(e) = run_due(&state).await {
            tracing::error!("schedules: {e}");
        }
        let next = state
            .db
            .read("next schedule", |c| schedules::next_due(c))
            .await;
        let sleep = match next {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).max(0) as u64).min(MAX_SLEEP),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = state.schedules.notified() => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
}
