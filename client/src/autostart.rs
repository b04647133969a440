//! Starting picketd when no daemon answers: find the binary, launch it detached with its
//! output in a log file, and wait for the socket. Must not talk the protocol beyond a
//! connect attempt.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::failure::ClientError;

const START_TIMEOUT: Duration = Duration::from_secs(15);

/// picketd next to this binary first (a build or install tree), then PATH.
fn find_daemon() -> Option<PathBuf> {
    if let Some(sibling) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("picketd")))
    {
        if sibling.is_file() {
            return Some(sibling);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("picketd"))
            .find(|p| p.is_file())
    })
}

pub async fn start_and_connect(socket: &Path) -> Result<Connection, ClientError> {
    let failed = |reason: String| ClientError::AutostartFailed { reason };
    let daemon = find_daemon()
        .ok_or_else(|| failed("picketd was not found next to picket nor on PATH".into()))?;
    let dir = socket.parent().unwrap_or(Path::new("/tmp"));
    std::fs::create_dir_all(dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let log_path = dir.join("picketd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| failed(format!("cannot open {}: {e}", log_path.display())))?;
    let mut child = std::process::Command::new(&daemon)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| failed(e.to_string()))?)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for this picket must not stop the daemon.
        .process_group(0)
        .spawn()
        .map_err(|e| failed(format!("cannot run {}: {e}", daemon.display())))?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match Connection::connect(socket).await {
            Ok(c) => return Ok(c),
            Err(ClientError::NotRunning { .. }) if Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!(
                "{} exited with {status}; its log is {}: {}",
                daemon.display(),
                log_path.display(),
                tail(&log_path)
            )));
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "{} did not open {} within {} s; see {}",
                daemon.display(),
                socket.display(),
                START_TIMEOUT.as_secs(),
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}
