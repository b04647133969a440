//! ScanSupervisor: owns one scan from admission to its end.
//!
//! Expands the profile into runs (discovery first, then follow-ups triggered by the
//! services discovery reports, host by host as it reports them, or exactly the `--tools`
//! given), sends each run to its
//! ToolActor, persists each finished run atomically (kept and retried while the storage is
//! at fault: scan/persist.rs; the scan never ends before its runs are stored), publishes
//! progress, enforces the deadline and handles cancel. Redirects a run reports become
//! follow-ups when the scope in force allows them, or a "not followed" finding
//! (scan/redirects.rs). Each run is asked
//! of the scope gate before it is dispatched, so a reload that narrowed the scope since the
//! scan was accepted leaves it skipped, naming the rule. On resume after a crash, runs
//! already finished in the database are not run again; their stored services still trigger
//! follow-ups (their redirects do not: only services are stored).
//! Every run is pointed at a checked address (a URL target is rewritten to it); the name
//! the user gave only rides along for the tool's SNI and Host header (RunTarget::named).
//! Stopping the actor cancels every run it started. Must not run processes itself.
//!
//! Mailbox: actix's default (16); it only gets `CancelScan` (from the scheduler) and
//! `ToolStarting` (from its own runs). Blocked (`ctx.wait`) while it loads a resumed scan's
//! earlier runs and while it stores the final status, so a cancel arriving then is handled
//! after, against a settled state. Beside it: its runs (`ctx.spawn`, dropped, and their
//! processes killed, when it stops) and the writes of finished runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use picket_protocol::*;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::cache::actor::CacheActor;
use crate::cache::cached_run::RunError;
use crate::config::Profile;
use crate::run::discovery_stream::ServicesDiscovered;
use crate::run::spec::{host_port, RunTarget};
use crate::run::tool_actor::{refused, ToolJob, ToolResult};
use crate::run::toolbox::Toolbox;
use crate::scan::board::ScanBoard;
use crate::scan::host_groups;
use crate::scan::persist;
use crate::scan::redirects;
use crate::scope::{CheckedTarget, Scope, TargetKind};
use crate::storage::queries;
use crate::storage::{Db, StorageError};

/// Everything a scan needs to run, decided and validated at submission.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub id: ScanId,
    pub targets: Vec<CheckedTarget>,
    pub profile_name: String,
    pub profile: Profile,
    /// `--tools`: run exactly these on the targets, no discovery or follow-ups.
    pub explicit_tools: Vec<String>,
    pub ports: Option<String>,
    pub priority: i32,
    pub no_cache: bool,
    pub deadline: Duration,
    /// `--max-age` in seconds: cached results older than this count as misses.
    pub max_age_secs: Option<u64>,
    pub scope: Arc<Scope>,
    /// Re-queued after a daemon restart: earlier finished runs are loaded and kept.
    pub resumed: bool,
}

/// What the supervisor's environment provides.
#[derive(Clone)]
pub struct SupervisorDeps {
    pub db: Db,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub cache: Addr<CacheActor>,
    pub board: Arc<ScanBoard>,
    pub toolbox: Arc<Toolbox>,
    /// Scan-end hooks (notify/); None in rigs that test without them.
    pub notifier: Option<Arc<crate::notify::Notifier>>,
    /// `[cluster]` with the coordinator role: runs go to the cluster's workers.
    pub remote: Option<crate::cluster::remote::Remote>,
}

/// Told to the scheduler when a scan has ended and its row is final.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ScanEnded(pub ScanId);

/// Cancels the scan; answers once every run has stopped and the status is stored.
pub struct CancelScan;

impl Message for CancelScan {
    type Result = ();
}

pub struct ScanSupervisor {
    plan: ScanPlan,
    deps: SupervisorDeps,
    ended: Recipient<ScanEnded>,
    cancel: CancellationToken,
    seen: HashSet<(String, String)>,
    /// Runs sent to their tool and not back yet.
    pending: usize,
    /// Runs back and being written; the scan's end waits for them too.
    persisting: usize,
    ok_runs: usize,
    failed_runs: usize,
    /// Why the first run the scope gate refused was skipped (a reload narrowed the scope).
    refusal: Option<String>,
    stop_reason: Option<(ScanStatus, String)>,
    finished_before: HashMap<(String, String), (ToolRun, Vec<Service>)>,
    cancel_waiters: Vec<oneshot::Sender<()>>,
    finishing: bool,
    begun: std::time::Instant,
    /// The scan is stored as running (see `ToolStarting`).
    marked_running: bool,
}

/// Told by a run just before its tool really starts (never when the cache answers it).
/// The first one stores the scan as running, so a scan answered entirely by the cache goes
/// from queued to its final status in one write instead of two (the board shows it running
/// either way).
#[derive(Message)]
#[rtype(result = "()")]
struct ToolStarting;

impl Handler<ToolStarting> for ScanSupervisor {
    type Result = ();

    fn handle(&mut self, _: ToolStarting, _: &mut Self::Context) {
        if std::mem::replace(&mut self.marked_running, true) {
            return;
        }
        let id = self.plan.id;
        // Not waited for, and not tied to this actor: the status only moves queued ->
        // running (see set_scan_status), so this write landing after the scan's end
        // changes nothing.
        let db = self.deps.db.clone();
        actix::spawn(async move {
            let write = db.write("start scan", move |c| {
                queries::set_scan_status(c, id, ScanStatus::Running, None)
            });
            if let Err(e) = write.await {
                tracing::warn!(scan = id, "cannot mark the scan running: {e}");
            }
        });
    }
}

/// A discovery run's services, reported before the run ends: the follow-ups on them start
/// now. Ignored once the scan is stopping or ending: a late report may arrive after the
/// run's own result, which already followed the same services up.
impl Handler<ServicesDiscovered> for ScanSupervisor {
    type Result = ();

    fn handle(
        &mut self,
        ServicesDiscovered(services): ServicesDiscovered,
        ctx: &mut Self::Context,
    ) {
        if self.finishing || self.stop_reason.is_some() {
            return;
        }
        for service in &services {
            self.follow_up(service, ctx);
        }
    }
}

impl ScanSupervisor {
    pub fn new(plan: ScanPlan, deps: SupervisorDeps, ended: Recipient<ScanEnded>) -> Self {
        Self {
            plan,
            deps,
            ended,
            cancel: CancellationToken::new(),
            seen: HashSet::new(),
            pending: 0,
            persisting: 0,
            ok_runs: 0,
            failed_runs: 0,
            refusal: None,
            stop_reason: None,
            finished_before: HashMap::new(),
            cancel_waiters: vec![],
            finishing: false,
            begun: std::time::Instant::now(),
            marked_running: false,
        }
    }

    fn warn(&self, message: String) {
        tracing::warn!(scan = self.plan.id, "{message}");
        let (db, id, m) = (self.deps.db.clone(), self.plan.id, message.clone());
        actix::spawn(async move {
            let write = db.write("add scan warning", move |c| {
                queries::add_scan_warning(c, id, &m)
            });
            if let Err(e) = write.await {
                tracing::warn!(
                    scan = id,
                    "the warning above is not stored with the scan: {e}"
                );
            }
        });
        self.deps.board.publish(ScanEvent::Warning {
            scan: self.plan.id,
            message,
        });
    }

    fn begin(&mut self, ctx: &mut Context<Self>) {
        self.deps
            .board
            .publish(ScanEvent::Started { scan: self.plan.id });
        for target in self.plan.targets.clone() {
            if self.plan.explicit_tools.is_empty() {
                self.plan_profile(&target, ctx);
            } else {
                self.plan_explicit(&target, ctx);
            }
        }
        self.maybe_finish(ctx);
    }

    /// `--tools`: exactly those tools on the target, nothing discovered, nothing followed.
    fn plan_explicit(&mut self, target: &CheckedTarget, ctx: &mut Context<Self>) {
        for tool in self.plan.explicit_tools.clone() {
            let needs_service = self
                .deps
                .toolbox
                .spec(&tool)
                .is_some_and(|s| s.needs_service());
            for rt in explicit_targets(target, self.plan.ports.as_deref(), needs_service) {
                self.schedule(&tool, rt, ctx);
            }
        }
    }

    /// The profile: discovery and direct tools on a host (follow-ups come from what
    /// discovery reports); a URL names its service already, so it goes straight to them.
    fn plan_profile(&mut self, target: &CheckedTarget, ctx: &mut Context<Self>) {
        let host = target.host.as_str();
        if let TargetKind::Url { scheme, port, .. } = &target.target.kind {
            let service = Service {
                host: host.into(),
                port: *port,
                proto: "tcp".into(),
                name: scheme.clone(),
                product: None,
                version: None,
                tls: scheme == "https",
            };
            return self.follow_up(&service, ctx);
        }
        let p = &self.plan.profile;
        let tools: Vec<String> = p.discovery.iter().chain(&p.direct).cloned().collect();
        let name = target.name.as_deref();
        // A network is discovered in blocks run side by side (scan/host_groups.rs).
        let blocks: Vec<String> = match &target.target.kind {
            TargetKind::Net(net) => host_groups::split(*net)
                .iter()
                .map(|b| b.to_string())
                .collect(),
            _ => vec![host.to_string()],
        };
        for tool in tools {
            for block in &blocks {
                let rt = RunTarget::host(block, self.plan.ports.clone()).named(name);
                self.schedule(&tool, rt, ctx);
            }
        }
    }

    /// Queues one run unless this scan already has it (or finished it before a restart),
    /// with the profile's arguments for the tool.
    fn schedule(&mut self, tool: &str, target: RunTarget, ctx: &mut Context<Self>) {
        let target = target.with_profile_args(self.plan.profile.args.get(tool));
        if self.stop_reason.is_some() || !self.seen.insert((tool.to_string(), target.label.clone()))
        {
            return;
        }
        if let Some((run, services)) = self
            .finished_before
            .remove(&(tool.to_string(), target.label.clone()))
        {
            // Done before the daemon restarted: keep its result, still follow its services.
            self.count(run.status);
            for s in services {
                self.follow_up(&s, ctx);
            }
            return;
        }
        let (Some(spec), Some(actor)) =
            (self.deps.toolbox.spec(tool), self.deps.toolbox.actor(tool))
        else {
            self.warn(format!("tool {tool} is not configured; skipped"));
            return;
        };
        if !spec.installed() {
            self.warn(format!(
                "{tool} is not installed (program '{}' not found on PATH); skipped its run on {}. Install it (scripts/setup) to use it",
                spec.config.program, target.label
            ));
        }
        self.pending += 1;
        self.deps.board.planned(self.plan.id, 1);
        // Discovery runs tell each host's services as they come, so its follow-ups start
        // before the whole run ends (the end result's services are deduplicated by `seen`).
        let discovered = self
            .plan
            .profile
            .discovery
            .iter()
            .any(|d| d == tool)
            .then(|| ctx.address().recipient());
        let job = ToolJob {
            scan: self.plan.id,
            target,
            cancel: self.cancel.child_token(),
            discovered,
        };
        let cache = self.deps.cache.clone();
        let fresh = crate::cache::cached_run::Freshness {
            no_cache: self.plan.no_cache,
            max_age_secs: self.plan.max_age_secs,
        };
        let me = ctx.address();
        let gate = self.deps.toolbox.scope.clone();
        let runner = match &self.deps.remote {
            Some(remote) => crate::cluster::runner::Runner::Remote(remote.clone()),
            None => crate::cluster::runner::Runner::Local(actor),
        };
        let fut = async move {
            // Asked when the run is due, not when it was planned: the scan may have waited
            // in the scheduler's queue through a reload. The ToolActor asks again at start.
            if let Err(why) = gate.admit(&job.target).await {
                return Ok(refused(&spec, &job, &why));
            }
            crate::cache::cached_run::run(&cache, &runner, spec, job, fresh, || {
                me.do_send(ToolStarting)
            })
            .await
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(|res, act, ctx| act.run_done(res, ctx)),
        );
    }

    fn count(&mut self, status: RunStatus) {
        match status {
            RunStatus::Done => self.ok_runs += 1,
            RunStatus::Failed | RunStatus::TimedOut => self.failed_runs += 1,
            _ => {}
        }
    }

    /// A run is back from its tool (or the cache): check the redirects it reports, follow
    /// its services up, then store it.
    fn run_done(&mut self, res: Result<ToolResult, RunError>, ctx: &mut Context<Self>) {
        self.pending -= 1;
        let result = match res {
            Ok(result) => result,
            Err(e) => {
                self.failed_runs += 1;
                self.warn(format!("a run could not be completed: {e}"));
                return self.maybe_finish(ctx);
            }
        };
        if result.refused {
            let why = result.run.error.clone().unwrap_or_default();
            self.warn(format!(
                "{} on {} skipped: {why}",
                result.run.tool, result.run.target
            ));
            self.refusal.get_or_insert(why);
        }
        if self.plan.profile.discovery.contains(&result.run.tool) {
            let now = crate::storage::queries::now_ms();
            if let Some(note) = crate::cache::cached_run::stale_discovery_note(&result.run, now) {
                self.warn(note);
            }
        }
        if result.run.status == RunStatus::Done && !result.parsed.redirects.is_empty() {
            return self.check_redirects(result, ctx);
        }
        self.accept(result, ctx);
    }

    /// Checks a run's redirects against the scope in force (names are resolved, so this
    /// waits beside the actor; the scan counts it as pending), then accepts the run with a
    /// "not followed" finding for each one refused.
    fn check_redirects(&mut self, mut result: ToolResult, ctx: &mut Context<Self>) {
        let found = std::mem::take(&mut result.parsed.redirects);
        let scope = self.deps.toolbox.scope.current();
        self.pending += 1;
        let check = async move { redirects::check_all(&scope, found).await };
        ctx.spawn(check.into_actor(self).map(move |verdicts, act, ctx| {
            act.pending -= 1;
            for (redirect, verdict) in verdicts {
                match verdict {
                    Ok(target) => act.follow_redirect(&redirects::service(&redirect, &target), ctx),
                    Err(why) => {
                        let finding = redirects::not_followed(&result.run.tool, &redirect, &why);
                        result.parsed.findings.push(finding);
                    }
                }
            }
            act.accept(result, ctx);
        }));
    }

    /// A finished run, its redirects settled: count it, follow its services up, store it.
    fn accept(&mut self, mut result: ToolResult, ctx: &mut Context<Self>) {
        let m = &self.deps.metrics;
        // Runs answered by the cache are counted by the cache's own hit counters.
        if !result.run.cache_hit {
            let took = result.run.duration_ms.map(Duration::from_millis);
            m.record_tool_run(&result.run.tool, result.run.status.as_str(), took);
        }
        for f in &result.parsed.findings {
            m.record_findings(f.severity.as_str(), 1);
        }
        let notes = crate::storage::hosts::parser_notes(&result.parsed);
        m.record_parser_warnings(&result.run.tool, notes);
        // Followers see the run as it will be stored (storing folds the same notes again,
        // which changes nothing).
        result.run.warnings = crate::storage::hosts::run_warnings(&result.run, &result.parsed);
        result.run.truncated |= result.parsed.partial.is_some();
        if result.run.status == RunStatus::Done {
            for s in &result.parsed.services {
                self.follow_up(s, ctx);
            }
        }
        if self.pending == 0 && self.persisting == 0 && !self.finishing {
            self.store_last_run(result, ctx);
        } else {
            self.store_run(result, ctx);
        }
    }

    /// Nothing else is left to run or to store: the scan's final status goes into the same
    /// transaction as this run, so a scan ends with one write, not two. A storage fault
    /// keeps the scan running (and its results in memory) until the write goes through.
    fn store_last_run(&mut self, result: ToolResult, ctx: &mut Context<Self>) {
        self.finishing = true;
        self.count(result.run.status);
        let (status, error) = self.final_status();
        let (db, id) = (self.deps.db.clone(), self.plan.id);
        let (run, parsed) = (result.run.clone(), result.parsed.clone());
        let raw = result.output.clone();
        let on_fault = self.fault_reporter();
        let write = async move {
            let out = persist::compress_output(run.status, raw).await;
            persist::write_until_stored(&db, "finish tool run and scan", on_fault, move |c| {
                persist::finish_run_with_output(c, id, &run, &parsed, out.as_ref())?;
                queries::set_scan_status(c, id, status, error.as_deref())
            })
            .await
        };
        ctx.wait(
            write
                .into_actor(self)
                .map(move |stored, act, ctx| match stored {
                    Ok(_) => {
                        act.publish_run(result);
                        act.finished(status, ctx);
                    }
                    Err(e) => act.last_run_lost(result.run.status, &e, ctx),
                }),
        );
    }

    /// The last run's write failed for a reason retrying cannot cure: the run counts as
    /// failed and the scan's status is stored alone (with its own retries).
    fn last_run_lost(&mut self, status: RunStatus, e: &StorageError, ctx: &mut Context<Self>) {
        if matches!(e, StorageError::WriterStopped) {
            // Shutting down: the scan's row is not final, so it resumes at the next start.
            tracing::warn!(scan = self.plan.id, "not stored before shutdown: {e}");
            return ctx.stop();
        }
        match status {
            RunStatus::Done => self.ok_runs -= 1,
            RunStatus::Failed | RunStatus::TimedOut => self.failed_runs -= 1,
            _ => {}
        }
        self.failed_runs += 1;
        self.warn(format!("a run could not be stored: {e}"));
        self.finishing = false;
        self.maybe_finish(ctx);
    }

    /// What a run's write does on each storage fault: the first is logged and told to
    /// followers (the scan stays running, its results kept), later ones only every 20th.
    fn fault_reporter(&self) -> impl FnMut(&StorageError, u32) + Send + 'static {
        let (board, id) = (self.deps.board.clone(), self.plan.id);
        move |e, attempt| {
            if attempt % 20 != 1 {
                return;
            }
            let message = format!(
                "results not stored yet ({e}); they are kept and the write is retried until \
                 it succeeds (attempt {attempt})"
            );
            tracing::error!(scan = id, "{message}");
            board.publish(ScanEvent::Warning { scan: id, message });
        }
    }

    /// Stores a run while others are still going; the scan ends after the last is stored.
    fn store_run(&mut self, result: ToolResult, ctx: &mut Context<Self>) {
        self.persisting += 1;
        let (db, id) = (self.deps.db.clone(), self.plan.id);
        let (run, parsed) = (result.run.clone(), result.parsed.clone());
        let raw = result.output.clone();
        let on_fault = self.fault_reporter();
        let write = async move {
            let out = persist::compress_output(run.status, raw).await;
            persist::write_until_stored(&db, "finish tool run", on_fault, move |c| {
                persist::finish_run_with_output(c, id, &run, &parsed, out.as_ref())
            })
            .await
        };
        ctx.spawn(write.into_actor(self).map(move |stored, act, ctx| {
            act.persisting -= 1;
            match stored {
                Ok(_) => {
                    act.count(result.run.status);
                    act.publish_run(result);
                }
                Err(e) => {
                    act.failed_runs += 1;
                    act.warn(format!("a run could not be stored: {e}"));
                }
            }
            act.maybe_finish(ctx);
        }));
    }

    /// Tells followers about a run once it is stored.
    fn publish_run(&self, result: ToolResult) {
        if let Some(remote) = &self.deps.remote {
            // Stored: the cluster may forget its copy of the result now, not before.
            remote.stored(self.plan.id, &result.run.tool, &result.run.target);
        }
        self.deps.board.publish(ScanEvent::ToolFinished {
            scan: self.plan.id,
            services: result.parsed.services.len() as u32,
            findings: result.parsed.findings.len() as u32,
            run: result.run,
        });
    }

    /// Schedules the profile's follow-up tools whose triggers match the service.
    fn follow_up(&mut self, service: &Service, ctx: &mut Context<Self>) {
        if !self.plan.explicit_tools.is_empty() {
            return;
        }
        let tools = self.plan.profile.follow_up.clone();
        self.trigger(service, tools, ctx);
    }

    /// An in-scope redirect target, treated as a URL target of this scan: the profile's
    /// follow-ups on it, or with `--tools`, those of the given tools it triggers (the same
    /// web tools on the new endpoint).
    fn follow_redirect(&mut self, service: &Service, ctx: &mut Context<Self>) {
        let tools = if self.plan.explicit_tools.is_empty() {
            self.plan.profile.follow_up.clone()
        } else {
            self.plan.explicit_tools.clone()
        };
        self.trigger(service, tools, ctx);
    }

    /// Schedules those of `tools` whose triggers match the service, if the scan's scope
    /// allows its address (a tool may report any address). A reload that narrowed the
    /// scope since is the gate's to apply: its runs end skipped, naming the rule.
    fn trigger(&mut self, service: &Service, tools: Vec<String>, ctx: &mut Context<Self>) {
        if let Err(e) = self.plan.scope.check_address(&service.host) {
            self.warn(format!(
                "not following up {}:{}: {e}",
                service.host, service.port
            ));
            return;
        }
        let labels = service_labels(service);
        let name = self.name_for(&service.host);
        let web = labels.iter().any(|l| l == "http" || l == "https");
        let scheme = web.then_some(if service.tls { "https" } else { "http" });
        for tool in tools {
            let Some(spec) = self.deps.toolbox.spec(&tool) else {
                continue;
            };
            if spec.config.triggers.iter().any(|t| labels.contains(t)) {
                let mut target = RunTarget::service(&service.host, service.port, scheme);
                // Name the run by what the tool is given, so the same endpoint reached as
                // "https" and as "ssl" is one sslscan run, not two.
                if !spec.uses_url() {
                    target.label = host_port(&service.host, service.port);
                }
                self.schedule(&tool, target.named(name.as_deref()), ctx);
            }
        }
    }

    /// The name the user gave for a checked address, so a follow-up on a service found there
    /// keeps its SNI and Host header (the first target naming it wins).
    fn name_for(&self, host: &str) -> Option<String> {
        self.plan
            .targets
            .iter()
            .find(|t| t.host == host && t.name.is_some())
            .and_then(|t| t.name.clone())
    }

    /// Ends a scan whose last run did not end it (a scan with no run, or one whose last
    /// run failed or was stopped before it was stored).
    fn maybe_finish(&mut self, ctx: &mut Context<Self>) {
        if self.pending > 0 || self.persisting > 0 || self.finishing {
            return;
        }
        self.finishing = true;
        let (status, error) = self.final_status();
        let (db, id) = (self.deps.db.clone(), self.plan.id);
        let on_fault = self.fault_reporter();
        let fut = async move {
            persist::write_until_stored(&db, "finish scan", on_fault, move |c| {
                queries::set_scan_status(c, id, status, error.as_deref())
            })
            .await
        };
        ctx.wait(
            fut.into_actor(self)
                .map(move |stored, act, ctx| match stored {
                    Ok(_) => act.finished(status, ctx),
                    // Shutting down: the row is not final, so the scan resumes at the next start.
                    Err(StorageError::WriterStopped) => ctx.stop(),
                    Err(e) => {
                        tracing::error!(scan = id, "cannot store the scan's final status: {e}");
                        act.finished(status, ctx);
                    }
                }),
        );
    }

    fn final_status(&self) -> (ScanStatus, Option<String>) {
        match self.stop_reason.clone() {
            Some((s, e)) => (s, Some(e)),
            None if self.ok_runs == 0 && self.failed_runs > 0 => (
                ScanStatus::Failed,
                Some("every tool run failed; see the tool runs".to_string()),
            ),
            // Nothing ran because the scope in force refused it: not a scan that is done.
            None if self.ok_runs == 0 && self.refusal.is_some() => {
                (ScanStatus::Failed, self.refusal.clone())
            }
            // A missing or unconfigured tool is skipped with a warning: a scan where that
            // was every run found nothing because it looked at nothing, which is no result.
            None if self.ok_runs == 0 => (
                ScanStatus::Failed,
                Some(
                    "no tool could run: every run was skipped (a tool missing or not configured); \
                     see the scan's warnings and `picket tools`"
                        .to_string(),
                ),
            ),
            None => (ScanStatus::Done, None),
        }
    }

    /// The final status is stored: tell everyone and stop.
    fn finished(&mut self, status: ScanStatus, ctx: &mut Context<Self>) {
        self.deps
            .metrics
            .record_scan(status.as_str(), Some(self.begun.elapsed()));
        self.deps.board.publish(ScanEvent::Finished {
            scan: self.plan.id,
            status,
        });
        self.ended.do_send(ScanEnded(self.plan.id));
        // In the background: a slow or failing hook never holds the scan up.
        if let Some(n) = &self.deps.notifier {
            n.scan_ended(self.plan.id, status);
        }
        for w in self.cancel_waiters.drain(..) {
            let _ = w.send(());
        }
        ctx.stop();
    }

    fn stop_with(&mut self, status: ScanStatus, why: String, ctx: &mut Context<Self>) {
        if self.stop_reason.is_none() {
            self.stop_reason = Some((status, why));
        }
        self.cancel.cancel();
        self.maybe_finish(ctx);
    }
}

/// Names a service answers to for triggers: its own name, plus ssl/tls when it speaks TLS
/// and https for TLS-wrapped http.
fn service_labels(s: &Service) -> Vec<String> {
    let mut labels = vec![s.name.clone()];
    if s.tls {
        labels.extend(["ssl".to_string(), "tls".to_string()]);
        if s.name.starts_with("http") {
            labels.push("https".into());
        }
    }
    if s.name == "https" {
        labels.push("http".into());
    }
    labels
}

/// Run targets for `--tools`: the host itself, or, for tools that need a service, each port
/// named (a URL target gives its own, rewritten to the checked address). Each carries the
/// user's name, if any, for the tool's SNI and Host header only.
fn explicit_targets(
    target: &CheckedTarget,
    ports: Option<&str>,
    needs_service: bool,
) -> Vec<RunTarget> {
    let host = target.host.as_str();
    let name = target.name.as_deref();
    if let (TargetKind::Url { scheme, port, .. }, Some(url)) =
        (&target.target.kind, target.pinned_url())
    {
        let mut rt = RunTarget::service(host, *port, Some(scheme));
        rt.label = url.clone();
        rt.url = Some(url);
        return vec![rt.named(name)];
    }
    if !needs_service {
        return vec![RunTarget::host(host, ports.map(String::from)).named(name)];
    }
    let singles: Vec<u16> = ports
        .unwrap_or("")
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect();
    if singles.is_empty() {
        return vec![RunTarget::host(host, ports.map(String::from)).named(name)];
    }
    singles
        .into_iter()
        .map(|p| {
            let scheme = if p == 443 { "https" } else { "http" };
            RunTarget::service(host, p, Some(scheme)).named(name)
        })
        .collect()
}

impl ScanSupervisor {
    /// Fails the scan once its deadline has passed.
    fn arm_deadline(&self, ctx: &mut Context<Self>) {
        let deadline = self.plan.deadline;
        ctx.run_later(deadline, move |act, ctx| {
            act.stop_with(
                ScanStatus::Failed,
                format!(
                    "scan deadline of {} s exceeded (limits.scan_deadline_secs)",
                    deadline.as_secs()
                ),
                ctx,
            )
        });
    }

    /// Waits for the tools this scan may use to be resolved, and, for a resumed scan,
    /// loads the runs it finished before the restart.
    fn load(&self) -> impl std::future::Future<Output = LoadedRuns> + 'static {
        let (db, id) = (self.deps.db.clone(), self.plan.id);
        let toolbox = self.deps.toolbox.clone();
        let resumed = self.plan.resumed;
        let p = &self.plan.profile;
        let needed: Vec<String> = self
            .plan
            .explicit_tools
            .iter()
            .chain(&p.discovery)
            .chain(&p.follow_up)
            .chain(&p.direct)
            .cloned()
            .collect();
        async move {
            // Only the tools this scan may use; the others may still be probing.
            toolbox.ready_for(&needed).await;
            if !resumed {
                return Ok(Vec::new());
            }
            db.read("finished runs", move |c| queries::finished_runs(c, id))
                .await
        }
    }

    fn loaded(&mut self, res: LoadedRuns, ctx: &mut Context<Self>) {
        match res {
            Ok(done) => {
                for (run, services) in done {
                    self.finished_before
                        .insert((run.tool.clone(), run.target.clone()), (run, services));
                }
            }
            // Not fatal: the scan runs everything again instead of resuming.
            Err(e) => tracing::error!(
                scan = self.plan.id,
                "cannot load the scan's earlier runs: {e}"
            ),
        }
        self.begin(ctx);
    }
}

type LoadedRuns = Result<Vec<(ToolRun, Vec<Service>)>, crate::storage::StorageError>;

impl Actor for ScanSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.arm_deadline(ctx);
        let load = self.load();
        ctx.wait(
            load.into_actor(self)
                .map(|res, act, ctx| act.loaded(res, ctx)),
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.cancel.cancel();
    }
}

impl Handler<CancelScan> for ScanSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: CancelScan, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.cancel_waiters.push(tx);
        self.stop_with(ScanStatus::Cancelled, "cancelled by the user".into(), ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
