//! Ownership of the socket path: a 0700 directory, an flock'd lock file beside the socket,
//! and removal of a stale socket only while holding that lock.
//!
//! Why a lock file: after SIGKILL the socket file stays, and binding over it blindly would
//! also steal a live daemon's socket. Must not bind the socket itself (ipc/server.rs does).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another picketd (pid {pid}) already serves {socket}; stop it with `picket shutdown`, or give this one another socket (--socket or PICKET_SOCKET)")]
    AlreadyRunning { pid: String, socket: PathBuf },
    #[error("socket directory {dir}: {reason}")]
    Directory { dir: PathBuf, reason: String },
    #[error("lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the daemon's whole life; dropping it releases the lock.
#[derive(Debug)]
pub struct SocketLock {
    _lock: Flock<File>,
    pub socket: PathBuf,
}

pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".lock");
    socket.with_file_name(name)
}

/// Creates (or checks) the socket's directory: ours and 0700, so the socket's own mode
/// can't be widened by a umask race and no other user can reach it.
pub fn prepare_directory(dir: &Path) -> Result<(), LockError> {
    let err = |reason: String| LockError::Directory {
        dir: dir.to_path_buf(),
        reason,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| err(e.to_string()))?;
    let meta = std::fs::metadata(dir).map_err(|e| err(e.to_string()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(err(format!(
            "owned by uid {}, not by this daemon's uid {me}; remove it or pick another socket path",
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err(format!("cannot set mode 0700: {e}")))?;
    }
    Ok(())
}

pub fn acquire(socket: &Path) -> Result<SocketLock, LockError> {
    let dir = socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    prepare_directory(dir)?;
    let path = lock_path(socket);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = if pid.trim().is_empty() {
                "unknown".into()
            } else {
                pid.trim().to_string()
            };
            return Err(LockError::AlreadyRunning {
                pid,
                socket: socket.to_path_buf(),
            });
        }
    };
    lock.set_len(0).map_err(io)?;
    lock.rewind().map_err(io)?;
    write!(lock, "{}", std::process::id()).map_err(io)?;
    // We hold the lock, so whatever socket file is there belongs to a dead daemon.
    match std::fs::remove_file(socket) {
        Ok(()) => {
            tracing::info!(socket = %socket.display(), "removed stale socket left by a previous daemon")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(LockError::Io {
                path: socket.to_path_buf(),
                source: e,
            })
        }
    }
    Ok(SocketLock {
        _lock: lock,
        socket: socket.to_path_buf(),
    })
}
