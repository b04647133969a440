//! The result cache, two ways:
//!
//! - `l1/*`: quick_cache built exactly as the CacheActor builds its (private) L1 (see
//!   benches/common/l1.rs): gets of resident keys in random order over 1,000,000 entries
//!   with 1 KiB outputs, and inserts of new keys into an empty cache.
//! - `actor/*`: the same operations through the CacheActor's messages from an actix task,
//!   as the daemon's scans use it: `LookupKey` answered from L1 (actor round trip + get),
//!   and `Complete` (L1 insert; it also queues the entry's L2 write to SQLite, which the
//!   actor runs in the background and which is not in the time).
//!
//! `cargo bench --bench cache`

#[path = "common/l1.rs"]
mod l1;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use criterion::{criterion_group, criterion_main, Criterion};
use picketd::cache::actor::{CacheActor, CacheEntry, Complete, GetStats, Lookup, LookupKey};
use picketd::config::DbConfig;
use picketd::metrics::Metrics;
use picketd::storage::Db;

use l1::{entry, key, shuffled};

const RESIDENT: usize = 1_000_000;

fn l1_ops(c: &mut Criterion) {
    let output: Arc<[u8]> = vec![b'x'; 1024].into();
    let mut g = c.benchmark_group("l1");
    let (cache, _) = l1::l1(2 << 30);
    let keys: Vec<String> = (0..RESIDENT as u64).map(key).collect();
    for (i, k) in keys.iter().enumerate() {
        cache.insert(k.clone(), entry(i as u64, &output));
    }
    let order = shuffled(RESIDENT);
    let mut at = 0;
    g.bench_function("get (1M resident, random order)", |b| {
        b.iter(|| {
            at = (at + 1) % RESIDENT;
            black_box(cache.get(keys[order[at]].as_str()))
        })
    });
    drop(cache);
    g.bench_function("insert (new keys, 2 GiB capacity)", |b| {
        b.iter_custom(|iters| {
            let n = iters as usize;
            let items: Vec<(String, Arc<CacheEntry>)> =
                (0..n as u64).map(|i| (key(i), entry(i, &output))).collect();
            let (cache, _) = l1::l1(2 << 30);
            let t = Instant::now();
            for (k, v) in items {
                cache.insert(k, v);
            }
            let took = t.elapsed();
            drop(cache);
            took
        })
    });
    g.finish();
}

/// A CacheActor over a DbActor on a fresh database in `dir`, built as the daemon builds
/// them, with 20,000 entries put in through the actor (and so in L2 too).
fn start_actors(
    sys: &actix::SystemRunner,
    dir: &Path,
    output: &Arc<[u8]>,
) -> (Addr<CacheActor>, Db) {
    let (cache, db) = sys.block_on(async {
        let cfg = DbConfig::default();
        let pool = picketd::storage::open(&dir.join("picket.db"), &cfg)
            .await
            .expect("open db");
        let db = Db::start(pool, Arc::new(Metrics::new(100)), cfg.write_batch);
        let cache = actix::Actor::start(CacheActor::new(
            db.clone(),
            2 << 30,
            Duration::from_secs(3600),
        ));
        (cache, db)
    });
    sys.block_on(async {
        for i in 0..RESIDENT_IN_ACTOR {
            cache
                .send(Complete {
                    key: key(i),
                    entry: Some(owned(i, output)),
                })
                .await
                .expect("complete");
        }
        // Let the background L2 writes land before timing anything.
        while cache.send(GetStats).await.expect("stats").l2_entries < RESIDENT_IN_ACTOR {
            actix::clock::sleep(Duration::from_millis(50)).await;
        }
    });
    (cache, db)
}

/// Entries resident in the actor's cache before timing.
const RESIDENT_IN_ACTOR: u64 = 20_000;

/// The cache entry of key `i`, owned; `output` is shared by all, as in l1.rs.
fn owned(i: u64, output: &Arc<[u8]>) -> CacheEntry {
    CacheEntry::clone(&entry(i, output))
}

fn actor_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sys = actix::System::new();
    let output: Arc<[u8]> = vec![b'x'; 1024].into();
    let (cache, db) = start_actors(&sys, dir.path(), &output);
    let mut g = c.benchmark_group("actor");
    g.bench_function("LookupKey hit from L1 (send + answer)", |b| {
        b.iter_custom(|iters| sys.block_on(lookups(&cache, iters)))
    });
    let mut next = RESIDENT_IN_ACTOR;
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.bench_function(
        "Complete, new key (send + answer; L2 write in background)",
        |b| {
            b.iter_custom(|iters| {
                let items: Vec<(String, CacheEntry)> = (next..next + iters)
                    .map(|i| (key(i), owned(i, &output)))
                    .collect();
                next += iters;
                sys.block_on(completes(&cache, items, next))
            })
        },
    );
    g.finish();
    // Close the pool while the runtime runs: its connections must be dropped inside it.
    sys.block_on(async {
        db.close().await;
        actix::clock::sleep(Duration::from_millis(100)).await;
    });
}

/// Times `iters` lookups of resident keys, each of which must hit L1.
async fn lookups(cache: &Addr<CacheActor>, iters: u64) -> Duration {
    let t = Instant::now();
    for i in 0..iters {
        let k = key(i % RESIDENT_IN_ACTOR);
        match cache
            .send(LookupKey {
                key: k,
                no_cache: false,
                min_created_ms: None,
            })
            .await
        {
            Ok(Lookup::Hit { level: 1, .. }) => {}
            _ => panic!("expected an L1 hit"),
        }
    }
    t.elapsed()
}

/// Times completing `items` (new keys); then, untimed, waits until L2 holds `total`.
async fn completes(
    cache: &Addr<CacheActor>,
    items: Vec<(String, CacheEntry)>,
    total: u64,
) -> Duration {
    let t = Instant::now();
    for (k, e) in items {
        cache
            .send(Complete {
                key: k,
                entry: Some(e),
            })
            .await
            .expect("complete");
    }
    let took = t.elapsed();
    while cache.send(GetStats).await.expect("stats").l2_entries < total {
        actix::clock::sleep(Duration::from_millis(20)).await;
    }
    took
}

criterion_group!(benches, l1_ops, actor_ops);
criterion_main!(benches);
