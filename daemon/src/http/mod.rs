//! The HTTP face of picketd: the same handlers as the socket protocol (ipc/handlers),
//! answered as JSON documents of exactly the `picket --json` shapes, on two doors:
//! `api.sock` beside the main socket (same modes and peer check, no token: Docker's API
//! socket is the model) and, opt-in, `[http] listen` on loopback TCP for browsers and
//! Prometheus. Must not decide what a request does (ipc/handlers does) nor speak bincode.
//!
//! | file | owns |
//! |---|---|
//! | `config` | `[http]`: the TCP listener, who may reach it |
//! | `server` | binding both doors, the peer check on `api.sock`, start and stop |
//! | `answer` | a handler's `Response` turned into an HTTP answer (status, JSON document) |
//! | `v1` | the `/v1` routes, one function per endpoint |
//! | `tcp` | the opt-in TCP doors: `[http] listen` (guarded) and `metrics_listen` |
//! | `guard` | the TCP door's `Host` allow-list and security headers (CSP, no CORS) |
//! | `auth` | bearer token or session cookie; the CSRF check of cookie changes |
//! | `token` | `DATA_DIR/http-token`: made once (0600), compared in constant time |
//! | `login` | `GET/POST /login`, `POST /logout`: the dashboard's session |
//! | `tls` | rustls from `[http] tls_cert` / `tls_key` |
//! | `metrics_route` | `GET /metrics`: Prometheus text on every door |
//! | `v1/reports` | `/v1/diff` and `/v1/reports`, through picket-report (as the CLI) |
//! | `dashboard` | the web dashboard: server-rendered pages over the same handlers, live through `/v1/events` |

pub mod answer;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod guard;
pub mod login;
pub mod metrics_route;
pub mod server;
pub mod tcp;
pub mod tls;
pub mod token;
pub mod v1;

pub use config::HttpConfig;
