//! Scheduler: admits scans. A priority queue (higher priority first, then oldest) in front
//! of at most `max_concurrent_scans` running ScanSupervisors; a submit beyond
//! `max_queued_scans` is refused as busy, never dropped. Limits change at runtime (SIGHUP).
//! Must not run tools or touch the database except to mark a queued scan cancelled.
//!
//! Mailbox: 4096. Nothing blocks it: every handler decides at once (a cancel of a running
//! scan waits for the supervisor beside it, in the caller's future). Beside it run the
//! ScanSupervisors it started, which tell it `ScanEnded`.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use actix::prelude::*;
use picket_protocol::{ScanEvent, ScanId, ScanStatus};

use crate::scan::supervisor::{CancelScan, ScanEnded, ScanPlan, ScanSupervisor, SupervisorDeps};
use crate::storage::queries;

struct Queued(ScanPlan);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        // Max-heap: higher priority first; among equals, the lower (older) id first.
        self.0
            .priority
            .cmp(&other.0.priority)
            .then_with(|| other.0.id.cmp(&self.0.id))
    }
}

pub struct Scheduler {
    queue: BinaryHeap<Queued>,
    running: HashMap<ScanId, Addr<ScanSupervisor>>,
    max_running: usize,
    max_queued: usize,
    deps: SupervisorDeps,
}

impl Scheduler {
    pub fn new(max_running: u32, max_queued: u32, deps: SupervisorDeps) -> Self {
        Self {
            queue: BinaryHeap::new(),
            running: HashMap::new(),
            max_running: max_running.max(1) as usize,
            max_queued: max_queued as usize,
            deps,
        }
    }

    fn admit(&mut self, ctx: &mut Context<Self>) {
        while self.running.len() < self.max_running {
            let Some(Queued(plan)) = self.queue.pop() else {
                break;
            };
            let id = plan.id;
            let sup =
                ScanSupervisor::new(plan, self.deps.clone(), ctx.address().recipient()).start();
            self.running.insert(id, sup);
        }
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("busy: {queued} scans are already queued (limits.max_queued_scans)")]
    Busy { queued: usize },
}

/// Queues a scan whose row exists; answers how many scans are ahead of it.
/// `resumed` scans (re-queued after a restart) were accepted once and are never refused.
pub struct Submit {
    pub plan: ScanPlan,
    pub resumed: bool,
}

impl Message for Submit {
    type Result = Result<u32, SubmitError>;
}

impl Handler<Submit> for Scheduler {
    type Result = Result<u32, SubmitError>;

    fn handle(
        &mut self,
        Submit { plan, resumed }: Submit,
        ctx: &mut Self::Context,
    ) -> Self::Result {
        if !resumed && self.queue.len() >= self.max_queued {
            return Err(SubmitError::Busy {
                queued: self.queue.len(),
            });
        }
        let ahead = self
            .queue
            .iter()
            .filter(|q| q.0.priority >= plan.priority)
            .count() as u32;
        self.deps.board.add(
            plan.id,
            plan.targets
                .iter()
                .map(|t| t.target.original.clone())
                .collect(),
            plan.profile_name.clone(),
        );
        self.queue.push(Queued(plan));
        self.admit(ctx);
        Ok(ahead)
    }
}

impl Handler<ScanEnded> for Scheduler {
    type Result = ();
    fn handle(&mut self, ScanEnded(id): ScanEnded, ctx: &mut Self::Context) {
        self.running.remove(&id);
        self.admit(ctx);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled { was: ScanStatus },
    NotActive,
}

pub struct Cancel(pub ScanId);

impl Message for Cancel {
    type Result = CancelOutcome;
}

impl Handler<Cancel> for Scheduler {
    type Result = ResponseFuture<CancelOutcome>;

    fn handle(&mut self, Cancel(id): Cancel, _: &mut Self::Context) -> Self::Result {
        if let Some(sup) = self.running.get(&id).cloned() {
            return Box::pin(async move {
                let _ = sup.send(CancelScan).await;
                CancelOutcome::Cancelled {
                    was: ScanStatus::Running,
                }
            });
        }
        let before = self.queue.len();
        self.queue.retain(|q| q.0.id != id);
        if self.queue.len() == before {
            return Box::pin(async { CancelOutcome::NotActive });
        }
        let (db, board) = (self.deps.db.clone(), self.deps.board.clone());
        Box::pin(async move {
            let why = Some("cancelled while queued");
            if let Err(e) = db
                .write("cancel queued scan", move |c| {
                    queries::set_scan_status(c, id, ScanStatus::Cancelled, why)
                })
                .await
            {
                // It is off the queue and will not run; only its row still says queued.
                tracing::warn!(scan = id, "cannot store the cancel of a queued scan: {e}");
            }
            board.publish(ScanEvent::Finished {
                scan: id,
                status: ScanStatus::Cancelled,
            });
            CancelOutcome::Cancelled {
                was: ScanStatus::Queued,
            }
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetLimits {
    pub max_running: u32,
    pub max_queued: u32,
}

impl Handler<SetLimits> for Scheduler {
    type Result = ();
    fn handle(&mut self, l: SetLimits, ctx: &mut Self::Context) {
        self.max_running = l.max_running.max(1) as usize;
        self.max_queued = l.max_queued as usize;
        self.admit(ctx);
    }
}

impl Handler<crate::metrics::GetDepth> for Scheduler {
    type Result = MessageResult<crate::metrics::GetDepth>;
    fn handle(&mut self, _: crate::metrics::GetDepth, _: &mut Self::Context) -> Self::Result {
        MessageResult((self.queue.len() as u64, self.running.len() as u64))
    }
}
