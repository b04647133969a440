//! The worker's side of the transport: reads `picket:runs` through the group `workers`,
//! one entry per free slot (prefetch 1, so a dying worker strands at most what it runs),
//! into the local ToolActor (per-tool concurrency stays local, and the actor asks this
//! node's own scope before the tool starts). While a run goes, a heartbeat every lease/3
//! keeps its entry (`XCLAIM … JUSTID`) and reads the scan's cancel flag; the cancel channel
//! cancels it at once. The result goes to `picket:results:{coord}`, then the entry is
//! acknowledged. With a slot free, the reader first takes over entries idle longer than
//! the lease (a dead worker's runs), every lease/2 at most, and after `max_deliveries`
//! dead-letters them with a failed result. Draining
//! stops the reading and hands back the runs still going. Must not store results nor
//! decide scheduling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use futures::StreamExt;
use picket_protocol::RunStatus;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::cluster::conn::{Redis, BLOCK_MS};
use crate::cluster::lease::Leases;
use crate::cluster::remote::{until_ok, RETRY};
use crate::cluster::runs::{self, RunDescriptor, RunResult, RUNS, WORKERS};
use crate::cluster::ClusterConfig;
use crate::run::spec::ToolSpec;
use crate::run::tool_actor::{ended, RunTool, ToolActor, ToolJob, ToolResult};
use crate::run::toolbox::Toolbox;

/// A run this worker holds: its entry, what it is, and how to stop it.
struct Held {
    desc: RunDescriptor,
    cancel: CancellationToken,
    /// Set when draining handed the run back: its result is not reported.
    handed_back: bool,
}

/// This node's worker (cheap to clone).
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    node: String,
    /// Host slots: held (as the run id) while the run goes, renewed by the heartbeat,
    /// released once the result is written.
    leases: Leases,
    toolbox: Arc<Toolbox>,
    lease: Duration,
    max_deliveries: u32,
    slots: Arc<Semaphore>,
    /// By stream entry id.
    held: Mutex<HashMap<String, Held>>,
    stop: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Worker {
    /// Starts reading runs, reclaiming idle ones and listening for cancels.
    pub fn start(
        redis: Redis,
        config: &ClusterConfig,
        toolbox: Arc<Toolbox>,
        leases: Leases,
    ) -> Self {
        let me = Self {
            inner: Arc::new(Inner {
                redis,
                node: config.node_id.clone(),
                leases,
                toolbox,
                lease: Duration::from_secs(config.lease_secs),
                max_deliveries: config.max_deliveries,
                slots: Arc::new(Semaphore::new(config.worker_slots.max(1))),
                held: Mutex::default(),
                stop: CancellationToken::new(),
            }),
        };
        let (reader, cancels) = (me.clone(), me.clone());
        actix::spawn(async move { reader.read_loop().await });
        actix::spawn(async move { cancels.cancel_loop().await });
        me
    }

    /// Stops taking runs, lets those going finish within `grace`, then hands back the rest
    /// (enqueued again at once, so another worker need not wait for the lease).
    pub async fn drain(&self, grace: Duration) {
        self.inner.stop.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while !lock(&self.inner.held).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let back: Vec<(String, RunDescriptor)> = lock(&self.inner.held)
            .iter_mut()
            .map(|(id, h)| {
                h.handed_back = true;
                (id.clone(), h.desc.clone())
            })
            .collect();
        let mut conn = self.inner.redis.manager.clone();
        for (id, desc) in back {
            let handed: redis::RedisResult<()> = redis::pipe()
                .atomic()
                .cmd("XADD")
                .arg(RUNS)
                .arg("*")
                .arg("run")
                .arg(serde_json::to_vec(&desc).unwrap_or_default())
                .ignore()
                .cmd("XACK")
                .arg(RUNS)
                .arg(WORKERS)
                .arg(&id)
                .ignore()
                .query_async(&mut conn)
                .await;
            match handed {
                Ok(()) => {
                    tracing::info!(run = %desc.run_id, "cluster: handed back a run on shutdown")
                }
                Err(e) => {
                    tracing::warn!(run = %desc.run_id, "cluster: could not hand back ({e}); it is reclaimed after the lease")
                }
            }
        }
    }

    async fn read_loop(&self) {
        while !self.inner.stop.is_cancelled() {
            if let Err(e) = self.read_once().await {
                tracing::warn!("cluster: reading runs failed ({e}); reconnecting");
                tokio::time::sleep(RETRY).await;
            }
        }
    }

    async fn read_once(&self) -> anyhow::Result<()> {
        let mut conn = self.inner.redis.blocking().await?;
        runs::ensure_group(&mut conn, RUNS, WORKERS).await?;
        let every = self.inner.lease / 2;
        let mut last_reclaim = tokio::time::Instant::now();
        loop {
            let permit = tokio::select! {
                p = self.inner.slots.clone().acquire_owned() => p?,
                _ = self.inner.stop.cancelled() => return Ok(()),
            };
            // Reclaiming needs a free slot like reading does: the reader does both, so a
            // worker never holds a run it has no slot for.
            if last_reclaim.elapsed() >= every {
                last_reclaim = tokio::time::Instant::now();
                if let Some(entry) = self.reclaim_one(&mut conn).await? {
                    let me = self.clone();
                    actix::spawn(async move { me.handle(entry, permit).await });
                    continue;
                }
            }
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(WORKERS)
                .arg(&self.inner.node)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(RUNS)
                .arg(">");
            let read = cmd.query_async::<StreamReadReply>(&mut conn);
            // A stopping worker stops reading now (an entry delivered as the read is
            // dropped stays pending and is reclaimed after the lease).
            let reply = tokio::select! {
                r = read => r?,
                _ = self.inner.stop.cancelled() => return Ok(()),
            };
            if let Some(entry) = reply.keys.into_iter().flat_map(|k| k.ids).next() {
                let me = self.clone();
                actix::spawn(async move { me.handle(entry, permit).await });
            }
        }
    }

    /// An entry idle longer than the lease belongs to a worker that died (or lost Redis for
    /// longer than a lease): taken over with the slot in hand, or dead-lettered after
    /// `max_deliveries` (then the next one is looked at).
    async fn reclaim_one(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<Option<StreamId>> {
        loop {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(RUNS)
                .arg(WORKERS)
                .arg(&self.inner.node)
                .arg(self.inner.lease.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(1)
                .query_async(conn)
                .await?;
            let Some(entry) = reply.claimed.into_iter().next() else {
                return Ok(None);
            };
            let delivered = times_delivered(conn, &entry.id).await?;
            if delivered <= self.inner.max_deliveries as usize {
                tracing::info!(entry = %entry.id, delivered, "cluster: reclaimed a run whose worker stopped answering");
                return Ok(Some(entry));
            }
            let me = self.clone();
            actix::spawn(async move { me.dead_letter(entry, delivered).await });
        }
    }

    /// Runs one entry to its end and reports it.
    async fn handle(&self, entry: StreamId, _permit: OwnedSemaphorePermit) {
        let desc = match runs::decode_run(&entry) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cluster: dropped a run: {e}");
                return self.ack(&entry.id).await;
            }
        };
        let cancel = CancellationToken::new();
        lock(&self.inner.held).insert(
            entry.id.clone(),
            Held {
                desc: desc.clone(),
                cancel: cancel.clone(),
                handed_back: false,
            },
        );
        // The coordinator took the slot for this run id: this renews it. A reclaimed run
        // whose lease ran out takes it again (or waits for one) before it starts.
        let host = desc.target.host.clone();
        self.inner
            .leases
            .take(&host, &desc.run_id, desc.slot_limit)
            .await;
        let result = self.execute(&entry.id, &desc, cancel).await;
        let held = lock(&self.inner.held).remove(&entry.id);
        if held.is_some_and(|h| h.handed_back) {
            return;
        }
        self.report(&entry.id, &desc, result).await;
    }

    async fn execute(
        &self,
        id: &str,
        desc: &RunDescriptor,
        cancel: CancellationToken,
    ) -> ToolResult {
        let tools = &self.inner.toolbox;
        let (spec, actor) = match (tools.spec(&desc.tool), tools.actor(&desc.tool)) {
            (Some(s), Some(a)) => (s, a),
            _ => {
                return failed(
                    desc,
                    format!(
                    "{} is not configured on worker {}; configure the same [tools] on every node",
                    desc.tool, self.inner.node
                ),
                )
            }
        };
        let job = ToolJob {
            scan: desc.scan,
            target: desc.target.clone(),
            cancel: cancel.clone(),
            discovered: None,
        };
        if self.cancelled(desc).await {
            return ended(&spec, &job, RunStatus::Cancelled, "cancelled".into());
        }
        let beat = self.heartbeat(id.to_string(), desc.clone(), cancel.clone());
        tokio::select! {
            r = run_on(&actor, &spec, job) => r,
            _ = beat => unreachable_beat(&spec, desc),
        }
    }

    /// Keeps the entry this worker's while the run goes, and cancels it when its scan's
    /// flag is set (a cancel message missed while reconnecting). Never returns.
    async fn heartbeat(&self, id: String, desc: RunDescriptor, cancel: CancellationToken) {
        let every = self.inner.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let mut conn = self.inner.redis.manager.clone();
            let kept: redis::RedisResult<redis::Value> = redis::cmd("XCLAIM")
                .arg(RUNS)
                .arg(WORKERS)
                .arg(&self.inner.node)
                .arg(0)
                .arg(&id)
                .arg("JUSTID")
                .query_async(&mut conn)
                .await;
            if let Err(e) = kept {
                tracing::warn!(run = %desc.run_id, "cluster: heartbeat failed ({e})");
            }
            if self.cancelled(&desc).await {
                cancel.cancel();
            }
            if desc.slot_limit > 0 {
                let host = &desc.target.host;
                let renewed = self.inner.leases.renew(host, &desc.run_id).await;
                if let Err(e) = renewed {
                    tracing::warn!(run = %desc.run_id, "cluster: renewing the host slot failed ({e})");
                }
            }
        }
    }

    async fn cancelled(&self, desc: &RunDescriptor) -> bool {
        let mut conn = self.inner.redis.manager.clone();
        let key = runs::cancel_key(&desc.coord, desc.scan);
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<bool>(&mut conn)
            .await
            .unwrap_or(false)
    }

    /// The result first, then the acknowledgement: a worker dying between the two makes
    /// the run run again, and the coordinator drops the second result.
    async fn report(&self, id: &str, desc: &RunDescriptor, result: ToolResult) {
        let msg = RunResult {
            run_id: desc.run_id.clone(),
            scan: desc.scan,
            worker: self.inner.node.clone(),
            run: result.run,
            parsed: result.parsed,
            refused: result.refused,
        };
        let conn = self.inner.redis.manager.clone();
        until_ok("send a result", || {
            let mut c = conn.clone();
            let (msg, out) = (&msg, result.output.clone());
            async move { runs::send_result(&mut c, &desc.coord, msg, &out).await }
        })
        .await;
        let host = &desc.target.host;
        self.inner
            .leases
            .give_back(host, &desc.run_id, desc.slot_limit)
            .await;
        self.ack(id).await;
    }

    async fn ack(&self, id: &str) {
        let conn = self.inner.redis.manager.clone();
        until_ok("acknowledge a run", || {
            let mut c = conn.clone();
            async move { runs::ack(&mut c, RUNS, WORKERS, id).await }
        })
        .await;
    }

    /// Delivered too often without a result: kept on `picket:dead` and reported failed.
    async fn dead_letter(&self, entry: StreamId, delivered: usize) {
        let Ok(desc) = runs::decode_run(&entry) else {
            return self.ack(&entry.id).await;
        };
        let reason = format!(
            "delivered {delivered} times without a result (its workers died or lost redis); \
             given up after [cluster] max_deliveries = {} and kept on {}",
            self.inner.max_deliveries,
            runs::DEAD
        );
        tracing::warn!(run = %desc.run_id, "cluster: {reason}");
        let conn = self.inner.redis.manager.clone();
        until_ok("dead-letter a run", || {
            let mut c = conn.clone();
            let (d, r) = (
                serde_json::to_vec(&desc).unwrap_or_default(),
                reason.clone(),
            );
            async move {
                redis::cmd("XADD")
                    .arg(runs::DEAD)
                    .arg("*")
                    .arg("run")
                    .arg(d)
                    .arg("reason")
                    .arg(r)
                    .query_async::<String>(&mut c)
                    .await
            }
        })
        .await;
        self.report(&entry.id, &desc, failed(&desc, reason)).await;
    }

    /// Cancels this worker's runs of a scan when its coordinator publishes the cancel.
    async fn cancel_loop(&self) {
        loop {
            if let Err(e) = self.listen_cancels().await {
                tracing::warn!("cluster: cancel channel failed ({e}); reconnecting");
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    async fn listen_cancels(&self) -> anyhow::Result<()> {
        let mut pubsub = self.inner.redis.pubsub().await?;
        pubsub.subscribe(runs::CANCEL_CHANNEL).await?;
        let mut messages = pubsub.on_message();
        while let Some(m) = messages.next().await {
            let payload: String = m.get_payload()?;
            let Some((coord, scan)) = payload.rsplit_once(':') else {
                continue;
            };
            for h in lock(&self.inner.held).values() {
                if h.desc.coord == coord && h.desc.scan.to_string() == scan {
                    h.cancel.cancel();
                }
            }
        }
        Ok(())
    }
}

async fn run_on(actor: &Addr<ToolActor>, spec: &ToolSpec, job: ToolJob) -> ToolResult {
    let fallback = job.clone();
    match actor.send(RunTool(job)).await {
        Ok(r) => r,
        Err(e) => ended(
            spec,
            &fallback,
            RunStatus::Failed,
            format!(
                "the tool actor is unavailable ({e}); picketd is stopping or must be restarted"
            ),
        ),
    }
}

fn unreachable_beat(spec: &ToolSpec, desc: &RunDescriptor) -> ToolResult {
    failed(desc, format!("{}: heartbeat ended", spec.name))
}

/// A failed run built from its descriptor alone (no spec needed).
fn failed(desc: &RunDescriptor, why: String) -> ToolResult {
    let mut run = picket_protocol::ToolRun::new(&desc.tool, &desc.target.label, RunStatus::Failed);
    run.error = Some(why);
    run.finished_at = Some(picket_protocol::Timestamp(crate::storage::queries::now_ms()));
    ToolResult {
        run,
        parsed: Default::default(),
        output: Arc::from(&[][..]),
        refused: false,
    }
}

async fn times_delivered(
    conn: &mut redis::aio::MultiplexedConnection,
    id: &str,
) -> redis::RedisResult<usize> {
    let reply: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(RUNS)
        .arg(WORKERS)
        .arg(id)
        .arg(id)
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(reply.ids.first().map_or(1, |p| p.times_delivered))
}
