//! The toolbox: the resolved tool specs and one ToolActor per tool, kept in step with the
//! config across reloads (existing actors get the new spec, new tools get an actor).
//! Must not run tools itself.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::{Actor, Addr};

use crate::actors::tool::{ToolActor, UpdateSpec};
use crate::config::Config;
use crate::host_limits::HostLimits;
use crate::scan_board::ScanBoard;
use crate::tool_registry::{self, ToolSet, ToolSpec};

pub struct Toolbox {
    specs: RwLock<ToolSet>,
    actors: RwLock<HashMap<String, Addr<ToolActor>>>,
    pub hosts: Arc<HostLimits>,
    board: Arc<ScanBoard>,
    /// True once the tools have been resolved (paths and versions) at least once.
    ready: tokio::sync::watch::Sender<bool>,
}

impl Toolbox {
    /// An empty toolbox; `apply` fills it. The daemon answers requests meanwhile (probing
    /// versions takes seconds: testssl.sh prints a banner first), and whatever needs the
    /// tools waits for `ready`.
    pub fn new(config: &Config, board: Arc<ScanBoard>) -> Arc<Self> {
        Arc::new(Self {
            specs: RwLock::new(Arc::default()),
            actors: RwLock::new(HashMap::new()),
            hosts: Arc::new(HostLimits::new(config.limits.per_target)),
            board,
            ready: tokio::sync::watch::channel(false).0,
        })
    }

    /// Waits until the tools have been resolved once.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }

    /// Resolves the tools of `config` and brings the actors in line with them.
    pub async fn apply(&self, config: &Config) {
        let specs = tool_registry::resolve(config).await;
        self.hosts.set_limit(config.limits.per_target);
        {
            let mut actors = self.actors.write().unwrap_or_else(|p| p.into_inner());
            for (name, spec) in specs.iter() {
                match actors.get(name) {
                    Some(addr) => addr.do_send(UpdateSpec(spec.clone())),
                    None => {
                        let addr =
                            ToolActor::new(spec.clone(), self.hosts.clone(), self.board.clone())
                                .start();
                        actors.insert(name.clone(), addr);
                    }
                }
            }
        }
        for spec in specs.values().filter(|s| !s.installed()) {
            tracing::warn!(
                "tool {} is not installed (program '{}' not found on PATH); scans will skip it",
                spec.name,
                spec.config.program
            );
        }
        *self.specs.write().unwrap_or_else(|p| p.into_inner()) = specs;
        self.ready.send_replace(true);
    }

    pub fn specs(&self) -> ToolSet {
        self.specs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn spec(&self, name: &str) -> Option<Arc<ToolSpec>> {
        self.specs().get(name).cloned()
    }

    pub fn actors(&self) -> Vec<(String, Addr<ToolActor>)> {
        let a = self.actors.read().unwrap_or_else(|p| p.into_inner());
        a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn actor(&self, name: &str) -> Option<Addr<ToolActor>> {
        self.actors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}
