//! Tool versions remembered across restarts, in `tool-versions.json` in the data directory,
//! so an autostarted daemon does not spend seconds of CPU asking every tool its version
//! (testssl.sh alone prints a banner for seconds) before its first scan.
//!
//! An entry is keyed by the program's resolved path and version arguments, and holds the
//! program file's fingerprint (size, modification time, device and inode) when it was
//! probed: a program changed since (an upgrade, an edit, a `touch`) is probed again. A
//! probe that found no version is not remembered, so a probe that timed out on a busy
//! machine is retried at the next start. The file is a cache: a missing, unreadable or
//! corrupt one is ignored with a warning and rewritten, never fatal; it is replaced
//! atomically (a temp file renamed over it). Must not decide what a version is (spec.rs).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "tool-versions.json";
/// Bumped when the file's shape changes; a file of another format is ignored.
const FORMAT: u32 = 1;

/// What identifies one state of a program file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    pub mtime_ns: i128,
    pub dev: u64,
    pub ino: u64,
}

impl Fingerprint {
    /// The program's resolved path (symlinks followed) and its file's fingerprint.
    pub fn of(program: &Path) -> Option<(PathBuf, Fingerprint)> {
        let path = std::fs::canonicalize(program).ok()?;
        let m = std::fs::metadata(&path).ok()?;
        let fp = Fingerprint {
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
        };
        Some((path, fp))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    program: PathBuf,
    version_args: Vec<String>,
    file: Fingerprint,
    version: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    format: u32,
    entries: Vec<Entry>,
}

type Key = (PathBuf, Vec<String>);

/// The remembered versions; `disabled` remembers nothing (every lookup misses).
#[derive(Default)]
pub struct VersionCache {
    file: Option<PathBuf>,
    entries: Mutex<BTreeMap<Key, Entry>>,
    /// Serializes saves, so a later snapshot never lands before an earlier one.
    saving: tokio::sync::Mutex<()>,
}

impl VersionCache {
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The cache kept in `data_dir`, with what the file holds (nothing, with a warning,
    /// when it cannot be read or parsed).
    pub fn load(data_dir: &Path) -> Self {
        let file = data_dir.join(FILE_NAME);
        let entries = match std::fs::read(&file) {
            Ok(bytes) => parse(&bytes).unwrap_or_else(|why| {
                tracing::warn!(
                    "ignoring the tool version cache {}: {why}; the tools are probed again",
                    file.display()
                );
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::warn!(
                    "cannot read the tool version cache {}: {e}; the tools are probed again",
                    file.display()
                );
                BTreeMap::new()
            }
        };
        Self {
            file: Some(file),
            entries: Mutex::new(entries),
            saving: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The version remembered for this state of the program, if any.
    pub fn get(&self, path: &Path, args: &[String], file: &Fingerprint) -> Option<String> {
        let key = (path.to_path_buf(), args.to_vec());
        self.lock()
            .get(&key)
            .filter(|e| e.file == *file)
            .map(|e| e.version.clone())
    }

    /// Remembers a probed version and writes the file (a failed write is only logged: the
    /// next start probes again).
    pub async fn remember(&self, path: &Path, args: &[String], file: Fingerprint, version: &str) {
        let Some(target) = self.file.clone() else {
            return;
        };
        let entry = Entry {
            program: path.to_path_buf(),
            version_args: args.to_vec(),
            file,
            version: version.to_string(),
        };
        self.lock()
            .insert((path.to_path_buf(), args.to_vec()), entry);
        let _saving = self.saving.lock().await;
        let stored = Stored {
            format: FORMAT,
            entries: self.lock().values().cloned().collect(),
        };
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &stored))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        if let Err(e) = written {
            tracing::warn!("cannot write the tool version cache: {e}");
        }
    }
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<Key, Entry>, String> {
    let stored: Stored = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if stored.format != FORMAT {
        return Err(format!(
            "format {} is not this daemon's ({FORMAT})",
            stored.format
        ));
    }
    Ok(stored
        .entries
        .into_iter()
        .map(|e| ((e.program.clone(), e.version_args.clone()), e))
        .collect())
}

/// Writes a temp file beside `target`, syncs it and renames it over `target`, so a reader
/// (or a crash) sees the old file or the new one, never half of one.
fn write_atomically(target: &Path, stored: &Stored) -> std::io::Result<()> {
    use std::io::Write;
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tool-versions")
        .tempfile_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, stored)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("tool");
        std::fs::write(&p, body).unwrap();
        p
    }

    #[tokio::test]
    async fn a_version_is_remembered_across_loads_until_the_program_changes() {
        let dir = tempfile::tempdir().unwrap();
        let args = vec!["--version".to_string()];
        let (path, fp) = Fingerprint::of(&program(dir.path(), "one")).unwrap();
        let cache = VersionCache::load(dir.path());
        assert_eq!(cache.get(&path, &args, &fp), None);
        cache.remember(&path, &args, fp, "tool 1.0").await;

        let again = VersionCache::load(dir.path());
        assert_eq!(again.get(&path, &args, &fp).as_deref(), Some("tool 1.0"));
        assert_eq!(again.get(&path, &["-V".into()], &fp), None, "other args");
        // Another size (and mtime): the old entry no longer answers.
        let (_, changed) = Fingerprint::of(&program(dir.path(), "two!")).unwrap();
        assert_ne!(changed, fp);
        assert_eq!(again.get(&path, &args, &changed), None);
        let touched = Fingerprint {
            mtime_ns: fp.mtime_ns + 1,
            ..fp
        };
        assert_eq!(again.get(&path, &args, &touched), None, "mtime alone");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_ignored_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{\"format\": 1, \"entr").unwrap();
        let cache = VersionCache::load(dir.path());
        let args = vec!["--version".to_string()];
        let (path, fp) = Fingerprint::of(&program(dir.path(), "x")).unwrap();
        assert_eq!(cache.get(&path, &args, &fp), None);
        cache.remember(&path, &args, fp, "tool 2.0").await;
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(parse(text.as_bytes()).is_ok(), "{text}");
        // Another format is ignored too, rather than misread.
        std::fs::write(
            dir.path().join(FILE_NAME),
            text.replace("\"format\": 1", "\"format\": 99"),
        )
        .unwrap();
        assert_eq!(VersionCache::load(dir.path()).get(&path, &args, &fp), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".tool-versions")
            })
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    #[tokio::test]
    async fn a_disabled_cache_remembers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (path, fp) = Fingerprint::of(&program(dir.path(), "x")).unwrap();
        let cache = VersionCache::disabled();
        cache.remember(&path, &[], fp, "1.0").await;
        assert_eq!(cache.get(&path, &[], &fp), None);
        assert!(!dir.path().join(FILE_NAME).exists());
    }
}
