//! Finding lifecycle end to end (issue 15): a loopback HTTP service scanned (real nmap and a
//! stand-in web tool whose findings depend on whether the service answers), stopped and
//! scanned again (its findings resolved by that scan; a failed run before resolves
//! nothing), started again (reopened); `picket diff` of those scans lists exactly the
//! resolved findings and the closed port. The suite runs in a network namespace with only
//! lo up, and scans only the server the test started.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use picket_protocol::json::DiffDoc;
use picket_protocol::{FindingPage, FindingState, RunStatus, ScanDetail, ScanId};
use picket_testkit::scripts::tool_script;
use picket_testkit::*;

/// Findings `PICKET-FINDING <word> [port]`: the port, when given, is the finding's.
const PROBE_LINES: &str = r"^(?P<title>PICKET-FINDING \S+)(?: (?P<port>\d+))?$";

/// A plain HTTP server on 127.0.0.1:`port`, killed on drop.
struct Server(Child);

impl Server {
    fn start(dir: &Path, port: u16) -> Server {
        // Owned by the Server at once, so a panic below still kills and reaps it.
        let server = Server(
            Command::new("python3")
                .args([
                    "-m",
                    "http.server",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                ])
                .arg("--directory")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 is needed for the test server"),
        );
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the test server did not listen on {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A web tool stand-in: two findings on the port while it answers HTTP, one host finding
/// always; fails (no output, exit 2) while `fail` exists.
fn probe(dir: &Path, port: u16, fail: &Path) -> ToolConfig {
    let body = format!(
        "if [ -e {fail} ]; then exit 2; fi\n\
         if curl -sf -o /dev/null -m 3 http://$1:{port}/; then\n\
           echo 'PICKET-FINDING listing {port}'\n\
           echo 'PICKET-FINDING server-banner {port}'\n\
         fi\n\
         echo 'PICKET-FINDING host-always'",
        fail = fail.display()
    );
    ToolConfig::new("probe")
        .program(tool_script(dir, "probe", &body))
        .no_version_probe()
        .ttl_secs(0)
        .parser_regex(PROBE_LINES)
}

fn fingerprints<'a>(
    fs: impl IntoIterator<Item = &'a picket_protocol::Finding>,
) -> BTreeSet<String> {
    fs.into_iter().map(|f| f.fingerprint.clone()).collect()
}

/// `picket --json scan ... --wait`, whatever its exit code (a failed run may fail it).
fn scan_any(env: &Env, args: &[&str]) -> ScanDetail {
    let mut all = vec!["--json", "scan"];
    all.extend_from_slice(args);
    all.push("--wait");
    let out = env.picket(&all);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
}

fn findings(env: &Env, state: &str) -> FindingPage {
    env.picket_as(["findings", "--state", state, "--limit", "1000"])
}

/// `findings --state`: the port's findings only among the resolved, the rest still open.
fn listed_by_state(env: &Env, on_port: &BTreeSet<String>, port: u16) {
    let open = findings(env, "open");
    assert!(
        open.findings.iter().all(|f| f.port != Some(port)),
        "{open:#?}"
    );
    assert!(open
        .findings
        .iter()
        .any(|f| f.title == "PICKET-FINDING host-always"));
    assert_eq!(&fingerprints(&findings(env, "resolved").findings), on_port);
    let all = findings(env, "all").findings.len();
    assert_eq!(all, open.findings.len() + on_port.len());
}

/// `diff` of the scans before and after: exactly the resolved findings and the closed port.
fn diff_lists_exactly_the_resolved(
    env: &Env,
    up: ScanId,
    down: ScanId,
    on_port: &BTreeSet<String>,
    port: u16,
) {
    let (a, b) = (up.to_string(), down.to_string());
    let d: DiffDoc = env.picket_as(["diff", &a, &b]);
    assert_eq!(&fingerprints(&d.resolved), on_port);
    assert!(
        d.new.is_empty() && d.unchecked.is_empty() && d.changed.is_empty(),
        "{d:#?}"
    );
    let closed: Vec<u16> = d.services_closed.iter().map(|s| s.port).collect();
    assert_eq!(closed, vec![port]);
    assert!(
        d.services_opened.is_empty() && d.services_changed.is_empty(),
        "{d:#?}"
    );
    let human = env.picket(["diff", &a, &b]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!("resolved findings ({})", on_port.len())),
        "{text}"
    );
    assert!(text.contains("services closed (1)"), "{text}");
    assert!(
        text.contains(&format!("  127.0.0.1:{port}/tcp  http")),
        "{text}"
    );
}

/// The end-of-scan summary and `show` of the scan that resolved them count them.
fn summaries_count_the_resolved(env: &Env, down: ScanId, resolved: usize) {
    let human = env.picket(["wait", &down.to_string()]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!("0 new, 1 still open, {} resolved", resolved)),
        "{text}"
    );

    let shown = env.picket(["show", &down.to_string()]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains(&format!("resolved by this scan: {}", resolved)),
        "{text}"
    );
}

#[test]
fn a_stopped_service_resolves_its_findings_a_restarted_one_reopens_them_and_diff_says_so() {
    require_installed(&["nmap", "curl"]);
    let env0 = Env::new();
    let (dir, port) = (env0.root().to_path_buf(), free_port());
    let fail = dir.join("fail");
    let env = env0.with_config(&ConfigBuilder::new().tool(probe(&dir, port, &fail)));
    let _daemon = env.start_daemon();
    let ports = port.to_string();
    let both = [
        "127.0.0.1",
        "--ports",
        &ports,
        "--tools",
        "nmap,probe",
        "--no-cache",
    ];

    let server = Server::start(&dir, port);
    let up = env.scan_wait(&both);
    assert!(
        up.services.iter().any(|s| s.port == port),
        "{:#?}",
        up.services
    );
    let on_port: BTreeSet<String> =
        fingerprints(up.findings.iter().filter(|f| f.port == Some(port)));
    assert!(
        on_port.len() >= 3,
        "nmap's open port and the probe's two: {:#?}",
        up.findings
    );
    assert_eq!(up.new_count, up.findings.len() as u64, "all new");
    drop(server);

    // The service is gone but the probe fails: nothing is resolved.
    std::fs::write(&fail, "").unwrap();
    let failed = scan_any(&env, &["127.0.0.1", "--tools", "probe", "--no-cache"]);
    assert_eq!(failed.tool_runs[0].status, RunStatus::Failed, "{failed:#?}");
    assert!(failed.resolved.is_empty(), "{:#?}", failed.resolved);
    assert!(findings(&env, "resolved").findings.is_empty());
    std::fs::remove_file(&fail).unwrap();

    let down = env.scan_wait(&both);
    assert!(!down.services.iter().any(|s| s.port == port));
    assert_eq!(
        fingerprints(&down.resolved),
        on_port,
        "exactly the port's findings"
    );
    assert!(down
        .resolved
        .iter()
        .all(|f| f.state == FindingState::Resolved
            && f.resolved_scan == Some(down.id)
            && f.resolved_at.is_some()));
    listed_by_state(&env, &on_port, port);
    summaries_count_the_resolved(&env, down.id, on_port.len());

    diff_lists_exactly_the_resolved(&env, up.id, down.id, &on_port, port);

    // Started again: the same findings come back open, reopened once, new to that scan.
    let _server = Server::start(&dir, port);
    let again = env.scan_wait(&both);
    let back: Vec<_> = again
        .findings
        .iter()
        .filter(|f| f.port == Some(port))
        .collect();
    assert_eq!(fingerprints(back.iter().copied()), on_port);
    assert!(back.iter().all(|f| f.state == FindingState::Open
        && f.reopened_count == 1
        && f.resolved_scan.is_none()));
    assert_eq!(again.new_count, on_port.len() as u64);
    assert!(findings(&env, "resolved").findings.is_empty());
    let d: DiffDoc = env.picket_as(["diff", "--target", "127.0.0.1"]);
    assert_eq!((d.from, d.to), (down.id, again.id));
    assert_eq!(fingerprints(&d.new), on_port);
    assert_eq!(
        d.services_opened.iter().map(|s| s.port).collect::<Vec<_>>(),
        vec![port]
    );
    assert!(
        d.resolved.is_empty() && d.services_closed.is_empty(),
        "{d:#?}"
    );
}
