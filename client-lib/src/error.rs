//! What can go wrong between a client and picketd, as values a caller can match on.
//! Must not pick exit codes or wording for a terminal beyond the message itself: the
//! `picket` binary maps these to exit codes and hints, other callers decide for themselves.

use std::path::PathBuf;
use std::time::Duration;

use picket_protocol::{ErrorReply, ProtocolError, RejectKind, Response};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket (no file, or a stale one): the daemon can be started.
    #[error("no picketd is running on {}", socket.display())]
    NotRunning { socket: PathBuf },
    /// Something is there but the handshake could not happen.
    #[error("cannot reach picketd on {}: {reason}", socket.display())]
    Unreachable { socket: PathBuf, reason: String },
    /// The filesystem refused the connect: the socket (or its directory) is another user's.
    /// Worded as a refusal, like the daemon's own `PeerNotAllowed`, since the fix is the same.
    #[error(
        "the daemon refused the connection: permission denied on {}: the socket belongs to \
         another user (uid {uid} may not use it)",
        socket.display()
    )]
    SocketDenied { socket: PathBuf, uid: u32 },
    /// The daemon answered the hello with a refusal.
    #[error("the daemon refused the connection: {reason}")]
    Rejected {
        kind: RejectKind,
        reason: String,
        daemon_version: String,
        daemon_protocol: u32,
    },
    /// Reading or writing a frame failed after the handshake.
    #[error("connection to picketd lost: {0}")]
    Lost(ProtocolError),
    /// The daemon closed (or reset) the connection while an answer was still owed: it
    /// stopped, crashed, or dropped this connection on purpose (its log says which).
    #[error(
        "the daemon closed the connection (it may have stopped or crashed: see its log, \
         picketd.log beside the socket when picket started it)"
    )]
    Closed,
    /// Nothing came back within the client's timeout (`--timeout`, PICKET_TIMEOUT).
    #[error(
        "timed out after {} s waiting for picketd on {} {waited_for} (it may be stopped, \
         overloaded or hung: see its log)",
        after.as_secs_f64(),
        socket.display()
    )]
    TimedOut {
        socket: PathBuf,
        /// What was awaited, as the end of a sentence: "to answer the ping request".
        waited_for: String,
        after: Duration,
    },
    /// The daemon answered the request with an error (its message says why, its hint how).
    #[error("{}", .0.message)]
    Daemon(ErrorReply),
    /// A well-formed answer that does not belong to the request: a client and daemon that
    /// disagree on the protocol despite the handshake, or a daemon bug.
    #[error("unexpected answer from the daemon to {request}: {answer:?}")]
    Unexpected {
        request: &'static str,
        answer: Box<Response>,
    },
    /// An answer carrying the id of no request in progress: a daemon bug (answers are never
    /// guessed at, so a lost or duplicated one shows).
    #[error(
        "picketd answered request {got} while request {expected} was waiting; \
         this is a daemon bug, please report it with the daemon's log"
    )]
    Misrouted { expected: u64, got: u64 },
    /// A request that does not fit this client's frame cap: refused before sending.
    #[error(
        "the {request} request is {size} bytes, over this client's limit of {cap} bytes per \
         request (one frame); send less per request (fewer or shorter targets), or raise the \
         limit with --max-frame-bytes / PICKET_MAX_FRAME_BYTES together with max_frame_bytes \
         in picketd.toml"
    )]
    RequestTooLarge {
        request: &'static str,
        size: usize,
        cap: usize,
    },
    /// A report to import that is not a regular file: a FIFO, a device, a directory.
    #[error(
        "cannot import {}: it is {kind}, not a regular file; save the report to a file and \
         import that",
        path.display()
    )]
    NotAFile { path: PathBuf, kind: &'static str },
    /// A report to import over the client's import limit.
    #[error(
        "cannot import {}: it is {size} bytes, over this client's import limit of {limit} \
         bytes; raise it with --max-import-bytes / PICKET_MAX_IMPORT_BYTES (the daemon's \
         [limits] max_import_bytes in picketd.toml must allow it too)",
        path.display()
    )]
    ImportTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// The report to import could not be opened or read.
    #[error("cannot read {}: {reason}", path.display())]
    ImportUnreadable { path: PathBuf, reason: String },
    /// picketd was not running and could not be started.
    #[error("could not start picketd: {reason}")]
    AutostartFailed { reason: String },
}

impl ClientError {
    /// A frame that could not be read or written: a peer that went away (reset, broken
    /// pipe, end of stream mid-frame) is `Closed`, not a protocol problem.
    pub fn lost(e: ProtocolError) -> ClientError {
        if peer_gone(&e) {
            ClientError::Closed
        } else {
            ClientError::Lost(e)
        }
    }
}

/// Whether `e` is the peer going away rather than something it sent.
pub(crate) fn peer_gone(e: &ProtocolError) -> bool {
    use std::io::ErrorKind::*;
    match e {
        ProtocolError::Io(io) => matches!(
            io.kind(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
        ),
        _ => false,
    }
}
