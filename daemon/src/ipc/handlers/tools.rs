//! `picket tools` and `picket import`: what tools there are, and parsing an existing report
//! through the same parsers a scan uses.

use std::sync::Arc;

use picket_protocol::*;

use super::{error, storage_error};
use crate::ipc::state::DaemonState;
use crate::parsers::ParsedOutput;
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
    let parsed = crate::run::spec::parse_output(&spec, content.into(), &default_host).await;
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
    let target = req
        .target
        .or_else(|| parsed.services.first().map(|s| s.host.clone()))
        .or_else(|| parsed.findings.first().map(|f| f.host.clone()))
        .unwrap_or_else(|| req.file_name.clone());
    let row = NewScan {
        targets: vec![target.clone()],
        profile: "import".into(),
        ports: None,
        tools: vec![req.tool.clone()],
        priority: 0,
        no_cache: true,
        status: ScanStatus::Running,
    };
    let now = queries::now_ms();
    let run = ToolRun {
        tool: req.tool.clone(),
        target,
        status: RunStatus::Done,
        exit_code: None,
        duration_ms: Some(0),
        cache_hit: false,
        attempts: 0,
        tool_version: None,
        started_ms: Some(now),
        finished_ms: Some(now),
        truncated: false,
        error: None,
        warnings: parsed.warnings.clone(),
    };
    // One write: the scan, its run and everything found land together or not at all.
    let stored = state
        .db
        .write("import", move |c| {
            let id = queries::create_scan(c, &row)?;
            queries::finish_run(c, id, &run, &parsed)?;
            queries::set_scan_status(c, id, ScanStatus::Done, None)?;
            Ok(id)
        })
        .await;
    match stored {
        Ok(id) => Response::ScanAccepted {
            id,
            queued_behind: 0,
        },
        Err(e) => storage_error(e),
    }
}
