//! Ownership of the socket path and of the data directory: a 0700 socket directory, an
//! flock'd lock file beside the socket, removal of a stale socket only while holding that
//! lock, and an flock'd `picketd.lock` in the data directory naming its holder's pid and socket.
//!
//! Why lock files: after SIGKILL the socket file stays, and binding over it blindly would
//! also steal a live daemon's socket; and two daemons on one data directory (on two sockets)
//! would resume and run the same scans at once. flock dies with its holder, so a killed
//! daemon never blocks the next one. Must not bind the socket itself (ipc/server.rs does).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another picketd (pid {pid}) already serves {socket}; stop it with `picket shutdown`, or give this one another socket (--socket or PICKET_SOCKET)")]
    AlreadyRunning { pid: String, socket: PathBuf },
    #[error("another picketd (pid {pid}, socket {socket}) already uses the data directory {dir}; stop it (PICKET_SOCKET={socket} picket shutdown), or give this one another data directory (--data-dir)")]
    DataDirInUse {
        pid: String,
        socket: String,
        dir: PathBuf,
    },
    #[error("data directory {dir}: {source}; create it or pick another (--data-dir)")]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
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
pub struct DataDirLock {
    _lock: Flock<File>,
}

/// Opens (creating it) and try-locks `path`; on contention, returns what the holder wrote.
fn try_lock(path: &Path) -> Result<Result<Flock<File>, String>, std::io::Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Ok(l)),
        Err((mut file, _)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Err(holder))
        }
    }
}

/// Takes `DIR/picketd.lock` (creating DIR) and writes our pid and socket in it, or refuses
/// naming the daemon that holds it.
pub fn acquire_data_dir(dir: &Path, socket: &Path) -> Result<DataDirLock, LockError> {
    let io = |source| LockError::DataDir {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    match try_lock(&dir.join("picketd.lock")).map_err(io)? {
        Ok(mut lock) => {
            lock.set_len(0).map_err(io)?;
            lock.rewind().map_err(io)?;
            write!(lock, "{}\n{}\n", std::process::id(), socket.display()).map_err(io)?;
            Ok(DataDirLock { _lock: lock })
        }
        Err(holder) => {
            let mut lines = holder.lines().map(str::trim);
            let mut field = || {
                lines
                    .next()
                    .filter(|l| !l.is_empty())
                    .unwrap_or("unknown")
                    .to_string()
            };
            let (pid, socket) = (field(), field());
            Err(LockError::DataDirInUse {
                pid,
                socket,
                dir: dir.to_path_buf(),
            })
        }
    }
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
    let mut lock = match try_lock(&path).map_err(io)? {
        Ok(l) => l,
        Err(pid) => {
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
