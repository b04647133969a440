//! The scan board: live progress of queued and running scans, and the event streams that
//! `picket scan --follow`, `status` and `wait` read.
//!
//! Supervisors publish here; subscribers get a broadcast receiver. A receiver that falls
//! behind is told so (and re-reads the database), it never blocks a supervisor.
//! Must not persist anything: the database stays the source of truth for finished scans.

use std::collections::HashMap;
use std::sync::Mutex;

use picket_protocol::{ScanEvent, ScanId, ScanProgress, ScanStatus};
use tokio::sync::broadcast;

/// Events buffered per follower before it is told it lagged (it then re-reads the database).
const EVENTS_PER_SCAN: usize = 64;

struct Entry {
    progress: ScanProgress,
    /// Made on the first subscription: most queued scans are never followed, and a
    /// channel's buffer is allocated up front (10,000 queued scans cost 500 MiB before).
    events: Option<broadcast::Sender<ScanEvent>>,
}

#[derive(Default)]
pub struct ScanBoard {
    scans: Mutex<HashMap<ScanId, Entry>>,
}

impl ScanBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ScanId, Entry>> {
        self.scans.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a scan on the board as queued (or back on it after a restart).
    pub fn add(&self, id: ScanId, targets: Vec<String>, profile: String) {
        let progress = ScanProgress {
            id,
            targets,
            profile,
            status: ScanStatus::Queued,
            runs_total: 0,
            runs_finished: 0,
            running: vec![],
            findings_count: 0,
        };
        self.lock().insert(
            id,
            Entry {
                progress,
                events: None,
            },
        );
    }

    /// A receiver of the scan's events, and its status at that instant (taken under the
    /// same lock, so an event is either reflected in the status or delivered, never both).
    pub fn subscribe(&self, id: ScanId) -> Option<(broadcast::Receiver<ScanEvent>, ScanStatus)> {
        self.lock().get_mut(&id).map(|e| {
            let rx = match &e.events {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = broadcast::channel(EVENTS_PER_SCAN);
                    e.events = Some(tx);
                    rx
                }
            };
            (rx, e.progress.status)
        })
    }

    pub fn progress(&self, id: ScanId) -> Option<ScanProgress> {
        self.lock().get(&id).map(|e| e.progress.clone())
    }

    pub fn all(&self) -> Vec<ScanProgress> {
        let mut v: Vec<ScanProgress> = self.lock().values().map(|e| e.progress.clone()).collect();
        v.sort_by_key(|p| p.id);
        v
    }

    pub fn counts(&self) -> (u64, u64) {
        let g = self.lock();
        let running = g
            .values()
            .filter(|e| e.progress.status == ScanStatus::Running)
            .count() as u64;
        (running, g.len() as u64 - running)
    }

    pub fn planned(&self, id: ScanId, more: u32) {
        if let Some(e) = self.lock().get_mut(&id) {
            e.progress.runs_total += more;
        }
    }

    /// Records the event in the progress, then broadcasts it. A `Finished` event removes
    /// the scan from the board (the database answers for it from then on).
    pub fn publish(&self, event: ScanEvent) {
        let mut g = self.lock();
        let id = match &event {
            ScanEvent::Started { scan }
            | ScanEvent::ToolStarted { scan, .. }
            | ScanEvent::ToolFinished { scan, .. }
            | ScanEvent::Warning { scan, .. }
            | ScanEvent::Finished { scan, .. } => *scan,
        };
        let Some(entry) = g.get_mut(&id) else { return };
        let p = &mut entry.progress;
        match &event {
            ScanEvent::Started { .. } => p.status = ScanStatus::Running,
            ScanEvent::ToolStarted { tool, target, .. } => {
                p.running.push(format!("{tool} {target}"))
            }
            ScanEvent::ToolFinished { run, findings, .. } => {
                let key = format!("{} {}", run.tool, run.target);
                if let Some(i) = p.running.iter().position(|r| *r == key) {
                    p.running.remove(i);
                }
                p.runs_finished += 1;
                p.findings_count += *findings as u64;
            }
            ScanEvent::Warning { .. } => {}
            ScanEvent::Finished { status, .. } => p.status = *status,
        }
        if let Some(tx) = &entry.events {
            let _ = tx.send(event.clone());
        }
        if matches!(event, ScanEvent::Finished { .. }) {
            g.remove(&id);
        }
    }
}
