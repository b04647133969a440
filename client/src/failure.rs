//! Client-side errors and their exit codes (DESIGN.md: 0 ok, 1 error, 2 usage,
//! 3 daemon unreachable, 4 refused). Must not print: main.rs renders them.

use std::path::PathBuf;

use picket_protocol::{ErrorKind, ErrorReply, ProtocolError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no picketd is running on {}", socket.display())]
    NotRunning { socket: PathBuf },
    #[error("cannot reach picketd on {}: {reason}", socket.display())]
    Unreachable { socket: PathBuf, reason: String },
    #[error("could not start picketd: {reason}")]
    AutostartFailed { reason: String },
    #[error("the daemon refused the connection: {reason}")]
    Rejected {
        reason: String,
        daemon_version: String,
        daemon_protocol: u32,
    },
    #[error("connection to picketd lost: {0}")]
    Lost(ProtocolError),
    #[error("{}", .0.message)]
    Daemon(ErrorReply),
    #[error("{message}")]
    Usage { message: String, hint: String },
    #[error("{0}")]
    Local(String),
    /// The scans' summaries were printed already; only the exit code is left to give.
    #[error("{0}")]
    ScansNotDone(String),
}

impl ClientError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::NotRunning { .. }
            | ClientError::Unreachable { .. }
            | ClientError::AutostartFailed { .. } => 3,
            ClientError::Lost(_) => 3,
            ClientError::Rejected { reason, .. } if reason.starts_with("protocol mismatch") => 1,
            ClientError::Rejected { .. } => 4,
            ClientError::Usage { .. } => 2,
            ClientError::Local(_) | ClientError::ScansNotDone(_) => 1,
            ClientError::Daemon(e) => match e.kind {
                ErrorKind::Invalid => 2,
                ErrorKind::Refused | ErrorKind::Busy => 4,
                ErrorKind::NotFound | ErrorKind::VersionMismatch | ErrorKind::Internal => 1,
            },
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ClientError::NotRunning { .. } => "not_running",
            ClientError::Unreachable { .. } | ClientError::Lost(_) => "unreachable",
            ClientError::AutostartFailed { .. } => "autostart_failed",
            ClientError::Rejected { .. } => "rejected",
            ClientError::Usage { .. } => "usage",
            ClientError::Local(_) => "error",
            ClientError::ScansNotDone(_) => "scan_not_done",
            ClientError::Daemon(e) => match e.kind {
                ErrorKind::Invalid => "invalid",
                ErrorKind::Refused => "refused",
                ErrorKind::Busy => "busy",
                ErrorKind::NotFound => "not_found",
                ErrorKind::VersionMismatch => "version_mismatch",
                ErrorKind::Internal => "internal",
            },
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            ClientError::NotRunning { .. } => {
                "start it with `picketd` (or `systemctl start picketd`), or run picket without --no-autostart".into()
            }
            ClientError::Unreachable { .. } | ClientError::Lost(_) => {
                "check that picketd runs and that --socket / PICKET_SOCKET point at its socket".into()
            }
            ClientError::AutostartFailed { .. } => "run `picketd` by hand to see why it does not start".into(),
            ClientError::Rejected { reason, .. } if reason.starts_with("protocol mismatch") => {
                "restart the daemon with this client's version: `picket shutdown`, then run picket again".into()
            }
            ClientError::Rejected { .. } => {
                "run picket as the daemon's user, or have the uid added to [access] allow_uids in picketd.toml".into()
            }
            ClientError::Usage { hint, .. } => hint.clone(),
            ClientError::Local(_) => String::new(),
            ClientError::ScansNotDone(_) => "see `picket show ID` for the tool runs' errors".into(),
            ClientError::Daemon(e) => e.hint.clone(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut err = json!({ "kind": self.kind(), "message": self.to_string(), "hint": self.hint(), "exit_code": self.exit_code() });
        if let ClientError::Rejected {
            daemon_version,
            daemon_protocol,
            ..
        } = self
        {
            err["daemon_version"] = json!(daemon_version);
            err["daemon_protocol"] = json!(daemon_protocol);
        }
        json!({ "error": err })
    }
}
