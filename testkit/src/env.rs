//! One private world per test or benchmark: a temp dir holding its own XDG_RUNTIME_DIR,
//! XDG_DATA_HOME, XDG_CONFIG_HOME and HOME, an explicit PICKET_SOCKET, an optional config
//! file and data directory; the client run in it, and daemons started in it.
//!
//! Children get a cleared environment (only PATH is inherited, plus this world's own
//! variables), so the user's own daemon, config and data are never touched and two worlds
//! never meet. Must not hold assertions about Picket's behaviour: the tests do that.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use picket_protocol::ScanDetail;
use serde::de::DeserializeOwned;

use crate::bins::{picket_bin, picketd_bin};
use crate::config::ConfigBuilder;
use crate::daemon::Daemon;
use crate::output::{describe, parse};
use crate::process::{output_with_deadline, CLIENT_DEADLINE, READY_DEADLINE};

static DAEMON_SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Env {
    dir: tempfile::TempDir,
    socket: PathBuf,
    config_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    hosts: Option<PathBuf>,
    /// `with_small_data_fs`: the size of the tmpfs mounted on the data directory.
    small_data_fs: Option<String>,
    extra_env: Vec<(OsString, OsString)>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// A fresh world; panics if the temp dir cannot be made (see `try_new`).
    pub fn new() -> Env {
        Env::try_new().unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// A fresh world, or why not: for the benchmark runner, which reports a failed section
    /// and goes on with the next.
    pub fn try_new() -> anyhow::Result<Env> {
        let dir = tempfile::Builder::new()
            .prefix("picket-t")
            .tempdir()
            .context("temp dir")?;
        for sub in ["run", "data", "config", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).context("create env dirs")?;
        }
        let socket = dir.path().join("run/picket/picketd.sock");
        // sun_path holds 108 bytes; a long TMPDIR would make every bind fail confusingly.
        if socket.as_os_str().len() >= 100 {
            bail!(
                "socket path {} is too long for a Unix socket; use a shorter TMPDIR",
                socket.display()
            );
        }
        Ok(Env {
            dir,
            socket,
            config_file: None,
            data_dir: None,
            hosts: None,
            small_data_fs: None,
            extra_env: Vec::new(),
        })
    }

    /// Daemons of this env (and the tools they start) see `text` as `/etc/hosts`: each runs
    /// in a mount namespace of its own where a file of this env is bind-mounted there. Needs
    /// root (the tests run as root inside their network namespace). `set_hosts` changes the
    /// answers later, as a DNS server changing its mind would.
    pub fn with_hosts(mut self, text: &str) -> Env {
        let path = self.dir.path().join("hosts");
        std::fs::write(&path, text).expect("write hosts file");
        self.hosts = Some(path);
        self
    }

    /// Daemons of this env get their data directory on a tmpfs of `size` (mount's syntax:
    /// "8m"), mounted in a mount namespace of their own (as `with_hosts`), so a test can fill
    /// it: `in_daemon_mounts` runs a command where the daemon sees that tmpfs. Needs root.
    pub fn with_small_data_fs(mut self, size: &str) -> Env {
        self.small_data_fs = Some(size.to_string());
        self
    }

    /// Runs `script` with sh inside `daemon`'s mount namespace (nsenter), where its data
    /// directory is the tmpfs of `with_small_data_fs`; this process sees the directory under
    /// it. For filling that filesystem and freeing it again.
    pub fn in_daemon_mounts(&self, daemon: &Daemon, script: &str) -> Output {
        let mut cmd = self.command("nsenter");
        cmd.arg("-t")
            .arg(daemon.pid().to_string())
            .args(["-m", "--", "sh", "-c", script]);
        output_with_deadline(&mut cmd, CLIENT_DEADLINE)
    }

    /// The daemon command: picketd itself, or, with `with_hosts`/`with_small_data_fs`,
    /// picketd in a mount namespace of its own set up by sh. unshare and sh both exec, so
    /// the daemon keeps the pid we spawn.
    fn daemon_command(&self) -> anyhow::Result<Command> {
        let mut setup = Vec::new();
        if let Some(hosts) = &self.hosts {
            setup.push(format!("mount --bind '{}' /etc/hosts", hosts.display()));
        }
        if let Some(size) = &self.small_data_fs {
            let dir = self.data_dir();
            std::fs::create_dir_all(&dir).context("create the data dir for its tmpfs")?;
            setup.push(format!(
                "mount -t tmpfs -o size={size},mode=0700 picket-data '{}'",
                dir.display()
            ));
        }
        if setup.is_empty() {
            return Ok(self.command(picketd_bin()));
        }
        let mut c = self.command("unshare");
        c.args(["-m", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!("{} && exec \"$@\"", setup.join(" && ")))
            .arg("sh")
            .arg(picketd_bin());
        Ok(c)
    }

    /// Rewrites the private hosts file in place (same inode, so the bind mount sees it).
    pub fn set_hosts(&self, text: &str) {
        let path = self
            .hosts
            .as_ref()
            .expect("set_hosts needs with_hosts first");
        std::fs::write(path, text).expect("rewrite hosts file");
    }

    /// Writes `text` as an explicit config file, passed to every daemon as `--config FILE`.
    pub fn with_config_file(mut self, text: &str) -> Env {
        let path = self.dir.path().join("picketd-test.toml");
        std::fs::write(&path, text).expect("write config file");
        self.config_file = Some(path);
        self
    }

    /// `with_config_file` with the rendered `config`.
    pub fn with_config(self, config: &ConfigBuilder) -> Env {
        self.with_config_file(&config.render())
    }

    /// Writes `text` as $XDG_CONFIG_HOME/picket/picketd.toml (found by the daemon itself).
    pub fn with_xdg_config(self, text: &str) -> Env {
        let path = self.xdg_config_path();
        std::fs::create_dir_all(path.parent().unwrap()).expect("create config dir");
        std::fs::write(&path, text).expect("write xdg config");
        self
    }

    /// Daemons of this env get `--data-dir DIR` (a directory holding picket.db, e.g. one
    /// filled beforehand) instead of their default under XDG_DATA_HOME.
    pub fn with_data_dir(mut self, dir: &Path) -> Env {
        self.data_dir = Some(dir.to_path_buf());
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

    /// The daemons' data directory in this env: `with_data_dir`'s, or the default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| self.data_home().join("picket"))
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
        self.picket_as(args)
    }

    /// `picket_json`, parsed as the protocol type the command prints (`ScanDetail` for
    /// `show`, `WaitDoc` for `wait`, `ScanPage` for `list`...).
    pub fn picket_as<T, I, S>(&self, args: I) -> T
    where
        T: DeserializeOwned,
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
        parse(&out)
    }

    /// `picket --json wait IDS`, which must succeed: the scans, in the order asked.
    pub fn wait_all(&self, ids: &[&str]) -> Vec<ScanDetail> {
        let mut all = vec!["wait"];
        all.extend_from_slice(ids);
        self.picket_as::<picket_protocol::json::WaitDoc, _, _>(all)
            .scans
    }

    /// `picket --json wait ID`: the one finished scan.
    pub fn wait_one(&self, id: &str) -> ScanDetail {
        self.wait_all(&[id]).remove(0)
    }

    /// `picket --json status [ID]`: the scans' progress.
    pub fn status(&self, id: Option<&str>) -> Vec<picket_protocol::ScanProgress> {
        let mut all = vec!["status"];
        all.extend(id);
        self.picket_as::<picket_protocol::json::StatusDoc, _, _>(all)
            .scans
    }

    /// `picket --json scan ARGS --wait`, which must succeed: the finished scan.
    pub fn scan_wait(&self, args: &[&str]) -> ScanDetail {
        let mut all = vec!["scan"];
        all.extend_from_slice(args);
        all.push("--wait");
        self.picket_as(all)
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

    /// Spawns picketd (with `--config` and `--data-dir` when set, plus `args`) without
    /// waiting for it. Its stdout and stderr go to a log file in the temp dir.
    pub fn spawn_daemon<I, S>(&self, args: I) -> Daemon
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.try_spawn_daemon(args)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// `spawn_daemon`, or why not.
    pub fn try_spawn_daemon<I, S>(&self, args: I) -> anyhow::Result<Daemon>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let n = DAEMON_SEQ.fetch_add(1, Ordering::Relaxed);
        let log = self.root().join(format!("picketd-{n}.log"));
        let file = std::fs::File::create(&log).context("create daemon log")?;
        let mut cmd = self.daemon_command()?;
        if let Some(cfg) = &self.config_file {
            cmd.arg("--config").arg(cfg);
        }
        if let Some(dir) = &self.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().context("dup log")?)
            .stderr(file);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        Ok(Daemon::new(child, log, self.socket.clone()))
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
        let probe = |env: &Env| env.try_ping().and_then(|p| p["pid"].as_u64());
        match self.try_start_daemon_probed(args, Duration::from_millis(50), probe) {
            Ok((daemon, _)) => daemon,
            Err(e) => panic!("{e:#}"),
        }
    }

    /// Spawns picketd and calls `probe` every `every` until it returns the pid of the
    /// daemon that answered on this env's socket, which must be the one just started.
    /// Returns it with its start-to-ready time, spawn to first answer. The probe is the
    /// caller's so that a benchmark can time readiness with its own in-process client.
    pub fn try_start_daemon_probed<I, S>(
        &self,
        args: I,
        every: Duration,
        mut probe: impl FnMut(&Env) -> Option<u64>,
    ) -> anyhow::Result<(Daemon, Duration)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let start = Instant::now();
        let mut daemon = self.try_spawn_daemon(args)?;
        let end = start + READY_DEADLINE;
        loop {
            match probe(self) {
                Some(pid) if pid == u64::from(daemon.pid()) => {
                    return Ok((daemon, start.elapsed()));
                }
                Some(pid) => bail!(
                    "another daemon (pid {pid}) answered on {}",
                    self.socket.display()
                ),
                None => {}
            }
            if let Some(status) = daemon.try_exit() {
                bail!(
                    "picketd exited with {status:?} before answering a ping; its log:\n{}",
                    daemon.log()
                );
            }
            if Instant::now() >= end {
                bail!(
                    "picketd did not answer a ping within {READY_DEADLINE:?}; its log:\n{}",
                    daemon.log()
                );
            }
            std::thread::sleep(every);
        }
    }
}
