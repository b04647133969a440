//! Live progress of a followed scan: one line per event (each run's start and end), and
//! below them a spinner naming the runs in flight with their running times (indicatif,
//! drawn only when stdout is a terminal). Must not talk to the daemon: commands.rs feeds it
//! the events.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use picket_protocol::{RunStatus, ScanEvent};

use crate::style;
use crate::term;
use crate::time::duration;

/// Runs in flight: "tool target" and when this client learned it started.
type Running = Arc<Mutex<Vec<(String, Instant)>>>;

pub struct Progress {
    bar: ProgressBar,
    running: Running,
}

impl Progress {
    pub fn new() -> Progress {
        let running: Running = Arc::default();
        let shown = running.clone();
        let style = ProgressStyle::with_template("{spinner:.cyan} {running}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "running",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&running_line(&shown));
                },
            );
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar, running }
    }

    /// Prints the event's line above the spinner and updates what runs.
    pub fn event(&self, e: &ScanEvent) {
        // The line first: the spinner must not name a run before its start line is shown.
        let line = event_line(e);
        self.bar.suspend(|| term::emit(&line));
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            ScanEvent::ToolStarted { tool, target, .. } => {
                running.push((format!("{tool} {target}"), Instant::now()));
            }
            ScanEvent::ToolFinished { run, .. } => {
                let key = format!("{} {}", run.tool, run.target);
                if let Some(i) = running.iter().position(|(k, _)| *k == key) {
                    running.remove(i);
                }
            }
            _ => {}
        }
    }

    /// Removes the spinner (before the summary or the detach message).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// "running nmap 127.0.0.1 12.3s, whatweb http://… 1.0s", cut to the terminal's width.
fn running_line(running: &Running) -> String {
    let running = running.lock().unwrap_or_else(|p| p.into_inner());
    let line = if running.is_empty() {
        "waiting for the next run".to_string()
    } else {
        let runs: Vec<String> = running
            .iter()
            .map(|(k, t)| format!("{k} {}", duration(t.elapsed().as_millis() as u64)))
            .collect();
        format!("running {}", runs.join(", "))
    };
    // The spinner and its space take two columns.
    let width = term::width().unwrap_or(80).saturating_sub(2);
    term::fit(&line, width)
}

/// One event as a line of the live log.
pub fn event_line(e: &ScanEvent) -> String {
    match e {
        ScanEvent::Started { scan } => format!("scan {scan} started"),
        ScanEvent::ToolStarted { tool, target, .. } => {
            format!(
                "  {} {tool:<9} {target}",
                style::padded(style::dim(), "start", 6)
            )
        }
        ScanEvent::ToolFinished {
            run,
            services,
            findings,
            ..
        } => {
            let word = if run.status == RunStatus::Done {
                "done"
            } else {
                run.status.as_str()
            };
            format!(
                "  {} {:<9} {}  {}  {} services, {} findings{}",
                style::padded(style::run_status(run.status), word, 6),
                run.tool,
                run.target,
                run.duration_ms.map(duration).unwrap_or_default(),
                services,
                findings,
                crate::render::cached_label(run)
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        }
        ScanEvent::Warning { message, .. } => format!("  warning: {message}"),
        ScanEvent::Finished { scan, status } => format!(
            "scan {scan} {}",
            style::paint(style::scan_status(*status), status.as_str())
        ),
    }
}
