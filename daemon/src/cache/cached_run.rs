//! One tool run through the cache: look the key up, share a run in flight, or lead the run
//! and report its result. The key is tool, tool version, argv (with the scratch file path
//! normalized) and target, so a new tool version or a different argv never hits an old
//! entry. Must not decide scheduling (the supervisor does) nor run processes (ToolActor).

use std::path::Path;
use std::sync::Arc;

use actix::Addr;
use picket_protocol::{RunStatus, Timestamp, ToolRun};
use sha2::{Digest, Sha256};

use crate::cache::actor::{CacheActor, CacheEntry, LeadGuard, Lookup, LookupKey, SharedHit};
use crate::cluster::runner::Runner;
use crate::run::spec::{RunTarget, ToolSpec};
use crate::run::tool_actor::{ToolJob, ToolResult};
use crate::storage::queries::now_ms;

/// Why a run could not be asked for at all (its result says why a run that ran failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the tool actor is unavailable ({0}); picketd is stopping or must be restarted")]
    ToolActor(actix::MailboxError),
    #[error("the cache actor is unavailable ({0}); picketd is stopping or must be restarted")]
    Cache(actix::MailboxError),
}

pub fn cache_key(spec: &ToolSpec, target: &RunTarget) -> String {
    let argv = spec
        .argv(target, Some(Path::new("{outfile}")))
        .unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        spec.name.as_str(),
        spec.version.as_deref().unwrap_or(""),
        &argv.join("\u{1f}"),
        target.label.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How fresh a scan wants its cached answers: `--no-cache` runs every tool, `--max-age`
/// treats entries older than that as misses (and replaces them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    pub no_cache: bool,
    pub max_age_secs: Option<u64>,
}

impl Freshness {
    fn min_created_ms(self, now: i64) -> Option<i64> {
        self.max_age_secs
            .map(|s| now.saturating_sub((s as i64).saturating_mul(1000)))
    }
}

/// Cached discovery older than this is named in a scan warning: the network may have
/// changed since, and the user should know the answer is not from now.
pub const STALE_DISCOVERY_SECS: i64 = 60;

/// The scan warning for a discovery run the cache answered with output older than a
/// minute; None for a run that ran or a recent answer.
pub fn stale_discovery_note(run: &ToolRun, now: i64) -> Option<String> {
    let at = run.cached_at.as_deref()?;
    let made = chrono::DateTime::parse_from_rfc3339(at)
        .ok()?
        .timestamp_millis();
    let age_secs = (now - made) / 1000;
    (age_secs > STALE_DISCOVERY_SECS).then(|| {
        format!(
            "{} on {} was answered by the cache with a result from {} ago: services that \
             went up or down since are not seen; for a fresh run scan again with \
             `--max-age 0s` (or `--no-cache`)",
            run.tool,
            run.target,
            age_words(age_secs)
        )
    })
}

/// "45 s", "4 min", "2 h", "3 days": how long ago, in the words the client prints.
pub fn age_words(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// A cached output turned back into a run result (parsed again by today's parser).
async fn from_entry(
    spec: &Arc<ToolSpec>,
    job: &ToolJob,
    entry: Arc<CacheEntry>,
) -> Option<ToolResult> {
    let parsed = crate::run::spec::parse_output(spec, entry.output.clone(), &job.target.host)
        .await
        .ok()?
        .ok()?;
    let now = now_ms();
    Some(ToolResult {
        run: ToolRun {
            tool: spec.name.clone(),
            target: job.target.label.clone(),
            status: RunStatus::Done,
            exit_code: entry.exit_code,
            duration_ms: Some(0),
            cache_hit: true,
            attempts: 0,
            tool_version: entry.tool_version.clone(),
            started_at: Some(Timestamp(now)),
            finished_at: Some(Timestamp(now)),
            truncated: entry.truncated,
            error: None,
            warnings: Vec::new(),
            cached_at: Some(crate::storage::queries::rfc3339(entry.created_ms)),
            id: 0,
            output_removed_at: None,
        },
        parsed,
        // The same bytes again, so the run keeps its own evidence (stored with the run)
        // even after the cache entry expires.
        output: entry.output.clone(),
        refused: false,
    })
}

/// `before_tool` is called once, just before the tool itself is asked to run (never when
/// the cache answers), so a scan served from the cache skips what only a real run needs.
pub async fn run(
    cache: &Addr<CacheActor>,
    runner: &Runner,
    spec: Arc<ToolSpec>,
    job: ToolJob,
    fresh: Freshness,
    before_tool: impl FnOnce(),
) -> Result<ToolResult, RunError> {
    if spec.config.ttl_secs == 0 || !spec.installed() {
        before_tool();
        return runner.run(&spec, job).await;
    }
    let mut before_tool = Some(before_tool);
    let mut run_tool = move || {
        if let Some(f) = before_tool.take() {
            f()
        }
    };
    let key = cache_key(&spec, &job.target);
    loop {
        match cache
            .send(LookupKey {
                key: key.clone(),
                no_cache: fresh.no_cache,
                min_created_ms: fresh.min_created_ms(now_ms()),
            })
            .await
            .map_err(RunError::Cache)?
        {
            Lookup::Hit { entry, .. } => {
                if let Some(r) = from_entry(&spec, &job, entry).await {
                    return Ok(r);
                }
                // An entry the current parser rejects: run afresh, without the cache.
                run_tool();
                return runner.run(&spec, job).await;
            }
            Lookup::Wait(rx) => {
                if let Ok(Some(entry)) = rx.await {
                    if let Some(r) = from_entry(&spec, &job, entry).await {
                        cache.do_send(SharedHit);
                        return Ok(r);
                    }
                }
                // The leading run failed or was cancelled: look again (and maybe lead).
            }
            Lookup::Lead => {
                let guard = LeadGuard::new(cache.clone(), key.clone());
                run_tool();
                let result = runner.run(&spec, job.clone()).await?;
                let entry = (result.run.status == RunStatus::Done).then(|| {
                    let now = now_ms();
                    CacheEntry {
                        key: key.clone(),
                        tool: spec.name.clone(),
                        tool_version: spec.version.clone(),
                        host: job.target.host.clone(),
                        scan_id: job.scan,
                        created_ms: now,
                        expires_ms: now + (spec.config.ttl_secs as i64).saturating_mul(1000),
                        exit_code: result.run.exit_code,
                        truncated: result.run.truncated,
                        output: result.output.clone(),
                    }
                });
                guard.complete(entry);
                return Ok(result);
            }
        }
    }
}
