//! Figure 6, scale.
//!
//! - start-to-ready: a fresh picketd (default config plus nothing: the built-in tools are
//!   looked up and probed for their versions, as on a user's machine) from spawn to the
//!   first answered ping; median of 5 starts (3 with --quick).
//! - idle RSS: VmRSS of a daemon that is ready and has served nothing but pings.
//! - 1,000 concurrent scans: max_concurrent_scans = 1000, so every scan is admitted at once
//!   (each answer must say 0 queued ahead); each scans one distinct 127.0.x.y with the
//!   no-op tool `n` (`true`, concurrency 16). Submitted over 16 connections, waited for,
//!   then every scan must be `done`. Peak daemon RSS = VmHWM of /proc/PID/status.
//! - 10,000 scans queued: max_concurrent_scans = 1 (its one running scan runs `sleep 20`)
//!   and max_queued_scans = 10000; 10,000 scan requests over 16 connections, timed from the
//!   first request to the last acceptance; then the daemon's stats must show 9,999 queued.

use std::time::{Duration, Instant};

use anyhow::bail;
use picket_client::Client;
use picket_protocol::*;
use picket_testkit::{ConfigBuilder, ToolConfig};

use crate::env::{bench_env, runtime, start_daemon};
use crate::report::{median, Cmp, Report};
use crate::Opts;

const CONNS: usize = 16;

fn host(i: usize) -> String {
    format!("127.0.{}.{}", i / 250, i % 250 + 1)
}

/// Submits `n` one-target scans of `tool` over `CONNS` connections; returns the ids and
/// the largest `queued_behind` seen.
async fn submit(
    socket: &std::path::Path,
    n: usize,
    tool: &str,
) -> anyhow::Result<(Vec<ScanId>, u32)> {
    let tasks = (0..CONNS).map(|j| async move {
        let mut c = Client::connect(socket).await?;
        let mut out = Vec::new();
        let mut ahead = 0;
        for i in (j..n).step_by(CONNS) {
            let req = ScanRequest {
                targets: vec![host(i % 1000)],
                tools: vec![tool.to_string()],
                ..Default::default()
            };
            let accepted = c.scan(req).await?;
            out.push(accepted.id);
            ahead = ahead.max(accepted.queued_behind);
        }
        anyhow::Ok((out, ahead))
    });
    let mut ids = Vec::with_capacity(n);
    let mut ahead = 0;
    for r in futures::future::join_all(tasks).await {
        let (v, a) = r?;
        ids.extend(v);
        ahead = ahead.max(a);
    }
    Ok((ids, ahead))
}

fn scale_config(max_running: i64, tool: ToolConfig) -> String {
    ConfigBuilder::new()
        .limits([
            ("max_concurrent_scans", max_running),
            ("max_queued_scans", 10_000),
            ("per_target", 16),
        ])
        .tool(tool.ttl_secs(0))
        .render()
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    start_to_ready(opts, report)?;
    let rt = runtime();
    concurrent_scans(report, &rt)?;
    queued_scans(report, &rt)
}

/// Start-to-ready, default configuration.
fn start_to_ready(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let mut readies = Vec::new();
    for _ in 0..opts.size(5, 3) {
        let env = bench_env("")?;
        let (mut d, ready) = start_daemon(&env)?;
        readies.push(ready.as_secs_f64() * 1e3);
        d.stop(Duration::from_secs(15));
    }
    let all = readies
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    report.add(
        "scale: picketd start-to-ready (spawn to first ping)",
        median(&mut readies),
        "ms",
        Cmp::AtMost,
        500.0,
        format!("median; each start (ms): {all}; default config, built-in tools probed"),
    );
    Ok(())
}

/// Idle RSS, then 1,000 concurrent scans.
fn concurrent_scans(report: &mut Report, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let tool = ToolConfig::new("n")
        .program("true")
        .args::<&str>([])
        .concurrency(16);
    let env = bench_env(&scale_config(1000, tool))?;
    let (daemon, _) = start_daemon(&env)?;
    rt.block_on(async {
        let mut c = Client::connect(env.socket()).await?;
        for _ in 0..100 {
            c.ping().await?;
        }
        anyhow::Ok(())
    })?;
    std::thread::sleep(Duration::from_millis(300));
    let idle = daemon.vm_bytes("VmRSS");
    report.add(
        "scale: idle RSS",
        idle as f64 / (1 << 20) as f64,
        "MiB",
        Cmp::AtMost,
        32.0,
        "VmRSS after start and 100 pings".into(),
    );
    let n = 1000;
    let start = Instant::now();
    let (ids, ahead) = rt.block_on(async {
        let (ids, ahead) = submit(env.socket(), n, "n").await?;
        let mut c = Client::connect(env.socket()).await?;
        c.wait(ids.clone(), false).await?.finished().await?;
        anyhow::Ok((ids, ahead))
    })?;
    let took = start.elapsed();
    let peak = daemon.vm_bytes("VmHWM");
    let db = rusqlite::Connection::open(env.data_dir().join("picket.db"))?;
    let done: i64 = db.query_row(
        "SELECT COUNT(*) FROM scans WHERE status = 'done'",
        [],
        |r| r.get(0),
    )?;
    if ids.len() != n || done != n as i64 {
        bail!("{} scans accepted, {done} done; expected {n}", ids.len());
    }
    if ahead != 0 {
        bail!("a scan waited behind {ahead} others: not all 1,000 were admitted at once");
    }
    report.add(
        "scale: 1,000 concurrent scans, peak daemon RSS (VmHWM)",
        peak as f64 / (1 << 20) as f64,
        "MiB",
        Cmp::AtMost,
        150.0,
        format!(
            "all {n} admitted at once and done in {:.2} s ({:.0} scans/s, tool concurrency 16)",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        ),
    );
    Ok(())
}

/// 10,000 scans queued behind one that sleeps.
fn queued_scans(report: &mut Report, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let tool = ToolConfig::new("q")
        .program("sleep")
        .args(["20"])
        .concurrency(1)
        .timeout_secs(60);
    let env = bench_env(&scale_config(1, tool))?;
    let (mut daemon, _) = start_daemon(&env)?;
    let n = 10_000;
    let start = Instant::now();
    let (ids, _) = rt.block_on(submit(env.socket(), n, "q"))?;
    let took = start.elapsed();
    let queued = rt.block_on(async {
        let mut c = Client::connect(env.socket()).await?;
        let s = c.stats().await?;
        anyhow::Ok((s.scans_queued, s.scans_running))
    })?;
    let peak = daemon.vm_bytes("VmHWM");
    daemon.stop(Duration::from_secs(15));
    if ids.len() != n || queued != (n as u64 - 1, 1) {
        bail!(
            "{} scans accepted; daemon reports {} queued, {} running",
            ids.len(),
            queued.0,
            queued.1
        );
    }
    // Not a target of the issue, but the same memory budget: what queued scans cost.
    let slot = std::mem::size_of::<ScanEvent>() + 32;
    report.add(
        "scale: 10,000 scans queued, peak daemon RSS (VmHWM)",
        peak as f64 / (1 << 20) as f64,
        "MiB",
        Cmp::AtMost,
        150.0,
        format!(
            "{:.1} KiB per queued scan; a 256-event broadcast channel per scan on the board \
             alone is 256 x ~{slot} B = {} KiB",
            (peak as f64 - 10.0 * (1 << 20) as f64) / n as f64 / 1024.0,
            256 * slot / 1024
        ),
    );
    report.add(
        "scale: 10,000 scans queued",
        took.as_secs_f64(),
        "s",
        Cmp::AtMost,
        2.0,
        format!(
            "{CONNS} connections; {:.0} submissions/s; then {} queued + {} running",
            n as f64 / took.as_secs_f64(),
            queued.0,
            queued.1
        ),
    );
    Ok(())
}
