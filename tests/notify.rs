//! End-to-end tests of scan-end notifications (issue 15, must-show 5): the real picketd and
//! picket, a webhook receiver this test runs on loopback (plain std TCP, so what arrives is
//! exactly the bytes sent), and an exec hook that keeps what it reads on stdin.
//! Must not reach beyond 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use picket_protocol::ScanStatus;
use picket_testkit::*;
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "test-secret-9f2";

/// One POST as it arrived.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on 127.0.0.1: answers each request with the next of `statuses` (200
/// once they run out) and keeps every request.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (kept, mut statuses) = (got.clone(), statuses.to_vec());
        statuses.reverse();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                kept.lock().unwrap().push(req);
                let status = statuses.pop().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (within a generous bound, not a timing assert) for `n` requests.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        wait_until(|| (self.received().len() >= n).then(|| self.received()))
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    assert!(line.starts_with("POST /hook "), "{line}");
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received { headers, body })
}

fn wait_until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A tool that reports one finding per target (named after it).
fn finding_tool(dir: &Path) -> ToolConfig {
    let script = tool_script(dir, "alpha", "echo \"PICKET-FINDING alpha-$1\"");
    ToolConfig::new("alpha")
        .program(script)
        .ttl_secs(600)
        .no_version_probe()
        .finds_marked_lines()
}

/// An exec hook that appends what it reads on stdin, one payload a line, to `out`.
fn exec_hook(dir: &Path) -> (PathBuf, PathBuf) {
    let out = dir.join("exec-payloads");
    let hook = tool_script(
        dir,
        "hook",
        &format!("cat >> {0}\necho >> {0}", out.display()),
    );
    (hook, out)
}

fn payload_lines(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn scan_done(env: &Env, target: &str) -> picket_protocol::ScanDetail {
    let s = env.scan_wait(&[target, "--tools", "alpha"]);
    assert_eq!(s.status, ScanStatus::Done, "{s:#?}");
    s
}

#[test]
fn signed_webhook_once_per_scan_with_new_findings_and_exec_hook_gets_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[]);
    let (hook, out) = exec_hook(dir.path());
    let config = ConfigBuilder::new()
        .tool(finding_tool(dir.path()))
        .raw(&format!(
            "[notify]\nallow = [\"127.0.0.1:{port}\"]\n\n\
         [[notify.hooks]]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n\
         only_new = true\nretries = 0\n\n\
         [[notify.hooks]]\nkind = \"exec\"\ncommand = [\"{hook}\"]\n\n",
            port = receiver.port,
            url = receiver.url(),
            hook = hook.display(),
        ));
    let env = Env::new().with_config(&config);
    let _daemon = env.start_daemon();

    let first = scan_done(&env, "127.0.0.1");
    let got = receiver.wait_for(1);
    let post = &got[0];
    let sig = post.header("x-picket-signature").expect("signed");
    assert_eq!(sig, format!("sha256={}", hmac_hex(SECRET, &post.body)));
    assert_ne!(sig, format!("sha256={}", hmac_hex("wrong", &post.body)));
    let p = post.json();
    assert_eq!(p["scan"], first.id);
    assert_eq!(p["status"], "done");
    assert_eq!(p["targets"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(p["counts"]["info"], 1);
    let new = p["new_findings"].as_array().unwrap();
    assert_eq!(new.len(), 1, "{p:#}");
    assert_eq!(new[0]["title"], first.findings[0].title);
    assert_eq!(new[0]["id"], first.findings[0].id);
    assert_eq!(new[0]["host"], "127.0.0.1");
    assert_eq!(new[0]["severity"], "info");

    // The exec hook got the same JSON on its stdin.
    let execs = wait_until(|| Some(payload_lines(&out)).filter(|v| !v.is_empty()));
    assert_eq!(execs[0], p);

    // The same finding again: nothing new, so the only_new webhook stays quiet, while the
    // exec hook (not only_new) hears of the scan: its second payload is the barrier.
    let second = scan_done(&env, "127.0.0.1");
    let execs = wait_until(|| Some(payload_lines(&out)).filter(|v| v.len() >= 2));
    assert_eq!(execs[1]["scan"], second.id);
    assert_eq!(execs[1]["new_findings"], serde_json::json!([]));
    assert_eq!(
        receiver.received().len(),
        1,
        "a POST for a scan with nothing new"
    );

    // A new target brings a new finding: one more signed POST.
    let third = scan_done(&env, "127.0.0.2");
    let got = receiver.wait_for(2);
    assert_eq!(got[1].json()["scan"], third.id);
    assert_eq!(
        got[1].header("x-picket-signature").unwrap(),
        format!("sha256={}", hmac_hex(SECRET, &got[1].body))
    );
    let metrics = stdout(&env.picket(["metrics", "--format", "prometheus"]));
    for line in [
        "picket_notify_sent_total{kind=\"webhook\",outcome=\"ok\"} 2",
        "picket_notify_sent_total{kind=\"exec\",outcome=\"ok\"} 3",
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
}

#[test]
fn a_failing_receiver_is_retried_and_the_scan_still_ends_done() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[500, 500, 200]);
    let config = ConfigBuilder::new().tool(finding_tool(dir.path())).raw(&format!(
        "[notify]\nallow = [\"127.0.0.0/8\"]\n\n\
         [[notify.hooks]]\nkind = \"webhook\"\nurl = \"{url}\"\nformat = \"slack\"\nretries = 3\n\n",
        url = receiver.url(),
    ));
    let env = Env::new().with_config(&config);
    let _daemon = env.start_daemon();
    let scan = scan_done(&env, "127.0.0.1");
    let got = receiver.wait_for(3);
    // The same body each time; Slack's shape: one "text" key.
    assert!(got.iter().all(|r| r.body == got[0].body));
    let text = got[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("scan {} done", scan.id)), "{text}");
    assert!(got[0].header("x-picket-signature").is_none());
    let metrics = wait_until(|| {
        let m = stdout(&env.picket(["metrics", "--format", "prometheus"]));
        m.contains("picket_notify_sent_total{kind=\"webhook\",outcome=\"ok\"} 1")
            .then_some(m)
    });
    assert!(!metrics.contains("outcome=\"failed\""), "{metrics}");
}

#[test]
fn a_webhook_outside_the_allow_list_is_a_config_error_naming_it() {
    let env = Env::new();
    let file = env.root().join("notify.toml");
    std::fs::write(
        &file,
        "[notify]\nallow = [\"127.0.0.1:9000\"]\n\n[[notify.hooks]]\nkind = \"webhook\"\n\
         url = \"http://127.0.0.1:9001/hook\"\n",
    )
    .unwrap();
    let out = env
        .command(picketd_bin())
        .args(["--check-config", file.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("[notify] allow") && err.contains("127.0.0.1:9000"),
        "{err}"
    );
}

#[test]
fn an_exec_hook_past_its_timeout_is_ended_with_its_children_and_counted_failed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = picket_testkit::scripts::hang_marker(15);
    let started = dir.path().join("hook-started");
    let hook = tool_script(
        dir.path(),
        "hang-hook",
        &format!(
            "touch {}\nsleep {marker} &\nsleep {marker}",
            started.display()
        ),
    );
    let config = ConfigBuilder::new()
        .tool(finding_tool(dir.path()))
        .raw(&format!(
            "[[notify.hooks]]\nkind = \"exec\"\ncommand = [\"{}\"]\ntimeout_secs = 1\n\n",
            hook.display()
        ));
    let env = Env::new().with_config(&config);
    let _daemon = env.start_daemon();
    scan_done(&env, "127.0.0.1");
    eventually(EVENTUALLY, "the hook counted failed", || {
        stdout(&env.picket(["metrics", "--format", "prometheus"]))
            .contains("picket_notify_sent_total{kind=\"exec\",outcome=\"failed\"} 1")
            .then_some(())
    });
    assert!(started.exists(), "the hook never ran");
    eventually(EVENTUALLY, "the hook's processes to end", || {
        processes_with(&marker).is_empty().then_some(())
    });
}
