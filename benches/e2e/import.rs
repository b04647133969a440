//! Section `import` (issue 12): import speed is linear in the input. Generates nmap XML
//! reports of 10,000 and 100,000 open ports (hosts of 10,000 ports each, so both have the
//! same shape), imports each with the real `picket import nmap FILE` into a fresh daemon,
//! and reports the time per port at 100k over the time per port at 10k, plus the absolute
//! time at 100k.
//!
//! Must not read or write outside its temp dirs, and must not time the generation: only the
//! client's run, from spawn to exit (stream, parse, store, print the stored scan).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::env::{bench_env, start_daemon};
use crate::report::{Cmp, Report};
use crate::Opts;

/// Ports per `<host>`: the 10k report is one host, the 100k report ten.
const PORTS_PER_HOST: usize = 10_000;

/// Writes an nmap report of `ports` open ports, in hosts of `PORTS_PER_HOST`, each port with
/// a service, product and version (what `-sV` writes).
fn write_report(path: &Path, ports: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "<?xml version=\"1.0\"?>\n<nmaprun scanner=\"nmap\" version=\"7.94\">"
    )?;
    for h in 0..ports.div_ceil(PORTS_PER_HOST) {
        writeln!(
            out,
            "<host><status state=\"up\"/><address addr=\"10.12.{}.{}\" addrtype=\"ipv4\"/>\
             <hostnames><hostname name=\"h{h}.bench.test\" type=\"PTR\"/></hostnames><ports>",
            h / 256,
            h % 256
        )?;
        let first = h * PORTS_PER_HOST;
        for p in 1..=PORTS_PER_HOST.min(ports - first) {
            writeln!(
                out,
                "<port protocol=\"tcp\" portid=\"{p}\"><state state=\"open\" reason=\"syn-ack\"/>\
                 <service name=\"http\" product=\"Generated httpd\" version=\"2.{p}\" method=\"probed\" conf=\"10\"/></port>"
            )?;
        }
        writeln!(out, "</ports></host>")?;
    }
    writeln!(
        out,
        "<runstats><finished time=\"0\" exit=\"success\"/></runstats></nmaprun>"
    )?;
    out.flush()?;
    Ok(())
}

/// The best of `reps` imports of `report` (`ports` open ports), each into a fresh daemon;
/// checks that every port was stored.
fn time_import(dir: &Path, report: &Path, ports: usize, reps: usize) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let env = bench_env("")?;
        let (_daemon, _) = start_daemon(&env)?;
        let printed = dir.join("import.json");
        let t = Instant::now();
        let status = env
            .picket_cmd(["--no-autostart", "--json", "import", "nmap"])
            .arg(report)
            .stdout(std::fs::File::create(&printed)?)
            .stderr(Stdio::inherit())
            .status()
            .context("run picket import")?;
        let took = t.elapsed();
        if !status.success() {
            bail!("picket import of {} failed: {status}", report.display());
        }
        let scan: serde_json::Value = serde_json::from_slice(&std::fs::read(&printed)?)?;
        let stored = scan["services"].as_array().map_or(0, Vec::len);
        if stored != ports {
            bail!("{ports} ports in the report, {stored} services stored");
        }
        best = best.min(took);
    }
    Ok(best)
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("pkbench-import")
        .tempdir()?;
    let reps = opts.size(3, 1);
    let (small_n, big_n) = (10_000, 100_000);
    let (small, big) = (dir.path().join("10k.xml"), dir.path().join("100k.xml"));
    write_report(&small, small_n)?;
    write_report(&big, big_n)?;
    let bytes = std::fs::metadata(&big)?.len();
    let t_small = time_import(dir.path(), &small, small_n, reps)?.as_secs_f64();
    let t_big = time_import(dir.path(), &big, big_n, reps)?.as_secs_f64();
    let per_port = |t: f64, n: usize| t / n as f64 * 1e6;
    report.add(
        "import: 100k-port nmap report, time per port / at 10k",
        per_port(t_big, big_n) / per_port(t_small, small_n),
        "ratio",
        Cmp::AtMost,
        1.5,
        format!(
            "`picket --json import nmap`, best of {reps}, fresh daemon each: 10k ports {t_small:.3} s \
             ({:.1} us/port), 100k ports {t_big:.3} s ({:.1} us/port, report {:.1} MB)",
            per_port(t_small, small_n),
            per_port(t_big, big_n),
            bytes as f64 / 1e6
        ),
    );
    report.add(
        "import: 100k-port nmap report, wall (context)",
        t_big,
        "s",
        Cmp::AtMost,
        30.0,
        "client spawn to exit: stream, parse, store 100k services and findings, print the scan; \
         the bound is a loose guard, the ratio above is the figure"
            .into(),
    );
    Ok(())
}
