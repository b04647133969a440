//! ToolActor: one per tool kind. Owns that tool's queue and running count, so its
//! concurrency limit is carried by the actor's structure (STACK-NOTES: an async handler
//! alone would drain the mailbox at once). A run also needs a slot on its target host
//! (HostLimits) before it starts.
//!
//! A run: ask the scope gate (the scope in force may have narrowed while the run waited),
//! expand argv, start the process (run/process.rs; a discovery run's stdout is also read host
//! by host as it comes, run/discovery_stream.rs), retry transient failures (timeouts
//! and failing exit codes) with exponential backoff, then parse the output. Runs are
//! spawned in the actor's context, so stopping the actor drops them and ends their
//! process trees. Must not write to the database (the supervisor persists results).
//!
//! Mailbox: 4096, and never the limit: `RunTool` is queued in the actor's own `queue` at
//! once, and a caller's `send().await` waits for its run's result. Nothing blocks it: runs
//! and each queued job's cancel watcher run beside it (`ctx.spawn`) and report back through
//! the actor's context; `SlotFreed` from HostLimits wakes the queue.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use picket_protocol::{RunStatus, ScanEvent, ScanId, Timestamp, ToolRun};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::parsers::ParsedOutput;
use crate::run::discovery_stream::{self, ServicesDiscovered};
use crate::run::host_limits::{HostLimits, SlotFreed};
use crate::run::process::{self, ProcessEnd};
use crate::run::scope_gate::{Refused, ScopeGate};
use crate::run::spec::{RunTarget, ToolSpec};
use crate::scan::board::ScanBoard;

/// One run asked of a tool.
#[derive(Clone)]
pub struct ToolJob {
    pub scan: ScanId,
    pub target: RunTarget,
    pub cancel: CancellationToken,
    /// Told each host's services as a discovery tool reports them, before the run ends
    /// (run/discovery_stream.rs); None for follow-ups.
    pub discovered: Option<Recipient<ServicesDiscovered>>,
}

#[derive(Debug, Clone)]
pub struct ToolResult {
    pub run: ToolRun,
    pub parsed: ParsedOutput,
    /// Raw output as parsed (for the cache); empty unless the run succeeded.
    pub output: Arc<[u8]>,
    /// Skipped because the scope in force refused it when it was due to start.
    pub refused: bool,
}

pub struct RunTool(pub ToolJob);

impl Message for RunTool {
    type Result = ToolResult;
}

/// Replaces the spec (and limit) after a config reload; queued runs keep their place.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateSpec(pub Arc<ToolSpec>);

struct Queued {
    job: ToolJob,
    reply: oneshot::Sender<ToolResult>,
    /// Cancelled when the job leaves the queue, ending its cancel watcher.
    dequeued: CancellationToken,
}

pub struct ToolActor {
    spec: Arc<ToolSpec>,
    hosts: Arc<HostLimits>,
    scope: Arc<ScopeGate>,
    board: Arc<ScanBoard>,
    queue: VecDeque<Queued>,
    running: usize,
}

impl ToolActor {
    pub fn new(
        spec: Arc<ToolSpec>,
        hosts: Arc<HostLimits>,
        scope: Arc<ScopeGate>,
        board: Arc<ScanBoard>,
    ) -> Self {
        Self {
            spec,
            hosts,
            scope,
            board,
            queue: VecDeque::new(),
            running: 0,
        }
    }

    fn limit(&self) -> usize {
        self.spec.config.concurrency.max(1) as usize
    }

    /// Starts what the limits allow: first drops cancelled jobs, then starts, in queue
    /// order, each job whose host has a free slot.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let mut i = 0;
        while i < self.queue.len() {
            let q = &self.queue[i];
            if q.job.cancel.is_cancelled() || q.reply.is_closed() {
                if let Some(q) = self.queue.remove(i) {
                    q.dequeued.cancel();
                    let _ = q.reply.send(ended(
                        &self.spec,
                        &q.job,
                        RunStatus::Cancelled,
                        "cancelled before it started".into(),
                    ));
                }
                continue;
            }
            if self.running < self.limit() && self.hosts.try_acquire(&q.job.target.host) {
                if let Some(q) = self.queue.remove(i) {
                    self.start(q, ctx);
                }
                continue;
            }
            i += 1;
        }
    }

    fn start(&mut self, q: Queued, ctx: &mut Context<Self>) {
        q.dequeued.cancel();
        self.running += 1;
        let spec = self.spec.clone();
        let (board, scope) = (self.board.clone(), self.scope.clone());
        let host = q.job.target.host.clone();
        let fut = async move {
            let result = execute(&spec, &q.job, &board, &scope).await;
            let _ = q.reply.send(result);
        };
        ctx.spawn(fut.into_actor(self).map(move |_, act, ctx| {
            act.running -= 1;
            act.hosts.release(&host);
            act.pump(ctx);
        }));
    }
}

impl Actor for ToolActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.hosts.subscribe(ctx.address().recipient());
    }
}

impl Handler<RunTool> for ToolActor {
    type Result = ResponseFuture<ToolResult>;

    fn handle(&mut self, RunTool(job): RunTool, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let dequeued = CancellationToken::new();
        // Wake the queue when this job is cancelled while waiting, so it answers at once.
        let (cancel, gone) = (job.cancel.clone(), dequeued.clone());
        ctx.spawn(
            async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = gone.cancelled() => {}
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| act.pump(ctx)),
        );
        let fallback = ended(
            &self.spec,
            &job,
            RunStatus::Cancelled,
            "the tool actor stopped".into(),
        );
        self.queue.push_back(Queued {
            job,
            reply: tx,
            dequeued,
        });
        self.pump(ctx);
        Box::pin(async move { rx.await.unwrap_or(fallback) })
    }
}

impl Handler<SlotFreed> for ToolActor {
    type Result = ();
    fn handle(&mut self, _: SlotFreed, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Handler<UpdateSpec> for ToolActor {
    type Result = ();
    fn handle(&mut self, UpdateSpec(spec): UpdateSpec, ctx: &mut Self::Context) {
        self.spec = spec;
        self.pump(ctx);
    }
}

/// A run that ends without its tool running (skipped, cancelled, failed before a start).
pub fn ended(spec: &ToolSpec, job: &ToolJob, status: RunStatus, error: String) -> ToolResult {
    ToolResult {
        run: ToolRun {
            tool: spec.name.clone(),
            target: job.target.label.clone(),
            status,
            exit_code: None,
            duration_ms: None,
            cache_hit: false,
            attempts: 0,
            tool_version: spec.version.clone(),
            started_at: None,
            finished_at: Some(Timestamp(crate::storage::queries::now_ms())),
            truncated: false,
            // The placeholder of a run not yet tried has no error: null, not "".
            error: (!error.is_empty()).then_some(error),
            warnings: Vec::new(),
            cached_at: None,
            id: 0,
            output_removed_at: None,
        },
        parsed: ParsedOutput::default(),
        output: Arc::from(&[][..]),
        refused: false,
    }
}

/// A run the scope in force refused before it started: skipped, with the rule.
pub fn refused(spec: &ToolSpec, job: &ToolJob, why: &Refused) -> ToolResult {
    let mut result = ended(spec, job, RunStatus::Skipped, why.to_string());
    result.refused = true;
    result
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(10))
}

/// Runs the tool for one job, with retries, and parses its output. Each start, retries
/// included, is asked of the scope gate first.
async fn execute(
    spec: &Arc<ToolSpec>,
    job: &ToolJob,
    board: &ScanBoard,
    scope: &ScopeGate,
) -> ToolResult {
    if let Err(why) = scope.admit(&job.target).await {
        return refused(spec, job, &why);
    }
    let Some(program) = spec.path.clone() else {
        return ended(
            spec,
            job,
            RunStatus::Skipped,
            format!(
                "{} is not installed (program '{}' not found)",
                spec.name, spec.config.program
            ),
        );
    };
    board.publish(ScanEvent::ToolStarted {
        scan: job.scan,
        tool: spec.name.clone(),
        target: job.target.label.clone(),
    });
    let mut result = ended(spec, job, RunStatus::Failed, String::new());
    let mut first_start = None;
    let max_attempts = spec.config.retries + 1;
    for attempt in 1..=max_attempts {
        // A retry is a new start: a reload during the backoff applies to it.
        if attempt > 1 {
            if let Err(why) = scope.admit(&job.target).await {
                let error = result.run.error.take().unwrap_or_default();
                result.run.error = Some(format!("{error}; not retried: {why}"));
                break;
            }
        }
        match run_attempt(spec, job, &program, attempt, &mut first_start, &mut result).await {
            Attempt::Final => return result,
            Attempt::Unstarted(why) => return ended(spec, job, RunStatus::Failed, why),
            Attempt::Retryable if attempt == max_attempts => break,
            Attempt::Retryable => {}
        }
        tracing::info!(tool = %spec.name, target = %job.target.label, attempt, "retrying after: {}", result.run.error.as_deref().unwrap_or(""));
        tokio::select! {
            _ = tokio::time::sleep(backoff(attempt - 1)) => {}
            _ = job.cancel.cancelled() => {
                result.run.status = RunStatus::Cancelled;
                result.run.error = Some("cancelled".into());
                break;
            }
        }
    }
    result
}

/// How one attempt left the run.
enum Attempt {
    /// The result stands (done, cancelled, or failed in a way a retry can't fix).
    Final,
    /// Failed in a way that may pass on another try (a timeout, a failing exit code).
    Retryable,
    /// The process could not even be started, for this reason (not retried).
    Unstarted(String),
}

/// One start of the process; records its outcome in `result`.
async fn run_attempt(
    spec: &Arc<ToolSpec>,
    job: &ToolJob,
    program: &std::path::Path,
    attempt: u32,
    first_start: &mut Option<i64>,
    result: &mut ToolResult,
) -> Attempt {
    // A fresh directory per attempt: testssl.sh refuses (and corrupts) an existing file.
    let scratch = match spec.wants_file_output().then(tempfile::tempdir).transpose() {
        Ok(d) => d,
        Err(e) => return Attempt::Unstarted(format!("cannot create a scratch directory: {e}")),
    };
    let outfile = scratch.as_ref().map(|d| d.path().join("output"));
    let argv = match spec.argv(&job.target, outfile.as_deref()) {
        Ok(a) => a,
        Err(e) => return Attempt::Unstarted(e.to_string()),
    };
    let timeout = spec.timeout();
    let tap = job
        .discovered
        .clone()
        .filter(|_| discovery_stream::streams(spec))
        .map(|to| discovery_stream::spawn(spec.clone(), job.target.host.clone(), to));
    let outcome = process::run(
        program,
        &argv,
        timeout,
        spec.config.output_cap_bytes,
        &job.cancel,
        tap,
    )
    .await;
    let started = *first_start.get_or_insert(outcome.started_ms);
    let now = crate::storage::queries::now_ms();
    let run = &mut result.run;
    run.attempts = attempt;
    run.started_at = Some(Timestamp(started));
    run.finished_at = Some(Timestamp(now));
    run.duration_ms = Some((now - started).max(0) as u64);
    run.truncated = outcome.truncated;
    let (status, error, attempt) = match outcome.end {
        ProcessEnd::Cancelled => (RunStatus::Cancelled, "cancelled".into(), Attempt::Final),
        ProcessEnd::SpawnFailed(e) => (RunStatus::Failed, e, Attempt::Final),
        ProcessEnd::TimedOut => (
            RunStatus::TimedOut,
            format!(
                "timed out after {} s (tools.{}.timeout_secs); its whole process tree was killed",
                spec.config.timeout_secs, spec.name
            ),
            Attempt::Retryable,
        ),
        ProcessEnd::Exited(code) if spec.exit_ok(code) => {
            run.exit_code = code;
            let output = match outfile {
                Some(path) => read_output_file(spec, &path, &outcome.stderr, result).await,
                None => Some(outcome.stdout),
            };
            if let Some(output) = output {
                parse_into(spec, job, output.into(), result).await;
            }
            return Attempt::Final;
        }
        ProcessEnd::Exited(code) => {
            run.exit_code = code;
            (
                RunStatus::Failed,
                exit_error(code, &outcome.stderr),
                Attempt::Retryable,
            )
        }
    };
    run.status = status;
    run.error = Some(error);
    attempt
}

/// "exited with N: <the end of stderr>".
fn exit_error(code: Option<i32>, stderr: &[u8]) -> String {
    let tail = process::stderr_tail(stderr);
    format!(
        "exited with {}{}",
        code.map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into()),
        if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        }
    )
}

/// At most `cap + 1` bytes of `path`: the extra byte tells a file over the cap from one
/// exactly at it, and a tool that writes gigabytes never makes the daemon hold them.
async fn read_capped(path: &std::path::Path, cap: usize) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(cap as u64 + 1).read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// The output file a tool wrote (cut at the cap); None, with the run failed, if it wrote none.
async fn read_output_file(
    spec: &ToolSpec,
    path: &std::path::Path,
    stderr: &[u8],
    result: &mut ToolResult,
) -> Option<Vec<u8>> {
    let run = &mut result.run;
    match read_capped(path, spec.config.output_cap_bytes).await {
        Ok(mut bytes) => {
            if bytes.len() > spec.config.output_cap_bytes {
                bytes.truncate(spec.config.output_cap_bytes);
                run.truncated = true;
            }
            Some(bytes)
        }
        Err(e) => {
            run.status = RunStatus::Failed;
            run.error = Some(format!(
                "the tool wrote no output file: {e}; {}",
                process::stderr_tail(stderr)
            ));
            None
        }
    }
}

/// Parses a successful run's output into `result`: done with what it found, or failed with
/// why the parser refused it.
async fn parse_into(spec: &ToolSpec, job: &ToolJob, output: Arc<[u8]>, result: &mut ToolResult) {
    let parsed = crate::run::spec::parse_output(spec, output.clone(), &job.target.host).await;
    let run = &mut result.run;
    match parsed {
        Ok(Ok(p)) => {
            run.status = RunStatus::Done;
            result.parsed = p;
            result.output = output;
            if run.truncated {
                run.error = Some(format!(
                    "output over {} bytes was cut (tools.{}.output_cap_bytes)",
                    spec.config.output_cap_bytes, spec.name
                ));
            }
        }
        Ok(Err(e)) => {
            run.status = RunStatus::Failed;
            run.error = Some(if run.truncated {
                format!("{e} (output was cut at the cap)")
            } else {
                e.to_string()
            });
        }
        Err(e) => {
            run.status = RunStatus::Failed;
            run.error = Some(e.to_string());
        }
    }
}

impl Handler<crate::metrics::GetDepth> for ToolActor {
    type Result = MessageResult<crate::metrics::GetDepth>;
    fn handle(&mut self, _: crate::metrics::GetDepth, _: &mut Self::Context) -> Self::Result {
        MessageResult((self.queue.len() as u64, self.running as u64))
    }
}
