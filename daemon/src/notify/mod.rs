//! Notifications at a scan's end: builds the payload from the stored scan (status, targets,
//! counts by severity, the findings no earlier scan had) and hands it to each `[[notify.hooks]]`
//! entry whose filters (`min_severity`, `only_new`) it passes: a webhook (notify/webhook.rs)
//! or an exec hook (notify/exec.rs). Owns the hooks in force (swapped on SIGHUP) and the
//! `picket_notify_sent_total{kind,outcome}` counts.
//! Must not block or fail a scan: everything runs in a background task after the scan's
//! final status is stored, and a hook that fails is logged and counted, nothing more.
//! Must not decide where a webhook may go: notify/settings.rs checked that at load.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use picket_protocol::{ScanId, ScanStatus, Severity};
use serde::Serialize;

use crate::metrics::Metrics;
use crate::storage::{queries, Db};

mod exec;
pub mod settings;
mod webhook;

pub use settings::{Format, Hook, HookKind, NotifyConfig, NotifyConfigError};

/// One new finding in a payload.
#[derive(Debug, Clone, Serialize)]
pub struct NewFinding {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    pub host: String,
    pub port: Option<u16>,
    pub tool: String,
}

/// What every hook receives (as JSON; Slack-format webhooks a summary of it).
#[derive(Debug, Clone, Serialize)]
pub struct Payload {
    pub event: &'static str,
    pub scan: ScanId,
    pub status: ScanStatus,
    pub error: Option<String>,
    pub targets: Vec<String>,
    pub profile: String,
    pub finished_at: Option<String>,
    /// Every finding of the scan by severity (all five keys, zeros included).
    pub counts: BTreeMap<&'static str, u64>,
    /// Findings first seen by this scan, at or above the hook's `min_severity`.
    pub new_findings: Vec<NewFinding>,
}

impl Payload {
    /// This payload as one hook sees it, or None when its filters say not to send.
    fn for_hook(&self, hook: &Hook) -> Option<Payload> {
        let mut p = self.clone();
        p.new_findings.retain(|f| f.severity >= hook.min_severity);
        (!hook.only_new || !p.new_findings.is_empty()).then_some(p)
    }

    /// The `{"text": …}` line a chat channel shows.
    fn slack_text(&self) -> String {
        let mut text = format!(
            "Picket scan {} {} ({}): {} new finding(s)",
            self.scan,
            self.status,
            self.targets.join(", "),
            self.new_findings.len()
        );
        for f in self.new_findings.iter().take(20) {
            let port = f.port.map(|p| format!(":{p}")).unwrap_or_default();
            text.push_str(&format!(
                "\n• [{}] {} ({}{port})",
                f.severity, f.title, f.host
            ));
        }
        if self.new_findings.len() > 20 {
            text.push_str(&format!("\n… and {} more", self.new_findings.len() - 20));
        }
        text
    }
}

/// The daemon's notifier: one for its life, its hooks swapped by `apply`.
pub struct Notifier {
    db: Db,
    metrics: Arc<Metrics>,
    config: RwLock<Arc<NotifyConfig>>,
    client: reqwest::Client,
}

impl Notifier {
    pub fn new(db: Db, metrics: Arc<Metrics>, config: &NotifyConfig) -> Arc<Notifier> {
        Arc::new(Notifier {
            db,
            metrics,
            config: RwLock::new(Arc::new(config.clone())),
            // Redirects off: a webhook must not be bounced to a host `allow` never admitted.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("picketd/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
        })
    }

    /// A reloaded config's hooks; scans ending from now on use them.
    pub fn apply(&self, config: &NotifyConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config.clone());
    }

    /// Told by a scan's supervisor once its final status is stored. Returns at once.
    pub fn scan_ended(self: &Arc<Self>, scan: ScanId, status: ScanStatus) {
        let config = self
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if config.hooks.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.notify(scan, status, config).await });
    }

    async fn notify(self: Arc<Self>, scan: ScanId, status: ScanStatus, config: Arc<NotifyConfig>) {
        let payload = match self.payload(scan, status).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(scan, "notify: cannot read the scan back: {e}");
                for h in &config.hooks {
                    self.metrics.record_notify(kind_word(h.kind), "failed");
                }
                return;
            }
        };
        let sends = config.hooks.iter().filter_map(|hook| {
            let p = payload.for_hook(hook)?;
            let me = self.clone();
            Some(async move {
                let ok = match hook.kind {
                    HookKind::Webhook => webhook::send(&me.client, hook, &p).await,
                    HookKind::Exec => exec::run(hook, &p).await,
                };
                let name = hook_name(hook);
                match &ok {
                    Ok(()) => tracing::info!(scan, hook = %name, "notification sent"),
                    Err(e) => tracing::warn!(scan, hook = %name, "notification failed: {e}"),
                }
                me.metrics.record_notify(
                    kind_word(hook.kind),
                    if ok.is_ok() { "ok" } else { "failed" },
                );
            })
        });
        futures::future::join_all(sends).await;
    }

    async fn payload(&self, scan: ScanId, status: ScanStatus) -> Result<Payload, String> {
        let (detail, new_ids) = self
            .db
            .read("notify payload", move |c| {
                Ok((
                    queries::get_scan(c, scan)?,
                    queries::new_finding_ids(c, scan)?,
                ))
            })
            .await
            .map_err(|e| e.to_string())?;
        let detail = detail.ok_or("the scan is gone")?;
        let mut counts: BTreeMap<&'static str, u64> =
            Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for f in &detail.findings {
            *counts.entry(f.severity.as_str()).or_default() += 1;
        }
        let new_findings = detail
            .findings
            .iter()
            .filter(|f| new_ids.contains(&f.id))
            .map(|f| NewFinding {
                id: f.id,
                title: f.title.clone(),
                severity: f.severity,
                host: f.host.clone(),
                port: f.port,
                tool: f.tool.clone(),
            })
            .collect();
        Ok(Payload {
            event: "scan.finished",
            scan,
            status,
            error: detail.error,
            targets: detail.targets,
            profile: detail.profile,
            finished_at: detail.finished_at,
            counts,
            new_findings,
        })
    }
}

fn kind_word(kind: HookKind) -> &'static str {
    match kind {
        HookKind::Webhook => "webhook",
        HookKind::Exec => "exec",
    }
}

fn hook_name(hook: &Hook) -> String {
    if let Some(n) = &hook.name {
        return n.clone();
    }
    match hook.kind {
        HookKind::Webhook => hook
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_default(),
        HookKind::Exec => hook.command.first().cloned().unwrap_or_default(),
    }
}

/// The body a hook is sent: the payload's JSON, or Slack's `{"text": …}`.
fn body(hook: &Hook, payload: &Payload) -> Vec<u8> {
    let value = match hook.format {
        Format::Json => serde_json::to_value(payload),
        Format::Slack => Ok(serde_json::json!({ "text": payload.slack_text() })),
    };
    value
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        let f = |id, severity| NewFinding {
            id,
            title: format!("t{id}"),
            severity,
            host: "127.0.0.1".into(),
            port: Some(443),
            tool: "sslscan".into(),
        };
        Payload {
            event: "scan.finished",
            scan: 7,
            status: ScanStatus::Done,
            error: None,
            targets: vec!["127.0.0.1".into()],
            profile: "default".into(),
            finished_at: None,
            counts: BTreeMap::new(),
            new_findings: vec![f(1, Severity::Info), f(2, Severity::High)],
        }
    }

    #[test]
    fn filters_keep_new_findings_at_or_above_the_minimum() {
        let hook = Hook {
            min_severity: Severity::Medium,
            only_new: true,
            ..Hook::default()
        };
        let p = payload().for_hook(&hook).unwrap();
        assert_eq!(p.new_findings.len(), 1);
        assert_eq!(p.new_findings[0].id, 2);
        let critical = Hook {
            min_severity: Severity::Critical,
            ..hook.clone()
        };
        assert!(payload().for_hook(&critical).is_none());
        let always = Hook {
            only_new: false,
            ..critical
        };
        assert!(payload().for_hook(&always).unwrap().new_findings.is_empty());
    }

    #[test]
    fn slack_format_sends_text_only() {
        let hook = Hook {
            format: Format::Slack,
            ..Hook::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&body(&hook, &payload())).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 1);
        let text = obj["text"].as_str().unwrap();
        assert!(
            text.contains("scan 7 done") && text.contains("[high] t2"),
            "{text}"
        );
    }
}
