//! Stand-in tools: small /bin/sh scripts with the one behaviour a test needs (sleep, hang
//! with a child, count its starts, wait for a gate file, flood its output), run by the
//! daemon through argv like any real tool.
//!
//! Must only write inside the directory it is given; the scripts are the test's, not a
//! user's, so paths are trusted (temp dirs, no quoting games).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes an executable /bin/sh script `dir/name` whose body is `body`.
pub fn tool_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Shell lines that block until `gate` exists: the test opens the gate when it is ready.
pub fn until_exists(gate: &Path) -> String {
    format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display())
}

/// Shell line that appends one line to `count` per start (see `starts`).
pub fn count_start(count: &Path) -> String {
    format!("echo run >> {}", count.display())
}

/// How many times a script with `count_start(count)` has started.
pub fn starts(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A tool that forks a child and both sleep long, with `marker` (a unique fractional
/// number of seconds) in their command lines so `processes_with(marker)` finds them.
pub fn hang(dir: &Path, marker: &str) -> PathBuf {
    tool_script(dir, "hang", &format!("sleep {marker} &\nsleep {marker}"))
}

/// A `marker` for `hang`: over 1,000 seconds, with this test process's pid and a `salt`
/// that tells apart the tests of one process that run at the same time.
pub fn hang_marker(salt: u32) -> String {
    format!("{}.{salt}", std::process::id() % 1000 + 1000)
}
