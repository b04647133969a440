//! The coordinator's side of the transport: a run the cache does not answer is enqueued on
//! `picket:runs` and its caller waits; the results consumer reads `picket:results:{coord}`
//! (its pending entries first, so a restarted coordinator gets what arrived while it was
//! down) and completes the waiting run. A result is acknowledged only after the scan stored
//! it (`stored`), and a result delivered twice is acknowledged and dropped. Cancelling a run
//! sets the scan's cancel flag and publishes it. Must not store results (the supervisor
//! does) nor run tools.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picket_protocol::{RunStatus, ScanId};
use redis::streams::{StreamId, StreamReadReply};
use tokio::sync::oneshot;

use crate::cluster::conn::{Redis, BLOCK_MS};
use crate::cluster::lease::Leases;
use crate::cluster::runs::{self, RunDescriptor};
use crate::run::spec::ToolSpec;
use crate::run::tool_actor::{ended, ToolJob, ToolResult};

/// How long a command that failed (Redis down, restarting) waits before it is tried again.
pub const RETRY: Duration = Duration::from_millis(500);

/// Runs `f` until Redis answers, logging the first failure: the cluster's writes must not
/// be lost to a Redis restart, only delayed.
pub async fn until_ok<T, Fut>(what: &str, mut f: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = redis::RedisResult<T>>,
{
    let mut tries = 0u32;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                if tries.is_multiple_of(20) {
                    tracing::warn!("cluster: {what} failed ({e}); retrying until redis answers");
                }
                tries += 1;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// The coordinator's handle on the cluster's runs (cheap to clone).
#[derive(Clone)]
pub struct Remote {
    inner: Arc<Inner>,
}

type RunKey = (ScanId, String, String);

struct Inner {
    redis: Redis,
    node: String,
    /// Host slots: taken before a run is enqueued, renewed while it waits, released
    /// when its result came (the worker releases first, after writing the result).
    leases: Leases,
    per_target: u32,
    results: String,
    /// Runs enqueued and waiting for their result, by run id.
    waiting: Mutex<HashMap<String, oneshot::Sender<ToolResult>>>,
    /// Results that came with no run waiting (read from the pending list after a restart):
    /// the resumed scan takes them instead of enqueueing the run again.
    parked: Mutex<Aging<ToolResult>>,
    /// Runs already answered: another result for one of them (a redelivered run) is a
    /// duplicate.
    answered: Mutex<Aging<()>>,
    /// Result entries handed to a scan, acknowledged once the scan stored them.
    unacked: Mutex<HashMap<RunKey, String>>,
    /// True once the consumer has read what was waiting at start: until then a run's
    /// result may still be on its way in, and enqueueing it again would run it twice.
    caught_up: tokio::sync::watch::Sender<bool>,
}

/// A map whose entries are forgotten an hour after they were put in (checked as it grows),
/// so a coordinator running for months does not keep every run id it ever saw. A result
/// later than that is a duplicate of a run long stored, or belongs to a scan long ended.
pub struct Aging<T> {
    map: HashMap<String, (std::time::Instant, T)>,
}

impl<T> Default for Aging<T> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
        }
    }
}

const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl<T> Aging<T> {
    pub fn insert(&mut self, key: String, value: T) {
        if self.map.len() >= 4096 && self.map.len().is_power_of_two() {
            self.map.retain(|_, (at, _)| at.elapsed() < FORGET_AFTER);
        }
        self.map.insert(key, (std::time::Instant::now(), value));
    }

    pub fn remove(&mut self, key: &str) -> Option<T> {
        self.map.remove(key).map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Remote {
    /// Starts the results consumer of this coordinator.
    pub fn start(redis: Redis, node: &str, leases: Leases, per_target: u32) -> Self {
        let me = Self {
            inner: Arc::new(Inner {
                redis,
                node: node.into(),
                leases,
                per_target,
                results: runs::results_key(node),
                waiting: Mutex::default(),
                parked: Mutex::default(),
                answered: Mutex::default(),
                unacked: Mutex::default(),
                caught_up: tokio::sync::watch::Sender::new(false),
            }),
        };
        let consumer = me.clone();
        actix::spawn(async move { consumer.consume().await });
        me
    }

    /// One run through the cluster: enqueued, then waited for until a worker's result
    /// comes back or the scan cancels it (the worker is told; the run ends cancelled).
    pub async fn run(&self, spec: &ToolSpec, job: ToolJob) -> ToolResult {
        let mut desc = RunDescriptor::new(&self.inner.node, job.scan, &spec.name, &job.target);
        desc.slot_limit = self.inner.per_target;
        let mut caught_up = self.inner.caught_up.subscribe();
        let _ = caught_up.wait_for(|c| *c).await;
        if let Some(done) = lock(&self.inner.parked).remove(&desc.run_id) {
            lock(&self.inner.answered).insert(desc.run_id.clone(), ());
            return done;
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiting).insert(desc.run_id.clone(), tx);
        let mut conn = self.inner.redis.manager.clone();
        let enqueue = until_ok("enqueue a run", || {
            let mut c = conn.clone();
            let d = desc.clone();
            async move { runs::enqueue(&mut c, &d).await }
        });
        let (leases, host, limit) = (&self.inner.leases, &job.target.host, desc.slot_limit);
        let waited = async {
            // A full host waits here, on the coordinator: the stream holds runnable work only.
            leases.take(host, &desc.run_id, limit).await;
            enqueue.await;
            tokio::select! {
                r = rx => r,
                _ = leases.keep(host, &desc.run_id, limit) => unreachable!("keep never returns"),
            }
        };
        let result = tokio::select! {
            got = waited => match got {
                Ok(result) => result,
                Err(_) => ended(spec, &job, RunStatus::Failed, "the cluster's results consumer stopped; restart picketd".into()),
            },
            _ = job.cancel.cancelled() => {
                lock(&self.inner.waiting).remove(&desc.run_id);
                lock(&self.inner.answered).insert(desc.run_id.clone(), ());
                publish_cancel(&mut conn, &self.inner.node, job.scan).await;
                ended(spec, &job, RunStatus::Cancelled, "cancelled".into())
            }
        };
        leases.give_back(host, &desc.run_id, limit).await;
        result
    }

    /// The scan committed this run to SQLite: its result entry can go.
    pub fn stored(&self, scan: ScanId, tool: &str, target: &str) {
        let key = (scan, tool.to_string(), target.to_string());
        let Some(id) = lock(&self.inner.unacked).remove(&key) else {
            return;
        };
        let me = self.clone();
        actix::spawn(async move { me.ack(&id).await });
    }

    async fn ack(&self, id: &str) {
        let conn = self.inner.redis.manager.clone();
        let key = self.inner.results.clone();
        until_ok("acknowledge a result", || {
            let (mut c, k) = (conn.clone(), key.clone());
            async move { runs::ack(&mut c, &k, runs::COORD_GROUP, id).await }
        })
        .await;
    }

    /// Reads this coordinator's results forever, reconnecting after errors.
    async fn consume(&self) {
        loop {
            if let Err(e) = self.consume_once().await {
                tracing::warn!("cluster: reading results failed ({e}); reconnecting");
                tokio::time::sleep(RETRY).await;
            }
        }
    }

    async fn consume_once(&self) -> anyhow::Result<()> {
        let mut conn = self.inner.redis.blocking().await?;
        runs::ensure_group(&mut conn, &self.inner.results, runs::COORD_GROUP).await?;
        // The pending list first (delivered before a restart or reconnect, never
        // acknowledged), then new entries.
        let mut cursor = "0".to_string();
        loop {
            let reply: StreamReadReply = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(runs::COORD_GROUP)
                .arg(&self.inner.node)
                .arg("COUNT")
                .arg(32)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&self.inner.results)
                .arg(&cursor)
                .query_async(&mut conn)
                .await?;
            let entries: Vec<StreamId> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
            let read_new = cursor == ">";
            if !read_new {
                match entries.last() {
                    Some(last) => cursor = last.id.clone(),
                    None => cursor = ">".into(),
                }
            }
            let read = entries.len();
            for e in entries {
                self.deliver(e).await;
            }
            if read_new && read < 32 {
                self.inner.caught_up.send_replace(true);
            }
        }
    }

    async fn deliver(&self, e: StreamId) {
        let (msg, output) = match runs::decode_result(&e) {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!("cluster: dropped a result: {err}");
                return self.ack(&e.id).await;
            }
        };
        let result = ToolResult {
            run: msg.run,
            parsed: msg.parsed,
            output,
            refused: msg.refused,
        };
        let key = (msg.scan, result.run.tool.clone(), result.run.target.clone());
        if lock(&self.inner.unacked).get(&key) == Some(&e.id) {
            // Read again from the pending list after a reconnect: its scan has it already.
            return;
        }
        let waiter = lock(&self.inner.waiting).remove(&msg.run_id);
        if let Some(tx) = waiter {
            lock(&self.inner.answered).insert(msg.run_id.clone(), ());
            lock(&self.inner.unacked).insert(key.clone(), e.id.clone());
            if tx.send(result).is_err() {
                // The scan stopped waiting (it ended): nothing will store it.
                lock(&self.inner.unacked).remove(&key);
                self.ack(&e.id).await;
            }
            return;
        }
        let duplicate = lock(&self.inner.answered).contains(&msg.run_id);
        if !duplicate {
            // No scan asks for it yet (this coordinator restarted): kept for the resumed
            // scan. Acknowledged now: if it is lost before then, the run runs again.
            tracing::info!(run = %msg.run_id, worker = %msg.worker, "cluster: result kept for its resumed scan");
            lock(&self.inner.parked).insert(msg.run_id, result);
        }
        self.ack(&e.id).await;
    }
}

/// Sets the scan's cancel flag (for workers that pick its runs up later or missed the
/// message) and tells the workers now.
async fn publish_cancel(conn: &mut redis::aio::ConnectionManager, node: &str, scan: ScanId) {
    let flag = runs::cancel_key(node, scan);
    let message = format!("{node}:{scan}");
    let set: redis::RedisResult<()> = redis::pipe()
        .cmd("SET")
        .arg(&flag)
        .arg(1)
        .arg("EX")
        .arg(86_400)
        .ignore()
        .cmd("PUBLISH")
        .arg(runs::CANCEL_CHANNEL)
        .arg(&message)
        .ignore()
        .query_async(conn)
        .await;
    if let Err(e) = set {
        tracing::warn!(
            scan,
            "cluster: could not tell workers of a cancel ({e}); their runs end at their timeout"
        );
    }
}
