//! Running one external tool process: argv only (never a shell), through the run helper
//! (run/helper.rs) that owns the tool's whole process tree, with a timeout, a cancel token
//! and capped output. Also the daemon-wide side: marking each run's processes, ending the
//! leftovers of a previous daemon at start, and ending every run at shutdown.
//!
//! Why a helper and not a process group: tools fork, and a child that calls `setsid` or
//! double-forks leaves the group; the helper is a child subreaper, so nothing of the run
//! leaves its tree, and its exit means the whole tree is gone, so the output pipes close
//! even when a grandchild held them. Each run's processes also carry `PICKET_RUN=<owner>/
//! <daemon pid>/<seq>` (`owner` names the data directory), for the cases where the helper
//! itself was killed from outside: then picketd ends the run by that marker (run/tree.rs),
//! and a restart ends whatever a previous daemon of this data directory left. What neither
//! reaches: a process that cleared its environment AND lost its marked ancestors, which takes
//! the helper being killed from outside; under systemd the unit's cgroup still ends it.
//! Must not parse output or decide retries (run/tool_actor.rs does).

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::parsers::normalize::{clip, strip_ansi};
use crate::run::{helper, tree};

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
/// How long a helper may take to end its tree after SIGTERM (it needs milliseconds) before
/// picketd kills it and ends the run by its marker instead.
const HELPER_GRACE: Duration = Duration::from_secs(5);
/// After the helper exited, how long the pipes may stay open: only something that escaped a
/// helper killed from outside can hold them, and it is swept by marker after this.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Why a run could not start its helper (the tool's own start failures come from the
/// helper, see `tool_end`).
#[derive(Debug, thiserror::Error)]
enum SpawnError {
    #[error("cannot find this executable ({0}), hence no picketd binary to run tools through; run tools from picketd itself")]
    NoExe(std::io::Error),
    #[error("no picketd binary beside {0} to run tools through; build it (cargo build -p picketd) or call run::process::init")]
    NoHelper(PathBuf),
    #[error("picketd is shutting down; the run starts again when its scan is resumed")]
    ShuttingDown,
    #[error("cannot start the run helper {exe}: {source}; check that picketd's binary is still there and executable")]
    Helper {
        exe: PathBuf,
        source: std::io::Error,
    },
}

/// The helper's executable and the owner part of the run marker.
struct Runner {
    exe: PathBuf,
    owner: String,
}

static RUNNER: OnceLock<Runner> = OnceLock::new();
static SEQ: AtomicU64 = AtomicU64::new(1);

/// Helpers running now; once `stopping`, no new one starts.
#[derive(Default)]
struct Live {
    stopping: bool,
    helpers: HashSet<i32>,
}

static LIVE: LazyLock<Mutex<Live>> = LazyLock::new(Mutex::default);

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sets up the runner for the daemon: the helper is picketd's own binary (`/proc/self/exe`,
/// which still works after the file was replaced by an upgrade), and runs are marked with a
/// digest of the canonical data directory, so that daemons of other data directories never
/// touch each other's tools. Call once, before any run, after taking the data-dir lock.
pub fn init(data_dir: &Path) {
    let _ = RUNNER.set(Runner {
        exe: std::env::current_exe()
            .ok()
            .and_then(|exe| helper_near(&exe, 1, false))
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe")),
        owner: owner_of(data_dir),
    });
}

/// A helper binary in the `levels` folders above `exe`: `picketd-run` first (it holds only
/// the helper, so a run does not load all of picketd: the throughput benchmark's `true` runs
/// went from 0.54 to 0.67-0.70 of xargs with it, see BENCHMARKS.md), then, when
/// `or_picketd`, picketd itself.
fn helper_near(exe: &Path, levels: usize, or_picketd: bool) -> Option<PathBuf> {
    let names: &[&str] = if or_picketd {
        &[helper::NAME, "picketd"]
    } else {
        &[helper::NAME]
    };
    exe.ancestors()
        .skip(1)
        .take(levels)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|p| p.is_file())
}

/// The owner part of the run marker of the daemons of `data_dir`: 16 hex digits of a
/// SHA-256 of its canonical path.
pub fn owner_of(data_dir: &Path) -> String {
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The runner, or why none: library users that did not call `init` (in-process tests,
/// benchmarks) get the helper built beside their own executable.
fn runner() -> Result<&'static Runner, SpawnError> {
    if let Some(r) = RUNNER.get() {
        return Ok(r);
    }
    let exe = std::env::current_exe().map_err(SpawnError::NoExe)?;
    // Test binaries live in target/debug/deps, the helper and picketd in target/debug.
    let beside = helper_near(&exe, 2, true).ok_or_else(|| SpawnError::NoHelper(exe.clone()))?;
    Ok(RUNNER.get_or_init(|| Runner {
        exe: beside,
        owner: format!("lib-{}", std::process::id()),
    }))
}

/// Ends every process a previous daemon of this data directory left (its marker's owner is
/// ours, and the data-dir lock says no other daemon of it is alive), so that a resumed scan
/// never runs a tool twice at once. Returns how many processes were killed.
pub fn end_leftovers() -> usize {
    match runner() {
        Ok(r) => tree::sweep(&format!("{}/", r.owner), true),
        Err(_) => 0,
    }
}

/// Shutdown: no new run starts, every running helper is asked to end its tree, and this
/// waits until they all have (within `grace`; past it, they and every process marked as this
/// daemon's are killed). Call after the database is closed, so the killed runs are not
/// recorded as finished and the next start resumes them. Returns how many runs were ended.
pub async fn stop_all(grace: Duration) -> usize {
    let pids: Vec<i32> = {
        let mut live = live();
        live.stopping = true;
        live.helpers.iter().copied().collect()
    };
    for pid in &pids {
        signal_helper(*pid, Signal::SIGTERM);
    }
    let end = Instant::now() + grace;
    let running = || pids.iter().any(|p| helper_running(*p));
    while running() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if running() {
        tracing::warn!(
            "run helpers did not end within {grace:?}; killing every process of this daemon's runs"
        );
        if let Ok(r) = runner() {
            let mine = format!("{}/{}/", r.owner, std::process::id());
            tokio::task::spawn_blocking(move || tree::sweep(&mine, true))
                .await
                .ok();
        }
    }
    pids.len()
}

/// Signals one helper; never pid 0 or below, which would mean our own process group or
/// every process we may signal.
fn signal_helper(pid: i32, sig: Signal) {
    if pid > 0 {
        // ESRCH: it has exited already, which is what we want.
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// A helper that has exited but is not reaped yet (a zombie) counts as ended.
fn helper_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_owned())
        })
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// One started helper: asks it to end its tree when dropped (the run's future dropped,
/// e.g. its actor stopped), unless the run already saw it exit.
struct HelperGuard {
    pid: i32,
    token: String,
    armed: bool,
}

impl HelperGuard {
    /// Asks the helper to end the run and waits for it to exit; if it does not in time (or
    /// was killed from outside), ends the run by its marker.
    async fn stop(&mut self, child: &mut Child) {
        signal_helper(self.pid, Signal::SIGTERM);
        if tokio::time::timeout(HELPER_GRACE, child.wait())
            .await
            .is_err()
        {
            tracing::warn!(helper = self.pid, "run helper did not exit after SIGTERM; killing it and the run's processes by marker");
            signal_helper(self.pid, Signal::SIGKILL);
            let _ = child.wait().await;
            self.sweep().await;
        }
    }

    async fn sweep(&self) {
        let token = self.token.clone();
        let _ = tokio::task::spawn_blocking(move || tree::sweep(&token, false)).await;
    }

    /// The helper has exited and been reaped: nothing left to signal.
    fn exited(&mut self) {
        self.armed = false;
        live().helpers.remove(&self.pid);
    }
}

impl Drop for HelperGuard {
    fn drop(&mut self) {
        if self.armed {
            // The helper ends the tree and exits; tokio reaps it (kill_on_drop is off so
            // that the helper is not SIGKILLed before it could).
            signal_helper(self.pid, Signal::SIGTERM);
            live().helpers.remove(&self.pid);
        }
    }
}

/// Starts the helper running `program argv`, its output piped to us.
fn spawn(
    program: &Path,
    argv: &[String],
    stdin: Stdio,
) -> Result<(Child, HelperGuard), SpawnError> {
    let runner = runner()?;
    let me = std::process::id();
    let token = format!(
        "{}/{me}/{}",
        runner.owner,
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let mut cmd = Command::new(&runner.exe);
    cmd.arg0(helper::NAME)
        .arg(helper::ARG)
        .arg(me.to_string())
        .arg(program)
        .args(argv)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .env_remove("TERM")
        .env(tree::MARKER_VAR, &token)
        .process_group(0)
        .kill_on_drop(false);
    // Held across the spawn, so `stop_all` never misses a helper that is just starting.
    let mut live = live();
    if live.stopping {
        return Err(SpawnError::ShuttingDown);
    }
    let child = cmd.spawn().map_err(|source| SpawnError::Helper {
        exe: runner.exe.clone(),
        source,
    })?;
    let pid = child.id().map(|id| id as i32).unwrap_or_default();
    live.helpers.insert(pid);
    Ok((
        child,
        HelperGuard {
            pid,
            token,
            armed: true,
        },
    ))
}

/// Reads a pipe to its end, keeping at most `cap` bytes; each kept chunk is also sent to
/// `tap` when there is one (a discovery run read while it goes: run/discovery_stream.rs).
async fn read_capped<R: AsyncRead + Unpin>(
    mut r: R,
    cap: usize,
    tap: Option<StdoutTap>,
) -> (Vec<u8>, bool) {
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
                let kept = &buf[..n.min(room)];
                if let (Some(tap), false) = (&tap, kept.is_empty()) {
                    // A closed tap (its reader gone) only ends the streaming, not the run.
                    let _ = tap.send(kept.to_vec());
                }
                out.extend_from_slice(kept);
            }
        }
    }
    (out, truncated)
}

type Reader = Option<JoinHandle<(Vec<u8>, bool)>>;

/// Where a run's stdout is copied as it is read.
pub type StdoutTap = tokio::sync::mpsc::UnboundedSender<Vec<u8>>;

/// The output read so far, once the pipes closed: at once normally (the helper's exit
/// means the tree is gone). If something still holds them, the run is swept by marker and
/// given one more grace; past that, the output is given up rather than the run wedged.
async fn collect(
    stdout: Reader,
    stderr: Reader,
    guard: &HelperGuard,
) -> ((Vec<u8>, bool), Vec<u8>) {
    let aborts: Vec<_> = [&stdout, &stderr]
        .into_iter()
        .flatten()
        .map(|h| h.abort_handle())
        .collect();
    let both = async {
        let out = match stdout {
            Some(h) => h.await.unwrap_or_default(),
            None => Default::default(),
        };
        let err = match stderr {
            Some(h) => h.await.unwrap_or_default().0,
            None => Vec::new(),
        };
        (out, err)
    };
    tokio::pin!(both);
    if let Ok(v) = tokio::time::timeout(DRAIN_GRACE, &mut both).await {
        return v;
    }
    tracing::warn!(
        helper = guard.pid,
        "output pipes still open after the run helper exited; ending the run's processes by marker"
    );
    guard.sweep().await;
    if let Ok(v) = tokio::time::timeout(DRAIN_GRACE, &mut both).await {
        return v;
    }
    aborts.iter().for_each(|a| a.abort());
    both.await
}

/// The helper's exit status as the tool's: 127 with the helper's own message means the
/// tool could not be started.
fn tool_end(status: std::io::Result<std::process::ExitStatus>, stderr: &[u8]) -> ProcessEnd {
    let code = status.ok().and_then(|s| s.code());
    let text = String::from_utf8_lossy(stderr);
    match text.lines().find(|l| l.starts_with(helper::SPAWN_FAILED)) {
        Some(line) if code == Some(127) => {
            ProcessEnd::SpawnFailed(line.trim_start_matches("picketd-run: ").to_string())
        }
        _ => ProcessEnd::Exited(code),
    }
}

pub async fn run(
    program: &Path,
    argv: &[String],
    timeout: Duration,
    output_cap: usize,
    cancel: &CancellationToken,
    stdout_tap: Option<StdoutTap>,
) -> ProcessOutcome {
    run_fed(program, argv, None, timeout, output_cap, cancel, stdout_tap).await
}

/// `run` with `input` written to the program's stdin (then closed): notify/exec.rs's hooks.
pub async fn run_with_input(
    program: &Path,
    argv: &[String],
    input: Vec<u8>,
    timeout: Duration,
    output_cap: usize,
    cancel: &CancellationToken,
) -> ProcessOutcome {
    run_fed(
        program,
        argv,
        Some(input),
        timeout,
        output_cap,
        cancel,
        None,
    )
    .await
}

async fn run_fed(
    program: &Path,
    argv: &[String],
    input: Option<Vec<u8>>,
    timeout: Duration,
    output_cap: usize,
    cancel: &CancellationToken,
    stdout_tap: Option<StdoutTap>,
) -> ProcessOutcome {
    let started_ms = crate::storage::queries::now_ms();
    let start = Instant::now();
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let (mut child, mut guard) = match spawn(program, argv, stdin) {
        Ok(v) => v,
        Err(e) => {
            return ProcessOutcome {
                end: ProcessEnd::SpawnFailed(e.to_string()),
                stdout: vec![],
                stderr: vec![],
                truncated: false,
                started_ms,
                duration: start.elapsed(),
            }
        }
    };
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), input) {
        // A program that never reads its stdin must not hold the run up: write aside.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let stdout = child
        .stdout
        .take()
        .map(|s| tokio::spawn(read_capped(s, output_cap, stdout_tap)));
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_capped(s, STDERR_CAP, None)));
    let ended = tokio::select! {
        status = child.wait() => Err(status),
        _ = tokio::time::sleep(timeout) => Ok(ProcessEnd::TimedOut),
        _ = cancel.cancelled() => Ok(ProcessEnd::Cancelled),
    };
    if ended.is_ok() {
        guard.stop(&mut child).await;
    }
    guard.exited();
    let ((out, truncated), err) = collect(stdout, stderr, &guard).await;
    // Err: the helper exited by itself, i.e. the tool did (its status is the tool's).
    let end = ended.unwrap_or_else(|status| tool_end(status, &err));
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
