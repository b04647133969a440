//! Figure 2, throughput: 2,000 runs of a no-op tool (`true`, ttl_secs = 0 so the cache is
//! bypassed) through the daemon, against `xargs -P N` running the same 2,000 `true`
//! commands with the same N, alternating in the same run.
//!
//! Shape: a scan holds at most 256 targets, so the 2,000 runs are 8 scans of 250 targets
//! each (127.0.k.1 to 127.0.k.250 for k = 1..8: all distinct hosts, so the per-target
//! limit never binds), one tool `t` with concurrency N = 8, all 8 scans admitted at once.
//! Picket's time runs from the first scan request to the end of the `wait` stream on one
//! persistent connection: it includes validating and storing the scans, every process, the
//! parsing and the persisting of each run.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use picket_client::Client;
use picket_protocol::{RunStatus, ScanRequest, ScanStatus};
use picket_testkit::{ConfigBuilder, ToolConfig};

use crate::env::{bench_env, runtime, start_daemon};
use crate::report::{median, Cmp, Report};
use crate::Opts;

const N: usize = 8;
const SCANS: usize = 8;
const TARGETS: usize = 250;
const RUNS: usize = SCANS * TARGETS;

fn config() -> String {
    ConfigBuilder::new()
        .limits([
            ("per_target", N as i64),
            ("max_concurrent_scans", SCANS as i64),
        ])
        .tool(
            ToolConfig::new("t")
                .program("true")
                .args::<&str>([])
                .concurrency(N as i64)
                .ttl_secs(0),
        )
        .render()
}

fn xargs_round() -> anyhow::Result<Duration> {
    let input: String = (1..=RUNS).map(|i| format!("{i}\n")).collect();
    let start = Instant::now();
    let mut child = Command::new("xargs")
        .args(["-P", &N.to_string(), "-n", "1", "true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("xargs")?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())?;
    let status = child.wait()?;
    let took = start.elapsed();
    if !status.success() {
        bail!("xargs failed: {status}");
    }
    Ok(took)
}

async fn picket_round(client: &mut Client) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut ids = Vec::with_capacity(SCANS);
    for k in 1..=SCANS {
        let targets = (1..=TARGETS).map(|h| format!("127.0.{k}.{h}")).collect();
        let scan = ScanRequest {
            targets,
            tools: vec!["t".into()],
            ..Default::default()
        };
        ids.push(client.scan(scan).await?.id);
    }
    let ended = client.wait(ids.clone(), false).await?.finished().await?;
    let took = start.elapsed();
    if let Some((id, s)) = ended.iter().find(|(_, s)| *s != ScanStatus::Done) {
        bail!("scan {id} ended {s}");
    }
    // Not timed: every one of the 2,000 runs must have run and succeeded.
    let mut done = 0;
    for id in ids {
        let d = client.show(id).await?;
        done += d
            .tool_runs
            .iter()
            .filter(|r| r.status == RunStatus::Done && !r.cache_hit)
            .count();
    }
    if done != RUNS {
        bail!("{done} of {RUNS} runs done");
    }
    Ok(took)
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let env = bench_env(&config())?;
    let (_daemon, _) = start_daemon(&env)?;
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(env.socket()))?;
    // One round first, unmeasured: the page cache, the DB file, the allocator.
    rt.block_on(picket_round(&mut client))?;
    let rounds = opts.size(3, 2);
    let (mut ratios, mut p_rates, mut x_rates) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        let x = xargs_round()?;
        let p = rt.block_on(picket_round(&mut client))?;
        x_rates.push(RUNS as f64 / x.as_secs_f64());
        p_rates.push(RUNS as f64 / p.as_secs_f64());
        ratios.push(x.as_secs_f64() / p.as_secs_f64());
    }
    let detail = format!(
        "median of {rounds} alternating rounds; Picket {:.0} runs/s, xargs -P {N} {:.0} runs/s \
         (8 scans x 250 targets x tool `true`, concurrency {N})",
        median(&mut p_rates),
        median(&mut x_rates)
    );
    report.add(
        "throughput: 2,000 `true` runs, Picket / xargs -P 8",
        median(&mut ratios),
        "ratio",
        Cmp::AtLeast,
        0.8,
        detail,
    );
    Ok(())
}
