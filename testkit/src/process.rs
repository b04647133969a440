//! Processes seen from outside: running a command with a deadline, polling for a condition,
//! and what /proc says about a pid (alive, memory, CPU time, children, command lines).
//!
//! Must not measure or assert on wall-clock time: deadlines only turn a hang into a failure.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a daemon may take to answer its first ping (debug build, loaded 2-core machine).
pub const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long any single client invocation may take before the test fails: a bound that turns
/// a hung client into a failure, long enough for `picket scan --wait` with slow real tools
/// (testssl.sh takes a minute or more per service).
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(600);
/// Generous bound for "eventually" conditions (exit after a signal, a log line, ...).
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// Polls `f` until it returns `Some`, or panics with `what` after `deadline`.
pub fn eventually<T>(deadline: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "gave up after {deadline:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Drains a child's pipe on its own thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipe.read_to_end(&mut v);
        v
    })
}

/// Runs a command to completion with stdout/stderr captured; kills it and panics if it runs
/// past `deadline` (a hung client must fail the test, not hang the suite).
pub fn output_with_deadline(cmd: &mut Command, deadline: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let end = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Whether `pid` is a live process (a zombie counts as gone: it has exited, only its parent
/// has not reaped it, which happens to daemons re-parented away from the test).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // state is the field after the parenthesised command name
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// A `Vm*` line of /proc/PID/status in kB (VmRSS now, VmHWM the peak); None if the
/// process or the line is gone.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resident set size of a live process, in bytes; panics if /proc does not say.
pub fn rss_bytes(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS").expect("VmRSS in /proc/<pid>/status") * 1024
}

/// The contents of one file of every thread of `pid` (/proc/PID/task/*/NAME), those
/// readable: per-thread figures are only whole when summed over the threads.
fn per_thread(pid: u32, name: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join(name)).ok())
        .collect()
}

/// CPU time of all threads of a process so far (sum of their schedstat), in seconds: what
/// the process itself spent, as opposed to waiting.
pub fn cpu_seconds(pid: u32) -> f64 {
    per_thread(pid, "schedstat")
        .iter()
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// Number of live child processes of `pid` (all its threads' children lists).
pub fn children(pid: u32) -> usize {
    per_thread(pid, "children")
        .iter()
        .map(|s| s.split_whitespace().count())
        .sum()
}

/// Pids of live processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // A zombie has an empty cmdline anyway; skip it explicitly too.
        if text.contains(marker) && !state.contains(") Z ") {
            pids.push(pid);
        }
    }
    pids
}

/// SIGKILLs a process that is not our child (e.g. a daemon the client auto-started) on drop.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
        }
    }
}
