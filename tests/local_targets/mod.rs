//! Local scan targets for end-to-end tests: an HTTP and an HTTPS server (self-signed
//! certificate made with openssl) on 127.0.0.1, on ports the kernel picks, killed on drop.
//! Also tool scripts for tests that need a tool with a given behaviour (sleep, hang, fork).
//!
//! Must only ever bind loopback: these are the only things the scanning tests may scan.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Target {
    child: Child,
    pub port: u16,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docroot(dir: &Path) -> PathBuf {
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<html><head><title>Picket Test Page</title><meta name=\"generator\" content=\"WordPress 5.8.1\"></head><body>ok</body></html>",
    )
    .unwrap();
    root
}

fn spawn(args: &[&str]) -> Target {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/local_targets/serve.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is needed for the test targets (scripts/setup installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("test target did not print its port: {line:?}"));
    Target { child, port }
}

pub fn http(dir: &Path) -> Target {
    let root = docroot(dir);
    spawn(&["http", root.to_str().unwrap()])
}

pub fn https(dir: &Path) -> Target {
    let root = docroot(dir);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed to make the test certificate");
    assert!(status.success(), "openssl could not make a certificate");
    spawn(&[
        "https",
        root.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    ])
}

/// Writes an executable /bin/sh script: a stand-in tool with the behaviour a test needs.
/// (The daemon runs it through argv like any tool; the script is the test's, not a user's.)
pub fn tool_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
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
