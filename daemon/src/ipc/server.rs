//! The IPC server: accepts connections on the Unix socket, checks the peer, runs the
//! handshake, then reads framed requests and writes framed answers.
//!
//! One task per connection, tracked so that shutdown can wait for in-flight requests.
//! A connection that sends garbage is answered (when possible) and closed; nothing a peer
//! sends can take the daemon or other connections down. Must not decide what a request
//! does: that is ipc/handlers/.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use picket_protocol::*;
use tokio_util::codec::Framed;
use tokio_util::task::TaskTracker;

use crate::ipc::handlers::{self, Reply};
use crate::ipc::state::DaemonState;
use crate::metrics::Metrics;

/// A peer must complete the handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Cap for the handshake frame, read before the peer is known to be allowed.
const HELLO_CAP: usize = 4096;

/// Accepts until shutdown is requested; returns the tracker of live connections.
pub async fn serve(listener: Listener, state: Arc<DaemonState>) -> TaskTracker {
    let tracker = TaskTracker::new();
    loop {
        let conn = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            c = listener.accept() => c,
        };
        match conn {
            Ok(stream) => {
                let state = state.clone();
                tracker.spawn(async move { handle_connection(stream, state).await });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracker.close();
    tracker
}

async fn handle_connection(stream: Stream, state: Arc<DaemonState>) {
    let m = &state.metrics;
    Metrics::incr(&m.connections_total);
    let open = m.connections_open.fetch_add(1, Relaxed) + 1;
    let result = connection(stream, &state, open).await;
    m.connections_open.fetch_sub(1, Relaxed);
    if let Err(e) = result {
        Metrics::incr(&m.protocol_errors);
        tracing::debug!("connection closed with error: {e}");
    }
}

fn rejected(kind: RejectKind, reason: String) -> HelloReply {
    HelloReply::Rejected {
        kind,
        daemon_protocol: PROTOCOL_VERSION,
        daemon_version: PACKAGE_VERSION.into(),
        reason,
    }
}

async fn connection(
    stream: Stream,
    state: &Arc<DaemonState>,
    open: u64,
) -> Result<(), ProtocolError> {
    let config = state.config();
    let cap = config.max_frame_bytes;
    let creds = stream.peer_creds().ok();
    let (uid, gid) = (
        creds.as_ref().and_then(|c| c.euid()),
        creds.as_ref().and_then(|c| c.egid()),
    );
    // The hello is tiny: a small cap here bounds what an unauthenticated peer can make us read.
    let mut framed = Framed::new(stream, FrameCodec::<Hello, HelloReply>::new(HELLO_CAP));

    // Read the hello before answering anything, even a refusal: a peer whose hello is
    // still unread when we close gets a reset instead of our reason.
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Err(_) => return Err(ProtocolError::Decode("no handshake within 5 s".into())),
        Ok(None) => return Ok(()),
        Ok(Some(Err(e))) => {
            let _ = framed
                .send(rejected(
                    RejectKind::BadHello,
                    format!("bad handshake: {e}"),
                ))
                .await;
            return Err(e);
        }
        Ok(Some(Ok(h))) => h,
    };
    if !state.peer_allowed(uid, gid) {
        Metrics::incr(&state.metrics.refused_peers);
        let who = uid
            .map(|u| format!("uid {u}"))
            .unwrap_or_else(|| "a peer with unknown credentials".into());
        tracing::warn!("refused connection from {who}");
        let reason = format!(
            "permission denied: {who} may not use this picketd (it runs as uid {}); \
             run picket as that user, or add the uid to [access] allow_uids in picketd.toml",
            state.own_uid
        );
        let _ = framed
            .send(rejected(RejectKind::PeerNotAllowed, reason))
            .await;
        return Ok(());
    }
    if open > config.limits.max_connections as u64 {
        let reason = format!(
            "busy: {} connections already open (limits.max_connections); retry shortly",
            open - 1
        );
        let _ = framed.send(rejected(RejectKind::Busy, reason)).await;
        return Ok(());
    }
    if let Err(refusal) = check_hello(&hello) {
        tracing::warn!("refused handshake: {}", refusal.reason);
        framed
            .send(rejected(refusal.kind, refusal.reason.clone()))
            .await?;
        return Err(ProtocolError::Decode(refusal.reason));
    }
    framed
        .send(HelloReply::Welcome {
            protocol: PROTOCOL_VERSION,
            daemon_version: PACKAGE_VERSION.into(),
            pid: state.pid,
        })
        .await?;

    let mut framed = framed.map_codec(|_| FrameCodec::<ClientFrame, ServerFrame>::new(cap));
    loop {
        let frame = tokio::select! {
            f = framed.next() => f,
            // Between requests, a shutdown closes the connection; a request in flight finishes.
            _ = state.shutdown.cancelled() => return Ok(()),
        };
        let ClientFrame { id, request } = match frame {
            None => return Ok(()),
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                // Tell the peer why before closing; the frame boundary is lost after garbage.
                let reply = ErrorReply::new(
                    ErrorKind::Invalid,
                    format!("unreadable request: {e}"),
                    "use a picket client of the same version as the daemon",
                );
                let _ = framed
                    .send(ServerFrame {
                        id: 0,
                        response: Response::Error(reply),
                    })
                    .await;
                return Err(e);
            }
        };
        Metrics::incr(&state.metrics.requests_served);
        let (kind, start) = (request.kind(), std::time::Instant::now());
        match handlers::handle(state, request).await {
            Reply::One(response) => {
                framed.send(ServerFrame { id, response }).await?;
                state.metrics.record_request(kind, start.elapsed());
            }
            Reply::Stream(mut events) => {
                while let Some(response) = events.next().await {
                    framed.send(ServerFrame { id, response }).await?;
                }
                framed
                    .send(ServerFrame {
                        id,
                        response: Response::End,
                    })
                    .await?;
            }
        }
    }
}
