//! The receiving end of a streamed import: after `Request::ImportStart`, the report's
//! `ImportChunk` frames (same request id) until `ImportEnd`, gathered up to
//! `[limits] max_import_bytes`, then handed to the import handler.
//!
//! Why streamed frames and not the client's fd over SCM_RIGHTS: the framed connection
//! reads with plain reads, which drop ancillary data, so an fd would need a second,
//! unframed exchange beside the codec; and a stream works for any client library, not only
//! one on the same host speaking Unix-socket control messages. The client reads the file
//! with its own rights either way. Must not parse nor store: handlers/tools.rs does that.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use interprocess::local_socket::tokio::Stream;
use picket_protocol::*;
use tokio_util::codec::Framed;

use crate::ipc::handlers::{error, tools};
use crate::ipc::state::DaemonState;

type Conn = Framed<Stream, FrameCodec<ClientFrame, ServerFrame>>;

/// A client streaming a report sends its next chunk at once (it reads a local file); one
/// that stops for this long is gone or stalling, and its upload must not hold the
/// connection and the report read so far forever.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads the upload that `header` opened as request `id`, and answers it. A refused upload
/// (too big, unknown tool) is still read to its `ImportEnd` and dropped, so the connection
/// stays in step; an `Err` is a peer that broke the protocol or left, and ends the
/// connection.
pub async fn receive(
    framed: &mut Conn,
    id: u64,
    header: ImportHeader,
    state: &Arc<DaemonState>,
) -> Result<Response, ProtocolError> {
    let limit = state.config().limits.max_import_bytes;
    let mut refusal = match header.size > limit {
        true => Some(too_large(&header.file_name, header.size, limit)),
        false => tools::unknown_tool(state, &header.tool).await,
    };
    // The client's size is a hint for the buffer only (reserved once bytes come, so a
    // client that announces much and sends nothing holds nothing); the limit is checked
    // on what arrives.
    let mut content = Vec::new();
    let reserve = header.size.min(limit) as usize;
    loop {
        let frame = match tokio::time::timeout(CHUNK_TIMEOUT, framed.next()).await {
            Err(_) => return Err(broken("no import chunk for 60 s; the upload is dropped")),
            Ok(Some(frame)) => frame?,
            Ok(None) => return Err(broken("the client left in the middle of an import")),
        };
        if frame.id != id {
            return Err(broken("another request arrived in the middle of an import"));
        }
        match frame.request {
            Request::ImportChunk(bytes) if refusal.is_none() => {
                let size = (content.len() + bytes.len()) as u64;
                if size > limit {
                    refusal = Some(too_large(&header.file_name, size, limit));
                    content = Vec::new();
                } else {
                    if content.is_empty() {
                        content.reserve_exact(reserve);
                    }
                    content.extend_from_slice(&bytes);
                }
            }
            Request::ImportChunk(_) => {}
            Request::ImportEnd => break,
            other => {
                let what = format!("a {} request in the middle of an import", other.kind());
                return Err(broken(&what));
            }
        }
    }
    Ok(match refusal {
        Some(refusal) => refusal,
        None => tools::import_report(state, header, content).await,
    })
}

fn too_large(file: &str, size: u64, limit: u64) -> Response {
    error(
        ErrorKind::Refused,
        format!("cannot import {file}: {size} bytes is over the daemon's import limit of {limit} bytes"),
        "raise [limits] max_import_bytes in picketd.toml and reload (SIGHUP), or import a smaller report",
    )
}

fn broken(what: &str) -> ProtocolError {
    ProtocolError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        what.to_string(),
    ))
}
