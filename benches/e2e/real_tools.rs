//! Real tools on many hosts (issue 13): N loopback hosts (127.0.2.1..N, 16 with --quick, 64
//! full), each serving HTTP on 8080 and HTTPS on 8443 (benches/common/real_hosts.py), scanned
//! by the real picketd with its default profile, `--ports 8080,8443 --no-cache`, (a) as
//! networks and (b) as N separate addresses. Each wall is divided by the limit measured in
//! the same run: the slowest of a few hosts scanned alone (discovery plus its slowest
//! follow-up), or the tools' CPU time of that scan over the cores, whichever is larger.
//!
//! Scans only the servers it started, on loopback, and only when no interface but `lo`
//! exists (run it inside `unshare --net`); skipped with a note when a tool is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use picket_client::Client;
use picket_protocol::{ScanDetail, ScanEvent, ScanRequest, ScanStatus, ToolRun};
use picket_testkit::process::cpu_seconds;
use picket_testkit::Env;

use crate::env::{runtime, start_daemon};
use crate::report::{Cmp, Report};
use crate::Opts;

const PORTS: &str = "8080,8443";
const TARGET: f64 = 1.25;
const DISCOVERY: &str = "nmap";

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    if let Some(why) = cannot_run() {
        eprintln!("  skipped: {why}");
        return Ok(());
    }
    let n = opts.size(64, 16);
    let hosts = Hosts::start(n)?;
    let env = Env::try_new()?;
    let (daemon, _) = start_daemon(&env)?;
    let bench = Bench {
        env: &env,
        pid: daemon.pid(),
        servers: hosts.pids(),
        cores: std::thread::available_parallelism().map_or(1, |c| c.get()) as f64,
    };
    let mut singles = Vec::new();
    for i in single_hosts(n, opts.size(3, 3)) {
        let m = bench.scan(&[addr(i)], 1)?;
        eprintln!("  alone {}: {}", addr(i), m.summary());
        singles.push(m);
    }
    let alone = singles.iter().map(|m| m.wall).fold(0.0, f64::max);
    let forms = [
        ("as networks", cover(0, n)),
        ("as addresses", (1..=n).map(addr).collect::<Vec<_>>()),
    ];
    for (label, targets) in forms {
        let m = bench.scan(&targets, n)?;
        eprintln!(
            "  {n} hosts {label} ({}): {}",
            targets.join(" "),
            m.summary()
        );
        eprint!("{}", m.breakdown());
        save(opts, label, &m.detail);
        bench.figures(report, &format!("real: {n} hosts {label}"), &m, alone);
    }
    Ok(())
}

/// Why this section cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    let missing: Vec<&str> = ["nmap", "whatweb", "sslscan", "python3", "openssl"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        return Some(format!("not installed: {}", missing.join(", ")));
    }
    // /proc/self/net is this network namespace's (/sys/class/net is the mount's).
    let others: Vec<String> = std::fs::read_to_string("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
        .filter(|n| n != "lo")
        .collect();
    if !others.is_empty() {
        return Some(format!(
            "real scans run only in a loopback-only network namespace (interfaces here: \
             {}); run: unshare --net -- bash -c 'ip link set lo up && benches/run --only real'",
            others.join(", ")
        ));
    }
    None
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn addr(i: usize) -> String {
    format!("127.0.2.{i}")
}

/// The hosts measured alone: spread over the range (first, middle, last...).
fn single_hosts(n: usize, count: usize) -> Vec<usize> {
    let count = count.clamp(1, n);
    let mut v: Vec<usize> = (0..count)
        .map(|k| 1 + k * (n - 1) / (count - 1).max(1))
        .collect();
    v.dedup();
    v
}

/// Aligned networks covering 127.0.2.lo..=hi, largest first (0..=16: a /28 and a /32),
/// as a user would write them; 127.0.2.0 has no server.
fn cover(lo: usize, hi: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = lo;
    while at <= hi {
        let mut size = 1;
        while at.is_multiple_of(size * 2) && at + size * 2 - 1 <= hi && size < 128 {
            size *= 2;
        }
        out.push(format!("{}/{}", addr(at), 32 - size.trailing_zeros()));
        at += size;
    }
    out
}

/// Writes the scan as `picket show --json` prints it, next to the query plans, to see where
/// the time went (runs' starts, finishes, durations).
fn save(opts: &Opts, label: &str, scan: &ScanDetail) {
    let name = format!("bench-real-{}.json", label.replace(' ', "-"));
    let path = opts.plans.with_file_name(name);
    match serde_json::to_string_pretty(scan) {
        Ok(text) if std::fs::write(&path, &text).is_ok() => {
            eprintln!("  scan written to {}", path.display());
        }
        _ => eprintln!("  could not write {}", path.display()),
    }
}

/// The loopback hosts: one server process per host (HTTP and HTTPS), killed on drop.
struct Hosts {
    _dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Hosts {
    fn start(n: usize) -> anyhow::Result<Hosts> {
        if !(1..=254).contains(&n) {
            bail!("{n} hosts do not fit in 127.0.2.1-254");
        }
        let dir = tempfile::Builder::new().prefix("picket-real").tempdir()?;
        let (root, cert, key) = materials(dir.path())?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/common/real_hosts.py");
        let mut hosts = Hosts {
            _dir: dir,
            children: Vec::new(),
        };
        for i in 1..=n {
            let mut child = Command::new("python3")
                .arg(&script)
                .args([&root, &cert, &key])
                .arg(addr(i))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("start python3")?;
            let out = child.stdout.take().expect("piped");
            hosts.children.push(child);
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)?;
            if line.trim() != "ready" {
                let c = hosts.children.last_mut().expect("pushed");
                let _ = c.kill();
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                bail!("the server of {} did not start: {err}", addr(i));
            }
        }
        Ok(hosts)
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A docroot whose page whatweb has something to say about, and a throwaway certificate.
fn materials(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    let root = dir.join("www");
    std::fs::create_dir_all(&root)?;
    std::fs::write(
        root.join("index.html"),
        "<html><head><title>Picket Bench Host</title><meta name=\"generator\" \
         content=\"WordPress 5.8.1\"></head><body>ok</body></html>",
    )?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=picket-bench"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("run openssl")?;
    if !status.success() {
        bail!("openssl could not make the certificate");
    }
    Ok((root, cert, key))
}

/// The daemon under measure and what is read around each scan.
struct Bench<'a> {
    env: &'a Env,
    pid: u32,
    servers: Vec<u32>,
    cores: f64,
}

/// One scan, measured.
struct Measure {
    wall: f64,
    /// Submit to the first event carrying a finding / the first follow-up run done.
    first_finding: Option<f64>,
    first_follow_up: Option<f64>,
    /// CPU seconds over the scan: reaped children of picketd (the tools, through
    /// picketd-run), picketd itself, the host servers.
    tools_cpu: f64,
    daemon_cpu: f64,
    servers_cpu: f64,
    /// When the scan was submitted, Unix ms (the runs' clock).
    submitted_ms: i64,
    hosts: usize,
    detail: ScanDetail,
}

impl Bench<'_> {
    fn scan(&self, targets: &[String], hosts: usize) -> anyhow::Result<Measure> {
        let (tools0, daemon0) = (children_cpu(self.pid)?, cpu_seconds(self.pid));
        let servers0 = self.servers_cpu();
        let submitted_ms = unix_ms();
        let start = Instant::now();
        let (first_finding, first_follow_up, detail) =
            runtime().block_on(follow(self.env.socket(), targets, start))?;
        let wall = start.elapsed().as_secs_f64();
        if detail.status != ScanStatus::Done {
            bail!(
                "the scan of {targets:?} ended {:?}: {detail:?}",
                detail.status
            );
        }
        Ok(Measure {
            wall,
            first_finding,
            first_follow_up,
            tools_cpu: children_cpu(self.pid)? - tools0,
            daemon_cpu: cpu_seconds(self.pid) - daemon0,
            servers_cpu: self.servers_cpu() - servers0,
            submitted_ms,
            hosts,
            detail,
        })
    }

    fn servers_cpu(&self) -> f64 {
        self.servers.iter().map(|&p| cpu_seconds(p)).sum()
    }

    fn figures(&self, report: &mut Report, name: &str, m: &Measure, alone: f64) {
        let cpu_bound = m.tools_cpu / self.cores;
        let limit = alone.max(cpu_bound);
        let detail = format!(
            "wall {:.1} s; limit {limit:.1} s = max(slowest host alone {alone:.1} s, tools' \
             CPU {:.1} s / {} cores = {cpu_bound:.1} s); picketd {:.1} s CPU, host servers \
             {:.1} s CPU; {}",
            m.wall,
            m.tools_cpu,
            self.cores,
            m.daemon_cpu,
            m.servers_cpu,
            m.found()
        );
        report.add(
            &format!("{name}, wall / limit"),
            m.wall / limit,
            "x",
            Cmp::AtMost,
            TARGET,
            detail,
        );
        let follow_up = m
            .first_follow_up
            .map_or("none".into(), |s| format!("{s:.1} s"));
        report.add(
            &format!("{name}, first finding"),
            m.first_finding.unwrap_or(f64::NAN),
            "s",
            Cmp::AtMost,
            (alone * 10.0).round() / 10.0,
            format!(
                "from submit to the first event carrying a finding (target: the slowest host \
                 alone); first follow-up done at {follow_up}"
            ),
        );
    }
}

/// Submits the scan and follows its events to the end; then its detail.
async fn follow(
    socket: &Path,
    targets: &[String],
    start: Instant,
) -> anyhow::Result<(Option<f64>, Option<f64>, ScanDetail)> {
    let mut client = Client::connect(socket).await?;
    let request = ScanRequest {
        targets: targets.to_vec(),
        profile: None,
        tools: Vec::new(),
        ports: Some(PORTS.into()),
        priority: 0,
        no_cache: true,
        max_age_secs: None,
    };
    let id = client.scan(request).await?.id;
    let (mut finding, mut follow_up) = (None, None);
    {
        let mut events = client.wait(vec![id], true).await?;
        while let Some(event) = events.next().await? {
            let at = Some(start.elapsed().as_secs_f64());
            match event {
                ScanEvent::ToolFinished { run, findings, .. } => {
                    if findings > 0 && finding.is_none() {
                        finding = at;
                    }
                    if run.tool != DISCOVERY && follow_up.is_none() {
                        follow_up = at;
                    }
                }
                ScanEvent::Finished { .. } => break,
                _ => {}
            }
        }
    }
    Ok((finding, follow_up, client.show(id).await?))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// CPU seconds of the reaped children of `pid` (cutime + cstime of /proc/PID/stat): the
/// tools, each waited for by its picketd-run, which picketd reaps.
fn children_cpu(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: state is field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    Ok(ticks as f64 / hz as f64)
}

impl Measure {
    fn summary(&self) -> String {
        let secs = |v: Option<f64>| v.map_or("-".into(), |s| format!("{s:.1} s"));
        format!(
            "wall {:.1} s, first finding {}, tools' CPU {:.1} s, {}",
            self.wall,
            secs(self.first_finding),
            self.tools_cpu,
            self.found()
        )
    }

    /// Endpoints found (host:port, each counted once: nmap and sslscan both report 8443)
    /// against the two each host serves.
    fn found(&self) -> String {
        let mut seen: Vec<(&str, u16)> = self
            .detail
            .services
            .iter()
            .map(|s| (s.host.as_str(), s.port))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let on = |port: u16| seen.iter().filter(|x| x.1 == port).count();
        format!(
            "endpoints found {} of {} (8080: {}, 8443: {})",
            seen.len(),
            2 * self.hosts,
            on(8080),
            on(8443)
        )
    }

    /// Per tool: runs, durations, when they ran relative to submit, and how many at once.
    fn breakdown(&self) -> String {
        let mut tools: Vec<&str> = self
            .detail
            .tool_runs
            .iter()
            .map(|r| r.tool.as_str())
            .collect();
        tools.sort_unstable();
        tools.dedup();
        let mut out = String::new();
        for tool in tools {
            let runs: Vec<&ToolRun> = self
                .detail
                .tool_runs
                .iter()
                .filter(|r| r.tool == tool)
                .collect();
            out += &format!("    {tool}: {}\n", self.runs_line(&runs));
        }
        out
    }

    fn runs_line(&self, runs: &[&ToolRun]) -> String {
        let rel = |ms: Option<i64>| ms.map(|t| (t - self.submitted_ms) as f64 / 1e3);
        let mut durs: Vec<f64> = runs
            .iter()
            .filter_map(|r| Some(r.duration_ms? as f64 / 1e3))
            .collect();
        durs.sort_by(f64::total_cmp);
        let starts: Vec<f64> = runs
            .iter()
            .filter_map(|r| rel(r.started_at.map(|t| t.millis())))
            .collect();
        let ends: Vec<f64> = runs
            .iter()
            .filter_map(|r| rel(r.finished_at.map(|t| t.millis())))
            .collect();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!(
            "{} runs, {:.1}-{:.1} s each (median {:.1}, sum {:.1}); first start {:.1} s, \
             last start {:.1} s, last end {:.1} s after submit; at most {} at once",
            runs.len(),
            min(&durs),
            max(&durs),
            durs.get(durs.len() / 2).copied().unwrap_or(f64::NAN),
            durs.iter().sum::<f64>(),
            min(&starts),
            max(&starts),
            max(&ends),
            peak(runs)
        )
    }
}

/// The most runs of `runs` in progress at one instant.
fn peak(runs: &[&ToolRun]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for r in runs {
        if let (Some(s), Some(f)) = (
            r.started_at.map(|t| t.millis()),
            r.finished_at.map(|t| t.millis()),
        ) {
            edges.push((s, 1));
            edges.push((f, -1));
        }
    }
    // Ends before starts at the same instant: back-to-back runs are not concurrent.
    edges.sort_unstable();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}
