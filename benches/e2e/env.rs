//! What only the benchmark runner needs on top of picket-testkit: its tokio runtime, and a
//! daemon started for measuring (timed to its first ping with the runner's own client,
//! settled before anything is measured, stopped gently when dropped).
//!
//! Must not grow a second harness: the private world, the daemon and /proc live in
//! picket-testkit, shared with tests/.

use std::time::Duration;

use picket_testkit::{Daemon, Env};

use picket_client::Client;

/// A current-thread tokio runtime: the benchmark's client side runs on one core, leaving
/// the other to the daemon on this 2-core machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A fresh env whose daemons read `config` (TOML) as `--config`.
pub fn bench_env(config: &str) -> anyhow::Result<Env> {
    Ok(Env::try_new()?.with_config_file(config))
}

/// Starts picketd and returns it with its start-to-ready time: from spawn to the first
/// answered ping (connect + handshake + ping, retried every millisecond). Returns once
/// the daemon has settled (see `Daemon::settle`); dropping it stops it with SIGTERM.
pub fn start_daemon(env: &Env) -> anyhow::Result<(Daemon, Duration)> {
    let rt = runtime();
    let ping = |env: &Env| {
        rt.block_on(async {
            let mut c = Client::connect(env.socket()).await?;
            c.ping().await
        })
        .ok()
        .map(|p| u64::from(p.pid))
    };
    let (mut daemon, ready) =
        env.try_start_daemon_probed(std::iter::empty::<&str>(), Duration::from_millis(1), ping)?;
    daemon.settle();
    daemon.stop_on_drop(Duration::from_secs(15));
    Ok((daemon, ready))
}
