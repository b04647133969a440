//! `/v1/cache`: `picket cache stats | clear | cleanup | invalidate`. Must not touch the
//! cache itself (the cache actor does, through ipc/handlers/cache.rs).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use picket_protocol::{CacheCommand, Request, ScanId};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{invalid, json_body, Endpoint, Routes, State};
use crate::http::answer::call;

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/cache", "cacheStats")
            .summary("Entries, bytes, hits (L1, L2, shared), misses, hit rate (`picket cache stats`)")
            .answers(200, "cache-stats"),
        stats,
    );
    r.add(
        Endpoint::new(Method::POST, "/cache/clear", "clearCache")
            .summary("Drops every cached result (`picket cache clear`)")
            .answers(200, "cache-changed"),
        clear,
    );
    r.add(
        Endpoint::new(Method::POST, "/cache/cleanup", "cleanupCache")
            .summary("Drops expired results now (`picket cache cleanup`)")
            .answers(200, "cache-changed"),
        cleanup,
    );
    r.add(
        Endpoint::new(Method::POST, "/cache/invalidate", "invalidateCache")
            .summary("Drops the results of a target, a scan or a tool (`picket cache invalidate`)")
            .body::<InvalidateBody>("InvalidateBody")
            .answers(200, "cache-changed"),
        invalidate,
    );
}

/// At least one of the three.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateBody {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub scan: Option<ScanId>,
    #[serde(default)]
    pub tool: Option<String>,
}

async fn command(state: State, cmd: CacheCommand) -> HttpResponse {
    call(&state.into_inner(), Request::Cache(cmd)).await
}

async fn stats(state: State) -> HttpResponse {
    command(state, CacheCommand::Stats).await
}

async fn clear(state: State) -> HttpResponse {
    command(state, CacheCommand::Clear).await
}

async fn cleanup(state: State) -> HttpResponse {
    command(state, CacheCommand::Cleanup).await
}

async fn invalidate(state: State, body: web::Bytes) -> HttpResponse {
    let b: InvalidateBody = match json_body(&body, "invalidate") {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    if b.target.is_none() && b.scan.is_none() && b.tool.is_none() {
        return invalid(
            "invalidate needs target, scan or tool",
            "POST /v1/cache/clear drops everything",
        );
    }
    let cmd = CacheCommand::Invalidate {
        target: b.target,
        scan: b.scan,
        tool: b.tool,
    };
    command(state, cmd).await
}
