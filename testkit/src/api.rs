//! The HTTP API's `api.sock` as tests and benches reach it: through `curl --unix-socket`
//! (what a user types; Server-Sent Events followed to their end) and through a minimal
//! HTTP/1.1 client on one kept-alive connection (for benches: no process per request).
//!
//! Must not assert anything about the API's answers (the tests do).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::process::{output_with_deadline, CLIENT_DEADLINE};

/// `api.sock` beside the daemon's main socket.
pub fn api_socket(main_socket: &Path) -> PathBuf {
    main_socket.with_file_name("api.sock")
}

/// One answer: status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// `curl --unix-socket SOCKET -X METHOD http://picket/PATH [-d BODY]`.
pub fn curl(socket: &Path, method: &str, path: &str, body: Option<&str>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--unix-socket"]).arg(socket).args([
        "-X",
        method,
        "-w",
        "\n%{http_code} %{content_type}",
    ]);
    if let Some(body) = body {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    cmd.arg(format!("http://picket{path}"));
    let out = output_with_deadline(&mut cmd, CLIENT_DEADLINE);
    assert!(out.status.success(), "curl {method} {path}: {out:?}");
    let text = out.stdout;
    let cut = text
        .iter()
        .rposition(|b| *b == b'\n')
        .expect("curl's -w line");
    let tail = String::from_utf8_lossy(&text[cut + 1..]).to_string();
    let (status, content_type) = tail.split_once(' ').unwrap_or((&tail, ""));
    Answer {
        status: status.parse().expect("curl's status"),
        content_type: content_type.to_string(),
        body: text[..cut].to_vec(),
    }
}

/// A `curl -N` reading a Server-Sent Events stream; killed on drop.
pub struct EventStream {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

/// One Server-Sent Event: its `event:` name and `data:`.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: String,
}

impl EventStream {
    pub fn open(socket: &Path, path: &str) -> EventStream {
        let mut child = Command::new("curl")
            .args(["-sS", "-N", "--unix-socket"])
            .arg(socket)
            .arg(format!("http://picket{path}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl is needed for the API tests (scripts/setup installs it)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        EventStream { child, lines }
    }

    /// The next event, skipping comments; None when the stream ended.
    pub fn next_event(&mut self) -> Option<Event> {
        let (mut name, mut data) = (String::new(), String::new());
        for line in self.lines.by_ref() {
            let line = line.ok()?;
            if line.is_empty() && !data.is_empty() {
                return Some(Event { name, data });
            } else if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_string();
            }
        }
        None
    }
}

impl Iterator for EventStream {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.next_event()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 client on one kept-alive connection to `api.sock`, for answers with a
/// Content-Length (every JSON one).
pub struct KeepAlive {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl KeepAlive {
    pub fn connect(socket: &Path) -> std::io::Result<KeepAlive> {
        let writer = UnixStream::connect(socket)?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(KeepAlive { reader, writer })
    }

    pub fn get(&mut self, path: &str) -> std::io::Result<Answer> {
        write!(self.writer, "GET {path} HTTP/1.1\r\nHost: picket\r\n\r\n")?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}
