//! The opt-in TCP doors: `[http] listen` (token or session, Host allow-list, security
//! headers, TLS when configured) and `[http] metrics_listen` (`/metrics` only, no token).
//! Must not decide who is authenticated (auth.rs) nor what a route answers (v1/, login.rs,
//! metrics_route.rs): it binds and stacks those pieces.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::http::auth::{self, Gate};
use crate::http::guard::{self, Hosts};
use crate::http::{login, metrics_route, server, tls, token, HttpConfig};
use crate::ipc::state::DaemonState;

/// A running TCP door and the address it really bound (port 0 picks one).
pub struct Bound {
    pub handle: ServerHandle,
    pub addr: SocketAddr,
}

fn bind(addr: SocketAddr, field: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr} ([http] {field}): {e}; choose a free port or stop what holds it")
    })
}

/// Serves the API, the dashboard and /metrics on `[http] listen`, if set.
pub fn start_api(state: &Arc<DaemonState>, config: &HttpConfig) -> anyhow::Result<Option<Bound>> {
    let Some(addr) = config.listen else {
        return Ok(None);
    };
    let token = token::load_or_create(&state.config().data_dir())?;
    let listener = bind(addr, "listen")?;
    let bound = listener.local_addr()?;
    let gate = web::Data::new(Gate::new(token, config.tls()));
    let hosts = web::Data::new(Hosts::for_door(bound, &config.allowed_hosts));
    let app_state = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(gate.clone())
            .app_data(hosts.clone())
            .wrap(from_fn(auth::authenticate))
            .wrap(from_fn(guard::check_host))
            .wrap(from_fn(guard::secure_headers))
            .configure(login::configure)
            .configure(server::routes)
    })
    .workers(2)
    .disable_signals()
    .on_connect(server::remember_door);
    let server = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            server.listen_rustls_0_23(listener, tls::server_config(cert, key)?)?
        }
        _ => server.listen(listener)?,
    };
    let server = server.run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("the HTTP API's TCP door stopped: {e}");
        }
    });
    let scheme = if config.tls() { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{bound}/"), "HTTP API listening on TCP");
    Ok(Some(Bound {
        handle,
        addr: bound,
    }))
}

/// Serves only /metrics, without a token, on `[http] metrics_listen`, if set.
pub fn start_metrics(
    state: &Arc<DaemonState>,
    config: &HttpConfig,
) -> anyhow::Result<Option<Bound>> {
    let Some(addr) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = bind(addr, "metrics_listen")?;
    let bound = listener.local_addr()?;
    let app_state = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(guard::secure_headers))
            .configure(metrics_route::configure)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("the metrics listener stopped: {e}");
        }
    });
    tracing::info!(addr = %bound, "Prometheus metrics listening on TCP");
    Ok(Some(Bound {
        handle,
        addr: bound,
    }))
}
