//! End-to-end test harness: runs the real `picketd` and `picket` binaries in a private temp
//! directory per test.
//!
//! Owns: locating the built binaries (target/debug, next to the test executable's `deps/`),
//! the per-test environment (`Env`: its own XDG_RUNTIME_DIR / XDG_DATA_HOME / XDG_CONFIG_HOME /
//! HOME, an explicit PICKET_SOCKET, an optional config file), starting daemons (`Daemon`, whose
//! Drop SIGKILLs it so nothing leaks), running the client with a deadline, and small helpers
//! (JSON stdout, process liveness, RSS).
//!
//! Rules it keeps so tests can run in parallel: nothing is shared between `Env`s, children get
//! a cleared environment (only PATH is inherited), and waits poll for a condition with a
//! generous deadline instead of asserting on elapsed time. Must not hold assertions about
//! Picket's behaviour: the tests do that.
//!
//! Binaries must be built first (`cargo build --workspace`); the harness does not build them.
#![allow(dead_code)] // each test crate uses a different part of the harness

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::kill;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// How long a daemon may take to answer its first ping (debug build, loaded 2-core machine).
pub const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long any single client invocation may take before the test fails: a bound that turns
/// a hung client into a failure, long enough for `picket scan --wait` with slow real tools
/// (testssl.sh takes a minute or more per service).
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(600);
/// Generous bound for "eventually" conditions (exit after a signal, a log line, ...).
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// target/debug (or target/<profile>), where cargo put picketd and picket.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test>-<hash> → target/debug
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is not in target/<profile>/deps");
    dir.to_path_buf()
}

fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} not found: build the binaries first with `cargo build --workspace`",
        path.display()
    );
    path
}

pub fn picketd_bin() -> PathBuf {
    bin("picketd")
}

pub fn picket_bin() -> PathBuf {
    bin("picket")
}

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

/// Runs a command to completion with stdout/stderr captured; kills it and panics if it runs
/// past `deadline` (a hung client must fail the test, not hang the suite).
pub fn output_with_deadline(cmd: &mut Command, deadline: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
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
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// stdout parsed as one JSON document; panics with the whole output otherwise.
/// Fails the test at once, with the fix, when a real tool it drives is missing.
pub fn require_installed(tools: &[&str]) {
    for tool in tools {
        assert!(
            picketd::run::spec::find_program(tool).is_some(),
            "{tool} is not installed: run scripts/setup"
        );
    }
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", describe(out)))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
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

/// Resident set size of a process, in bytes (VmRSS of /proc/<pid>/status).
pub fn rss_bytes(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kb * 1024
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

static DAEMON_SEQ: AtomicUsize = AtomicUsize::new(0);

/// One test's private world: a temp dir holding the runtime, data, config and home dirs.
pub struct Env {
    dir: tempfile::TempDir,
    socket: PathBuf,
    config_file: Option<PathBuf>,
    extra_env: Vec<(OsString, OsString)>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("picket-t")
            .tempdir()
            .expect("temp dir");
        for sub in ["run", "data", "config", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create env dirs");
        }
        let socket = dir.path().join("run/picket/picketd.sock");
        // sun_path holds 108 bytes; a long TMPDIR would make every bind fail confusingly.
        assert!(
            socket.as_os_str().len() < 100,
            "socket path {} is too long for a Unix socket; use a shorter TMPDIR",
            socket.display()
        );
        Env {
            dir,
            socket,
            config_file: None,
            extra_env: Vec::new(),
        }
    }

    /// Writes `text` as an explicit config file, passed to every daemon as `--config FILE`.
    pub fn with_config_file(mut self, text: &str) -> Env {
        let path = self.dir.path().join("picketd-test.toml");
        std::fs::write(&path, text).expect("write config file");
        self.config_file = Some(path);
        self
    }

    /// Writes `text` as $XDG_CONFIG_HOME/picket/picketd.toml (found by the daemon itself).
    pub fn with_xdg_config(self, text: &str) -> Env {
        let path = self.xdg_config_path();
        std::fs::create_dir_all(path.parent().unwrap()).expect("create config dir");
        std::fs::write(&path, text).expect("write xdg config");
        self
    }

    /// An extra environment variable for every daemon and client of this env.
    pub fn with_env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Env {
        self.extra_env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.root().join("run")
    }

    pub fn data_home(&self) -> PathBuf {
        self.root().join("data")
    }

    pub fn config_home(&self) -> PathBuf {
        self.root().join("config")
    }

    /// The daemon's default data directory in this env.
    pub fn data_dir(&self) -> PathBuf {
        self.data_home().join("picket")
    }

    pub fn xdg_config_path(&self) -> PathBuf {
        self.config_home().join("picket/picketd.toml")
    }

    /// The `--config` file, when `with_config_file` was used.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// Any program, run with this env's environment (cleared, then PATH, HOME, XDG dirs,
    /// PICKET_SOCKET and the extras).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.root().join("home"))
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env("XDG_DATA_HOME", self.data_home())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("PICKET_SOCKET", &self.socket)
            .current_dir(self.root());
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The client, ready to run with this env.
    pub fn picket_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(picket_bin());
        cmd.args(args);
        cmd
    }

    /// Runs the client to completion (within `CLIENT_DEADLINE`).
    pub fn picket<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output_with_deadline(&mut self.picket_cmd(args), CLIENT_DEADLINE)
    }

    /// Runs the client with `--json` and returns stdout parsed, asserting exit 0.
    pub fn picket_json<I, S>(&self, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        let out = self.picket(&all);
        assert!(
            out.status.success(),
            "picket {all:?} failed:\n{}",
            describe(&out)
        );
        json(&out)
    }

    /// `picket --no-autostart --json ping`, if it answers.
    pub fn try_ping(&self) -> Option<serde_json::Value> {
        let out = self.picket(["--no-autostart", "--json", "ping"]);
        if out.status.success() {
            serde_json::from_slice(&out.stdout).ok()
        } else {
            None
        }
    }

    /// Spawns picketd (with `--config` when set, plus `args`) without waiting for it.
    /// Its stdout and stderr go to a log file in the temp dir.
    pub fn spawn_daemon<I, S>(&self, args: I) -> Daemon
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let n = DAEMON_SEQ.fetch_add(1, Ordering::Relaxed);
        let log = self.root().join(format!("picketd-{n}.log"));
        let file = std::fs::File::create(&log).expect("create daemon log");
        let mut cmd = self.command(picketd_bin());
        if let Some(cfg) = &self.config_file {
            cmd.arg("--config").arg(cfg);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Daemon {
            child,
            log,
            socket: self.socket.clone(),
            status: None,
        }
    }

    /// Starts picketd and waits until `picket --no-autostart ping` answers from it.
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_with(std::iter::empty::<&str>())
    }

    /// `start_daemon` with extra daemon arguments.
    pub fn start_daemon_with<I, S>(&self, args: I) -> Daemon
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut daemon = self.spawn_daemon(args);
        let pid = daemon.pid();
        let end = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = daemon.try_exit() {
                panic!(
                    "picketd exited with {status:?} before answering a ping; its log:\n{}",
                    daemon.log()
                );
            }
            if let Some(ping) = self.try_ping() {
                assert_eq!(
                    ping["pid"],
                    pid,
                    "another daemon answered on {}: {ping}",
                    self.socket.display()
                );
                return daemon;
            }
            assert!(
                Instant::now() < end,
                "picketd did not answer a ping within {READY_DEADLINE:?}; its log:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A picketd started by the harness. Dropping it SIGKILLs the process if still running.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    socket: PathBuf,
    status: Option<ExitStatus>,
}

impl Daemon {
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

    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
