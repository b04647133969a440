//! Errors of the wire layer, and the error reply a daemon sends for a failed request.
//! Must not decide exit codes or wording for a terminal: the client maps `ErrorKind`.

use serde::{Deserialize, Serialize};

/// What went wrong while reading or writing frames.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame of {size} bytes exceeds the {cap}-byte cap; the peer sent an oversized or corrupt frame")]
    FrameTooLarge { size: usize, cap: usize },
    #[error("undecodable message: {0}; the peer is not speaking the Picket protocol (or a different version)")]
    Decode(String),
    #[error(
        "message has {trailing} trailing bytes after a complete value; refusing a corrupt frame"
    )]
    TrailingBytes { trailing: usize },
    /// The frame would take the bytes held for partly received frames, across every
    /// connection sharing the budget, past its limit: the daemon refuses it instead of growing.
    #[error(
        "a request of {announced} bytes does not fit: picketd already holds {held} of its \
         {limit} bytes for partly received requests; retry shortly (the limit is \
         [limits] max_pending_frame_bytes in picketd.toml)"
    )]
    OverBudget {
        announced: usize,
        held: usize,
        limit: usize,
    },
    #[error("could not encode message: {0}")]
    Encode(String),
    #[error("I/O error on the socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Broad class of a failed request; the client maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Malformed request or argument (usage-level problem).
    Invalid,
    /// Refused on purpose: out of scope, hostile target, peer not allowed.
    Refused,
    /// The daemon is at a configured limit (queue full); try later.
    Busy,
    /// The named scan or object does not exist.
    NotFound,
    /// Protocol versions differ.
    VersionMismatch,
    /// A failure inside the daemon.
    Internal,
}

/// The body of an error answer: what happened and what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
    /// How to fix it, phrased as an action.
    pub hint: String,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.hint.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} ({})", self.message, self.hint)
        }
    }
}
