//! `picket cache stats|clear|cleanup|invalidate`.

use std::sync::Arc;

use picket_protocol::*;

use super::error;
use crate::cache::actor::{GetStats, Invalidate, Selector};
use crate::ipc::state::DaemonState;

pub async fn cache(state: &Arc<DaemonState>, cmd: CacheCommand) -> Response {
    let selector = match cmd {
        CacheCommand::Stats => {
            return match state.cache.send(GetStats).await {
                Ok(s) => Response::CacheStats(s),
                Err(e) => error(ErrorKind::Internal, format!("cache unavailable: {e}"), "restart picketd"),
            }
        }
        CacheCommand::Clear => Selector::All,
        CacheCommand::Cleanup => Selector::Expired,
        CacheCommand::Invalidate { target, scan, tool } => match (target, scan, tool) {
            (Some(t), None, None) => {
                // Entries are keyed by the checked address the tools were given.
                let host = match state.live().scope.check(&t).await {
                    Ok(c) => c.host,
                    Err(_) => t,
                };
                Selector::Target(host)
            }
            (None, Some(s), None) => Selector::Scan(s),
            (None, None, Some(t)) => Selector::Tool(t),
            _ => {
                return error(
                    ErrorKind::Invalid,
                    "invalidate takes exactly one of --target, --scan, --tool",
                    "e.g. picket cache invalidate --target 127.0.0.1; `picket cache clear` drops everything",
                )
            }
        },
    };
    match state.cache.send(Invalidate(selector)).await {
        Ok(removed) => Response::CacheChanged { removed },
        Err(e) => error(
            ErrorKind::Internal,
            format!("cache unavailable: {e}"),
            "restart picketd",
        ),
    }
}
