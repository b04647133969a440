//! Binds the API's doors and runs them in the daemon's actix System: `api.sock` beside the
//! main socket, with the same modes and the same peer-credential check. Must not know any
//! route (http/v1 does) nor answer a request itself, except to refuse a peer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpServer};
use picket_protocol::{ErrorKind, ErrorReply};

use crate::http::answer::error_document;
use crate::ipc::lock::{self as socket_lock, SocketModes};
use crate::ipc::state::DaemonState;

/// Which door a connection came through, set when it is accepted.
#[derive(Debug, Clone, Copy)]
pub enum Door {
    /// `api.sock`: who is at the other end, from SO_PEERCRED.
    Socket { uid: Option<u32>, gid: Option<u32> },
    /// The `[http] listen` TCP port.
    Tcp,
}

/// `api.sock` in the main socket's directory.
pub fn api_socket_path(main_socket: &Path) -> PathBuf {
    main_socket.with_file_name("api.sock")
}

/// The running API; `stop` ends it and removes `api.sock`.
pub struct Api {
    handle: ServerHandle,
    socket: PathBuf,
}

impl Api {
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Binds the doors and starts serving; returns at once.
pub fn start(
    state: Arc<DaemonState>,
    main_socket: &Path,
    modes: SocketModes,
) -> anyhow::Result<Api> {
    let socket = api_socket_path(main_socket);
    // A stale file from a daemon that died: the main socket's lock says none is running.
    let _ = std::fs::remove_file(&socket);
    // Bound here rather than with bind_uds, which skips on_connect (actix-web 4.18): the
    // peer check needs each connection's credentials.
    let listener = std::os::unix::net::UnixListener::bind(&socket)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", socket.display()))?;
    socket_lock::publish_socket(&socket, modes)?;
    let app_state = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(check_peer))
            .configure(crate::http::v1::configure)
            .configure(crate::http::dashboard::configure)
    })
    .workers(2)
    .disable_signals()
    .on_connect(remember_door)
    .listen_uds(listener)?;
    let server = server.run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("the HTTP API stopped: {e}");
        }
    });
    tracing::info!(socket = %socket.display(), "HTTP API ready");
    Ok(Api { handle, socket })
}

fn remember_door(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    if let Some(unix) = conn.downcast_ref::<tokio::net::UnixStream>() {
        let cred = unix.peer_cred().ok();
        ext.insert(Door::Socket {
            uid: cred.map(|c| c.uid()),
            gid: cred.map(|c| c.gid()),
        });
    } else {
        ext.insert(Door::Tcp);
    }
}

/// `api.sock` admits the peers the main socket admits ([access]).
async fn check_peer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let door = req.conn_data::<Door>().copied().unwrap_or(Door::Tcp);
    let allowed = match door {
        Door::Socket { uid, gid } => req
            .app_data::<web::Data<DaemonState>>()
            .is_some_and(|s| s.peer_allowed(uid, gid)),
        // No TCP door is opened yet.
        Door::Tcp => false,
    };
    if !allowed {
        let refusal = error_document(&ErrorReply::new(
            ErrorKind::Refused,
            "this user may not use picketd",
            "ask the daemon's owner to add your uid to [access] allow_uids",
        ));
        return Ok(req.into_response(refusal));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
