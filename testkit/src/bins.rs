//! Where the programs under test are: picketd and picket as cargo built them, and the real
//! tools as the daemon itself looks them up.
//!
//! Must not build anything: a missing binary is a failure that says which command builds it.

use std::path::{Path, PathBuf};

/// target/<profile>, where cargo put picketd and picket: the test or bench executable lives
/// in its `deps/`, so tests find the debug build and benches the release build.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test or bench executable is not in target/<profile>/deps")
        .to_path_buf()
}

fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} not found: build the binaries first with `cargo build --workspace`",
        path.display()
    );
    path
}

pub fn picketd_bin() -> PathBuf {
    bin("picketd")
}

pub fn picket_bin() -> PathBuf {
    bin("picket")
}

/// Fails the test at once, with the fix, when a real tool it drives is missing (found the
/// way the daemon finds it, so "installed" means the same to both).
pub fn require_installed(tools: &[&str]) {
    for tool in tools {
        assert!(
            picketd::run::spec::find_program(tool).is_some(),
            "{tool} is not installed: run scripts/setup"
        );
    }
}

/// A copy of `picket` that every uid can run (a fresh 0755 directory holding a 0755 copy),
/// for tests that run the client as another user; the directory goes with the `TempDir`.
pub fn picket_for_everyone() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("picket-bin")
        .tempdir()
        .expect("temp dir for a picket copy");
    let open = |p: &std::path::Path| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod 0755")
    };
    open(dir.path());
    let copy = dir.path().join("picket");
    std::fs::copy(picket_bin(), &copy).expect("copy picket");
    open(&copy);
    (dir, copy)
}
