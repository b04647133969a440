//! HTTP from the tests' side: `curl` (the client scripts and users have) run with a
//! deadline, its answer split into status, headers and body; a free loopback port for a
//! daemon's `[http] listen`. Must not assert anything about the daemon's answers.

use std::process::Command;

use crate::process::{output_with_deadline, EVENTUALLY};

/// One HTTP answer as curl received it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

/// `curl -sS -i ARGS`: any curl option (`-H`, `-d`, `--unix-socket`, `-k`) and the URL.
pub fn curl(args: &[&str]) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "30"]).args(args);
    let out = output_with_deadline(&mut cmd, EVENTUALLY);
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn parse(raw: &str) -> Answer {
    let mut rest = raw;
    loop {
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {raw:?}"));
        if (100..200).contains(&status) && body.starts_with("HTTP/") {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        return Answer {
            status,
            headers,
            body: body.to_string(),
        };
    }
}

/// A loopback port free now (the kernel's pick, released at once for the daemon to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_past_continue() {
        let a = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nX-A: b\r\n\r\n{}");
        assert_eq!(a.status, 401);
        assert_eq!(a.header("x-a"), Some("b"));
        assert_eq!(a.body, "{}");
    }
}
