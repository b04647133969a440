//! Why a command failed, as exit codes, hints and the `--json` error document. One exit code
//! per kind of mistake (README, "Exit codes"): 0 ok, 1 error, 2 usage, 3 daemon unreachable,
//! 4 refused, 5 not found, 6 a scan did not end done, 7 `--fail-on` threshold met.
//! Must not print (main.rs does) nor talk to the daemon: library errors arrive here as
//! `picket_client::ClientError`.

use picket_client::ClientError;
use picket_protocol::json::{Doc, ErrorBody, ErrorDoc};
use picket_protocol::{ErrorKind, RejectKind};

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
    /// `--fail-on`: the output was printed; a finding at or above the threshold exists.
    #[error("{0}")]
    FailOn(String),
}

/// The exit codes, one per kind of mistake (README, "Exit codes").
pub mod exit {
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const UNREACHABLE: i32 = 3;
    pub const REFUSED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const SCAN_NOT_DONE: i32 = 6;
    pub const FAIL_ON: i32 = 7;
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Client(e) => client_exit_code(e),
            Failure::Usage { .. } => exit::USAGE,
            Failure::Local(_) => exit::ERROR,
            Failure::ScansNotDone(_) => exit::SCAN_NOT_DONE,
            Failure::FailOn(_) => exit::FAIL_ON,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Failure::Client(e) => client_kind(e),
            Failure::Usage { .. } => "usage",
            Failure::Local(_) => "error",
            Failure::ScansNotDone(_) => "scan_not_done",
            Failure::FailOn(_) => "fail_on",
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Failure::Client(e) => client_hint(e),
            Failure::Usage { hint, .. } => hint.clone(),
            Failure::Local(_) => String::new(),
            Failure::ScansNotDone(_) => "see `picket show ID` for the tool runs' errors".into(),
            Failure::FailOn(_) => {
                "see `picket finding ID` for each; raise --fail-on to gate less".into()
            }
        }
    }

    /// Whether the output was printed already and only the exit code is left to give.
    pub fn printed(&self) -> bool {
        matches!(self, Failure::ScansNotDone(_) | Failure::FailOn(_))
    }

    /// The `--json` error document (schemas/error.json).
    pub fn to_json(&self) -> serde_json::Value {
        let (daemon_version, daemon_protocol) = match self {
            Failure::Client(ClientError::Rejected {
                daemon_version,
                daemon_protocol,
                ..
            }) => (Some(daemon_version.clone()), Some(*daemon_protocol)),
            _ => (None, None),
        };
        let hint = self.hint();
        let doc = Doc::new(ErrorDoc {
            error: ErrorBody {
                kind: self.kind().into(),
                message: self.to_string(),
                hint: (!hint.is_empty()).then_some(hint),
                exit_code: self.exit_code(),
                daemon_version,
                daemon_protocol,
            },
        });
        serde_json::to_value(doc).unwrap_or_default()
    }
}

fn client_exit_code(e: &ClientError) -> i32 {
    match e {
        ClientError::NotRunning { .. }
        | ClientError::Unreachable { .. }
        | ClientError::AutostartFailed { .. }
        | ClientError::Lost(_)
        | ClientError::Closed
        | ClientError::TimedOut { .. } => exit::UNREACHABLE,
        // Not a refusal of this user: the fix is a restart, like any other error.
        ClientError::Rejected {
            kind: RejectKind::VersionMismatch,
            ..
        } => exit::ERROR,
        ClientError::Rejected { .. } | ClientError::SocketDenied { .. } => exit::REFUSED,
        ClientError::Unexpected { .. } | ClientError::Misrouted { .. } => exit::ERROR,
        // The user's input is what must change: usage-level.
        ClientError::RequestTooLarge { .. }
        | ClientError::NotAFile { .. }
        | ClientError::ImportTooLarge { .. } => exit::USAGE,
        ClientError::ImportUnreadable { .. } => exit::ERROR,
        ClientError::Daemon(e) => match e.kind {
            ErrorKind::Invalid => exit::USAGE,
            ErrorKind::Refused | ErrorKind::Busy => exit::REFUSED,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::VersionMismatch | ErrorKind::Internal => exit::ERROR,
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
        ClientError::Daemon(e) => picket_protocol::json::error_kind_name(e.kind),
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
        assert_eq!(
            doc["schema_version"],
            picket_protocol::json::JSON_SCHEMA_VERSION
        );
        let local = Failure::Local("x".into()).to_json();
        assert!(local["error"]["hint"].is_null(), "absent is null: {local}");
        assert!(local["error"]["daemon_version"].is_null(), "{local}");
    }

    #[test]
    fn each_kind_of_mistake_has_its_own_exit_code() {
        let daemon = |kind| {
            Failure::Client(ClientError::Daemon(picket_protocol::ErrorReply::new(
                kind, "m", "",
            )))
        };
        let cases = [
            (Failure::Local("x".into()), exit::ERROR, "error"),
            (daemon(ErrorKind::Internal), exit::ERROR, "internal"),
            (daemon(ErrorKind::Invalid), exit::USAGE, "invalid"),
            (
                Failure::Usage {
                    message: "m".into(),
                    hint: "h".into(),
                },
                exit::USAGE,
                "usage",
            ),
            (
                Failure::Client(ClientError::Closed),
                exit::UNREACHABLE,
                "unreachable",
            ),
            (daemon(ErrorKind::Refused), exit::REFUSED, "refused"),
            (daemon(ErrorKind::Busy), exit::REFUSED, "busy"),
            (daemon(ErrorKind::NotFound), exit::NOT_FOUND, "not_found"),
            (
                Failure::ScansNotDone("s".into()),
                exit::SCAN_NOT_DONE,
                "scan_not_done",
            ),
            (Failure::FailOn("f".into()), exit::FAIL_ON, "fail_on"),
        ];
        for (failure, code, kind) in cases {
            assert_eq!(
                (failure.exit_code(), failure.kind()),
                (code, kind),
                "{failure:?}"
            );
            let doc = failure.to_json();
            assert_eq!(doc["error"]["exit_code"], code);
        }
        let codes: std::collections::BTreeSet<i32> = [
            exit::ERROR,
            exit::USAGE,
            exit::UNREACHABLE,
            exit::REFUSED,
            exit::NOT_FOUND,
            exit::SCAN_NOT_DONE,
            exit::FAIL_ON,
        ]
        .into();
        assert_eq!(codes.len(), 7, "one code per kind");
        assert!(daemon(ErrorKind::NotFound).to_json()["error"]["hint"].is_null());
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
