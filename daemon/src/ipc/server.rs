//! The IPC server: accepts connections on the Unix socket, checks the peer, runs the
//! handshake, then reads framed requests and writes framed answers.
//!
//! One task per connection, tracked so that shutdown can wait for in-flight requests.
//! Nothing a peer does holds the daemon's resources without bound: the handshake and the
//! gaps between requests are timed ([limits] handshake_timeout_secs, idle_timeout_secs),
//! and every connection's partly received frames draw from one shared `FrameBudget`.
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
use crate::ipc::upload;
use crate::metrics::Metrics;

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

type HelloFramed = Framed<Stream, FrameCodec<Hello, HelloReply>>;

/// A connection's life: the hello, the peer check, then requests until the peer leaves.
async fn connection(
    stream: Stream,
    state: &Arc<DaemonState>,
    open: u64,
) -> Result<(), ProtocolError> {
    let config = state.config();
    let creds = stream
        .peer_creds()
        .map_err(|e| tracing::warn!("cannot read a peer's credentials (SO_PEERCRED): {e}"))
        .ok();
    let peer = (
        creds.as_ref().and_then(|c| c.euid()),
        creds.as_ref().and_then(|c| c.egid()),
    );
    // The hello is tiny: a small cap here bounds what an unauthenticated peer can make us read.
    let mut framed = Framed::new(stream, FrameCodec::<Hello, HelloReply>::new(HELLO_CAP));
    let handshake = Duration::from_secs(config.limits.handshake_timeout_secs);
    let Some(hello) = read_hello(&mut framed, handshake).await? else {
        return Ok(());
    };
    if let Some(refusal) = refuse_peer(state, peer, open) {
        let _ = framed.send(refusal).await;
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
    let cap = config.max_frame_bytes;
    let budget = state.frame_budget.clone();
    let framed =
        framed.map_codec(|_| FrameCodec::<ClientFrame, ServerFrame>::new(cap).with_budget(budget));
    serve_requests(framed, state).await
}

/// Reads the hello before answering anything, even a refusal: a peer whose hello is still
/// unread when we close gets a reset instead of our reason. None: the peer left.
async fn read_hello(
    framed: &mut HelloFramed,
    within: Duration,
) -> Result<Option<Hello>, ProtocolError> {
    match tokio::time::timeout(within, framed.next()).await {
        Err(_) => {
            tracing::debug!(
                "closed a connection with no handshake within {} s",
                within.as_secs()
            );
            Ok(None)
        }
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => {
            let reason = format!("bad handshake: {e}");
            let _ = framed.send(rejected(RejectKind::BadHello, reason)).await;
            Err(e)
        }
        Ok(Some(Ok(h))) => Ok(Some(h)),
    }
}

/// The refusal for a peer that may not use this daemon, or that comes one connection too
/// many; None when it may go on to the version check.
fn refuse_peer(
    state: &DaemonState,
    (uid, gid): (Option<u32>, Option<u32>),
    open: u64,
) -> Option<HelloReply> {
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
        return Some(rejected(RejectKind::PeerNotAllowed, reason));
    }
    let max = state.config().limits.max_connections as u64;
    if open > max {
        let reason = format!(
            "busy: {} connections already open, the most this picketd takes \
             ([limits] max_connections = {max}); retry shortly",
            open - 1
        );
        tracing::warn!("refused a connection: {reason}");
        return Some(rejected(RejectKind::Busy, reason));
    }
    None
}

/// Answers requests in order until the peer closes, sends garbage, stays idle past
/// [limits] idle_timeout_secs, or shutdown begins.
async fn serve_requests(
    mut framed: Framed<Stream, FrameCodec<ClientFrame, ServerFrame>>,
    state: &Arc<DaemonState>,
) -> Result<(), ProtocolError> {
    loop {
        let idle = Duration::from_secs(state.config().limits.idle_timeout_secs);
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, framed.next()) => match f {
                Ok(f) => f,
                Err(_) => {
                    tracing::debug!("closed a connection idle for {} s", idle.as_secs());
                    return Ok(());
                }
            },
            // Between requests, a shutdown closes the connection; a request in flight finishes.
            _ = state.shutdown.cancelled() => return Ok(()),
        };
        let ClientFrame { id, request } = match frame {
            None => return Ok(()),
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                // Tell the peer why before closing; the frame boundary is lost after garbage.
                let response = Response::Error(unreadable(&e));
                let _ = framed.send(ServerFrame { id: 0, response }).await;
                return Err(e);
            }
        };
        Metrics::incr(&state.metrics.requests_served);
        let (kind, start) = (request.kind(), std::time::Instant::now());
        // A streamed import reads its following frames itself: the one request that does.
        let reply = match request {
            Request::ImportStart(header) => {
                Reply::One(upload::receive(&mut framed, id, header, state).await?)
            }
            request => handlers::handle(state, request).await,
        };
        match reply {
            Reply::One(response) => {
                // Under the cap (and the client's) with room to spare; see protocol parts.rs.
                let budget = (framed.codec().cap() / 2).min(PART_BUDGET);
                for response in split_answer(response, budget) {
                    framed.send(ServerFrame { id, response }).await?;
                }
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

/// The answer to a request that could not be read: busy when it did not fit the daemon's
/// budget for partly received frames (nothing is wrong with the client), invalid otherwise.
fn unreadable(e: &ProtocolError) -> ErrorReply {
    match e {
        ProtocolError::OverBudget { .. } => {
            tracing::warn!("refused a request: {e}");
            ErrorReply::new(
                ErrorKind::Busy,
                e.to_string(),
                "retry shortly: other clients are sending large requests right now",
            )
        }
        _ => ErrorReply::new(
            ErrorKind::Invalid,
            format!("unreadable request: {e}"),
            "use a picket client of the same version as the daemon",
        ),
    }
}
