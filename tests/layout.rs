//! The map agrees with the territory: every feature folder of `daemon/src` is declared in
//! `lib.rs`, named in its module table and in the README's layout, and every source file
//! of the workspace opens with the `//!` contract saying what it owns.
//!
//! Must not judge the contracts' wording: people do that in review.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the folders and `.rs` modules directly under `daemon/src`, main.rs and lib.rs aside.
fn daemon_modules() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("daemon/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
        })
        // main.rs and bin/ are binaries, not modules of the library.
        .filter(|n| !matches!(n.as_str(), "main" | "lib" | "bin"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_daemon_module_is_declared_mapped_and_in_the_readme() {
    let lib = read(&root().join("daemon/src/lib.rs"));
    let readme = read(&root().join("README.md"));
    let layout = readme
        .split("## Layout")
        .nth(1)
        .expect("README has a ## Layout section");
    for name in daemon_modules() {
        assert!(
            lib.contains(&format!("pub mod {name};")),
            "daemon/src/{name} is not declared in lib.rs"
        );
        assert!(
            lib.contains(&format!("| `{name}` |")),
            "daemon/src/{name} is missing from lib.rs's module table"
        );
        let in_layout =
            layout.contains(&format!("src/{name}/")) || layout.contains(&format!("{name}.rs"));
        assert!(
            in_layout,
            "daemon/src/{name} is missing from the README's layout"
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() && !matches!(name.as_str(), "target" | "fuzz-target" | ".git" | "data") {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_its_contract() {
    let mut files = Vec::new();
    for top in [
        "protocol",
        "client-lib",
        "daemon",
        "client",
        "testkit",
        "tests",
        "benches",
        "fuzz/src",
    ] {
        rust_files(&root().join(top), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !read(f).trim_start().starts_with("//!"))
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a //! comment saying what they own: {missing:?}"
    );
}
