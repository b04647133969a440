//! Schedule commands: add (checked like a `picket scan` of the same targets, so a schedule
//! that could never run is refused at once), list, pause, resume, remove, run-now. Must not
//! keep timers: schedule/ owns them; these change the table and wake its task.

use std::sync::Arc;

use picket_protocol::*;

use super::{error, storage_error};
use crate::ipc::state::DaemonState;
use crate::schedule::{self, timing};
use crate::storage::queries::now_ms;
use crate::storage::schedules;

pub async fn schedule(state: &Arc<DaemonState>, cmd: ScheduleCommand) -> Response {
    match cmd {
        ScheduleCommand::Add(spec) => add(state, spec).await,
        ScheduleCommand::List => match state.db.read("list schedules", |c| schedules::all(c)).await
        {
            Ok(all) => Response::Schedules(all),
            Err(e) => storage_error(e),
        },
        ScheduleCommand::Pause { id } => set_paused(state, id, true).await,
        ScheduleCommand::Resume { id } => set_paused(state, id, false).await,
        ScheduleCommand::Remove { id } => remove(state, id).await,
        ScheduleCommand::RunNow { id } => run_now(state, id).await,
    }
}

fn not_found(id: ScheduleId) -> Response {
    error(
        ErrorKind::NotFound,
        format!("no schedule {id}"),
        "see `picket schedule list`",
    )
}

/// The stored schedule `id`, or the answer saying why there is none (not found, storage).
async fn existing(state: &Arc<DaemonState>, id: ScheduleId) -> Result<ScheduleInfo, Response> {
    match state
        .db
        .read("get schedule", move |c| schedules::get(c, id))
        .await
    {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(not_found(id)),
        Err(e) => Err(storage_error(e)),
    }
}

async fn one(state: &Arc<DaemonState>, id: ScheduleId) -> Response {
    match existing(state, id).await {
        Ok(s) => Response::Schedules(vec![s]),
        Err(answer) => answer,
    }
}

async fn add(state: &Arc<DaemonState>, spec: ScheduleSpec) -> Response {
    let repeat =
        match timing::Repeat::new(spec.every_secs, spec.cron.as_deref(), spec.tz.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    ErrorKind::Invalid,
                    e.to_string(),
                    "e.g. --every 6h or --cron \"0 3 * * 1-5\" [--tz UTC]",
                )
            }
        };
    let zone = timing::Zone::parse(spec.tz.as_deref()).unwrap_or(timing::Zone::Local);
    let probe = ScheduleInfo {
        id: 0,
        name: spec.name.clone(),
        targets: spec.targets.clone(),
        every_secs: spec.every_secs,
        cron: spec.cron.clone(),
        tz: zone.as_str().into(),
        profile: spec.profile.clone(),
        tools: spec.tools.clone(),
        ports: spec.ports.clone(),
        paused: false,
        created_at: Timestamp(0),
        next_run_at: None,
        last_run_at: None,
        last_scan: None,
        last_error: None,
    };
    if let Some(refusal) = super::scans::check_request(state, &schedule::scan_request(&probe)).await
    {
        return refusal;
    }
    // The first run comes one period from now (an interval) or at the next cron time.
    let next = match repeat.next_after(now_ms()) {
        Ok(n) => n,
        Err(e) => {
            return error(
                ErrorKind::Invalid,
                e.to_string(),
                "give a time that comes again",
            )
        }
    };
    let tz = zone.as_str();
    let id = match state
        .db
        .write("add schedule", move |c| {
            schedules::insert(c, &spec, tz, next)
        })
        .await
    {
        Ok(id) => id,
        Err(e) => return storage_error(e),
    };
    state.schedules.notify_one();
    one(state, id).await
}

async fn set_paused(state: &Arc<DaemonState>, id: ScheduleId, paused: bool) -> Response {
    let current = match existing(state, id).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    // Resumed: due one period from now, not at the times it missed while paused.
    let next = match (paused, schedule::repeat_of(&current)) {
        (true, _) => None,
        (false, Ok(r)) => r.next_after(now_ms()).ok(),
        (false, Err(e)) => {
            return error(
                ErrorKind::Invalid,
                e.to_string(),
                "remove it and add it again",
            )
        }
    };
    match state
        .db
        .write("pause schedule", move |c| {
            schedules::set_paused(c, id, paused, next)
        })
        .await
    {
        Ok(true) => {}
        Ok(false) => return not_found(id),
        Err(e) => return storage_error(e),
    }
    state.schedules.notify_one();
    one(state, id).await
}

async fn remove(state: &Arc<DaemonState>, id: ScheduleId) -> Response {
    let current = match existing(state, id).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    match state
        .db
        .write("remove schedule", move |c| schedules::remove(c, id))
        .await
    {
        Ok(_) => {
            state.schedules.notify_one();
            Response::Schedules(vec![current])
        }
        Err(e) => storage_error(e),
    }
}

/// Submits the schedule's scan now (paused or not); its due time stays. A refused scan is
/// answered as the refusal, and recorded like a due run's.
async fn run_now(state: &Arc<DaemonState>, id: ScheduleId) -> Response {
    let current = match existing(state, id).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let record = schedule::fire(state, &current, None).await;
    let refused = record.error.clone();
    if let Err(e) = state
        .db
        .write("record schedule run", move |c| {
            schedules::record_run(c, id, &record)
        })
        .await
    {
        return storage_error(e);
    }
    match refused {
        Some(why) => error(
            ErrorKind::Refused,
            format!("schedule {id}: {why}"),
            "fix the cause, then run it again",
        ),
        None => one(state, id).await,
    }
}
