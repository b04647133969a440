//! Cluster tests' harness: a real `redis-server` on a free loopback port with AOF on (killed
//! with SIGKILL and restarted on the same port and directory, as a crash would), and the
//! `[cluster]` section a picketd of the cluster gets. Must only bind loopback and must not
//! assert anything about Picket's behaviour.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use toml::Value;

use crate::config::ConfigBuilder;
use crate::process::READY_DEADLINE;

/// A redis-server of the test's own, on 127.0.0.1; killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts redis-server with its data (the AOF) in `dir`, and waits until it answers.
    pub fn start(dir: &Path) -> RedisServer {
        std::fs::create_dir_all(dir).expect("create the redis dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut r = RedisServer {
            port,
            dir: dir.to_path_buf(),
            child: None,
        };
        r.spawn();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--save", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/setup installs it)");
        self.child = Some(child);
        let end = Instant::now() + READY_DEADLINE;
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(
                Instant::now() < end,
                "redis-server on {} never answered",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash: no shutdown save, only what the AOF already has.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory (it replays its AOF).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// `redis-cli -p PORT ARGS...`: its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `cfg` with `[cluster]`: this Redis, node `node`, `roles`, a short lease so reclaims
/// come soon, and `slots` runs a worker holds at once.
pub fn with_cluster(
    cfg: ConfigBuilder,
    redis: &RedisServer,
    node: &str,
    roles: &[&str],
    slots: i64,
) -> ConfigBuilder {
    let roles = Value::Array(roles.iter().map(|r| Value::String(r.to_string())).collect());
    cfg.set("cluster", "redis", redis.url())
        .set("cluster", "node_id", node)
        .set("cluster", "roles", roles)
        .set("cluster", "lease_secs", 3)
        .set("cluster", "worker_slots", slots)
}
