//! picketd: wiring only. Becomes a run helper when started as one (run/helper.rs), prints
//! the systemd scope drop-in when asked, otherwise loads the config, takes the data-dir and
//! socket locks, ends a previous daemon's leftover tools, opens the database, starts the
//! actors and the server, turns signals into reloads and shutdown, and ends every run's
//! processes before exiting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use picketd::cache::actor::CacheActor;
use picketd::config::{Config, Overrides};
use picketd::ipc::handlers::scans::resume_interrupted;
use picketd::ipc::state::{DaemonState, Parts};
use picketd::ipc::{lock as socket_lock, server};
use picketd::metrics::Metrics;
use picketd::run::process;
use picketd::run::scope_gate::ScopeGate;
use picketd::run::toolbox::Toolbox;
use picketd::scan::board::ScanBoard;
use picketd::scan::scheduler::Scheduler;
use picketd::scan::supervisor::SupervisorDeps;
use picketd::storage;
use picketd::storage::Db;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(
    name = "picketd",
    version,
    about = "Picket daemon: local security-scan orchestration"
)]
struct Flags {
    /// Extra config file, read after /etc/picket/picketd.toml and $XDG_CONFIG_HOME/picket/picketd.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Socket path (overrides the config; PICKET_SOCKET overrides both).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Data directory holding picket.db.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace or off, or a filter such as
    /// "info,picketd=debug" (overrides the config; RUST_LOG overrides both).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Check the configuration (the layered files, plus FILE if given, as `--config FILE`
    /// would read them), say what is wrong with the line and the valid keys, and exit:
    /// 0 when it is valid, 1 when it is not.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    check_config: Option<Option<PathBuf>>,
    /// Print the effective configuration, each value with where it came from (default, a
    /// file, the environment or a flag), and exit.
    #[arg(long)]
    print_config: bool,
    /// Print the systemd drop-in that lets the unit reach the [scope] allow networks, and exit.
    #[arg(long)]
    print_systemd_scope: bool,
}

fn main() {
    picketd::run::helper::run_if_asked();
    // Everything the daemon creates (database, lock files, the socket until published,
    // tools' output) is private unless it says otherwise: findings are sensitive.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let mut flags = Flags::parse();
    if let Some(Some(file)) = flags.check_config.take() {
        flags.config = Some(file);
        flags.check_config = Some(None);
    }
    let (mut config, origins) = match Config::load_traced(flags.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("picketd: {e}");
            std::process::exit(1);
        }
    };
    let overrides = Overrides {
        socket: flags.socket.clone(),
        data_dir: flags.data_dir.clone(),
        log_level: flags.log_level.clone(),
    };
    if let Some(level) = &flags.log_level {
        if let Err(e) = picketd::config::check_log_level(level) {
            eprintln!("picketd: --log-level: {e}");
            std::process::exit(2);
        }
    }
    overrides.apply(&mut config);
    if flags.check_config.is_some() {
        let files: Vec<String> = picketd::config::config_files(flags.config.as_deref())
            .into_iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        match files.is_empty() {
            true => println!("configuration OK (built-in defaults only)"),
            false => println!("configuration OK: {}", files.join(", ")),
        }
        return;
    }
    if flags.print_config {
        print!(
            "{}",
            picketd::config::origins::render(&config, &origins, &overrides)
        );
        return;
    }
    if flags.print_systemd_scope {
        print!("{}", picketd::systemd::drop_in(&config.scope));
        return;
    }
    init_tracing(&config.log_level);
    let result = actix::System::new().block_on(run(config, flags.config, overrides));
    if let Err(e) = result {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // No timestamps under journald (it adds its own), and no colours in a log file.
    let under_journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    if under_journal {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// The daemon's actors and shared parts: metrics, the database, the board, the toolbox (with
/// the versions remembered across restarts), the cache, the notifier and the scheduler.
async fn start_parts(
    config: &Config,
    data_dir: &std::path::Path,
    cluster: &picketd::cluster::start::Node,
) -> anyhow::Result<Parts> {
    let metrics = Arc::new(Metrics::new(config.db.slow_query_ms));
    let pool = storage::open(&data_dir.join("picket.db"), &config.db).await?;
    let db = Db::start(pool, metrics.clone(), config.db.write_batch);
    let board = Arc::new(ScanBoard::default());
    let scope = Arc::new(ScopeGate::from_config(&config.scope)?);
    let versions = picketd::run::versions::VersionCache::load(data_dir);
    let toolbox = Toolbox::with_versions(config, board.clone(), scope, versions);
    let cache = actix::Actor::start(CacheActor::new(
        db.clone(),
        config.cache.capacity_bytes,
        Duration::from_secs(config.cache.cleanup_interval_secs.max(1)),
    ));
    let notifier = picketd::notify::Notifier::new(db.clone(), metrics.clone(), &config.notify);
    let deps = SupervisorDeps {
        db: db.clone(),
        metrics: metrics.clone(),
        cache: cache.clone(),
        board: board.clone(),
        toolbox: toolbox.clone(),
        notifier: Some(notifier.clone()),
        remote: cluster.remote.clone(),
    };
    let scheduler = actix::Actor::start(Scheduler::new(
        config.limits.max_concurrent_scans,
        config.limits.max_queued_scans,
        deps,
    ));
    Ok(Parts {
        metrics,
        db: db.clone(),
        cache,
        scheduler,
        board,
        toolbox,
        notifier,
    })
}

async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    overrides: Overrides,
) -> anyhow::Result<()> {
    let signals = install_signals().context("cannot install signal handlers")?;
    let socket = config.socket_path();
    let data_dir = config.data_dir();
    // The data directory first: a second daemon of it is refused before it touches a socket.
    let data_lock = socket_lock::acquire_data_dir(&data_dir, &socket)?;
    // Set at start; a reload does not change who can reach the socket.
    let modes = socket_lock::SocketModes::for_access(&config.access);
    let lock = socket_lock::acquire(&socket, modes)?;
    process::init(&data_dir);
    let leftovers = process::end_leftovers();
    if leftovers > 0 {
        tracing::warn!("ended {leftovers} tool process(es) a previous picketd of this data directory left running");
    }
    picketd::cluster::join::check(config.cluster.as_ref()).await?;
    let cluster =
        picketd::cluster::start::connect(config.cluster.as_ref(), config.limits.per_target).await?;
    let parts = start_parts(&config, &data_dir, &cluster).await?;
    picketd::cluster::join::join(&cluster, &parts.cache, parts.toolbox.clone()).await?;
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    let db = parts.db.clone();
    let state = DaemonState::new(config, config_path, overrides, parts)?;
    resume_interrupted(&state).await;

    let listener = listen(&socket, modes)?;
    let api = picketd::http::server::start(state.clone(), &socket, modes)?;
    tracing::info!(socket = %socket.display(), data = %data_dir.display(), pid = state.pid, "picketd {} ready", picket_protocol::PACKAGE_VERSION);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    actix::spawn(handle_signals(state.clone(), signals));
    actix::spawn(picketd::schedule::run(state.clone()));
    let policy = state.clone();
    actix::spawn(storage::outputs::retention_loop(
        db.clone(),
        state.metrics.clone(),
        move || policy.config().retention.clone(),
    ));
    let (toolbox, config) = (state.toolbox.clone(), state.config());
    let worker = std::rc::Rc::new(std::cell::OnceCell::new());
    let started = worker.clone();
    actix::spawn(async move {
        toolbox.apply(&config).await;
        // After the tools are known, so the first run read finds its tool.
        let _ = started.set(cluster.start_worker(toolbox));
    });
    let connections = server::serve(listener, state.clone()).await;
    api.stop().await;
    if let Some(Some(worker)) = worker.get() {
        worker.drain(grace).await;
    }

    // Stop accepting happened when serve returned (the listener is dropped there, which
    // also removes the socket file). Now let in-flight requests finish, within the grace.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!(
        "shutting down: waiting up to {}s for {} connection(s)",
        grace.as_secs(),
        connections.len()
    );
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing remaining connections");
    }
    db.close().await;
    // After the database closed, so the ended runs stay unfinished and are resumed.
    let ended = process::stop_all(grace).await;
    if ended > 0 {
        tracing::info!("ended {ended} running tool run(s) and their processes");
    }
    drop(lock);
    drop(data_lock);
    tracing::info!("picketd stopped");
    Ok(())
}

/// Binds the socket, then gives it the mode and group [access] asks for.
fn listen(
    socket: &std::path::Path,
    modes: socket_lock::SocketModes,
) -> anyhow::Result<interprocess::local_socket::tokio::Listener> {
    let name = socket.to_fs_name::<GenericFilePath>()?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(modes.socket)
        .create_tokio()
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    socket_lock::publish_socket(socket, modes)?;
    Ok(listener)
}

/// Installed first thing, so a signal during start-up (tool probing, migrations) is
/// handled once the daemon is ready instead of killing it with the default action.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

fn install_signals() -> anyhow::Result<Signals> {
    Ok(Signals {
        term: signal(SignalKind::terminate())?,
        int: signal(SignalKind::interrupt())?,
        hup: signal(SignalKind::hangup())?,
    })
}

async fn handle_signals(state: Arc<DaemonState>, signals: Signals) {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); state.shutdown.cancel(); return; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); state.shutdown.cancel(); return; }
            _ = hup.recv() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                match state.reload().await {
                    Ok(_) => tracing::info!("SIGHUP: configuration reloaded"),
                    Err(e) => tracing::error!("SIGHUP: configuration NOT reloaded, keeping the previous one: {e}"),
                }
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    }
}
