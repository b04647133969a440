//! A private world for one daemon: a temp dir with its own XDG dirs, HOME, PICKET_SOCKET and
//! config file; starting the release picketd there and timing it to its first ping; reading
//! its memory from /proc. Children get a cleared environment (PATH only, plus ours), so the
//! user's own daemon, config and data are never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use picket_client::Client;

/// target/release (or target/<profile>): where picketd and picket are, next to `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("the benchmark binary is not in target/<profile>/deps")
        .to_path_buf()
}

pub struct BenchEnv {
    dir: tempfile::TempDir,
    socket: PathBuf,
    config: PathBuf,
    data_dir: Option<PathBuf>,
}

impl BenchEnv {
    /// A fresh env whose daemons read `config` (TOML) as `--config`.
    pub fn new(config: &str) -> anyhow::Result<BenchEnv> {
        let dir = tempfile::Builder::new().prefix("pkbench").tempdir()?;
        for sub in ["run", "data", "config", "home"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        let socket = dir.path().join("run/picket/picketd.sock");
        if socket.as_os_str().len() >= 100 {
            bail!(
                "socket path {} is too long for a Unix socket; use a shorter TMPDIR",
                socket.display()
            );
        }
        let path = dir.path().join("picketd-bench.toml");
        std::fs::write(&path, config)?;
        Ok(BenchEnv {
            dir,
            socket,
            config: path,
            data_dir: None,
        })
    }

    /// Daemons of this env use `dir` (holding picket.db) as their data directory.
    pub fn with_data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Default data directory of this env's daemons (unless `with_data_dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| self.root().join("data/picket"))
    }

    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.root().join("home"))
            .env("XDG_RUNTIME_DIR", self.root().join("run"))
            .env("XDG_DATA_HOME", self.root().join("data"))
            .env("XDG_CONFIG_HOME", self.root().join("config"))
            .env("PICKET_SOCKET", &self.socket)
            .current_dir(self.root());
        cmd
    }

    /// `picket ARGS` (release build) with this env.
    pub fn picket(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(bin_dir().join("picket"));
        cmd.args(args);
        cmd
    }

    pub fn spawn_daemon(&self) -> anyhow::Result<Daemon> {
        let log = self.root().join("picketd.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = self.command(bin_dir().join("picketd"));
        cmd.arg("--config").arg(&self.config);
        if let Some(d) = &self.data_dir {
            cmd.arg("--data-dir").arg(d);
        }
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        Ok(Daemon { child, log })
    }

    /// Starts picketd and returns it with its start-to-ready time: from spawn to the first
    /// answered ping (connect + handshake + ping, retried every millisecond).
    pub fn start_daemon(&self) -> anyhow::Result<(Daemon, Duration)> {
        let rt = runtime();
        let start = Instant::now();
        let mut daemon = self.spawn_daemon()?;
        let deadline = start + Duration::from_secs(60);
        loop {
            let ping = rt.block_on(async {
                let mut c = Client::connect(&self.socket).await?;
                c.ping().await
            });
            match ping {
                Ok(p) if p.pid == daemon.pid() => {
                    let ready = start.elapsed();
                    daemon.settle();
                    return Ok((daemon, ready));
                }
                Ok(p) => bail!("another daemon (pid {}) answered on our socket", p.pid),
                Err(_) => {}
            }
            if let Some(status) = daemon.child.try_wait()? {
                bail!(
                    "picketd exited with {status} before answering; its log:\n{}",
                    daemon.log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "picketd did not answer within 60 s; its log:\n{}",
                    daemon.log()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A current-thread tokio runtime: the benchmark's client side runs on one core, leaving
/// the other to the daemon on this 2-core machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `Vm*` line of /proc/PID/status, in bytes (VmRSS now, VmHWM the peak).
    pub fn vm_bytes(&self, field: &str) -> u64 {
        proc_status_kb(self.pid(), field) * 1024
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

    /// SIGTERM, then SIGKILL if it is still there after `grace`.
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
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(15));
    }
}

pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time of all threads of a process so far (sum of /proc/PID/task/*/schedstat), in
/// seconds: what the process itself spent, as opposed to waiting.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// Number of live child processes of `pid` (all its threads' /proc children lists).
pub fn children(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .map(|s| s.split_whitespace().count())
        .sum()
}
