//! Section api (issue 16, must-show 5): GET of one scan over `api.sock` (HTTP/1.1, one
//! kept-alive connection) against the same `show` over the bincode socket (one
//! connection), p50 ratio; and the latency of a Server-Sent Event, from the moment a run's
//! tool process wrote its last line (the stand-in records the wall clock as it exits) to
//! the moment the `tool_finished` event is read by a client of `/v1/events`.
//!
//! Must not assert: the figures and their targets go to the report.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use picket_client::Client;
use picket_testkit::api::{api_socket, KeepAlive};
use picket_testkit::{tool_script, ConfigBuilder, ToolConfig};

use crate::env::{bench_env, runtime, start_daemon};
use crate::report::{Cmp, Report, Samples};
use crate::Opts;

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ended = dir.path().join("ended");
    let ender = tool_script(
        dir.path(),
        "ender",
        &format!("echo done\ndate +%s%N > {}", ended.display()),
    );
    let config = ConfigBuilder::new().tool(
        ToolConfig::new("ender")
            .program(&ender)
            .no_version_probe()
            .never_finds()
            .ttl_secs(0),
    );
    let env = bench_env(&config.render())?;
    let (_daemon, _) = start_daemon(&env)?;
    let api = api_socket(env.socket());
    let mut events = Events::open(&api)?;
    let mut first = None;
    let mut latencies = Vec::new();
    for _ in 0..opts.size(50, 15) {
        let out = env.picket(["--json", "scan", "127.0.0.1", "--tools", "ender"]);
        let id = picket_testkit::json(&out)["id"]
            .as_i64()
            .context("scan id")?;
        first.get_or_insert(id);
        let seen = events.until_tool_finished(id)?;
        let wrote = std::fs::read_to_string(&ended)?.trim().parse::<u128>()?;
        latencies.push(Duration::from_nanos(seen.saturating_sub(wrote) as u64));
        events.until_finished(id)?;
    }
    let sse = Samples::new(latencies);
    let detail = format!("{} runs; p95 {:.2} ms", sse.len(), sse.ms(95.0));
    report.add(
        "api: SSE latency, run end -> client, p50",
        sse.ms(50.0),
        "ms",
        Cmp::AtMost,
        50.0,
        detail,
    );
    show_ratio(
        opts,
        report,
        env.socket(),
        &api,
        first.context("no scan ran")?,
    )
}

/// GET /v1/scans/ID against `show ID`, in alternating blocks (same machine state).
fn show_ratio(
    opts: &Opts,
    report: &mut Report,
    socket: &Path,
    api: &Path,
    id: i64,
) -> anyhow::Result<()> {
    let n = opts.size(4_000, 1_000);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(socket))?;
    let mut http = KeepAlive::connect(api)?;
    let path = format!("/v1/scans/{id}");
    let (mut over_http, mut over_bincode) = (Vec::new(), Vec::new());
    for block in 0..4 {
        let warm = if block == 0 { 200 } else { 20 };
        for i in 0..warm + n / 4 {
            let t = Instant::now();
            let answer = http.get(&path)?;
            if answer.status != 200 {
                bail!("GET {path}: {}", answer.status);
            }
            if i >= warm {
                over_http.push(t.elapsed());
            }
        }
        for i in 0..warm + n / 4 {
            let t = Instant::now();
            rt.block_on(client.show(id))?;
            if i >= warm {
                over_bincode.push(t.elapsed());
            }
        }
    }
    let (h, b) = (Samples::new(over_http), Samples::new(over_bincode));
    let detail = format!(
        "p50 {:.0} us over api.sock vs {:.0} us over the bincode socket; p95 {:.0} vs {:.0} us; {} each",
        h.us(50.0),
        b.us(50.0),
        h.us(95.0),
        b.us(95.0),
        h.len()
    );
    report.add(
        "api: GET scan over api.sock / show over bincode, p50",
        h.us(50.0) / b.us(50.0),
        "x",
        Cmp::AtMost,
        1.5,
        detail,
    );
    Ok(())
}

/// A client of `/v1/events` reading its lines as they come (chunk-size lines of the
/// chunked encoding are read and skipped: each event is one chunk).
struct Events {
    lines: std::io::Lines<BufReader<UnixStream>>,
}

impl Events {
    fn open(api: &Path) -> anyhow::Result<Events> {
        let mut s = UnixStream::connect(api)?;
        write!(s, "GET /v1/events HTTP/1.1\r\nHost: picket\r\n\r\n")?;
        Ok(Events {
            lines: BufReader::new(s).lines(),
        })
    }

    /// Reads until a `data:` line of `kind` for `scan`; returns when it was read (ns since
    /// the epoch, the clock `date +%s%N` reads).
    fn until(&mut self, scan: i64, kind: &str) -> anyhow::Result<u128> {
        let want = format!("\"kind\":\"{kind}\",\"scan\":{scan},");
        for line in self.lines.by_ref() {
            let line = line?;
            if line.starts_with("data: ") && line.contains(&want) {
                return Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos());
            }
        }
        bail!("/v1/events ended before scan {scan}'s {kind}")
    }

    fn until_tool_finished(&mut self, scan: i64) -> anyhow::Result<u128> {
        self.until(scan, "tool_finished")
    }

    fn until_finished(&mut self, scan: i64) -> anyhow::Result<u128> {
        self.until(scan, "finished")
    }
}
