//! Starting picketd when nothing answers on its socket: find the binary, launch it detached
//! with its output in a log file next to the socket, and connect once it listens.
//! Connection policy, so it lives with the client; must not talk the protocol beyond
//! `Client::connect`, nor print (a failure is `ClientError::AutostartFailed`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::ClientError;

/// A cold start opens the database and may migrate it: give it time before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(25);

impl Client {
    /// Connects to the daemon on `socket`, starting picketd there first if none is running.
    /// Any other failure (refused, unreachable) is returned as it is: starting a second
    /// daemon would not fix it.
    pub async fn connect_or_start(socket: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::connect_or_start_within(socket, None).await
    }

    /// Like `connect_or_start`, each connection attempt giving up after `timeout` (None:
    /// never), which the client keeps for its requests.
    pub async fn connect_or_start_within(
        socket: impl AsRef<Path>,
        timeout: Option<Duration>,
    ) -> Result<Client, ClientError> {
        let socket = socket.as_ref();
        match Client::connect_within(socket, timeout).await {
            Err(ClientError::NotRunning { .. }) => start_and_connect(socket, timeout).await,
            other => other,
        }
    }
}

fn failed(reason: String) -> ClientError {
    ClientError::AutostartFailed { reason }
}

/// picketd next to the running binary first (a build or install tree keeps its pair
/// together), then the PATH.
fn find_daemon() -> Option<PathBuf> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("picketd")))
        .filter(|p| p.is_file());
    sibling.or_else(|| which::which("picketd").ok())
}

/// Starts picketd on `socket` with its output appended to `picketd.log` beside the socket.
fn spawn_daemon(socket: &Path) -> Result<(Child, PathBuf, PathBuf), ClientError> {
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
    let child = std::process::Command::new(&daemon)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| failed(e.to_string()))?)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for the client must not stop the daemon.
        .process_group(0)
        .spawn()
        .map_err(|e| failed(format!("cannot run {}: {e}", daemon.display())))?;
    Ok((child, daemon, log_path))
}

async fn start_and_connect(
    socket: &Path,
    timeout: Option<Duration>,
) -> Result<Client, ClientError> {
    let (mut child, daemon, log_path) = spawn_daemon(socket)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match Client::connect_within(socket, timeout).await {
            Ok(c) => return Ok(c),
            Err(ClientError::NotRunning { .. }) if Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
        // The child is left running on success: the daemon outlives this client.
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
        tokio::time::sleep(POLL).await;
    }
}

/// The last lines of the daemon's log: usually the reason it stopped.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}
