//! The Scheduler's rules, in one process with stand-in tools (see scan_rig): at most
//! `max_concurrent_scans` run at once, raised at runtime; waiting scans start by priority,
//! then oldest first; a submit beyond `max_queued_scans` is refused as busy (a resumed
//! scan never is); a queued scan cancels without ever starting.

mod scan_rig;

use std::time::Duration;

use actix::prelude::*;
use picket_protocol::{ScanId, ScanStatus};
use picketd::metrics::GetDepth;
use picketd::scan::scheduler::{Cancel, CancelOutcome, Scheduler, SetLimits, Submit, SubmitError};
use picketd::scan::supervisor::ScanPlan;
use scan_rig::{profile, Rig, NMAP_HTTP_AND_HTTPS};

const PATIENCE: Duration = Duration::from_secs(20);

async fn submit(
    scheduler: &Addr<Scheduler>,
    plan: ScanPlan,
    resumed: bool,
) -> Result<u32, SubmitError> {
    scheduler.send(Submit { plan, resumed }).await.unwrap()
}

/// A scan whose one run (`sleep 30`) lasts until it is cancelled.
async fn submit_sleeper(rig: &Rig, scheduler: &Addr<Scheduler>, priority: i32) -> ScanId {
    let mut plan = rig.plan(profile(&["sleeper"], &[]), &[], None).await;
    plan.priority = priority;
    let id = plan.id;
    submit(scheduler, plan, false).await.expect("admitted");
    id
}

async fn cancel(scheduler: &Addr<Scheduler>, id: ScanId) -> CancelOutcome {
    scheduler.send(Cancel(id)).await.unwrap()
}

#[actix_rt::test]
async fn waiting_scans_start_by_priority_then_oldest_first() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let scheduler = Scheduler::new(1, 100, rig.deps.clone()).start();
    let first = submit_sleeper(&rig, &scheduler, 0).await;
    rig.until(PATIENCE, "the first scan runs", |r| r.running() == [first])
        .await;
    let low_old = submit_sleeper(&rig, &scheduler, 0).await;
    let high_old = submit_sleeper(&rig, &scheduler, 5).await;
    let low_new = submit_sleeper(&rig, &scheduler, 0).await;
    let high_new = submit_sleeper(&rig, &scheduler, 5).await;

    // Each cancel frees the one slot; the scan that takes it shows the order.
    let mut current = first;
    for next in [high_old, high_new, low_old, low_new] {
        assert!(matches!(
            cancel(&scheduler, current).await,
            CancelOutcome::Cancelled {
                was: ScanStatus::Running
            }
        ));
        rig.until(PATIENCE, &format!("scan {next} runs next"), |r| {
            r.running() == [next]
        })
        .await;
        current = next;
    }
    cancel(&scheduler, current).await;
    rig.close().await;
}

#[actix_rt::test]
async fn at_most_max_concurrent_scans_run_and_the_limit_changes_at_runtime() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let scheduler = Scheduler::new(2, 100, rig.deps.clone()).start();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(submit_sleeper(&rig, &scheduler, 0).await);
    }
    rig.until(PATIENCE, "two scans run", |r| r.running().len() == 2)
        .await;
    // Held for a while: no third scan sneaks in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.running(), ids[..2]);
    assert_eq!(scheduler.send(GetDepth).await.unwrap(), (2, 2));

    scheduler.do_send(SetLimits {
        max_running: 3,
        max_queued: 100,
    });
    rig.until(PATIENCE, "a third scan runs", |r| r.running().len() == 3)
        .await;
    assert_eq!(scheduler.send(GetDepth).await.unwrap(), (1, 3));
    for id in ids {
        cancel(&scheduler, id).await;
    }
    rig.close().await;
}

#[actix_rt::test]
async fn a_submit_beyond_max_queued_is_refused_busy_but_a_resumed_scan_is_not() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let scheduler = Scheduler::new(1, 1, rig.deps.clone()).start();
    let running = submit_sleeper(&rig, &scheduler, 0).await;
    let queued = submit_sleeper(&rig, &scheduler, 0).await;

    let plan = rig.plan(profile(&["sleeper"], &[]), &[], None).await;
    assert_eq!(
        submit(&scheduler, plan.clone(), false).await,
        Err(SubmitError::Busy { queued: 1 })
    );
    assert_eq!(
        submit(&scheduler, plan, true).await,
        Ok(1),
        "a resumed scan is accepted, behind the one queued scan"
    );

    for id in [running, queued] {
        cancel(&scheduler, id).await;
    }
    rig.close().await;
}

#[actix_rt::test]
async fn a_queued_scan_cancels_without_starting() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let scheduler = Scheduler::new(1, 10, rig.deps.clone()).start();
    let running = submit_sleeper(&rig, &scheduler, 0).await;
    let queued = submit_sleeper(&rig, &scheduler, 0).await;
    assert_eq!(
        cancel(&scheduler, queued).await,
        CancelOutcome::Cancelled {
            was: ScanStatus::Queued
        }
    );
    let detail = rig.detail(queued).await;
    assert_eq!(detail.status, ScanStatus::Cancelled);
    assert!(detail.tool_runs.is_empty(), "it never ran");
    assert_eq!(cancel(&scheduler, queued).await, CancelOutcome::NotActive);

    cancel(&scheduler, running).await;
    assert_eq!(scheduler.send(GetDepth).await.unwrap(), (0, 0));
    rig.close().await;
}
