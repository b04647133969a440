//! Running one external tool process: argv only (never a shell), its own process group,
//! a timeout and a cancel token that kill the whole group, and capped output.
//!
//! Why process groups: scanners fork (testssl.sh runs openssl, whatweb may spawn helpers);
//! killing only the direct child would leave those running. The group is killed when the
//! run ends for any reason, including the future being dropped. Must not parse output or
//! decide retries (run/tool_actor.rs does).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::parsers::normalize::{clip, strip_ansi};

/// How a process run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessEnd {
    Exited(Option<i32>),
    TimedOut,
    Cancelled,
    /// The program could not be started (missing, not executable).
    SpawnFailed(String),
}

#[derive(Debug, Clone)]
pub struct ProcessOutcome {
    pub end: ProcessEnd,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output beyond the cap was discarded.
    pub truncated: bool,
    pub started_ms: i64,
    pub duration: Duration,
}

/// stderr is only for error messages; keep a small tail.
const STDERR_CAP: usize = 64 * 1024;
/// After the main process exits, how long stray children may keep the pipes open.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Kills the process group when dropped, whatever happened before.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (group already gone) is the normal case.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                if n > room {
                    truncated = true;
                }
                // Keep reading past the cap so a flooding tool doesn't block on a full pipe.
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (out, truncated)
}

pub async fn run(
    program: &Path,
    argv: &[String],
    timeout: Duration,
    output_cap: usize,
    cancel: &CancellationToken,
) -> ProcessOutcome {
    let started_ms = crate::storage::queries::now_ms();
    let start = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .env_remove("TERM")
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ProcessOutcome {
                end: ProcessEnd::SpawnFailed(format!("cannot run {}: {e}", program.display())),
                stdout: vec![],
                stderr: vec![],
                truncated: false,
                started_ms,
                duration: start.elapsed(),
            }
        }
    };
    let _group = GroupGuard(child.id().map(|id| Pid::from_raw(id as i32)));
    let stdout = child
        .stdout
        .take()
        .map(|s| tokio::spawn(read_capped(s, output_cap)));
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_capped(s, STDERR_CAP)));

    let end = tokio::select! {
        status = child.wait() => ProcessEnd::Exited(status.ok().and_then(|s| s.code())),
        _ = tokio::time::sleep(timeout) => ProcessEnd::TimedOut,
        _ = cancel.cancelled() => ProcessEnd::Cancelled,
    };
    if !matches!(end, ProcessEnd::Exited(_)) {
        if let Some(pgid) = _group.0 {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let _ = child.wait().await;
    }
    // A child of the tool may still hold the pipes; give it a moment, then kill the group.
    let collect = async {
        let out = match stdout {
            Some(h) => h.await.unwrap_or_default(),
            None => Default::default(),
        };
        let err = match stderr {
            Some(h) => h.await.unwrap_or_default(),
            None => Default::default(),
        };
        (out, err)
    };
    tokio::pin!(collect);
    let ((out, truncated), (err, _)) = match tokio::time::timeout(DRAIN_GRACE, &mut collect).await {
        Ok(v) => v,
        Err(_) => {
            if let Some(pgid) = _group.0 {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            collect.await
        }
    };
    ProcessOutcome {
        end,
        stdout: out,
        stderr: err,
        truncated,
        started_ms,
        duration: start.elapsed(),
    }
}

/// The last lines of stderr, for an error message: colour codes and other control
/// characters out, at most 500 characters so one chatty tool cannot bloat a run record.
pub fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let clean: String = strip_ansi(&text)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    let lines: Vec<&str> = clean.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    clip(&tail.join(" | "), 500)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stderr_tail_keeps_the_last_lines_without_colour() {
        let err = b"one\n\x1b[1;31mtwo\x1b[0m\n\nthree\r\nfour\x07\n";
        assert_eq!(super::stderr_tail(err), "two | three | four");
        let long = "x".repeat(600);
        assert_eq!(super::stderr_tail(long.as_bytes()).chars().count(), 501);
    }
}
