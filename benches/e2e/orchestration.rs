//! Figure 1, orchestration overhead: one scan of four configured tools that each run
//! `sleep 2`, through the real CLI (`picket scan 127.0.0.1 --tools s1,s2,s3,s4 --wait
//! --json`), wall time from spawning `picket` to its exit, divided by the 2 s the tools
//! themselves take. The limit is 1.0: the four sleeps run side by side.

use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context};
use picket_protocol::{RunStatus, ScanDetail, ScanStatus};

use picket_testkit::{ConfigBuilder, ToolConfig};

use crate::env::{bench_env, start_daemon};
use crate::report::{median, Cmp, Report};
use crate::Opts;

const SLEEP_SECS: f64 = 2.0;

pub fn config() -> String {
    let cfg = ConfigBuilder::new().limits([("per_target", 4), ("max_concurrent_scans", 4)]);
    (1..=4)
        .fold(cfg, |cfg, n| {
            cfg.tool(
                ToolConfig::new(&format!("s{n}"))
                    .program("sleep")
                    .args(["2"])
                    .concurrency(4)
                    .ttl_secs(0),
            )
        })
        .render()
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let env = bench_env(&config())?;
    let (_daemon, _) = start_daemon(&env)?;
    let reps = opts.size(3, 3);
    let mut ratios = Vec::new();
    let mut walls = Vec::new();
    let mut spreads = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        let out = env
            .picket_cmd([
                "scan",
                "127.0.0.1",
                "--tools",
                "s1,s2,s3,s4",
                "--wait",
                "--json",
            ])
            .stdin(Stdio::null())
            .output()
            .context("run picket")?;
        let wall = start.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "picket scan failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let scan: ScanDetail = serde_json::from_slice(&out.stdout)?;
        let runs = &scan.tool_runs;
        if scan.status != ScanStatus::Done
            || runs.len() != 4
            || runs.iter().any(|r| r.status != RunStatus::Done)
        {
            bail!("the scan did not run its 4 tools to completion: {scan:?}");
        }
        let starts: Vec<i64> = runs
            .iter()
            .filter_map(|r| r.started_at.map(|t| t.millis()))
            .collect();
        let spread = starts.iter().max().unwrap_or(&0) - starts.iter().min().unwrap_or(&0);
        walls.push(wall);
        spreads.push(spread);
        ratios.push(wall / SLEEP_SECS);
    }
    let detail = format!(
        "median of {reps} scans; walls {} s; the 4 runs started within {:?} ms of each other",
        walls
            .iter()
            .map(|w| format!("{w:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        spreads
    );
    report.add(
        "orchestration: 4 x sleep 2 s, scan wall / 2 s",
        median(&mut ratios),
        "x",
        Cmp::AtMost,
        1.02,
        detail,
    );
    Ok(())
}
