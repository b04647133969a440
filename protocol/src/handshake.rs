//! The first exchange on every connection: protocol version and both builds' versions.
//! Must not carry requests: nothing else is read before the handshake succeeds.

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to the message types.
/// 2: `HelloReply::Rejected` carries a `RejectKind`.
/// 3: `Request::Health` carries `deep` (run `PRAGMA quick_check`); big answers come in
///    `Response::Part`s; imports stream (`Request::ImportStart`...).
/// 5: one JSON contract: `ToolRun.started_at`/`finished_at` (`Timestamp`), `findings_count`
///    in `ScanSummary` and `ScanProgress`, `Request::Finding` / `Response::Finding`.
/// 6: issue 15: schedules (`Request::Schedule` / `Response::Schedules`), notification and
/// output metrics, run outputs (`Request::Output`), finding lifecycle (`Finding.state`…,
///    `FindingsQuery.state`, `ScanDetail.new_count`/`resolved`).
/// 7: issues 16 and 17: `Request::Web` / `Response::Web` (the HTTP API's TCP door, `picket web`);
///    the cluster (`Request::Cluster` / `Response::Cluster`, `MetricsReport.cluster`).
pub const PROTOCOL_VERSION: u32 = 7;
/// The package version of this build (client or daemon).
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Sent by the client first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Magic that tells a Picket peer from stray bytes.
    pub magic: [u8; 6],
    pub protocol: u32,
    pub package_version: String,
}

pub const MAGIC: [u8; 6] = *b"PICKET";

impl Hello {
    pub fn current() -> Self {
        Self {
            magic: MAGIC,
            protocol: PROTOCOL_VERSION,
            package_version: PACKAGE_VERSION.to_string(),
        }
    }
}

/// The daemon's answer to `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Welcome {
        protocol: u32,
        daemon_version: String,
        pid: u32,
    },
    Rejected {
        kind: RejectKind,
        daemon_protocol: u32,
        daemon_version: String,
        reason: String,
    },
}

/// Why a daemon refused a connection, so a client can act on it without reading the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectKind {
    /// The first frame was not a Picket hello (bad magic, undecodable).
    BadHello,
    /// Client and daemon speak different protocol versions.
    VersionMismatch,
    /// The peer's uid/gid may not use this daemon.
    PeerNotAllowed,
    /// The daemon is at `limits.max_connections`; retry shortly.
    Busy,
}

/// A refused hello: the kind and the reason, naming both versions and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloRefusal {
    pub kind: RejectKind,
    pub reason: String,
}

/// Checks a client's hello against this build; `Err` holds the kind and the reason, naming
/// both versions and the fix.
pub fn check_hello(hello: &Hello) -> Result<(), HelloRefusal> {
    if hello.magic != MAGIC {
        return Err(HelloRefusal {
            kind: RejectKind::BadHello,
            reason: "not a Picket client (bad handshake magic)".into(),
        });
    }
    if hello.protocol != PROTOCOL_VERSION {
        return Err(HelloRefusal {
            kind: RejectKind::VersionMismatch,
            reason: format!(
            "protocol mismatch: client speaks protocol {} (picket {}), daemon speaks protocol {} (picketd {}); \
             restart the daemon with the same version as the client (`picket shutdown`, then run picket again)",
            hello.protocol, hello.package_version, PROTOCOL_VERSION, PACKAGE_VERSION
            ),
        });
    }
    Ok(())
}
