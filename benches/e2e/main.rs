//! End-to-end benchmark runner (driven by `benches/run`): measures Picket against the
//! physical limit of each job, side by side in the same run, and marks each figure against
//! its target (issue 5, BENCHMARKS.md).
//!
//! It drives the release `picketd` and `picket` from target/release, each daemon in a temp
//! dir of its own (XDG dirs, HOME, PICKET_SOCKET, config), talking over Unix sockets only.
//! Scans target 127.0.0.x alone and run only stand-in tools (`sleep`, `true`): nothing
//! leaves loopback, and every loop is bounded in count or time.
//!
//! Usage: e2e [--quick] [--json FILE] [--plans FILE] [--only SECTION,...]
//! Sections: orchestration, throughput, ipc, ingest, cache, scale, import, real (the real
//! tools on loopback hosts the runner starts, inside a loopback-only network namespace),
//! api (the HTTP API's GET of a scan against the bincode `show`, SSE latency).
//! cluster (a coordinator and 1-3 workers over a redis-server the runner starts).
//! (`--bench`, which `cargo bench` adds, is ignored.)

mod api;
mod cache;
mod cluster;
mod env;
mod import;
mod ingest;
mod ipc;
#[path = "../common/l1.rs"]
mod l1;
mod orchestration;
mod real_tools;
mod report;
mod scale;
mod throughput;

use std::path::PathBuf;
use std::time::Instant;

use report::Report;

pub struct Opts {
    pub quick: bool,
    pub json: Option<PathBuf>,
    pub plans: PathBuf,
    pub only: Option<Vec<String>>,
}

impl Opts {
    fn parse(args: Vec<String>) -> Result<Opts, String> {
        let mut opts = Opts {
            quick: false,
            json: None,
            plans: picket_testkit::bin_dir().join("bench-query-plans.txt"),
            only: None,
        };
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => opts.quick = true,
                "--json" => opts.json = Some(it.next().ok_or("--json needs a FILE")?.into()),
                "--plans" => opts.plans = it.next().ok_or("--plans needs a FILE")?.into(),
                "--only" => {
                    let v = it.next().ok_or("--only needs SECTION[,SECTION]")?;
                    opts.only = Some(v.split(',').map(str::to_owned).collect());
                }
                "--bench" => {}
                "-h" | "--help" => {
                    return Err("usage: e2e [--quick] [--json FILE] [--plans FILE] [--only orchestration,throughput,ipc,ingest,cache,scale,import,real,api,cluster]".into())
                }
                other => return Err(format!("unknown argument {other:?} (see --help)")),
            }
        }
        Ok(opts)
    }

    fn wants(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }

    /// `full` normally, `quick` with --quick.
    pub fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

type Section = fn(&Opts, &mut Report) -> anyhow::Result<()>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--echo-server") {
        // The bare Unix-socket baseline, run as its own process like picketd is.
        if let Err(e) = ipc::echo_server(&args[1..]) {
            eprintln!("echo server: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let opts = match Opts::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let sections: [(&str, Section); 10] = [
        ("orchestration", orchestration::run),
        ("throughput", throughput::run),
        ("ipc", ipc::run),
        ("ingest", ingest::run),
        ("cache", cache::run),
        ("scale", scale::run),
        ("import", import::run),
        ("real", real_tools::run),
        ("api", api::run),
        ("cluster", cluster::run),
    ];
    let begun = Instant::now();
    let mut report = Report::default();
    eprintln!(
        "picket e2e benchmarks ({}), binaries in {}",
        if opts.quick { "quick" } else { "full" },
        picket_testkit::bin_dir().display()
    );
    for (name, run) in sections {
        if !opts.wants(name) {
            continue;
        }
        eprintln!("== {name}");
        let t = Instant::now();
        if let Err(e) = run(&opts, &mut report) {
            eprintln!("  section {name} failed: {e:#}");
            report.failures.push((name.to_string(), format!("{e:#}")));
        }
        eprintln!("  ({name}: {:.1} s)", t.elapsed().as_secs_f64());
    }
    println!();
    report.print_table();
    println!(
        "\ntotal {:.1} s; query plans in {}",
        begun.elapsed().as_secs_f64(),
        opts.plans.display()
    );
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&report.to_json()).expect("json");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    if !report.failures.is_empty() {
        std::process::exit(1);
    }
}
