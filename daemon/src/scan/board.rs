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
/// Past events kept per scan for followers that come late (`picket scan --follow` can only
/// subscribe once the scan has an id; `picket follow N` comes any time). Past the cap only
/// starts are kept, so a follower always sees what is running.
const REPLAY_CAP: usize = 512;

struct Entry {
    progress: ScanProgress,
    /// Made on the first subscription: most queued scans are never followed, and a
    /// channel's buffer is allocated up front (10,000 queued scans cost 500 MiB before).
    events: Option<broadcast::Sender<ScanEvent>>,
    /// The scan's events so far (not `Started`, which a follower is told from the status),
    /// replayed to each new subscriber before the live ones.
    past: Vec<ScanEvent>,
}

/// What `ScanBoard::subscribe` gives: live events, the status then, the events before.
pub type Subscription = (broadcast::Receiver<ScanEvent>, ScanStatus, Vec<ScanEvent>);

/// What `ScanBoard::subscribe_all` gives: every scan's live events, and each scan on the
/// board then with its status and the events before.
pub type AllSubscription = (
    broadcast::Receiver<ScanEvent>,
    Vec<(ScanId, ScanStatus, Vec<ScanEvent>)>,
);

/// Events of all scans buffered per follower of every scan (the API's `/v1/events`).
const EVENTS_ALL: usize = 1024;

#[derive(Default)]
pub struct ScanBoard {
    scans: Mutex<HashMap<ScanId, Entry>>,
    /// Every scan's events, made on the first `subscribe_all` (most daemons have none).
    all: Mutex<Option<broadcast::Sender<ScanEvent>>>,
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
                past: Vec::new(),
            },
        );
    }

    /// A receiver of the scan's events, its status at that instant and the events published
    /// before it (taken under the same lock, so an event is either replayed or delivered,
    /// never both nor neither).
    pub fn subscribe(&self, id: ScanId) -> Option<Subscription> {
        self.lock().get_mut(&id).map(|e| {
            let rx = match &e.events {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = broadcast::channel(EVENTS_PER_SCAN);
                    e.events = Some(tx);
                    rx
                }
            };
            (rx, e.progress.status, e.past.clone())
        })
    }

    /// A receiver of every scan's events, with each scan on the board at that instant,
    /// its status and its events before (under the scans' lock, as `subscribe`).
    pub fn subscribe_all(&self) -> AllSubscription {
        let g = self.lock();
        let rx = {
            let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
            all.get_or_insert_with(|| broadcast::channel(EVENTS_ALL).0)
                .subscribe()
        };
        let mut on_board: Vec<_> = g
            .iter()
            .map(|(id, e)| (*id, e.progress.status, e.past.clone()))
            .collect();
        on_board.sort_by_key(|(id, _, _)| *id);
        (rx, on_board)
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
        let keep = matches!(event, ScanEvent::ToolStarted { .. }) || entry.past.len() < REPLAY_CAP;
        if keep
            && !matches!(
                event,
                ScanEvent::Started { .. } | ScanEvent::Finished { .. }
            )
        {
            entry.past.push(event.clone());
        }
        if let Some(tx) = &entry.events {
            let _ = tx.send(event.clone());
        }
        if let Some(tx) = &*self.all.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = tx.send(event.clone());
        }
        if matches!(event, ScanEvent::Finished { .. }) {
            g.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_subscriber_is_given_the_events_before_it_and_only_the_later_ones_live() {
        let board = ScanBoard::default();
        board.add(1, vec!["127.0.0.1".into()], "quick".into());
        board.publish(ScanEvent::Started { scan: 1 });
        let start = ScanEvent::ToolStarted {
            scan: 1,
            tool: "nmap".into(),
            target: "127.0.0.1".into(),
        };
        board.publish(start.clone());
        let (mut rx, status, past) = board.subscribe(1).expect("on the board");
        assert_eq!(status, ScanStatus::Running);
        assert_eq!(past, vec![start]);
        let warning = ScanEvent::Warning {
            scan: 1,
            message: "later".into(),
        };
        board.publish(warning.clone());
        assert_eq!(rx.try_recv().expect("live event"), warning);
        assert!(
            rx.try_recv().is_err(),
            "the replayed start is not sent twice"
        );
    }

    #[test]
    fn a_follower_of_every_scan_gets_each_scan_on_the_board_then_every_later_event() {
        let board = ScanBoard::default();
        board.add(1, vec!["127.0.0.1".into()], "quick".into());
        board.publish(ScanEvent::Started { scan: 1 });
        let (mut rx, on_board) = board.subscribe_all();
        assert_eq!(on_board, vec![(1, ScanStatus::Running, vec![])]);
        board.add(2, vec!["127.0.0.2".into()], "quick".into());
        board.publish(ScanEvent::Started { scan: 2 });
        let end = ScanEvent::Finished {
            scan: 1,
            status: ScanStatus::Done,
        };
        board.publish(end.clone());
        assert_eq!(rx.try_recv().unwrap(), ScanEvent::Started { scan: 2 });
        assert_eq!(rx.try_recv().unwrap(), end);
        assert!(rx.try_recv().is_err());
    }
}
