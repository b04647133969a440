//! Figure 5, cache.
//!
//! L1 get and insert per operation: the daemon's L1 is a quick_cache `sync::Cache` private
//! to cache/actor.rs, so this builds the same one (same constructor arguments, a copy of
//! its byte weigher and eviction counter, `Arc<CacheEntry>` values whose output is 1 KiB,
//! 64-hex-character keys like `cached_run::cache_key`) and times 1,000,000 inserts, then
//! 1,000,000 gets in random order. Capacity 2 GiB so all 1M entries stay (the entries share
//! one 1 KiB output buffer, so the weigher sees 1 KiB each without using 1 GiB of memory);
//! the inserts are also timed into the daemon's default 256 MiB, where they evict.
//! (benches/cache.rs has the criterion version, and the same operations through the
//! CacheActor's messages.)
//!
//! A fully cached repeat scan, end to end: a real picketd with a tool `c` (`true`, TTL one
//! hour); one scan of 127.0.0.1 with it fills the cache; then each repeat is `scan` +
//! `wait` + `show` (what `picket scan --wait` sends) over one persistent connection, timed
//! from the scan request to the summary. Reported as a multiple of one ping round trip
//! measured on the same daemon and connection just before.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use picket_client::Client;
use picket_testkit::process::cpu_seconds;
use picket_testkit::{ConfigBuilder, ToolConfig};
use picketd::cache::actor::CacheEntry;

use crate::env::{bench_env, runtime, start_daemon};
use crate::l1::{entry, key, l1, shuffled};
use crate::report::{Cmp, Report, Samples};
use crate::Opts;

struct L1Times {
    insert: Duration,
    get: Duration,
    evictions: u64,
    len: usize,
}

fn time_l1(n: usize, capacity: u64, gets: bool) -> L1Times {
    let output: Arc<[u8]> = vec![b'x'; 1024].into();
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let items: Vec<(String, Arc<CacheEntry>)> = (0..n as u64)
        .map(|i| (keys[i as usize].clone(), entry(i, &output)))
        .collect();
    let (cache, evictions) = l1(capacity);
    let t = Instant::now();
    for (k, v) in items {
        cache.insert(k, v);
    }
    let insert = t.elapsed();
    let mut get = Duration::ZERO;
    if gets {
        let order = shuffled(n);
        let t = Instant::now();
        let mut hits = 0usize;
        for i in order {
            if std::hint::black_box(cache.get(keys[i].as_str())).is_some() {
                hits += 1;
            }
        }
        get = t.elapsed();
        assert_eq!(hits, n, "every key must hit");
    }
    L1Times {
        insert,
        get,
        evictions: evictions.load(Relaxed),
        len: cache.len(),
    }
}

/// The repeated scan: one target, the cached stand-in tool `c` alone.
fn cached_scan() -> picket_protocol::ScanRequest {
    picket_protocol::ScanRequest {
        targets: vec!["127.0.0.1".into()],
        tools: vec!["c".into()],
        ..Default::default()
    }
}

fn cached_scan_config() -> String {
    ConfigBuilder::new()
        .tool(
            ToolConfig::new("c")
                .program("true")
                .concurrency(4)
                .ttl_secs(3600),
        )
        .render()
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    l1_figures(report);
    cached_repeat_scan(opts, report)
}

/// L1 get and insert per operation, then inserts that evict.
fn l1_figures(report: &mut Report) {
    let n = 1_000_000;
    let big = time_l1(n, 2 << 30, true);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    report.add(
        "cache: L1 get (quick_cache as configured, 1M keys)",
        per(big.get),
        "us/op",
        Cmp::AtMost,
        1.0,
        format!(
            "random order over 1M resident keys, Arc<CacheEntry> of 1 KiB output; {} entries, {} evictions",
            big.len, big.evictions
        ),
    );
    report.add(
        "cache: L1 insert (1M new keys, 2 GiB capacity)",
        per(big.insert),
        "us/op",
        Cmp::AtMost,
        1.0,
        String::new(),
    );
    let small = time_l1(n, 256 << 20, false);
    report.add(
        "cache: L1 insert evicting (1M keys into 256 MiB default)",
        per(small.insert),
        "us/op",
        Cmp::AtMost,
        1.0,
        format!("{} entries kept, {} evicted", small.len, small.evictions),
    );
}

/// What the repeats measured: ping round trips, whole repeats, the repeats' three parts
/// (scan accepted, wait, show), and the daemon's own view of its CPU and SQL time.
struct Repeats {
    ping: Samples,
    scans: Samples,
    parts: [Samples; 3],
    daemon: String,
}

fn cached_repeat_scan(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let env = bench_env(&cached_scan_config())?;
    let (daemon, _) = start_daemon(&env)?;
    let rt = runtime();
    // PICKET_BENCH_CACHE_REPS: more repeats, to profile the daemon while they run.
    let reps: usize = std::env::var("PICKET_BENCH_CACHE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(opts.size(500, 100));
    let r = rt.block_on(async {
        let mut c = Client::connect(env.socket()).await?;
        let ping = fill_and_ping(&mut c).await?;
        repeats(&mut c, daemon.pid(), reps, ping).await
    })?;
    let [accept, wait, show] = &r.parts;
    report.add(
        "cache: fully cached repeat scan p50, in ping round trips",
        r.scans.us(50.0) / r.ping.us(50.0),
        "pings",
        Cmp::AtMost,
        20.0,
        format!(
            "{reps} repeats of scan+wait+show on one connection: p50 {:.0} us, p99 {:.0} us \
             (p50 of its parts: scan accepted {:.0} us, wait {:.0} us, show {:.0} us); ping p50 {:.1} us; {}",
            r.scans.us(50.0),
            r.scans.us(99.0),
            accept.us(50.0),
            wait.us(50.0),
            show.us(50.0),
            r.ping.us(50.0),
            r.daemon
        ),
    );
    Ok(())
}

/// One scan that runs the tool and fills the cache; then 1,000 warm-up pings and the
/// 5,000 timed ones.
async fn fill_and_ping(c: &mut Client) -> anyhow::Result<Samples> {
    let first = c.scan(cached_scan()).await?.id;
    c.wait(vec![first], false).await?.finished().await?;
    if c.show(first)
        .await?
        .tool_runs
        .first()
        .is_none_or(|r| r.cache_hit)
    {
        bail!("the first scan should have run the tool");
    }
    for _ in 0..1000 {
        c.ping().await?;
    }
    let mut pings = Vec::new();
    for _ in 0..5000 {
        let t = Instant::now();
        c.ping().await?;
        pings.push(t.elapsed());
    }
    Ok(Samples::new(pings))
}

/// `reps` timed repeats of scan + wait + show, each answered from the cache, after 20
/// untimed ones.
async fn repeats(c: &mut Client, pid: u32, reps: usize, ping: Samples) -> anyhow::Result<Repeats> {
    let (mut scans, mut accepts, mut waits, mut shows) = (vec![], vec![], vec![], vec![]);
    let (cpu0, wall0) = (cpu_seconds(pid), Instant::now());
    for i in 0..reps + 20 {
        let t = Instant::now();
        let id = c.scan(cached_scan()).await?.id;
        let accepted = t.elapsed();
        c.wait(vec![id], false).await?.finished().await?;
        let waited = t.elapsed();
        let d = c.show(id).await?;
        let took = t.elapsed();
        if d.tool_runs.len() != 1 || !d.tool_runs[0].cache_hit {
            bail!(
                "repeat scan {id} was not answered from the cache: {:?}",
                d.tool_runs
            );
        }
        if i >= 20 {
            scans.push(took);
            accepts.push(accepted);
            waits.push(waited - accepted);
            shows.push(took - waited);
        }
    }
    let n = (reps + 20) as f64;
    let cpu = format!(
        "daemon CPU {:.0} us per repeat scan (all threads) of {:.0} us wall",
        (cpu_seconds(pid) - cpu0) * 1e6 / n,
        wall0.elapsed().as_secs_f64() * 1e6 / n
    );
    Ok(Repeats {
        ping,
        scans: Samples::new(scans),
        parts: [accepts, waits, shows].map(Samples::new),
        daemon: daemon_view(c, cpu).await?,
    })
}

/// `cpu`, and the daemon's own view: time inside SQL (query closures and write batches).
async fn daemon_view(c: &mut Client, cpu: String) -> anyhow::Result<String> {
    Ok(match c.call(picket_protocol::Request::Metrics).await? {
        picket_protocol::Response::Metrics(m) => {
            let q = &m.query_duration;
            format!(
                "{cpu}; daemon metrics: {} timed SQL sections, mean {:.0} us",
                q.count,
                q.sum * 1e6 / q.count.max(1) as f64
            )
        }
        _ => String::new(),
    })
}
