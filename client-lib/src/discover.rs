//! Finding the daemon when no socket is named: the user's own (`default_socket`), else the
//! system daemon's (`SYSTEM_SOCKET`), else starting one of the user's. Connection policy,
//! so it lives with the client; must not print (the caller says which socket it uses).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::{default_socket, Client};
use crate::error::ClientError;

/// Where a system-wide picketd (the packaged systemd unit) listens.
pub const SYSTEM_SOCKET: &str = "/run/picket/picketd.sock";

impl Client {
    /// Connects to the user's daemon if one runs, else to the system daemon if one runs,
    /// else (with `autostart`) starts the user's. A system daemon that refuses this user is
    /// an error, never hidden behind a private daemon started instead: its scans and scope
    /// are what the user expects to see. Gives the socket it settled on (or failed on) too.
    pub async fn connect_found(
        timeout: Option<Duration>,
        autostart: bool,
    ) -> (PathBuf, Result<Client, ClientError>) {
        let mine = default_socket();
        match Client::connect_within(&mine, timeout).await {
            Err(ClientError::NotRunning { .. }) => {}
            other => return (mine, other),
        }
        let system = Path::new(SYSTEM_SOCKET);
        if system.exists() {
            match Client::connect_within(system, timeout).await {
                Err(ClientError::NotRunning { .. }) => {}
                other => return (system.to_path_buf(), other),
            }
        }
        let found = if autostart {
            Client::connect_or_start_within(&mine, timeout).await
        } else {
            Err(ClientError::NotRunning {
                socket: mine.clone(),
            })
        };
        (mine, found)
    }
}
