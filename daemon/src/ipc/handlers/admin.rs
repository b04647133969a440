//! Daemon-level commands: ping, health, stats, shutdown.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use picket_protocol::*;

use crate::ipc::state::DaemonState;
use crate::metrics::GetDepth;
use crate::storage::file::DbFile;

pub fn ping(state: &Arc<DaemonState>) -> Response {
    Response::Pong(PingInfo {
        daemon_version: PACKAGE_VERSION.into(),
        protocol_version: PROTOCOL_VERSION,
        pid: state.pid,
        uptime_ms: state.metrics.uptime_ms(),
    })
}

/// Checks of the database (reachable, its file still the one opened, free space, and with
/// `deep` its integrity) and of the scope.
pub async fn health(state: &Arc<DaemonState>, deep: bool) -> Response {
    let mut checks = Vec::new();
    let db = state
        .db
        .read("health check", |c| crate::storage::schema::version_rows(c))
        .await;
    checks.push(HealthCheck {
        name: "database".into(),
        ok: db.is_ok(),
        detail: match db {
            Ok(_) => "reachable, schema present".into(),
            Err(e) => e.to_string(),
        },
    });
    if let Some(file) = state.db.file() {
        checks.push(file_check(file));
        checks.push(space_check(file));
    }
    if deep {
        checks.push(quick_check(state).await);
    }
    checks.push(scope_check(state));
    Response::Health(HealthReport {
        ok: checks.iter().all(|c| c.ok),
        checks,
    })
}

/// The database file is still the one opened (not deleted or replaced), with its size.
fn file_check(file: &DbFile) -> HealthCheck {
    let (ok, detail) = match file.check() {
        Ok(f) => (
            true,
            format!(
                "{} (inode {}, {} bytes)",
                file.path.display(),
                f.ino,
                f.size
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    HealthCheck {
        name: "db file".into(),
        ok,
        detail,
    }
}

/// Free space where the database grows. Failing under 16 MiB or 5% of the filesystem,
/// whichever is less: a write may need a WAL's worth of pages.
fn space_check(file: &DbFile) -> HealthCheck {
    let dir = file.path.parent().unwrap_or(&file.path).display();
    let (ok, detail) = match file.space() {
        Ok(s) => (
            s.available >= (16 << 20).min(s.total / 20),
            format!(
                "{} free of {} in {dir}",
                human_bytes(s.available),
                human_bytes(s.total)
            ),
        ),
        Err(e) => (false, format!("cannot stat the filesystem of {dir}: {e}")),
    };
    HealthCheck {
        name: "disk".into(),
        ok,
        detail,
    }
}

/// `PRAGMA quick_check`: "ok", or the first problems SQLite reports.
async fn quick_check(state: &Arc<DaemonState>) -> HealthCheck {
    let result = state
        .db
        .read("quick check", crate::storage::queries::quick_check)
        .await;
    let (ok, detail) = match result {
        Ok(lines) if lines == ["ok"] => (true, "quick_check ok".to_string()),
        Ok(lines) => (
            false,
            format!(
                "quick_check found damage: {}; stop picketd and restore the database from \
                 a backup, or move it aside to start afresh",
                lines.join("; ").replace('\n', "; ")
            ),
        ),
        Err(e) => (false, format!("quick_check could not run: {e}")),
    };
    HealthCheck {
        name: "integrity".into(),
        ok,
        detail,
    }
}

fn scope_check(state: &Arc<DaemonState>) -> HealthCheck {
    let config = state.config();
    HealthCheck {
        name: "scope".into(),
        ok: !config.scope.allow.is_empty(),
        detail: format!(
            "allow {}; deny {}",
            config.scope.allow.join(", "),
            if config.scope.deny.is_empty() {
                "none".into()
            } else {
                config.scope.deny.join(", ")
            }
        ),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

pub async fn stats(state: &Arc<DaemonState>) -> Response {
    let m = &state.metrics;
    Response::Stats(StatsReport {
        uptime_ms: m.uptime_ms(),
        connections_total: m.connections_total.load(Relaxed),
        connections_open: m.connections_open.load(Relaxed),
        requests_served: m.requests_served.load(Relaxed),
        protocol_errors: m.protocol_errors.load(Relaxed),
        refused_peers: m.refused_peers.load(Relaxed),
        db_pool: state.db.pool_status(),
        scans_running: state.board.counts().0,
        scans_queued: state.board.counts().1,
    })
}

pub fn shutdown(state: &Arc<DaemonState>) -> Response {
    tracing::info!("shutdown requested by a client");
    state.shutdown.cancel();
    Response::ShuttingDown
}

/// An actor's waiting and running work, as two samples of `picket_queue_depth`.
fn queued_and_running(actor: &str, (queued, running): (u64, u64)) -> [LabeledCount; 2] {
    [
        depth(&[("actor", actor), ("state", "queued")], queued),
        depth(&[("actor", actor), ("state", "running")], running),
    ]
}

fn depth(labels: &[(&str, &str)], value: u64) -> LabeledCount {
    LabeledCount {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
    }
}

/// Everything measured, for `picket metrics` and `picket stats`.
pub async fn metrics(state: &Arc<DaemonState>) -> Response {
    let stats = match stats(state).await {
        Response::Stats(s) => s,
        _ => StatsReport::default(),
    };
    let cache = state
        .cache
        .send(crate::cache::actor::GetStats)
        .await
        .unwrap_or_default();
    let mut queue_depths = Vec::new();
    if let Ok(d) = state.scheduler.send(GetDepth).await {
        queue_depths.extend(queued_and_running("scheduler", d));
    }
    for (name, addr) in state.toolbox.actors() {
        if let Ok(d) = addr.send(GetDepth).await {
            queue_depths.extend(queued_and_running(&format!("tool:{name}"), d));
        }
    }
    queue_depths.push(depth(
        &[("actor", "db_writer"), ("state", "queued")],
        state.db.write_backlog(),
    ));
    queue_depths.push(depth(
        &[("actor", "cache"), ("state", "in_flight")],
        cache.in_flight,
    ));
    let m = &state.metrics;
    let (rss_bytes, cpu_seconds) = crate::metrics::process_usage();
    Response::Metrics(Box::new(MetricsReport {
        stats,
        cache,
        request_latency: m.request_latency(),
        tool_run_duration: m.tool_run_duration(),
        scan_duration: m.scan_duration(),
        query_duration: m.query_duration(),
        scans_by_status: m.scans_by_status(),
        tool_runs_by_status: m.runs_by_status(),
        findings_by_severity: m.findings_by_severity(),
        parser_warnings: m.parser_warnings(),
        queue_depths,
        slow_queries: m.slow_queries(),
        slow_query_threshold_ms: m.slow_query_threshold_ms(),
        rss_bytes,
        cpu_seconds,
        notify_sent: m.notify_sent(),
        output_bytes_stored: m
            .output_bytes_stored
            .load(std::sync::atomic::Ordering::Relaxed),
        outputs_removed: m.outputs_removed.load(std::sync::atomic::Ordering::Relaxed),
        cluster: super::cluster::for_metrics(state).await,
    }))
}
