//! `picket tools` and `picket import`: what tools there are, and parsing an existing report
//! through the same parsers a scan uses.

use std::sync::Arc;

use picket_protocol::*;

use super::{error, storage_error};
use crate::ipc::state::DaemonState;
use crate::parsers::ParsedOutput;
use crate::storage::hosts;
use crate::storage::queries::{self, NewScan};

pub async fn list(state: &Arc<DaemonState>) -> Response {
    state.toolbox.ready().await;
    let tools = state
        .toolbox
        .specs()
        .values()
        .map(|s| ToolInfo {
            name: s.name.clone(),
            program: s.config.program.clone(),
            installed: s.installed(),
            path: s.path.as_ref().map(|p| p.display().to_string()),
            version: s.version.clone(),
            concurrency: s.config.concurrency,
            timeout_secs: s.config.timeout_secs,
            cache_ttl_secs: s.config.ttl_secs,
            triggers: s.config.triggers.clone(),
        })
        .collect();
    Response::Tools(tools)
}

/// A report sent whole in one frame (protocol 2's way, still answered).
pub async fn import(state: &Arc<DaemonState>, req: ImportRequest) -> Response {
    let content = req.content;
    let req = ImportHeader {
        size: content.len() as u64,
        tool: req.tool,
        file_name: req.file_name,
        target: req.target,
    };
    import_report(state, req, content).await
}

/// The refusal for an import of a tool the daemon does not know; None when it knows it.
pub async fn unknown_tool(state: &Arc<DaemonState>, tool: &str) -> Option<Response> {
    state.toolbox.ready_for(&[tool.to_string()]).await;
    if state.toolbox.spec(tool).is_some() {
        return None;
    }
    let names: Vec<String> = state.toolbox.specs().keys().cloned().collect();
    Some(error(
        ErrorKind::Invalid,
        format!("unknown tool '{tool}'"),
        format!("tools: {}", names.join(", ")),
    ))
}

/// Parses a whole report (received in one frame or streamed) and stores it as a scan.
pub async fn import_report(
    state: &Arc<DaemonState>,
    req: ImportHeader,
    content: Vec<u8>,
) -> Response {
    if let Some(refusal) = unknown_tool(state, &req.tool).await {
        return refusal;
    }
    let Some(spec) = state.toolbox.spec(&req.tool) else {
        return error(
            ErrorKind::Internal,
            format!("tool '{}' vanished during an import", req.tool),
            "retry; a config reload ran at the same time",
        );
    };
    let default_host = req.target.clone().unwrap_or_default();
    let content: std::sync::Arc<[u8]> = content.into();
    // The report is kept as the run's output, like a tool's: `picket output` gives it back.
    let kept = crate::scan::persist::compress_output(RunStatus::Done, content.clone()).await;
    let parsed = crate::run::spec::parse_output(&spec, content, &default_host).await;
    let parsed: ParsedOutput = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return error(
                ErrorKind::Invalid,
                format!("cannot import {}: {e}", req.file_name),
                "give a report the tool wrote in its machine format (see README)",
            )
        }
        Err(e) => {
            return error(
                ErrorKind::Internal,
                e.to_string(),
                format!("report this with {}", req.file_name),
            )
        }
    };
    let (row, run) = scan_of_report(req, &parsed);
    let (tool, notes) = (run.tool.clone(), hosts::parser_notes(&parsed));
    // One write: the scan, its run and everything found land together or not at all.
    let stored = state
        .db
        .write("import", move |c| {
            let id = queries::create_scan(c, &row)?;
            crate::scan::persist::finish_run_with_output(c, id, &run, &parsed, kept.as_ref())?;
            queries::set_scan_status(c, id, ScanStatus::Done, None)?;
            Ok(id)
        })
        .await;
    match stored {
        Ok(id) => {
            state.metrics.record_parser_warnings(&tool, notes);
            Response::ScanAccepted {
                id,
                queued_behind: 0,
            }
        }
        Err(e) => storage_error(e),
    }
}

/// The scan and the one run an import stores: stored done (a partial report too, marked
/// truncated with what was cut), with the parser's warnings and no error.
fn scan_of_report(req: ImportHeader, parsed: &ParsedOutput) -> (NewScan, ToolRun) {
    let targets = match req.target {
        Some(t) => vec![t],
        None => report_hosts(parsed, &req.file_name),
    };
    let row = NewScan {
        targets: targets.clone(),
        profile: "import".into(),
        ports: None,
        tools: vec![req.tool.clone()],
        priority: 0,
        no_cache: true,
        status: ScanStatus::Running,
    };
    let now = queries::now_ms();
    let mut run = ToolRun {
        tool: req.tool.clone(),
        // The one run of a report of many hosts is the report's, not one host's.
        target: match targets.as_slice() {
            [one] => one.clone(),
            _ => req.file_name.clone(),
        },
        status: RunStatus::Done,
        exit_code: None,
        duration_ms: Some(0),
        cache_hit: false,
        attempts: 0,
        tool_version: None,
        started_at: Some(Timestamp(now)),
        finished_at: Some(Timestamp(now)),
        truncated: parsed.partial.is_some(),
        error: None,
        warnings: Vec::new(),
        cached_at: None,
        id: 0,
        output_removed_at: None,
    };
    run.warnings = hosts::run_warnings(&run, parsed);
    (row, run)
}

/// Every host a report holds, distinct, in the order first seen: the hosts the parser
/// reported, else those of its services and findings; the file's name when it names none.
fn report_hosts(parsed: &ParsedOutput, file_name: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let named: Vec<&str> = if parsed.hosts.is_empty() {
        let services = parsed.services.iter().map(|s| s.host.as_str());
        services
            .chain(parsed.findings.iter().map(|f| f.host.as_str()))
            .collect()
    } else {
        parsed.hosts.iter().map(|h| h.address.as_str()).collect()
    };
    for h in named {
        if !h.is_empty() && seen.insert(h) {
            out.push(h.to_string());
        }
    }
    if out.is_empty() {
        out.push(file_name.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::new_finding;

    fn service(host: &str, port: u16) -> Service {
        Service {
            host: host.into(),
            port,
            proto: "tcp".into(),
            name: "http".into(),
            product: None,
            version: None,
            tls: false,
        }
    }

    #[test]
    fn a_reports_targets_are_its_hosts_distinct_in_the_order_first_seen() {
        let mut parsed = ParsedOutput {
            services: vec![
                service("10.0.0.2", 80),
                service("10.0.0.1", 80),
                service("10.0.0.2", 443),
            ],
            findings: vec![new_finding(
                "x",
                "10.0.0.3",
                None,
                Severity::Info,
                "t",
                "d",
                vec![],
                "e",
            )],
            ..ParsedOutput::default()
        };
        assert_eq!(
            report_hosts(&parsed, "r.xml"),
            ["10.0.0.2", "10.0.0.1", "10.0.0.3"]
        );
        // Hosts the parser reported win, down hosts included: they were scanned.
        parsed.hosts = ["10.0.0.9", "10.0.0.2", "10.0.0.9"]
            .map(|a| Host {
                address: a.into(),
                ..Host::default()
            })
            .to_vec();
        assert_eq!(report_hosts(&parsed, "r.xml"), ["10.0.0.9", "10.0.0.2"]);
        assert_eq!(report_hosts(&ParsedOutput::default(), "r.xml"), ["r.xml"]);
    }
}
