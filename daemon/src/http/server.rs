//! Binds the API's doors and runs them in the daemon's actix System: `api.sock` beside the
//! main socket, with the same modes and the same peer-credential check, and the opt-in TCP
//! doors (http/tcp.rs). `routes` is the one list of what both doors serve. Must not know any
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

/// What every door serves (the TCP door adds /login and /logout): mount new route groups
/// here, one `.configure` each.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::http::v1::configure)
        .configure(crate::http::metrics_route::configure)
        .configure(crate::http::dashboard::configure);
}

/// The running API; `stop` ends it and removes `api.sock`.
pub struct Api {
    handle: ServerHandle,
    socket: PathBuf,
    tcp: Vec<ServerHandle>,
    /// `[http] listen`'s bound address, if it is open.
    pub tcp_addr: Option<std::net::SocketAddr>,
}

impl Api {
    pub async fn stop(self) {
        for door in self.tcp {
            door.stop(true).await;
        }
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
    let http = state.config().http.clone();
    let app_state = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(check_peer))
            .configure(routes)
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
    let door = crate::http::tcp::start_api(&state, &http)?;
    let metrics = crate::http::tcp::start_metrics(&state, &http)?;
    let tcp_addr = door.as_ref().map(|d| d.addr);
    crate::http::tcp::publish(&state.config(), tcp_addr, metrics.as_ref().map(|m| m.addr));
    let tcp = door.into_iter().chain(metrics).map(|d| d.handle).collect();
    Ok(Api {
        handle,
        socket,
        tcp,
        tcp_addr,
    })
}

/// Notes which door a connection came through (and, on `api.sock`, who is calling).
pub fn remember_door(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
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
        // The TCP door has its own App (http/tcp.rs) with token checks; never this one.
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
