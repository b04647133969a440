//! The per-target lease semaphore: at most `limit` holders of `picket:slots:{host}` at once,
//! across every node. One Lua script per operation on a ZSET (member = holder, the run id;
//! score = expiry in ms on the Redis server's clock, never a node's clock, so clock skew
//! between nodes cannot stretch a lease). A holder that dies stops renewing and its slot
//! frees when its lease runs out; a release publishes `picket:slotfreed` so waiters retry
//! at once. Must not decide what runs (the caller does) nor keep any state of its own.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use redis::Script;
use tokio::sync::Notify;

use crate::cluster::conn::Redis;

/// The channel a release publishes on (the payload is the host).
pub const SLOT_FREED: &str = "picket:slotfreed";

/// The ZSET of one host's leases (hash tag: one cluster slot per host).
pub fn slots_key(host: &str) -> String {
    format!("picket:slots:{{{host}}}")
}

// Drops expired leases, then renews the holder's lease if held, else takes a free slot.
// The key itself expires with its last lease, so idle hosts leave nothing behind.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not held) and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return 1
";

// Extends a lease that is still held; answers 0 when it ran out (the slot may be taken).
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not held) or tonumber(held) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return 1
";

const RELEASE: &str = r"
local n = redis.call('ZREM', KEYS[1], ARGV[1])
if n > 0 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n
";

/// The lease semaphore, cheap to clone (scripts are loaded once, then called by hash).
#[derive(Clone)]
pub struct Leases {
    conn: ConnectionManager,
    lease: Duration,
    acquire: Arc<Script>,
    renew: Arc<Script>,
    release: Arc<Script>,
    freed: Arc<Notify>,
}

impl Leases {
    pub fn new(conn: ConnectionManager, lease: Duration) -> Self {
        Self {
            conn,
            lease,
            acquire: Arc::new(Script::new(ACQUIRE)),
            renew: Arc::new(Script::new(RENEW)),
            release: Arc::new(Script::new(RELEASE)),
            freed: Arc::new(Notify::new()),
        }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn lease_ms(&self) -> u64 {
        self.lease.as_millis().max(1) as u64
    }

    /// Takes one of `limit` slots of `host` for `holder` (or renews it if already held).
    pub async fn try_acquire(
        &self,
        host: &str,
        holder: &str,
        limit: u32,
    ) -> redis::RedisResult<bool> {
        let n: i64 = self
            .acquire
            .key(slots_key(host))
            .arg(holder)
            .arg(limit.max(1))
            .arg(self.lease_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(n == 1)
    }

    /// Waits for a slot: woken by a release anywhere (`picket:slotfreed`, once `listen`
    /// runs), and retrying at least every lease/3 for slots freed by expiry, which
    /// publish nothing.
    pub async fn acquire(&self, host: &str, holder: &str, limit: u32) -> redis::RedisResult<()> {
        let every = (self.lease / 3).max(Duration::from_millis(100));
        loop {
            let woken = self.freed.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.try_acquire(host, holder, limit).await? {
                return Ok(());
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Extends `holder`'s lease; false when it had already run out.
    pub async fn renew(&self, host: &str, holder: &str) -> redis::RedisResult<bool> {
        let n: i64 = self
            .renew
            .key(slots_key(host))
            .arg(holder)
            .arg(self.lease_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(n == 1)
    }

    /// Gives the slot back and wakes waiters on every node; false if it was not held.
    pub async fn release(&self, host: &str, holder: &str) -> redis::RedisResult<bool> {
        let n: i64 = self
            .release
            .key(slots_key(host))
            .arg(holder)
            .arg(SLOT_FREED)
            .arg(host)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(n == 1)
    }

    /// `acquire`, retried through Redis errors (a restart delays the run, never skips
    /// the limit). Limit 0: no lease asked.
    pub async fn take(&self, host: &str, holder: &str, limit: u32) {
        if limit == 0 {
            return;
        }
        let mut tries = 0u32;
        while let Err(e) = self.acquire(host, holder, limit).await {
            if tries.is_multiple_of(20) {
                tracing::warn!(
                    host,
                    holder,
                    "cluster: taking a host slot failed ({e}); retrying"
                );
            }
            tries += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Renews `holder`'s lease every lease/3 for as long as it is polled (never returns);
    /// a lease that already ran out is left alone (whoever released it meant it).
    pub async fn keep(&self, host: &str, holder: &str, limit: u32) {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            if limit == 0 {
                continue;
            }
            if let Err(e) = self.renew(host, holder).await {
                tracing::warn!(host, holder, "cluster: renewing a host slot failed ({e})");
            }
        }
    }

    /// `release`, logging a failure (the lease then runs out by itself).
    pub async fn give_back(&self, host: &str, holder: &str, limit: u32) {
        if limit == 0 {
            return;
        }
        if let Err(e) = self.release(host, holder).await {
            tracing::warn!(
                host,
                holder,
                "cluster: releasing a host slot failed ({e}); it frees when its lease runs out"
            );
        }
    }

    /// Live holders of `host`'s slots now (for `picket cluster` and tests).
    pub async fn holders(&self, host: &str) -> redis::RedisResult<Vec<String>> {
        let script = Script::new(
            "local t = redis.call('TIME') \
             local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
             return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')",
        );
        script
            .key(slots_key(host))
            .invoke_async(&mut self.conn.clone())
            .await
    }

    /// Forwards `picket:slotfreed` to local waiters until the process ends; reconnects
    /// after a lost connection (waiters fall back to polling meanwhile).
    pub async fn listen(self, redis: Redis) {
        loop {
            match redis.pubsub().await {
                Ok(mut ps) => {
                    if ps.subscribe(SLOT_FREED).await.is_ok() {
                        let mut msgs = ps.on_message();
                        while msgs.next().await.is_some() {
                            self.freed.notify_waiters();
                        }
                    }
                }
                Err(e) => tracing::warn!("cluster: cannot subscribe to {SLOT_FREED}: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
