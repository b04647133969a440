//! Ownership of the socket path and of the data directory: a socket directory and socket
//! whose modes follow [access] (see `SocketModes`), an flock'd lock file beside the socket,
//! removal of a stale socket only while holding that lock, and an flock'd `picketd.lock` in
//! a 0700 data directory naming its holder's pid and socket.
//!
//! Nothing here is followed through a symbolic link: the socket directory is opened with
//! O_NOFOLLOW and refused when it is a link (someone else's link would have us chmod and
//! write into its target), lock files are opened with O_NOFOLLOW, and a directory that is
//! not the daemon user's own (a planted /tmp/picket-$UID) is refused.
//!
//! Why lock files: after SIGKILL the socket file stays, and binding over it blindly would
//! also steal a live daemon's socket; and two daemons on one data directory (on two sockets)
//! would resume and run the same scans at once. flock dies with its holder, so a killed
//! daemon never blocks the next one. Must not bind the socket itself (ipc/server.rs does).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};

use crate::config::AccessConfig;

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
    #[error("data directory {dir} is owned by uid {owner}, not by this daemon's uid {me}; pick a directory of your own (--data-dir), or fix its owner")]
    DataDirNotOurs { dir: PathBuf, owner: u32, me: u32 },
    #[error("socket directory {dir}: {reason}")]
    Directory { dir: PathBuf, reason: String },
    #[error(
        "{path} is a symbolic link; picketd does not follow links for its lock files: remove it"
    )]
    Linked { path: PathBuf },
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

/// O_NOFOLLOW's ELOOP said plainly; any other error as `other` makes it.
fn lock_error(
    path: &Path,
    e: std::io::Error,
    other: impl FnOnce(std::io::Error) -> LockError,
) -> LockError {
    if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
        LockError::Linked {
            path: path.to_path_buf(),
        }
    } else {
        other(e)
    }
}

/// Opens (creating it) and try-locks `path`; on contention, returns what the holder wrote.
fn try_lock(path: &Path) -> Result<Result<Flock<File>, String>, std::io::Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
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
    // The database holds every finding: no other user may list or read it. A link to the
    // data directory is allowed (a bigger disk); what it points at must be ours.
    let meta = std::fs::metadata(dir).map_err(io)?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(LockError::DataDirNotOurs {
            dir: dir.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    let lock_file = dir.join("picketd.lock");
    match try_lock(&lock_file).map_err(|e| lock_error(&lock_file, e, io))? {
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

/// Who may reach the socket, as file modes: the daemon's own SO_PEERCRED check decides
/// who is served; the modes decide who can get that far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketModes {
    pub dir: u32,
    pub socket: u32,
    /// Group given to the directory and socket.
    pub group: Option<u32>,
}

impl SocketModes {
    /// Only the daemon's user: 0700/0600. A group (`allow_gid`): 0750/0660 owned by that
    /// group, so its members get in and nobody else can even connect. Extra uids
    /// (`allow_uids`): a file mode cannot name single users, so 0711/0666 lets any local
    /// user connect (not list the directory) and the SO_PEERCRED check refuses the
    /// unlisted ones with a clear message.
    pub fn for_access(access: &AccessConfig) -> SocketModes {
        match (access.allow_uids.is_empty(), access.allow_gid) {
            (false, group) => SocketModes {
                dir: 0o711,
                socket: 0o666,
                group,
            },
            (true, Some(gid)) => SocketModes {
                dir: 0o750,
                socket: 0o660,
                group: Some(gid),
            },
            (true, None) => SocketModes {
                dir: 0o700,
                socket: 0o600,
                group: None,
            },
        }
    }
}

/// Creates (or checks) the socket's directory: not a link, ours, with `modes.dir` (and its
/// group). Set through a descriptor opened with O_NOFOLLOW, so what is checked is what
/// is changed.
pub fn prepare_directory(dir: &Path, modes: SocketModes) -> Result<(), LockError> {
    let err = |reason: String| LockError::Directory {
        dir: dir.to_path_buf(),
        reason,
    };
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if meta.file_type().is_symlink() {
            return Err(err(
                "is a symbolic link; picketd does not follow links for its \
                 socket: remove the link, or point --socket / PICKET_SOCKET at a real directory"
                    .into(),
            ));
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| err(e.to_string()))?;
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
        .open(dir)
        .map_err(|e| err(format!("cannot open it without following links: {e}")))?;
    let meta = handle.metadata().map_err(|e| err(e.to_string()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(err(format!(
            "owned by uid {}, not by this daemon's uid {me}; remove it or pick another socket path",
            meta.uid()
        )));
    }
    if let Some(gid) = modes.group.filter(|&g| g != meta.gid()) {
        std::os::unix::fs::fchown(&handle, None, Some(gid)).map_err(|e| {
            err(format!(
                "cannot give it to group {gid} ([access] allow_gid): {e}; run picketd as a member of that group"
            ))
        })?;
    }
    if meta.mode() & 0o7777 != modes.dir {
        handle
            .set_permissions(std::fs::Permissions::from_mode(modes.dir))
            .map_err(|e| err(format!("cannot set mode {:o}: {e}", modes.dir)))?;
    }
    Ok(())
}

/// Gives the freshly bound socket its mode and group. It was created under the daemon's
/// 0077 umask, so until now it was private; the directory is ours and checked, so the
/// socket file is the one we bound.
pub fn publish_socket(socket: &Path, modes: SocketModes) -> Result<(), LockError> {
    let io = |source| LockError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(socket).map_err(io)?;
    if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
        return Err(LockError::Directory {
            dir: socket.to_path_buf(),
            reason: "is not the socket this daemon bound; something replaced it".into(),
        });
    }
    if let Some(gid) = modes.group {
        std::os::unix::fs::lchown(socket, None, Some(gid)).map_err(io)?;
    }
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(modes.socket)).map_err(io)
}

pub fn acquire(socket: &Path, modes: SocketModes) -> Result<SocketLock, LockError> {
    let dir = socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    prepare_directory(dir, modes)?;
    let path = lock_path(socket);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut lock = match try_lock(&path).map_err(|e| lock_error(&path, e, io))? {
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

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: SocketModes = SocketModes {
        dir: 0o700,
        socket: 0o600,
        group: None,
    };

    #[test]
    fn modes_follow_the_access_config() {
        let mut access = AccessConfig::default();
        assert_eq!(SocketModes::for_access(&access), PRIVATE);
        access.allow_gid = Some(42);
        let group = SocketModes::for_access(&access);
        assert_eq!(
            (group.dir, group.socket, group.group),
            (0o750, 0o660, Some(42))
        );
        access.allow_uids = vec![1000];
        let uids = SocketModes::for_access(&access);
        assert_eq!((uids.dir, uids.socket), (0o711, 0o666));
    }

    #[test]
    fn a_linked_socket_directory_is_refused_and_its_target_untouched() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = acquire(&link.join("picketd.sock"), PRIVATE).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_file_that_is_a_link_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("picketd.sock.lock")).unwrap();
        let err = acquire(&dir.join("picketd.sock"), PRIVATE).unwrap_err();
        assert!(matches!(err, LockError::Linked { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    /// A /tmp/picket-$UID someone else made first: refused, not used. Needs root to plant
    /// a directory of another uid; the tests run as root.
    #[test]
    fn a_socket_directory_of_another_user_is_refused() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test chowns a directory to another uid, which needs root"
        );
        let root = tempfile::tempdir().unwrap();
        let planted = root.path().join("picket-1000");
        std::fs::create_dir(&planted).unwrap();
        std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
        let err = prepare_directory(&planted, PRIVATE).unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    }

    #[test]
    fn the_data_directory_is_narrowed_to_0700() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _lock = acquire_data_dir(&data, Path::new("/run/x.sock")).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
