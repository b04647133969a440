//! The database file as the filesystem sees it: its identity (device, inode) at open time,
//! checked again before each write batch and by `health`, and the free space of the
//! directory holding it.
//!
//! SQLite keeps writing to an open file that was deleted or replaced: the writes "succeed"
//! into an inode nobody will ever open again. Comparing the path's identity with the one
//! opened is how the daemon notices and refuses instead. Must not hold SQL or open
//! connections: it only stats paths.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::storage::StorageError;

/// The database file picketd opened: the path and the (device, inode) it had then.
#[derive(Debug, Clone)]
pub struct DbFile {
    pub path: PathBuf,
    dev: u64,
    ino: u64,
}

/// What `check` saw of the file: its inode and size now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    pub ino: u64,
    pub size: u64,
}

/// Free and total bytes of the filesystem holding the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub available: u64,
    pub total: u64,
}

impl DbFile {
    /// Records the identity `path` has now (just after opening it); None if it cannot be
    /// stat'ed, in which case no check is possible and none is made.
    pub fn at(path: &Path) -> Option<DbFile> {
        let meta = std::fs::metadata(path).ok()?;
        Some(DbFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// The file at the path is still the one opened; otherwise the error saying what
    /// happened to it and what to do.
    pub fn check(&self) -> Result<FileFacts, StorageError> {
        let gone = |what: String| StorageError::FileReplaced {
            path: self.path.display().to_string(),
            what,
        };
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => Ok(FileFacts {
                ino: m.ino(),
                size: m.size(),
            }),
            Ok(m) => Err(gone(format!(
                "was replaced (inode {} opened, inode {} there now)",
                self.ino,
                m.ino()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone("was deleted".into())),
            Err(e) => Err(gone(format!("cannot be checked ({e})"))),
        }
    }

    /// Free space of the directory holding the file (statvfs: what an unprivileged
    /// writer may still use).
    pub fn space(&self) -> std::io::Result<Space> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let s = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
        let block = s.fragment_size().max(1);
        Ok(Space {
            available: s.blocks_available().saturating_mul(block),
            total: s.blocks().saturating_mul(block),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_or_replaced_file_is_noticed_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picket.db");
        std::fs::write(&path, b"x").unwrap();
        let file = DbFile::at(&path).unwrap();
        assert_eq!(file.check().unwrap().size, 1);
        // Made while the first still exists, so it cannot reuse its inode number.
        let other = dir.path().join("other.db");
        std::fs::write(&other, b"y").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let e = file.check().unwrap_err().to_string();
        assert!(e.contains("picket.db") && e.contains("replaced"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = file.check().unwrap_err().to_string();
        assert!(
            e.contains("deleted") && e.contains("restart picketd"),
            "{e}"
        );
        assert!(file.space().unwrap().total > 0);
    }
}
