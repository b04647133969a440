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
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn actor_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sys = actix::System::new();
    let (cache, db) = sys.block_on(async {
        let cfg = DbConfig::default();
        let pool = picketd::storage::open(&dir.path().join("picket.db"), &cfg)
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
    let output: Arc<[u8]> = vec![b'x'; 1024].into();
    let owned = |i: u64| CacheEntry::clone(&entry(i, &output));
    // 20,000 resident entries, put in through the actor (and so in L2 too).
    let resident = 20_000u64;
    sys.block_on(async {
        for i in 0..resident {
            cache
                .send(Complete {
                    key: key(i),
                    entry: Some(owned(i)),
                })
                .await
                .expect("complete");
        }
        // Let the background L2 writes land before timing anything.
        while cache.send(GetStats).await.expect("stats").l2_entries < resident {
            actix::clock::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut g = c.benchmark_group("actor");
    g.bench_function("LookupKey hit from L1 (send + answer)", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t = Instant::now();
                for i in 0..iters {
                    let k = key(i % resident);
                    match cache
                        .send(LookupKey {
                            key: k,
                            no_cache: false,
                        })
                        .await
                    {
                        Ok(Lookup::Hit { level: 1, .. }) => {}
                        _ => panic!("expected an L1 hit"),
                    }
                }
                t.elapsed()
            })
        })
    });
    let mut next = resident;
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.bench_function(
        "Complete, new key (send + answer; L2 write in background)",
        |b| {
            b.iter_custom(|iters| {
                let items: Vec<(String, CacheEntry)> =
                    (next..next + iters).map(|i| (key(i), owned(i))).collect();
                next += iters;
                sys.block_on(async {
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
                    while cache.send(GetStats).await.expect("stats").l2_entries < next {
                        actix::clock::sleep(Duration::from_millis(20)).await;
                    }
                    took
                })
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

criterion_group!(benches, l1_ops, actor_ops);
criterion_main!(benches);
