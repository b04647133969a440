//! Why a command failed, as exit codes, hints and the `--json` error document (DESIGN.md:
//! 0 ok, 1 error, 2 usage, 3 daemon unreachable, 4 refused). Must not print (main.rs does)
//! nor talk to the daemon: library errors arrive here as `picket_client::ClientError`.

use picket_client::ClientError;
use picket_protocol::{ErrorKind, RejectKind};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{message}")]
    Usage { message: String, hint: String },
    #[error("{0}")]
    Local(String),
    /// The scans' summaries were printed already; only the exit code is left to give.
    #[error("{0}")]
    ScansNotDone(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Client(e) => client_exit_code(e),
            Failure::Usage { .. } => 2,
            Failure::Local(_) | Failure::ScansNotDone(_) => 1,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Failure::Client(e) => client_kind(e),
            Failure::Usage { .. } => "usage",
            Failure::Local(_) => "error",
            Failure::ScansNotDone(_) => "scan_not_done",
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Failure::Client(e) => client_hint(e),
            Failure::Usage { hint, .. } => hint.clone(),
            Failure::Local(_) => String::new(),
            Failure::ScansNotDone(_) => "see `picket show ID` for the tool runs' errors".into(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut err = json!({ "kind": self.kind(), "message": self.to_string(), "hint": self.hint(), "exit_code": self.exit_code() });
        match self {
            Failure::Client(ClientError::Rejected {
                daemon_version,
                daemon_protocol,
                ..
            }) => {
                err["daemon_version"] = json!(daemon_version);
                err["daemon_protocol"] = json!(daemon_protocol);
            }
            // No daemon spoke, but scripts have always found these fields on a refusal.
            Failure::Client(ClientError::SocketDenied { .. }) => {
                err["daemon_version"] = json!("");
                err["daemon_protocol"] = json!(0);
            }
            _ => {}
        }
        json!({ "error": err })
    }
}

fn client_exit_code(e: &ClientError) -> i32 {
    match e {
        ClientError::NotRunning { .. }
        | ClientError::Unreachable { .. }
        | ClientError::AutostartFailed { .. }
        | ClientError::Lost(_)
        | ClientError::Closed
        | ClientError::TimedOut { .. } => 3,
        // Not a refusal of this user: the fix is a restart, like any other error.
        ClientError::Rejected {
            kind: RejectKind::VersionMismatch,
            ..
        } => 1,
        ClientError::Rejected { .. } | ClientError::SocketDenied { .. } => 4,
        ClientError::Unexpected { .. } | ClientError::Misrouted { .. } => 1,
        // The user's input is what must change: usage-level.
        ClientError::RequestTooLarge { .. }
        | ClientError::NotAFile { .. }
        | ClientError::ImportTooLarge { .. } => 2,
        ClientError::ImportUnreadable { .. } => 1,
        ClientError::Daemon(e) => match e.kind {
            ErrorKind::Invalid => 2,
            ErrorKind::Refused | ErrorKind::Busy => 4,
            ErrorKind::NotFound | ErrorKind::VersionMismatch | ErrorKind::Internal => 1,
        },
    }
}

fn client_kind(e: &ClientError) -> &'static str {
    match e {
        ClientError::NotRunning { .. } => "not_running",
        ClientError::Unreachable { .. } | ClientError::Lost(_) | ClientError::Closed => {
            "unreachable"
        }
        ClientError::TimedOut { .. } => "timeout",
        ClientError::AutostartFailed { .. } => "autostart_failed",
        ClientError::Rejected { .. } | ClientError::SocketDenied { .. } => "rejected",
        ClientError::Unexpected { .. } | ClientError::Misrouted { .. } => "error",
        ClientError::RequestTooLarge { .. } | ClientError::ImportTooLarge { .. } => "too_large",
        ClientError::NotAFile { .. } => "invalid",
        ClientError::ImportUnreadable { .. } => "error",
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

fn client_hint(e: &ClientError) -> String {
    let hint = match e {
        ClientError::NotRunning { .. } => {
            "start it with `picketd` (or `systemctl start picketd`), or run picket without --no-autostart"
        }
        ClientError::Unreachable { .. } | ClientError::Lost(_) => {
            "check that picketd runs and that --socket / PICKET_SOCKET point at its socket"
        }
        ClientError::Closed => "run picket again; if it keeps happening, read picketd's log",
        ClientError::TimedOut { .. } => {
            "check that picketd runs and is not stopped (`ps`, its log); give it longer with \
             --timeout SECS or PICKET_TIMEOUT (0: no limit)"
        }
        ClientError::AutostartFailed { .. } => "run `picketd` by hand to see why it does not start",
        ClientError::Rejected { kind, .. } => match kind {
            RejectKind::VersionMismatch => {
                "restart the daemon with this client's version: `picket shutdown`, then run picket again"
            }
            RejectKind::Busy => {
                "retry shortly; if it lasts, raise [limits] max_connections in picketd.toml \
                 (idle connections are closed after [limits] idle_timeout_secs)"
            }
            RejectKind::PeerNotAllowed => PEER_HINT,
            RejectKind::BadHello => {
                "use picket and picketd from the same release, and check that --socket / PICKET_SOCKET point at picketd's socket"
            }
        },
        ClientError::SocketDenied { .. } => PEER_HINT,
        ClientError::Unexpected { .. } => {
            "use picket and picketd from the same release: `picket shutdown`, then run picket again"
        }
        ClientError::Misrouted { .. } => "",
        ClientError::RequestTooLarge { .. } => {
            "send less per request, or raise --max-frame-bytes and the daemon's max_frame_bytes"
        }
        ClientError::ImportTooLarge { .. } => {
            "raise --max-import-bytes (PICKET_MAX_IMPORT_BYTES) and [limits] max_import_bytes"
        }
        ClientError::NotAFile { .. } => "write the report to a regular file first",
        ClientError::ImportUnreadable { .. } => "check the path and its permissions",
        ClientError::Daemon(e) => return e.hint.clone(),
    };
    hint.into()
}

const PEER_HINT: &str =
    "run picket as the daemon's user, or have the uid added to [access] allow_uids in picketd.toml";

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(kind: RejectKind) -> Failure {
        Failure::Client(ClientError::Rejected {
            kind,
            reason: "because".into(),
            daemon_version: "9.9.9".into(),
            daemon_protocol: 9,
        })
    }

    #[test]
    fn a_version_mismatch_is_an_error_with_the_restart_hint_other_refusals_exit_4() {
        let mismatch = rejected(RejectKind::VersionMismatch);
        assert_eq!(mismatch.exit_code(), 1);
        assert!(mismatch.hint().contains("picket shutdown"));
        for kind in [
            RejectKind::PeerNotAllowed,
            RejectKind::Busy,
            RejectKind::BadHello,
        ] {
            assert_eq!(rejected(kind).exit_code(), 4, "{kind:?}");
        }
        let doc = rejected(RejectKind::PeerNotAllowed).to_json();
        assert_eq!(doc["error"]["kind"], "rejected");
        assert_eq!(doc["error"]["daemon_version"], "9.9.9");
        assert_eq!(doc["error"]["exit_code"], 4);
    }

    #[test]
    fn connection_failures_exit_3_and_daemon_errors_by_their_kind() {
        let closed = Failure::Client(ClientError::Closed);
        assert_eq!((closed.exit_code(), closed.kind()), (3, "unreachable"));
        assert!(closed.to_string().contains("closed the connection"));
        assert!(!closed.to_string().contains("protocol"));
        let timed_out = Failure::Client(ClientError::TimedOut {
            socket: "/run/p.sock".into(),
            waited_for: "to answer the ping request".into(),
            after: std::time::Duration::from_secs(2),
        });
        assert_eq!((timed_out.exit_code(), timed_out.kind()), (3, "timeout"));
        assert!(timed_out.to_string().contains("timed out after 2 s"));
        assert!(timed_out.hint().contains("--timeout"));
        let busy = rejected(RejectKind::Busy);
        assert!(!busy.hint().contains("allow_uids"), "{}", busy.hint());
        let invalid = picket_protocol::ErrorReply::new(ErrorKind::Invalid, "bad", "fix it");
        let invalid = Failure::Client(ClientError::Daemon(invalid));
        assert_eq!(
            (invalid.exit_code(), invalid.hint().as_str()),
            (2, "fix it")
        );
    }
}
