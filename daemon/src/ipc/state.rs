//! What every connection handler can reach: the live config, the actors, the counters and
//! the shutdown signal. Must not hold request logic (ipc/handlers/ does).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use crate::cache::actor::CacheActor;
use crate::config::{Config, Overrides};
use crate::metrics::Metrics;
use crate::run::toolbox::Toolbox;
use crate::scan::board::ScanBoard;
use crate::scan::scheduler::Scheduler;
use crate::scope::Scope;
use crate::storage::Db;

/// The parts of the config that SIGHUP swaps together.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub config: Arc<Config>,
    pub scope: Arc<Scope>,
}

/// Why a reload kept the previous config.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Scope(#[from] crate::scope::ScopeError),
}

/// The running pieces the state is built from.
pub struct Parts {
    pub metrics: Arc<Metrics>,
    pub db: Db,
    pub cache: actix::Addr<CacheActor>,
    pub scheduler: actix::Addr<Scheduler>,
    pub board: Arc<ScanBoard>,
    pub toolbox: Arc<Toolbox>,
    pub notifier: Arc<crate::notify::Notifier>,
}

pub struct DaemonState {
    live: RwLock<LiveConfig>,
    pub cache: actix::Addr<CacheActor>,
    pub config_path: Option<PathBuf>,
    overrides: Overrides,
    pub metrics: Arc<Metrics>,
    pub db: Db,
    pub scheduler: actix::Addr<Scheduler>,
    pub board: Arc<ScanBoard>,
    pub toolbox: Arc<Toolbox>,
    pub notifier: Arc<crate::notify::Notifier>,
    pub shutdown: CancellationToken,
    /// Wakes the schedule task (schedule/) after a schedule command changed the table.
    pub schedules: tokio::sync::Notify,
    pub pid: u32,
    pub own_uid: u32,
    /// Shared by every connection's request codec: bounds what half-sent frames hold.
    pub frame_budget: picket_protocol::FrameBudget,
}

impl DaemonState {
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        parts: Parts,
    ) -> anyhow::Result<Arc<Self>> {
        let Parts {
            metrics,
            db,
            cache,
            scheduler,
            board,
            toolbox,
            notifier,
        } = parts;
        let scope = Scope::from_config(&config.scope)?;
        let frame_budget = picket_protocol::FrameBudget::new(config.limits.max_pending_frame_bytes);
        Ok(Arc::new(Self {
            live: RwLock::new(LiveConfig {
                config: Arc::new(config),
                scope: Arc::new(scope),
            }),
            config_path,
            overrides,
            cache,
            metrics,
            db,
            scheduler,
            board,
            toolbox,
            notifier,
            shutdown: CancellationToken::new(),
            schedules: tokio::sync::Notify::new(),
            pid: std::process::id(),
            own_uid: nix::unistd::geteuid().as_raw(),
            frame_budget,
        }))
    }

    pub fn live(&self) -> LiveConfig {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn config(&self) -> Arc<Config> {
        self.live().config
    }

    /// Reloads from the same files as at start and applies limits, scope and tools to the
    /// running actors. On error the old config stays, whole.
    pub async fn reload(&self) -> Result<Arc<Config>, ReloadError> {
        let mut config = Config::load(self.config_path.as_deref())?;
        self.overrides.apply(&mut config);
        let scope = Arc::new(Scope::from_config(&config.scope)?);
        let config = Arc::new(config);
        self.metrics
            .set_slow_query_threshold(config.db.slow_query_ms);
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = LiveConfig {
            config: config.clone(),
            scope: scope.clone(),
        };
        // Before the scheduler hears of new limits (which may admit queued scans): every
        // run asked about from now on, queued or not, meets the new scope.
        self.toolbox.scope.set(scope);
        self.scheduler.do_send(crate::scan::scheduler::SetLimits {
            max_running: config.limits.max_concurrent_scans,
            max_queued: config.limits.max_queued_scans,
        });
        self.notifier.apply(&config.notify);
        self.toolbox.apply(&config).await;
        Ok(config)
    }

    /// Peers allowed on the socket: our own uid, root, and what the config adds.
    pub fn peer_allowed(&self, uid: Option<u32>, gid: Option<u32>) -> bool {
        let Some(uid) = uid else { return false };
        let access = &self.config().access;
        uid == self.own_uid
            || uid == 0
            || access.allow_uids.contains(&uid)
            || (access.allow_gid.is_some() && gid == access.allow_gid)
    }
}
