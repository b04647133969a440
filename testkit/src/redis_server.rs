//! A private `redis-server` for cluster tests: bound to 127.0.0.1 on a free port, its data
//! in a temporary directory, AOF on (as production must be: SCALE-OUT-NOTES.md), killed
//! when dropped. Must not touch any other Redis, and must not decide what tests assert.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::READY_DEADLINE;

pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts one and waits until it answers PING.
    pub fn start() -> RedisServer {
        crate::bins::require_installed(&["redis-server", "redis-cli"]);
        let mut r = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().expect("a temporary directory for redis-server"),
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", "yes", "--save", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let until = Instant::now() + READY_DEADLINE;
        while !self.answers() {
            assert!(
                Instant::now() < until,
                "redis-server on port {} never answered PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `redis-cli -p PORT ARGS...`, which must succeed; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out: Output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILL, as a crash would; `restart` brings it back on the same port and data.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The `[cluster]` section of a node of this server's cluster.
    pub fn cluster_toml(&self, node_id: &str, roles: &[&str], lease_secs: u64) -> String {
        let roles: Vec<String> = roles.iter().map(|r| format!("{r:?}")).collect();
        format!(
            "[cluster]\nredis = \"{}\"\nnode_id = \"{node_id}\"\nroles = [{}]\nlease_secs = {lease_secs}\n",
            self.url(),
            roles.join(", ")
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}
