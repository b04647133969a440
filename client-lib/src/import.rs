//! `Client::import_file`: a report streamed to the daemon in chunks, never read whole.
//! The file is checked before a byte is sent: only a regular file within the client's import
//! limit goes (a FIFO without a writer would hang, `/dev/zero` would never end). Must not
//! parse the report: the daemon's parsers do, with the file's bytes as they are.

use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use picket_protocol::{ImportHeader, Request, Response, ScanId};
use tokio::io::AsyncReadExt;

use crate::client::{unexpected, Client};
use crate::error::ClientError;

/// The client's import limit unless told otherwise: the daemon's default
/// `[limits] max_import_bytes`, so a report the client sends is one the daemon takes.
pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Bytes per chunk frame: small next to the frame cap, large enough that frames cost little.
const CHUNK: usize = 1024 * 1024;

/// A report to import and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    /// The tool whose parser reads it (`nmap`, `nuclei`, ...).
    pub tool: String,
    pub path: PathBuf,
    /// The target to store it under; the daemon takes the report's first host without it.
    pub target: Option<String>,
    /// Larger regular files are refused before anything is sent.
    pub max_bytes: u64,
}

/// What a file that is not a regular one is, for the refusal.
fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// Opens `path` for import: a regular file of at most `limit` bytes, and its size.
/// Opened non-blocking, then checked on the open file: a FIFO with no writer neither
/// hangs the open nor slips in between a check of the path and the open.
pub(crate) fn open_report(path: &Path, limit: u64) -> Result<(std::fs::File, u64), ClientError> {
    let unreadable = |e: std::io::Error| ClientError::ImportUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.file_type().is_file() {
        return Err(ClientError::NotAFile {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(ClientError::ImportTooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit,
        });
    }
    Ok((file, meta.len()))
}

impl Client {
    /// Streams the report at `import.path` to the daemon and returns the scan it stored.
    /// Memory stays one chunk whatever the report's size. If the file grows meanwhile, only
    /// the size it had when opened is sent. A read error midway leaves the daemon waiting for
    /// the rest of the upload: drop this connection after it.
    pub async fn import_file(&mut self, import: ImportFile) -> Result<ScanId, ClientError> {
        let (file, size) = open_report(&import.path, import.max_bytes)?;
        let header = ImportHeader {
            tool: import.tool,
            file_name: import.path.display().to_string(),
            size,
            target: import.target,
        };
        let id = self.send(Request::ImportStart(header)).await?;
        let mut file = tokio::fs::File::from_std(file).take(size);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| ClientError::ImportUnreadable {
                    path: import.path.clone(),
                    reason: e.to_string(),
                })?;
            if n == 0 {
                break;
            }
            self.send_as(id, Request::ImportChunk(buf[..n].to_vec()))
                .await?;
        }
        self.send_as(id, Request::ImportEnd).await?;
        match self.answer("import", id).await? {
            Response::ScanAccepted { id, .. } => Ok(id),
            other => unexpected("import", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.xml");
        std::fs::write(&report, vec![b'x'; 1000]).unwrap();
        assert_eq!(open_report(&report, 1000).unwrap().1, 1000);
        let err = open_report(&report, 999).unwrap_err();
        assert!(matches!(
            err,
            ClientError::ImportTooLarge {
                size: 1000,
                limit: 999,
                ..
            }
        ));
        assert!(err.to_string().contains("--max-import-bytes"), "{err}");
        assert!(
            err.to_string().contains("max_import_bytes in picketd.toml"),
            "{err}"
        );

        // A FIFO nobody writes to: refused at once, not waited on.
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = open_report(&fifo, u64::MAX).unwrap_err();
        assert!(
            err.to_string()
                .contains("a FIFO (named pipe), not a regular file"),
            "{err}"
        );
        let err = open_report(Path::new("/dev/zero"), u64::MAX).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let err = open_report(dir.path(), u64::MAX).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = open_report(&dir.path().join("absent"), u64::MAX).unwrap_err();
        assert!(matches!(err, ClientError::ImportUnreadable { .. }), "{err}");
    }
}
