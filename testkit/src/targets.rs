//! Local scan targets: an HTTP and an HTTPS server (self-signed certificate made with
//! openssl) and an HTTP server that redirects every request to a given location, on
//! 127.0.0.1, on ports the kernel picks, killed on drop (testkit/serve.py).
//!
//! Must only ever bind loopback: these are the only things the scanning tests may scan.

use std::io::{BufRead, BufReader};
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("serve.py");
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

/// Answers every request with `302 Location: location`. The location is only written in
/// a header: the server never connects to it, so it may name an address no test may reach.
pub fn redirect(location: &str) -> Target {
    spawn(&["redirect", location])
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
