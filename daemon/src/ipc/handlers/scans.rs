//! Scan commands: scan, status, list, show, findings, wait/follow, cancel; and the resume
//! of interrupted scans at start. Everything a user typed is validated here, before a row
//! is written or a process could start.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use picket_protocol::*;

use super::{error, storage_error, Reply};
use crate::config::{Config, Profile};
use crate::ipc::state::DaemonState;
use crate::scan::scheduler::{Cancel, CancelOutcome, Submit, SubmitError};
use crate::scan::supervisor::ScanPlan;
use crate::scope::{self, CheckedTarget, Scope, ScopeError};
use crate::storage::queries::{self, NewScan};
use crate::storage::StorageError;

const MAX_TARGETS: usize = 256;

fn refused(message: impl Into<String>, hint: impl Into<String>) -> Response {
    error(ErrorKind::Refused, message, hint)
}

/// Why a scan request can't become a plan; each says what to change.
#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error("no target given")]
    NoTarget,
    #[error("{0} targets in one scan; at most {MAX_TARGETS}")]
    TooManyTargets(usize),
    #[error(transparent)]
    Target(ScopeError),
    #[error(transparent)]
    Ports(ScopeError),
    #[error("unknown profile '{name}'")]
    UnknownProfile { name: String, known: Vec<String> },
    #[error("unknown tool '{name}'")]
    UnknownTool { name: String, known: Vec<String> },
}

impl PlanError {
    fn response(&self) -> Response {
        let message = self.to_string();
        match self {
            PlanError::NoTarget => error(
                ErrorKind::Invalid,
                message,
                "name at least one target: picket scan 127.0.0.1 --ports 80",
            ),
            PlanError::TooManyTargets(_) => {
                refused(message, "split the targets over several scans")
            }
            PlanError::Target(ScopeError::Invalid { .. }) => refused(
                message,
                "give an IP address, CIDR, host name or http(s) URL; nothing starting with '-' and no shell characters",
            ),
            // A name that does not resolve is no scope matter: the scope hint would mislead.
            PlanError::Target(ScopeError::Unresolvable { .. }) => refused(
                message,
                "check the name's spelling and DNS (or /etc/hosts), or give its address",
            ),
            PlanError::Target(_) => refused(
                message,
                "Picket scans only what [scope] in picketd.toml allows (default: loopback)",
            ),
            PlanError::Ports(_) => refused(message, "e.g. --ports 80,443 or 8000-8010"),
            PlanError::UnknownProfile { known, .. } => error(
                ErrorKind::Invalid,
                message,
                format!("profiles: {}", known.join(", ")),
            ),
            PlanError::UnknownTool { known, .. } => error(
                ErrorKind::Invalid,
                message,
                format!("tools: {} (see `picket tools`)", known.join(", ")),
            ),
        }
    }
}

/// Every target parsed and checked against the scope.
async fn checked_targets(scope: &Scope, raw: &[String]) -> Result<Vec<CheckedTarget>, PlanError> {
    if raw.is_empty() {
        return Err(PlanError::NoTarget);
    }
    if raw.len() > MAX_TARGETS {
        return Err(PlanError::TooManyTargets(raw.len()));
    }
    let mut targets = Vec::with_capacity(raw.len());
    for t in raw {
        targets.push(scope.check(t).await.map_err(PlanError::Target)?);
    }
    Ok(targets)
}

/// The profile to run and the name the scan is stored under ("custom" for `--tools`).
fn chosen_profile(config: &Config, req: &ScanRequest) -> Result<(String, Profile), PlanError> {
    if let Some(t) = req.tools.iter().find(|t| !config.tools.contains_key(*t)) {
        return Err(PlanError::UnknownTool {
            name: t.clone(),
            known: config.tools.keys().cloned().collect(),
        });
    }
    if !req.tools.is_empty() {
        return Ok(("custom".to_string(), Profile::default()));
    }
    let name = req.profile.clone().unwrap_or_else(|| "quick".into());
    match config.profiles.get(&name) {
        Some(p) => Ok((name, p.clone())),
        None => Err(PlanError::UnknownProfile {
            name,
            known: config.profiles.keys().cloned().collect(),
        }),
    }
}

/// Checks a request against config and scope; the plan it returns is safe to run.
async fn plan(
    config: &Config,
    scope: &Arc<Scope>,
    req: &ScanRequest,
) -> Result<(ScanPlan, NewScan), PlanError> {
    let targets = checked_targets(scope, &req.targets).await?;
    let ports = match &req.ports {
        Some(p) => Some(scope::parse_ports(p).map_err(PlanError::Ports)?),
        None => None,
    };
    let (profile_label, profile) = chosen_profile(config, req)?;
    let row = NewScan {
        targets: req.targets.clone(),
        profile: profile_label.clone(),
        ports: ports.clone(),
        tools: req.tools.clone(),
        priority: req.priority,
        no_cache: req.no_cache,
        status: ScanStatus::Queued,
    };
    let plan = ScanPlan {
        id: 0,
        targets,
        profile_name: profile_label,
        profile,
        explicit_tools: req.tools.clone(),
        ports,
        priority: req.priority,
        no_cache: req.no_cache,
        deadline: Duration::from_secs(config.limits.scan_deadline_secs.max(1)),
        max_age_secs: req.max_age_secs,
        scope: scope.clone(),
        resumed: false,
    };
    Ok((plan, row))
}

/// The refusal `picket scan` would answer for `req` (config, scope, ports), or None: how a
/// schedule is checked when added, without writing a scan.
pub async fn check_request(state: &Arc<DaemonState>, req: &ScanRequest) -> Option<Response> {
    let live = state.live();
    plan(&live.config, &live.scope, req)
        .await
        .err()
        .map(|e| e.response())
}

pub async fn scan(state: &Arc<DaemonState>, req: ScanRequest) -> Response {
    let live = state.live();
    let (mut plan, row) = match plan(&live.config, &live.scope, &req).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let id = match state
        .db
        .write("create scan", move |c| queries::create_scan(c, &row))
        .await
    {
        Ok(id) => id,
        Err(e) => return storage_error(e),
    };
    plan.id = id;
    match state
        .scheduler
        .send(Submit {
            plan,
            resumed: false,
        })
        .await
    {
        Ok(Ok(ahead)) => Response::ScanAccepted {
            id,
            queued_behind: ahead,
        },
        Ok(Err(busy @ SubmitError::Busy { .. })) => {
            // Refused, so no trace of it may stay behind as if it were pending.
            if let Err(e) = state
                .db
                .write("drop refused scan", move |c| queries::delete_scan(c, id))
                .await
            {
                tracing::warn!(scan = id, "a scan refused as busy keeps its row: {e}");
            }
            error(
                ErrorKind::Busy,
                busy.to_string(),
                "wait for some to finish (picket status), or raise the limit and reload",
            )
        }
        Err(e) => error(
            ErrorKind::Internal,
            format!("scheduler unavailable: {e}"),
            "restart picketd",
        ),
    }
}

/// Rebuilds the plan of a stored scan (after a restart) from its row.
pub async fn resume_interrupted(state: &Arc<DaemonState>) {
    let resume = state.config().resume_interrupted;
    let rows = state
        .db
        .write("mark interrupted", move |c| {
            queries::mark_interrupted(c)?;
            queries::unfinished_scans(c)
        })
        .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return tracing::error!("cannot look for interrupted scans: {e}"),
    };
    for row in rows {
        if resume {
            resume_one(state, row).await;
        } else {
            let what = "cannot mark the scan interrupted";
            let (label, status) = ("leave interrupted", ScanStatus::Interrupted);
            store_status(state, label, row.id, status, None, what).await;
        }
    }
}

/// Requeues one interrupted scan, or fails it with the reason its request no longer
/// passes (the config or the scope changed while the daemon was down).
async fn resume_one(state: &Arc<DaemonState>, row: queries::ScanRow) {
    let id = row.id;
    let req = ScanRequest {
        targets: row.request.targets.clone(),
        profile: (row.request.tools.is_empty()).then(|| row.request.profile.clone()),
        tools: row.request.tools.clone(),
        ports: row.request.ports.clone(),
        priority: row.request.priority,
        no_cache: row.request.no_cache,
        // Not stored: a resumed scan takes the cache's own TTLs.
        max_age_secs: None,
    };
    let live = state.live();
    let mut plan = match plan(&live.config, &live.scope, &req).await {
        Ok((plan, _)) => plan,
        Err(e) => {
            tracing::warn!(scan = id, "cannot resume: {e}");
            let msg = Some(format!("not resumed after a restart: {e}"));
            let what = "cannot mark the unresumable scan failed";
            return store_status(state, "fail unresumable", id, ScanStatus::Failed, msg, what)
                .await;
        }
    };
    plan.id = id;
    plan.resumed = true;
    tracing::info!(scan = id, "resuming a scan interrupted by a daemon stop");
    let what = "cannot mark the resumed scan queued";
    store_status(state, "requeue", id, ScanStatus::Queued, None, what).await;
    let submit = Submit {
        plan,
        resumed: true,
    };
    match state.scheduler.send(submit).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(scan = id, "not resumed: {e}"),
        Err(e) => tracing::error!(scan = id, "not resumed, the scheduler is gone: {e}"),
    }
}

/// Stores the status startup decided for an unfinished scan (`label` names the write). A
/// failed write is only logged as `what`: no client waits on these, and the row keeps the
/// status it had.
async fn store_status(
    state: &DaemonState,
    label: &'static str,
    id: ScanId,
    status: ScanStatus,
    error: Option<String>,
    what: &str,
) {
    let stored = state
        .db
        .write(label, move |c| {
            queries::set_scan_status(c, id, status, error.as_deref())
        })
        .await;
    if let Err(e) = stored {
        tracing::warn!(scan = id, "{what}: {e}");
    }
}

pub async fn status(state: &Arc<DaemonState>, scan: Option<ScanId>) -> Response {
    match scan {
        None => Response::Status(state.board.all()),
        Some(id) => match state.board.progress(id) {
            Some(p) => Response::Status(vec![p]),
            None => match state
                .db
                .read("scan detail", move |c| queries::get_scan(c, id))
                .await
            {
                Ok(Some(d)) => Response::Status(vec![ScanProgress {
                    id,
                    runs_total: d.tool_runs.len() as u32,
                    runs_finished: d.tool_runs.iter().filter(|r| r.status.is_final()).count()
                        as u32,
                    running: vec![],
                    findings_count: d.findings.len() as u64,
                    targets: d.targets,
                    profile: d.profile,
                    status: d.status,
                }]),
                Ok(None) => not_found(id),
                Err(e) => storage_error(e),
            },
        },
    }
}

fn not_found(id: ScanId) -> Response {
    error(
        ErrorKind::NotFound,
        format!("no scan {id}"),
        "see `picket list`",
    )
}

/// A page query's error: a bad cursor is the user's to fix, anything else is ours.
fn bad_query(e: StorageError) -> Response {
    match e {
        StorageError::BadCursor(bad) => error(
            ErrorKind::Invalid,
            bad.to_string(),
            "drop --cursor to start from the first page",
        ),
        e => storage_error(e),
    }
}

/// One page of a keyset listing, or why the query (its cursor) is wrong.
async fn page<P: Send + 'static>(
    state: &DaemonState,
    label: &'static str,
    query: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<P> + Send + 'static,
    answer: fn(P) -> Response,
) -> Response {
    state
        .db
        .read(label, query)
        .await
        .map_or_else(bad_query, answer)
}

pub async fn list(state: &Arc<DaemonState>, q: ListQuery) -> Response {
    let query = move |c: &mut rusqlite::Connection| queries::list_scans(c, &q);
    page(state, "list scans", query, Response::Scans).await
}

pub async fn show(state: &Arc<DaemonState>, id: ScanId) -> Response {
    match state
        .db
        .read("scan detail", move |c| queries::get_scan(c, id))
        .await
    {
        Ok(Some(d)) => Response::Scan(Box::new(d)),
        Ok(None) => not_found(id),
        Err(e) => storage_error(e),
    }
}

pub async fn finding(state: &Arc<DaemonState>, id: i64) -> Response {
    match state
        .db
        .read("finding detail", move |c| queries::get_finding(c, id))
        .await
    {
        Ok(Some(d)) => Response::Finding(Box::new(d)),
        Ok(None) => error(
            ErrorKind::NotFound,
            format!("no finding {id}"),
            "`picket findings` lists findings with their ids",
        ),
        Err(e) => storage_error(e),
    }
}

pub async fn findings(state: &Arc<DaemonState>, q: FindingsQuery) -> Response {
    let query = move |c: &mut rusqlite::Connection| queries::findings_page(c, &q);
    page(state, "findings page", query, Response::Findings).await
}

pub async fn cancel(state: &Arc<DaemonState>, id: ScanId) -> Response {
    match state.scheduler.send(Cancel(id)).await {
        Ok(CancelOutcome::Cancelled { was }) => Response::Cancelled { id, was },
        Ok(CancelOutcome::NotActive) => match state
            .db
            .read("scan row", move |c| queries::scan_row_by_id(c, id))
            .await
        {
            Ok(Some(row)) => error(
                ErrorKind::Invalid,
                format!("scan {id} is already {}", row.request.status),
                "only queued or running scans can be cancelled",
            ),
            Ok(None) => not_found(id),
            Err(e) => storage_error(e),
        },
        Err(e) => error(
            ErrorKind::Internal,
            format!("scheduler unavailable: {e}"),
            "restart picketd",
        ),
    }
}

/// Streams the scans' events (with `follow`) until each is final, then ends.
pub async fn wait(state: &Arc<DaemonState>, scans: Vec<ScanId>, follow: bool) -> Reply {
    let mut receivers = Vec::new();
    for id in scans {
        // On the board means not finished yet (the board drops a scan as it publishes its
        // Finished event, under the same lock), so that event is still to come: no need
        // to ask the database. Off the board, the database says whether it exists.
        if let Some((rx, status, past)) = state.board.subscribe(id) {
            receivers.push((id, rx, status, past));
            continue;
        }
        match state
            .db
            .read("scan row", move |c| queries::scan_row_by_id(c, id))
            .await
        {
            // Final, or interrupted without resume: nothing to wait for.
            Ok(Some(_)) => {}
            Ok(None) => return not_found(id).into(),
            Err(e) => return storage_error(e).into(),
        }
    }
    // A follower that subscribed after a scan started still sees it start, and what it did
    // since: `scan --follow` subscribes only once the scan has an id, when the first tools
    // may already be running.
    let already: Vec<Response> = receivers
        .iter_mut()
        .filter(|(_, _, status, _)| follow && *status == ScanStatus::Running)
        .flat_map(|(id, _, _, past)| {
            std::iter::once(ScanEvent::Started { scan: *id }).chain(std::mem::take(past))
        })
        .map(Response::Event)
        .collect();
    let db = state.db.clone();
    let streams = receivers.into_iter().map(move |(id, rx, _, _)| {
        let db = db.clone();
        futures::stream::unfold(Some(rx), move |rx| {
            let db = db.clone();
            async move {
                let mut rx = rx?;
                loop {
                    match rx.recv().await {
                        Ok(ev @ ScanEvent::Finished { .. }) => return Some((ev, None)),
                        Ok(ev) => return Some((ev, Some(rx))),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            let status = db
                                .read("scan row", move |c| queries::scan_row_by_id(c, id))
                                .await
                                .ok()
                                .flatten()
                                .map(|r| r.request.status)
                                .unwrap_or(ScanStatus::Failed);
                            return Some((ScanEvent::Finished { scan: id, status }, None));
                        }
                    }
                }
            }
        })
        .boxed()
    });
    let merged = futures::stream::select_all(streams).filter_map(move |ev| async move {
        (follow || matches!(ev, ScanEvent::Finished { .. })).then_some(Response::Event(ev))
    });
    Reply::Stream(futures::stream::iter(already).chain(merged).boxed())
}
