//! What travels over Redis: the key names, the run descriptor a coordinator enqueues on
//! `picket:runs`, and the result a worker returns on `picket:results:{coord}`, with their
//! encodings. Must not decide when to send or what a result means (remote.rs, worker.rs).

use std::sync::Arc;

use picket_protocol::{ScanId, ToolRun};
use redis::aio::ConnectionLike;
use redis::streams::StreamId;
use serde::{Deserialize, Serialize};

use crate::parsers::ParsedOutput;
use crate::run::spec::RunTarget;

/// The shared run stream, read by every worker through the group `workers`.
pub const RUNS: &str = "picket:runs";
pub const WORKERS: &str = "workers";
/// Runs delivered `max_deliveries` times without a result, kept for the operator.
pub const DEAD: &str = "picket:dead";
/// The group a coordinator reads its own results stream through.
pub const COORD_GROUP: &str = "coord";
/// Where cancel messages are published (`{coord}:{scan}`).
pub const CANCEL_CHANNEL: &str = "picket:cancel";

pub fn results_key(coord: &str) -> String {
    format!("picket:results:{coord}")
}

/// Set while a scan is cancelled, so a worker that missed the message (or picks the run up
/// later) still drops it.
pub fn cancel_key(coord: &str, scan: ScanId) -> String {
    format!("picket:cancel:{coord}:{scan}")
}

/// One run asked of the cluster. Small: the worker builds the argv from its own tool spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDescriptor {
    /// `{coord}:{scan}:{tool}:{target}`: the same run gets the same id, so a re-enqueued or
    /// redelivered run is recognised and its result written once.
    pub run_id: String,
    pub coord: String,
    pub scan: ScanId,
    pub tool: String,
    /// The checked address the worker's tool is given (its own scope checks it again).
    pub target: RunTarget,
    /// The coordinator's `[limits] per_target`: the worker keeps the host's lease
    /// (`picket:slots:{host}`, holder = run id) under this limit; 0: no lease.
    #[serde(default)]
    pub slot_limit: u32,
}

impl RunDescriptor {
    pub fn new(coord: &str, scan: ScanId, tool: &str, target: &RunTarget) -> Self {
        Self {
            run_id: run_id(coord, scan, tool, &target.label),
            coord: coord.into(),
            scan,
            tool: tool.into(),
            target: target.clone(),
            slot_limit: 0,
        }
    }
}

pub fn run_id(coord: &str, scan: ScanId, tool: &str, label: &str) -> String {
    format!("{coord}:{scan}:{tool}:{label}")
}

/// A run's end as the worker saw it; the raw output travels beside it, as bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub run_id: String,
    pub scan: ScanId,
    /// The node that ran it (or dead-lettered it).
    pub worker: String,
    pub run: ToolRun,
    pub parsed: ParsedOutput,
    pub refused: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("stream entry {id} has no {field:?} field; it was not written by picketd (or by an older one): delete it with XDEL")]
    Missing { id: String, field: &'static str },
    #[error("stream entry {id} field {field:?} is not valid ({source}); it was written by a different picketd version: run one version on every node")]
    Bad {
        id: String,
        field: &'static str,
        source: serde_json::Error,
    },
}

fn field<T: serde::de::DeserializeOwned>(e: &StreamId, f: &'static str) -> Result<T, WireError> {
    let raw: Vec<u8> = e.get(f).ok_or_else(|| WireError::Missing {
        id: e.id.clone(),
        field: f,
    })?;
    serde_json::from_slice(&raw).map_err(|source| WireError::Bad {
        id: e.id.clone(),
        field: f,
        source,
    })
}

pub fn decode_run(e: &StreamId) -> Result<RunDescriptor, WireError> {
    field(e, "run")
}

pub fn decode_result(e: &StreamId) -> Result<(RunResult, Arc<[u8]>), WireError> {
    let result = field(e, "result")?;
    let output: Vec<u8> = e.get("output").unwrap_or_default();
    Ok((result, Arc::from(output)))
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("wire types serialize")
}

/// `XADD picket:runs`: returns the entry id.
pub async fn enqueue<C: ConnectionLike>(
    conn: &mut C,
    run: &RunDescriptor,
) -> redis::RedisResult<String> {
    redis::cmd("XADD")
        .arg(RUNS)
        .arg("*")
        .arg("run")
        .arg(json(run))
        .query_async(conn)
        .await
}

/// `XADD picket:results:{coord}` with the result and the raw output.
pub async fn send_result<C: ConnectionLike>(
    conn: &mut C,
    coord: &str,
    result: &RunResult,
    output: &[u8],
) -> redis::RedisResult<String> {
    redis::cmd("XADD")
        .arg(results_key(coord))
        .arg("*")
        .arg("result")
        .arg(json(result))
        .arg("output")
        .arg(output)
        .query_async(conn)
        .await
}

/// The consumer group, created with its stream if missing (an existing one is kept).
pub async fn ensure_group<C: ConnectionLike>(
    conn: &mut C,
    stream: &str,
    group: &str,
) -> redis::RedisResult<()> {
    let made: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match made {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

pub async fn ack<C: ConnectionLike>(
    conn: &mut C,
    stream: &str,
    group: &str,
    id: &str,
) -> redis::RedisResult<()> {
    redis::cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(id)
        .query_async(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_deterministic_and_name_the_coordinator() {
        let t = RunTarget::host("127.0.0.1", None);
        let a = RunDescriptor::new("coord-a", 7, "nmap", &t);
        let b = RunDescriptor::new("coord-a", 7, "nmap", &t);
        let c = RunDescriptor::new("coord-b", 7, "nmap", &t);
        assert_eq!(a.run_id, b.run_id);
        assert_ne!(a.run_id, c.run_id, "scan ids are per node");
        assert_eq!(a.run_id, format!("coord-a:7:nmap:{}", t.label));
    }

    #[test]
    fn a_target_survives_the_wire() {
        let mut t = RunTarget::host("127.0.0.2", Some("80,443".into()));
        t.name = Some("www.example".into());
        t.profile_args = vec!["-T4".into()];
        let desc = RunDescriptor::new("coord-a", 7, "nmap", &t);
        let wire = serde_json::to_string(&desc).unwrap();
        let back: RunDescriptor = serde_json::from_str(&wire).unwrap();
        assert_eq!(back.target, t);
    }
}
