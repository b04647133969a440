//! The toolbox: the resolved tool specs and one ToolActor per tool, kept in step with the
//! config across reloads (existing actors get the new spec, new tools get an actor), with
//! what every actor shares: the per-host slots and the scope gate.
//!
//! Resolving a tool means probing its version, which takes seconds for some (testssl.sh
//! prints a banner first), unless the data directory's version cache (run/versions.rs)
//! knows this very program file already. Probes run at once and each tool is published as soon as its own
//! probe ends, so a scan waits only for the tools it uses, and only at start: on a reload the
//! previous spec serves until the new one is published. Must not run tools itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use actix::{Actor, Addr};
use futures::StreamExt;

use crate::config::Config;
use crate::run::host_limits::HostLimits;
use crate::run::scope_gate::ScopeGate;
use crate::run::spec::{self, ToolSet, ToolSpec};
use crate::run::tool_actor::{ToolActor, UpdateSpec};
use crate::run::versions::VersionCache;
use crate::scan::board::ScanBoard;

pub struct Toolbox {
    specs: RwLock<BTreeMap<String, Arc<ToolSpec>>>,
    /// Tools of the current config, published or still being probed.
    expected: RwLock<BTreeSet<String>>,
    actors: RwLock<HashMap<String, Addr<ToolActor>>>,
    pub hosts: Arc<HostLimits>,
    /// The scope in force, asked just before each run starts; the reload swaps it.
    pub scope: Arc<ScopeGate>,
    board: Arc<ScanBoard>,
    /// Bumped whenever a spec is published, so waiters look again.
    published: tokio::sync::watch::Sender<u64>,
    /// Versions of programs probed before (by this daemon or an earlier one).
    versions: VersionCache,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Toolbox {
    /// An empty toolbox; `apply` fills it while the daemon already answers requests.
    /// Every tool is probed for its version (nothing is remembered across restarts).
    pub fn new(config: &Config, board: Arc<ScanBoard>, scope: Arc<ScopeGate>) -> Arc<Self> {
        Self::with_versions(config, board, scope, VersionCache::disabled())
    }

    /// `new`, remembering tool versions in `versions` (the daemon's: its data directory).
    pub fn with_versions(
        config: &Config,
        board: Arc<ScanBoard>,
        scope: Arc<ScopeGate>,
        versions: VersionCache,
    ) -> Arc<Self> {
        Arc::new(Self {
            specs: RwLock::default(),
            expected: RwLock::new(config.tools.keys().cloned().collect()),
            actors: RwLock::default(),
            hosts: Arc::new(HostLimits::new(config.limits.per_target)),
            scope,
            board,
            published: tokio::sync::watch::channel(0).0,
            versions,
        })
    }

    /// Resolves the tools of `config` and brings the actors in line with them, publishing
    /// each tool as soon as it is resolved.
    pub async fn apply(&self, config: &Config) {
        self.hosts.set_limit(config.limits.per_target);
        *write(&self.expected) = config.tools.keys().cloned().collect();
        write(&self.specs).retain(|name, _| config.tools.contains_key(name));
        let mut probes: futures::stream::FuturesUnordered<_> = config
            .tools
            .iter()
            .map(|(name, tc)| spec::resolve_one(name, tc, &self.versions))
            .collect();
        while let Some(spec) = probes.next().await {
            self.publish(Arc::new(spec));
        }
    }

    fn publish(&self, spec: Arc<ToolSpec>) {
        if !spec.installed() {
            tracing::warn!(
                "tool {} is not installed (program '{}' not found on PATH); scans will skip it",
                spec.name,
                spec.config.program
            );
        }
        {
            let mut actors = write(&self.actors);
            match actors.get(&spec.name) {
                Some(addr) => addr.do_send(UpdateSpec(spec.clone())),
                None => {
                    let addr = ToolActor::new(
                        spec.clone(),
                        self.hosts.clone(),
                        self.scope.clone(),
                        self.board.clone(),
                    )
                    .start();
                    actors.insert(spec.name.clone(), addr);
                }
            }
        }
        write(&self.specs).insert(spec.name.clone(), spec);
        self.published.send_modify(|n| *n += 1);
    }

    /// Waits until each of `names` that the config has is published.
    pub async fn ready_for(&self, names: &[String]) {
        let mut rx = self.published.subscribe();
        loop {
            let missing = {
                let (specs, expected) = (read(&self.specs), read(&self.expected));
                names
                    .iter()
                    .any(|n| expected.contains(n) && !specs.contains_key(n))
            };
            if !missing || rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits until every configured tool is published.
    pub async fn ready(&self) {
        let names: Vec<String> = read(&self.expected).iter().cloned().collect();
        self.ready_for(&names).await;
    }

    pub fn specs(&self) -> ToolSet {
        Arc::new(read(&self.specs).clone())
    }

    pub fn spec(&self, name: &str) -> Option<Arc<ToolSpec>> {
        read(&self.specs).get(name).cloned()
    }

    pub fn actors(&self) -> Vec<(String, Addr<ToolActor>)> {
        read(&self.actors)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn actor(&self, name: &str) -> Option<Addr<ToolActor>> {
        read(&self.actors).get(name).cloned()
    }
}
