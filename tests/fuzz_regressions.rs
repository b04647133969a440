//! Replays the fuzz regression corpus under an ordinary `cargo test` (issue 5).
//!
//! The fuzz campaigns themselves (fuzz/, cargo-fuzz + libFuzzer, see fuzz/README.md) stay
//! out of CI's time. What CI does run is this: every file under `fuzz/regressions/TARGET/`
//! (crashes found and fixed, plus hand-picked hostile inputs), the committed seeds in
//! `fuzz/seeds/TARGET/` and the parser fixtures in daemon/tests/data that seed each
//! campaign, through the very harness functions the fuzz targets call: `fuzz/src/lib.rs` is
//! included here as a module, so a replay runs the same code with the same checks.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path, prefixes: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            !name.starts_with('.')
                && (prefixes.is_empty() || prefixes.iter().any(|pre| name.starts_with(pre)))
        })
        .collect();
    files.sort();
    files
}

/// The fixtures that seed a campaign of `target` (the same globs as fuzz/run.sh).
fn fixture_prefixes(target: &str) -> &'static [&'static str] {
    match target {
        "parse_nmap" => &["nmap-"],
        "parse_sslscan" => &["sslscan-"],
        "parse_whatweb" => &["whatweb-"],
        "parse_testssl" => &["testssl-"],
        "parse_nuclei" => &["nuclei-"],
        "parse_generic" => &["gobuster-", "nuclei-"],
        _ => &[],
    }
}

/// Runs every input of `target` through its harness; fails naming each input that panicked.
fn replay(target: &str) {
    let run = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no harness for {target}"));

    let regressions = files_in(&root().join("fuzz/regressions").join(target), &[]);
    assert!(
        !regressions.is_empty(),
        "fuzz/regressions/{target}/ must hold at least one input"
    );
    let mut inputs = regressions;
    inputs.extend(files_in(&root().join("fuzz/seeds").join(target), &[]));
    let prefixes = fixture_prefixes(target);
    if !prefixes.is_empty() {
        let fixtures = files_in(&root().join("daemon/tests/data"), prefixes);
        assert!(!fixtures.is_empty(), "no fixtures seed {target}");
        inputs.extend(fixtures);
    }

    let mut failed = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs panicked (reproduce with `cargo fuzz run -O -a {target} FILE` \
         in fuzz/): {failed:#?}",
        failed.len(),
        inputs.len()
    );
}

#[test]
fn every_fuzz_target_is_replayed() {
    let names: Vec<&str> = harness::TARGETS.iter().map(|(name, _)| *name).collect();
    for target in &names {
        assert!(
            root()
                .join("fuzz/fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "{target} has no fuzz target file"
        );
    }
    let on_disk = files_in(&root().join("fuzz/fuzz_targets"), &[]);
    assert_eq!(
        on_disk.len(),
        names.len(),
        "a fuzz target is missing from harness::TARGETS"
    );
}

#[test]
fn generic_mappings_are_valid() {
    for mapping in harness::generic_mappings() {
        mapping
            .validate()
            .unwrap_or_else(|e| panic!("{mapping:?}: {e}"));
    }
}

#[test]
fn replay_frame_decoder() {
    replay("frame_decoder");
}

#[test]
fn replay_parse_nmap() {
    replay("parse_nmap");
}

#[test]
fn replay_parse_sslscan() {
    replay("parse_sslscan");
}

#[test]
fn replay_parse_whatweb() {
    replay("parse_whatweb");
}

#[test]
fn replay_parse_testssl() {
    replay("parse_testssl");
}

#[test]
fn replay_parse_nuclei() {
    replay("parse_nuclei");
}

#[test]
fn replay_parse_generic() {
    replay("parse_generic");
}
