//! CacheActor: tool results, two levels deep, with single flight.
//!
//! L1 is in memory (quick_cache, weighted by bytes, values behind `Arc`); L2 is the
//! `cache_entries` table (`storage::cache_table`), so results survive a restart and are
//! promoted to L1 when hit. Entries expire after their tool's TTL, checked against a coarse
//! clock (an atomic of milliseconds a ticker updates: reading the system clock on every get
//! costs more than the get). Single flight: while one run of a key is in progress, other
//! lookups of the same key wait for it and share its result instead of starting a second
//! process.
//!
//! In cluster mode (`UseShared`), L2 is the cluster's Redis (`cluster::cache`) instead of
//! SQLite, and single flight holds across nodes through its claims.
//!
//! Mailbox: 4096. Nothing blocks it: L1 work is done in the handler, L2 reads and writes
//! run beside it on the `Db` (a lookup's L2 read holds only that key, claimed in
//! `inflight`, so other keys go on). Beside it: the clock ticker and the periodic cleanup.
//! Must not run tools (callers run on `Lead` and report back with `Complete`) nor hold SQL.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use picket_protocol::CacheStatsReport;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use tokio::sync::oneshot;

use crate::cluster::cache::{Shared, SharedCache};
use crate::storage::cache_table;
pub use crate::storage::cache_table::{CacheEntry, Selector};
use crate::storage::queries::now_ms;
use crate::storage::Db;

#[derive(Clone)]
struct ByteWeighter;

impl Weighter<String, Arc<CacheEntry>> for ByteWeighter {
    fn weight(&self, key: &String, val: &Arc<CacheEntry>) -> u64 {
        (key.len() + val.output.len() + val.tool.len() + val.host.len() + 128) as u64
    }
}

#[derive(Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl Lifecycle<String, Arc<CacheEntry>> for CountEvictions {
    type RequestState = ();
    fn on_evict(&self, _: &mut (), _: String, _: Arc<CacheEntry>) {
        self.0.fetch_add(1, Relaxed);
    }
}

type L1 = Cache<String, Arc<CacheEntry>, ByteWeighter, DefaultHashBuilder, CountEvictions>;

/// Milliseconds since the epoch, refreshed by a ticker; good to ~50 ms, which TTLs of
/// minutes don't notice.
#[derive(Debug, Default)]
pub struct CoarseClock(AtomicU64);

impl CoarseClock {
    pub fn now_ms(&self) -> i64 {
        self.0.load(Relaxed) as i64
    }
    fn tick(&self) {
        self.0.store(now_ms().max(0) as u64, Relaxed);
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits_l1: AtomicU64,
    hits_l2: AtomicU64,
    shared: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    expirations: AtomicU64,
    inserts: AtomicU64,
}

/// What a lookup tells the caller to do.
pub enum Lookup {
    Hit {
        entry: Arc<CacheEntry>,
        level: u8,
    },
    /// Another scan is running this key: await its entry (None: run it yourself).
    Wait(oneshot::Receiver<Option<Arc<CacheEntry>>>),
    /// Nobody has it: run it, then send `Complete` (the lead guard does if you can't).
    Lead,
}

pub struct CacheActor {
    l1: L1,
    db: Db,
    clock: Arc<CoarseClock>,
    counters: Arc<Counters>,
    evictions: Arc<AtomicU64>,
    capacity: u64,
    inflight: HashMap<String, Vec<oneshot::Sender<Option<Arc<CacheEntry>>>>>,
    cleanup_every: Duration,
    /// The cluster's Redis as L2 (None: SQLite, a node on its own).
    shared: Option<SharedCache>,
    /// Keys whose cross-node claim this node holds while it runs them.
    claimed: HashSet<String>,
}

impl CacheActor {
    pub fn new(db: Db, capacity_bytes: u64, cleanup_every: Duration) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let capacity = capacity_bytes.max(1024 * 1024);
        let l1 = Cache::with(
            (capacity / 4096).max(64) as usize,
            capacity,
            ByteWeighter,
            DefaultHashBuilder::default(),
            CountEvictions(evictions.clone()),
        );
        let clock = Arc::new(CoarseClock::default());
        clock.tick();
        Self {
            l1,
            db,
            clock,
            counters: Arc::default(),
            evictions,
            capacity,
            inflight: HashMap::new(),
            cleanup_every,
            shared: None,
            claimed: HashSet::new(),
        }
    }

    fn fresh_l1(&self, key: &str) -> Option<Arc<CacheEntry>> {
        let entry = self.l1.get(key)?;
        if entry.expires_ms > self.clock.now_ms() {
            return Some(entry);
        }
        // Remove only this expired value: a fresh replacement inserted meanwhile stays.
        if self.l1.remove_if(key, |v| Arc::ptr_eq(v, &entry)).is_some() {
            self.counters.expirations.fetch_add(1, Relaxed);
        }
        None
    }

    fn finish_inflight(&mut self, key: &str, entry: Option<Arc<CacheEntry>>) {
        for w in self.inflight.remove(key).unwrap_or_default() {
            let _ = w.send(entry.clone());
        }
    }
}

impl Actor for CacheActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(Duration::from_millis(50), |act, _| act.clock.tick());
        ctx.run_interval(self.cleanup_every, |_, ctx| ctx.notify(Cleanup));
    }
}

pub struct LookupKey {
    pub key: String,
    pub no_cache: bool,
    /// `--max-age`: an entry made before this (Unix ms) is answered as a miss and replaced.
    pub min_created_ms: Option<i64>,
}

impl Message for LookupKey {
    type Result = Lookup;
}

impl Handler<LookupKey> for CacheActor {
    type Result = ResponseActFuture<Self, Lookup>;

    fn handle(&mut self, msg: LookupKey, _: &mut Self::Context) -> Self::Result {
        let key = msg.key;
        if let Some(waiters) = self.inflight.get_mut(&key) {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            return Box::pin(fut::ready(Lookup::Wait(rx)));
        }
        if msg.no_cache {
            self.counters.bypassed.fetch_add(1, Relaxed);
            self.inflight.insert(key, vec![]);
            return Box::pin(fut::ready(Lookup::Lead));
        }
        let min_created = msg.min_created_ms.unwrap_or(i64::MIN);
        if let Some(entry) = self.fresh_l1(&key).filter(|e| e.created_ms >= min_created) {
            self.counters.hits_l1.fetch_add(1, Relaxed);
            return Box::pin(fut::ready(Lookup::Hit { entry, level: 1 }));
        }
        // Claim the key before the L2 read, so concurrent lookups wait instead of leading.
        self.inflight.insert(key.clone(), vec![]);
        let read = self.read_l2(key.clone(), min_created);
        Box::pin(read.into_actor(self).map(move |found, act, _| match found {
            Level2::Entry(entry) if entry.created_ms >= min_created => {
                let entry = Arc::new(entry);
                act.counters.hits_l2.fetch_add(1, Relaxed);
                act.l1.insert(key.clone(), entry.clone());
                act.finish_inflight(&key, Some(entry.clone()));
                Lookup::Hit { entry, level: 2 }
            }
            other => {
                if matches!(other, Level2::Claimed) {
                    act.claimed.insert(key);
                }
                act.counters.misses.fetch_add(1, Relaxed);
                Lookup::Lead
            }
        }))
    }
}

/// What the L2 read found.
enum Level2 {
    Entry(CacheEntry),
    Miss,
    /// A miss for which this node now holds the cluster's claim (cluster mode).
    Claimed,
}

impl CacheActor {
    /// The L2 read of one key: SQLite, or the cluster's Redis (which also waits for
    /// another node's run of the key). A failed read is a miss: the run goes ahead.
    fn read_l2(
        &self,
        key: String,
        min_created: i64,
    ) -> futures::future::BoxFuture<'static, Level2> {
        if let Some(shared) = self.shared.clone() {
            return Box::pin(async move {
                match shared.lookup(&key, min_created).await {
                    Ok(Shared::Hit(e)) => Level2::Entry(e),
                    Ok(Shared::Lead) => Level2::Claimed,
                    Err(e) => {
                        tracing::warn!(
                            "cache: shared (Redis) lookup failed, treated as a miss: {e}"
                        );
                        Level2::Miss
                    }
                }
            });
        }
        let (db, now) = (self.db.clone(), self.clock.now_ms());
        Box::pin(async move {
            match db
                .read("cache get", move |c| cache_table::get(c, &key, now))
                .await
            {
                Ok(found) => found.map_or(Level2::Miss, Level2::Entry),
                Err(e) => {
                    tracing::warn!("cache: L2 lookup failed, treated as a miss: {e}");
                    Level2::Miss
                }
            }
        })
    }

    /// Stores a led run's entry in the cluster's Redis, or lifts this node's claim.
    fn complete_shared(
        &mut self,
        shared: SharedCache,
        key: &str,
        entry: Option<Arc<CacheEntry>>,
        ctx: &mut Context<Self>,
    ) {
        let claimed = self.claimed.remove(key);
        let key = key.to_string();
        ctx.spawn(
            async move {
                let r = match &entry {
                    Some(e) => shared.put(e, claimed).await,
                    None if claimed => shared.abandon(&key).await,
                    None => Ok(()),
                };
                if let Err(err) = r {
                    tracing::warn!("cache: could not update the shared (Redis) cache: {err}");
                }
            }
            .into_actor(self),
        );
    }
}

/// Reports the end of a led run: the entry to store and share, or None (failed run;
/// waiters then run it themselves).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Complete {
    pub key: String,
    pub entry: Option<CacheEntry>,
}

impl Handler<Complete> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: Complete, ctx: &mut Self::Context) {
        let entry = msg.entry.map(Arc::new);
        if let Some(shared) = self.shared.clone() {
            if entry.is_some() {
                self.counters.inserts.fetch_add(1, Relaxed);
            }
            if let Some(e) = &entry {
                self.l1.insert(msg.key.clone(), e.clone());
            }
            self.complete_shared(shared, &msg.key, entry.clone(), ctx);
        } else if let Some(e) = &entry {
            self.counters.inserts.fetch_add(1, Relaxed);
            self.l1.insert(msg.key.clone(), e.clone());
            let (db, e) = (self.db.clone(), e.clone());
            ctx.spawn(
                async move {
                    let r = db
                        .write("cache put", move |c| cache_table::put(c, &e))
                        .await;
                    if let Err(err) = r {
                        tracing::warn!("cache: could not store an entry in SQLite: {err}");
                    }
                }
                .into_actor(self),
            );
        }
        self.finish_inflight(&msg.key, entry);
    }
}

/// Drops entries from both levels; answers how many L2 rows went.
pub struct Invalidate(pub Selector);

impl Message for Invalidate {
    type Result = u64;
}

impl Handler<Invalidate> for CacheActor {
    type Result = ResponseFuture<u64>;

    fn handle(&mut self, Invalidate(sel): Invalidate, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now_ms();
        let before = self.l1.len();
        match &sel {
            Selector::All => self.l1.clear(),
            Selector::Target(t) => self.l1.retain(|_, v| v.host != *t),
            Selector::Scan(s) => self.l1.retain(|_, v| v.scan_id != *s),
            Selector::Tool(t) => self.l1.retain(|_, v| v.tool != *t),
            Selector::Expired => self.l1.retain(|_, v| v.expires_ms > now),
        }
        if sel == Selector::Expired {
            self.counters
                .expirations
                .fetch_add((before - self.l1.len()) as u64, Relaxed);
        }
        let db = self.db.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let mut from_redis = 0;
            if let Some(shared) = shared {
                match shared.invalidate(&sel).await {
                    Ok(n) => from_redis = n,
                    Err(e) => tracing::warn!("cache: could not delete shared (Redis) entries: {e}"),
                }
            }
            let removed = db
                .write("cache invalidate", move |c| {
                    cache_table::delete(c, &sel, now)
                })
                .await;
            from_redis
                + match removed {
                    Ok(n) => n as u64,
                    Err(e) => {
                        // L1 is already cleared; the L2 rows stay until the next cleanup.
                        tracing::warn!("cache: could not delete entries from SQLite: {e}");
                        0
                    }
                }
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Cleanup;

impl Handler<Cleanup> for CacheActor {
    type Result = ();
    fn handle(&mut self, _: Cleanup, ctx: &mut Self::Context) {
        let fut = self.handle(Invalidate(Selector::Expired), ctx);
        ctx.spawn(fut.into_actor(self).map(|n, _, _| {
            if n > 0 {
                tracing::debug!("cache: removed {n} expired entries from SQLite");
            }
        }));
    }
}

pub struct GetStats;

impl Message for GetStats {
    type Result = CacheStatsReport;
}

impl Handler<GetStats> for CacheActor {
    type Result = ResponseFuture<CacheStatsReport>;

    fn handle(&mut self, _: GetStats, _: &mut Self::Context) -> Self::Result {
        let c = &self.counters;
        let (l1, l2) = (c.hits_l1.load(Relaxed), c.hits_l2.load(Relaxed));
        let hits = l1 + l2 + c.shared.load(Relaxed);
        let misses = c.misses.load(Relaxed) + c.bypassed.load(Relaxed);
        let mut report = CacheStatsReport {
            l1_entries: self.l1.len() as u64,
            l1_bytes: self.l1.weight(),
            l1_capacity_bytes: self.capacity,
            l2_entries: 0,
            l2_bytes: 0,
            hits,
            hits_l1: l1,
            hits_l2: l2,
            hits_shared: c.shared.load(Relaxed),
            misses,
            bypassed: c.bypassed.load(Relaxed),
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            evictions: self.evictions.load(Relaxed),
            expirations: c.expirations.load(Relaxed),
            inserts: c.inserts.load(Relaxed),
            in_flight: self.inflight.len() as u64,
            in_flight_waiters: self.inflight.values().map(|w| w.len() as u64).sum(),
        };
        let db = self.db.clone();
        Box::pin(async move {
            match db.read("cache size", |c| cache_table::size(c)).await {
                Ok((n, b)) => (report.l2_entries, report.l2_bytes) = (n, b),
                Err(e) => tracing::warn!("cache: cannot measure the SQLite level: {e}"),
            }
            report
        })
    }
}

/// Counts a lookup answered by another scan's run (single flight).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SharedHit;

impl Handler<SharedHit> for CacheActor {
    type Result = ();
    fn handle(&mut self, _: SharedHit, _: &mut Self::Context) {
        self.counters.shared.fetch_add(1, Relaxed);
    }
}

/// Sends `Complete { entry: None }` if the leading run is dropped without reporting, so
/// waiters are never left hanging (a cancelled scan drops its runs).
pub struct LeadGuard {
    cache: Addr<CacheActor>,
    key: Option<String>,
}

impl LeadGuard {
    pub fn new(cache: Addr<CacheActor>, key: String) -> Self {
        Self {
            cache,
            key: Some(key),
        }
    }

    pub fn complete(mut self, entry: Option<CacheEntry>) {
        if let Some(key) = self.key.take() {
            self.cache.do_send(Complete { key, entry });
        }
    }
}

impl Drop for LeadGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cache.do_send(Complete { key, entry: None });
        }
    }
}

/// Cluster mode: the cluster's Redis becomes L2 and single flight spans nodes. Claims of
/// runs in progress are renewed every third of their lifetime, so only a dead node's lapse.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseShared(pub SharedCache);

impl Handler<UseShared> for CacheActor {
    type Result = ();
    fn handle(&mut self, UseShared(shared): UseShared, ctx: &mut Self::Context) {
        let every = (shared.claim_duration() / 3).max(Duration::from_millis(100));
        self.shared = Some(shared);
        ctx.run_interval(every, |act, ctx| {
            let (Some(shared), false) = (act.shared.clone(), act.claimed.is_empty()) else {
                return;
            };
            let keys: Vec<String> = act.claimed.iter().cloned().collect();
            ctx.spawn(
                async move {
                    if let Err(e) = shared.renew(&keys).await {
                        tracing::warn!("cache: could not renew shared claims: {e}");
                    }
                }
                .into_actor(act),
            );
        });
    }
}
