//! The daemon's L1 cache, rebuilt for benchmarks: cache/actor.rs keeps its quick_cache
//! private, so this is a copy of its construction (same constructor arguments, same byte
//! weigher, same eviction counter), plus the keys and values the benchmarks feed it.
//! Shared by benches/cache.rs (criterion) and benches/e2e (the runner). Keep it in step
//! with `CacheActor::new`.
#![allow(dead_code)] // each benchmark uses a different part

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use picketd::cache::actor::CacheEntry;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};

/// Copy of cache/actor.rs's ByteWeighter.
#[derive(Clone)]
pub struct ByteWeighter;

impl Weighter<String, Arc<CacheEntry>> for ByteWeighter {
    fn weight(&self, key: &String, val: &Arc<CacheEntry>) -> u64 {
        (key.len() + val.output.len() + val.tool.len() + val.host.len() + 128) as u64
    }
}

/// Copy of cache/actor.rs's CountEvictions.
#[derive(Clone, Default)]
pub struct CountEvictions(pub Arc<AtomicU64>);

impl Lifecycle<String, Arc<CacheEntry>> for CountEvictions {
    type RequestState = ();
    fn on_evict(&self, _: &mut (), _: String, _: Arc<CacheEntry>) {
        self.0.fetch_add(1, Relaxed);
    }
}

pub type L1 = Cache<String, Arc<CacheEntry>, ByteWeighter, DefaultHashBuilder, CountEvictions>;

/// Built exactly as `CacheActor::new` builds its L1.
pub fn l1(capacity_bytes: u64) -> (L1, Arc<AtomicU64>) {
    let evictions = Arc::new(AtomicU64::new(0));
    let capacity = capacity_bytes.max(1024 * 1024);
    let cache = Cache::with(
        (capacity / 4096).max(64) as usize,
        capacity,
        ByteWeighter,
        DefaultHashBuilder::default(),
        CountEvictions(evictions.clone()),
    );
    (cache, evictions)
}

pub fn key(i: u64) -> String {
    // 64 hex characters, like a SHA-256 cache key; spread bits so keys don't share prefixes.
    let a = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = (i ^ 0xdead_beef).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    format!(
        "{a:016x}{b:016x}{:016x}{:016x}",
        a.rotate_left(17),
        b.rotate_left(31)
    )
}

pub fn entry(i: u64, output: &Arc<[u8]>) -> Arc<CacheEntry> {
    Arc::new(CacheEntry {
        key: key(i),
        tool: "nmap".into(),
        tool_version: Some("Nmap version 7.93".into()),
        host: format!("127.0.{}.{}", (i / 250) % 256, i % 250 + 1),
        scan_id: i as i64,
        created_ms: 0,
        expires_ms: i64::MAX,
        exit_code: Some(0),
        truncated: false,
        output: output.clone(),
    })
}

/// A permutation of 0..n (xorshift Fisher-Yates), for random-order gets.
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}
