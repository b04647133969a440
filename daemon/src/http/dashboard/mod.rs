//! The web dashboard: server-rendered pages over the same handlers as the socket protocol
//! (`ipc::handlers::handle`), readable without JavaScript; one small script
//! (`static/dashboard.js`) re-reads the live parts of a page when `/v1/events` says a scan
//! moved. Must not query the database nor decide what a command does (the handlers do),
//! and must not authenticate (the TCP door's middleware does, `http::auth`): forms only
//! carry the session's CSRF token.
//!
//! | file | owns |
//! |---|---|
//! | `render` | the template environment (templates embedded), asking a handler, error pages |
//! | `assets` | the embedded stylesheet and script |
//! | `scans` | `/`: the scans with live status and progress, the start form (`POST /scans`) |
//! | `scan` | `/scans/{id}`: one scan, updated as its runs finish; cancel |
//! | `findings` | `/findings` (filters, states) and `/findings/{id}` |
//! | `diff` | `/diff?a=&b=`: what changed between two scans |
//! | `performance` | `/performance`: cache, DB pool, queues, latency histograms, slow queries |
//! | `tools` | `/tools` |
//! | `schedules` | `/schedules` and their pause, resume, run-now buttons |

mod assets;
mod diff;
mod findings;
mod performance;
mod render;
mod scan;
mod scans;
mod schedules;
mod tools;

use actix_web::web;

/// Mounts every page; the caller's middleware decides who may see them.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(scans::page))
        // GET too: the page a refused form left in the address bar reloads as the list.
        .route("/scans", web::get().to(scans::page))
        .route("/scans", web::post().to(scans::start))
        .route("/scans/{id}", web::get().to(scan::page))
        .route("/scans/{id}/cancel", web::post().to(scan::cancel))
        .route("/findings", web::get().to(findings::page))
        .route("/findings/{id}", web::get().to(findings::one))
        .route("/diff", web::get().to(diff::page))
        .route("/performance", web::get().to(performance::page))
        .route("/tools", web::get().to(tools::page))
        .route("/schedules", web::get().to(schedules::page))
        .route("/schedules/{id}/{action}", web::post().to(schedules::act))
        .route("/static/{file}", web::get().to(assets::file));
}
