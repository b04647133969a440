//! Must-show 7 of issue 17, the cluster's scaling: 300 runs of `sleep 1` (ttl 0, so the
//! cache is bypassed; all distinct hosts, so the per-target lease never binds) submitted to
//! a coordinator whose 1, 2 or 3 worker processes each run C at once. Linear scaling is
//! N x C runs/s; the figure is throughput(N) / (N x throughput(1)). Beside it, the engine's
//! overhead per run: the same 300 runs on one node alone (no `[cluster]`, concurrency C)
//! against one worker behind a coordinator, per run of a slot.
//!
//! Everything is on this machine: redis-server on a free loopback port (AOF on, as the
//! README asks), each picketd in a world of its own, targets never contacted.

use std::time::{Duration, Instant};

use anyhow::bail;
use picket_client::Client;
use picket_protocol::{RunStatus, ScanRequest, ScanStatus};
use picket_testkit::cluster::{with_cluster, RedisServer};
use picket_testkit::{ConfigBuilder, Daemon, Env};

use crate::env::{bench_env, runtime, start_daemon};
use crate::report::{Cmp, Report};
use crate::Opts;

/// Runs a worker (or the lone node) holds at once.
const C: i64 = 10;
const RUNS: usize = 300;
/// A scan holds at most 256 targets: 300 runs are 2 scans of 150 hosts.
const SCANS: usize = 2;

fn tools() -> ConfigBuilder {
    ConfigBuilder::new()
        .limits([("per_target", 1), ("max_concurrent_scans", SCANS as i64)])
        .tool(
            picket_testkit::ToolConfig::new("s")
                .program("sleep")
                .args(["1"])
                .concurrency(C)
                .ttl_secs(0)
                .no_version_probe(),
        )
}

fn node(cfg: ConfigBuilder) -> anyhow::Result<(Env, Daemon)> {
    let env = bench_env(&cfg.render())?;
    let (daemon, _) = start_daemon(&env)?;
    Ok((env, daemon))
}

/// The 300 runs through the daemon at `env`: submit to every scan done, all runs done.
fn round(env: &Env) -> anyhow::Result<Duration> {
    runtime().block_on(async {
        let mut client = Client::connect(env.socket()).await?;
        let start = Instant::now();
        let mut ids = Vec::new();
        for k in 1..=SCANS {
            let targets = (1..=RUNS / SCANS)
                .map(|h| format!("127.0.{k}.{h}"))
                .collect();
            let scan = ScanRequest {
                targets,
                tools: vec!["s".into()],
                ..Default::default()
            };
            ids.push(client.scan(scan).await?.id);
        }
        let ended = client.wait(ids.clone(), false).await?.finished().await?;
        let took = start.elapsed();
        if let Some((id, s)) = ended.iter().find(|(_, s)| *s != ScanStatus::Done) {
            bail!("scan {id} ended {s}");
        }
        let mut done = 0;
        for id in ids {
            let d = client.show(id).await?;
            done += d
                .tool_runs
                .iter()
                .filter(|r| r.status == RunStatus::Done)
                .count();
        }
        if done != RUNS {
            bail!("{done} of {RUNS} runs done");
        }
        Ok(took)
    })
}

/// A coordinator and `workers` worker processes on a fresh Redis: the round's time.
fn cluster_round(workers: usize) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path());
    let (coord, _c) = node(with_cluster(tools(), &redis, "coord", &["coordinator"], C))?;
    let mut held = Vec::new();
    for w in 0..workers {
        let id = format!("w{w}");
        held.push(node(with_cluster(tools(), &redis, &id, &["worker"], C))?);
    }
    round(&coord)
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let (alone_env, _alone) = node(tools())?;
    let single = round(&alone_env)?;
    let sizes: Vec<usize> = opts.size(vec![1, 2, 3], vec![1, 2, 3]);
    let mut rate = Vec::new();
    for &n in &sizes {
        let took = cluster_round(n)?;
        rate.push(RUNS as f64 / took.as_secs_f64());
        eprintln!(
            "  {n} worker(s) x {C}: {:.1} s, {:.1} runs/s (linear: {} runs/s)",
            took.as_secs_f64(),
            rate.last().unwrap(),
            n as i64 * C
        );
    }
    for (i, &n) in sizes.iter().enumerate().skip(1) {
        let ratio = rate[i] / (n as f64 * rate[0]);
        report.add(
            &format!("cluster: {n} workers vs linear (x1 worker)"),
            ratio,
            "ratio",
            Cmp::AtLeast,
            0.9,
            format!(
                "{RUNS} `sleep 1` runs, {n} worker processes x concurrency {C}: {:.1} runs/s; \
                 1 worker: {:.1} runs/s",
                rate[i], rate[0]
            ),
        );
    }
    // Each of the C slots runs RUNS / C runs one after another: the extra time of a slot,
    // spread over its runs, is the engine's cost per run (enqueue, read, result, store).
    let one = RUNS as f64 / rate[0];
    let per_run_ms = (one - single.as_secs_f64()) * 1000.0 / (RUNS as f64 / C as f64);
    report.add(
        "cluster: engine overhead per run vs one node",
        per_run_ms,
        "ms",
        Cmp::AtMost,
        50.0,
        format!(
            "one node alone {:.2} s, coordinator + 1 worker {:.2} s for {RUNS} runs at concurrency {C}",
            single.as_secs_f64(),
            one
        ),
    );
    Ok(())
}
