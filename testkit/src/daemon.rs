//! A picketd started by `Env`: its pid, signals, exit, log and memory, and what happens to
//! it when the test or benchmark lets go of it (SIGKILL by default, so nothing leaks; a
//! graceful stop for benchmarks, whose next figure must not share the CPU with a dying one).
//!
//! Must not decide whether the daemon behaved: it reports, the caller asserts.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::process::{children, eventually, proc_status_kb, rss_bytes, EVENTUALLY};

pub struct Daemon {
    child: Child,
    log: PathBuf,
    socket: PathBuf,
    status: Option<ExitStatus>,
    drop_grace: Option<Duration>,
}

impl Daemon {
    pub(crate) fn new(child: Child, log: PathBuf, socket: PathBuf) -> Daemon {
        Daemon {
            child,
            log,
            socket,
            status: None,
            drop_grace: None,
        }
    }

    /// On drop, `stop(grace)` (SIGTERM first) instead of SIGKILL.
    pub fn stop_on_drop(&mut self, grace: Duration) {
        self.drop_grace = Some(grace);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn signal(&self, sig: Signal) {
        if self.status.is_none() {
            kill(Pid::from_raw(self.pid() as i32), sig)
                .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.pid()));
        }
    }

    /// The exit status if the process has exited (reaping it), without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait picketd");
        }
        self.status
    }

    /// Waits for the process to exit (up to `EVENTUALLY`), panicking with the log otherwise.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let end = Instant::now() + EVENTUALLY;
        loop {
            if let Some(s) = self.try_exit() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "picketd (pid {}) did not exit within {EVENTUALLY:?}; its log:\n{}",
                self.pid(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        let s = self.wait_exit();
        assert_eq!(
            s.signal(),
            Some(Signal::SIGKILL as i32),
            "picketd did not die of SIGKILL: {s:?}"
        );
        s
    }

    /// SIGTERM, then SIGKILL if it is still there after `grace`; never panics.
    pub fn stop(&mut self, grace: Duration) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; returns the log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        eventually(
            EVENTUALLY,
            &format!("picketd log to contain {needle:?}"),
            || {
                let log = self.log();
                log.contains(needle).then_some(log)
            },
        )
    }

    /// Resident set size now, in bytes; panics if the process is gone.
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid())
    }

    /// A `Vm*` line of /proc/PID/status in bytes (VmRSS now, VmHWM the peak); 0 if gone.
    pub fn vm_bytes(&self, field: &str) -> u64 {
        proc_status_kb(self.pid(), field).unwrap_or(0) * 1024
    }

    /// Waits (up to 60 s) until the daemon has no child process: picketd answers pings
    /// while it still probes the built-in tools' versions in the background (nmap, whatweb,
    /// testssl...), and those probes would share the CPU with what is measured next.
    /// Returns how long that took.
    pub fn settle(&mut self) -> Duration {
        let start = Instant::now();
        while children(self.pid()) > 0 && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        start.elapsed()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(grace) = self.drop_grace {
            self.stop(grace);
        } else if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
