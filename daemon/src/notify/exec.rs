//! One exec hook: the configured argv run through run/process.rs like a tool run (never a
//! shell, its whole process tree ended at the timeout), the payload's JSON on its stdin.
//! Must not pass the payload any other way (no argv, no environment): a finding title is
//! text from a scanned host.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{body, Hook, Payload};
use crate::run::process::{self, ProcessEnd};

/// What is kept of the hook's own output, for the log line when it fails.
const OUTPUT_CAP: usize = 64 * 1024;

pub async fn run(hook: &Hook, payload: &Payload) -> Result<(), String> {
    let (program, args) = hook.command.split_first().ok_or("no command")?;
    let program = which::which(program).map_err(|e| format!("{program}: {e}"))?;
    let input = body(hook, payload);
    let out = process::run_with_input(
        Path::new(&program),
        args,
        input,
        Duration::from_secs(hook.timeout_secs),
        OUTPUT_CAP,
        &CancellationToken::new(),
    )
    .await;
    match out.end {
        ProcessEnd::Exited(Some(0)) => Ok(()),
        ProcessEnd::TimedOut => Err(format!(
            "timed out after {}s; its processes were ended",
            hook.timeout_secs
        )),
        other => Err(format!("{other:?}: {}", process::stderr_tail(&out.stderr))),
    }
}
