//! End-to-end tests of storage faults (issue 11, "Storage faults are loud and lossless"):
//! the real picketd and picket with its database deleted, moved away and back, on a tmpfs
//! filled during a scan, and damaged before start. Stand-in tools count their starts, so
//! "the tool was not run again" is observed. Runs as root in the loopback-only namespace
//! (the tmpfs needs a mount namespace of the daemon's own).

use std::path::{Path, PathBuf};

use picket_protocol::{ScanDetail, ScanStatus};
use picket_testkit::scripts::{count_start, starts, until_exists};
use picket_testkit::*;

/// A stand-in tool that counts its starts, waits for `gate`, then reports `findings`
/// findings (one marked line each).
fn gated_tool(dir: &Path, gate: &Path, findings: usize) -> (ToolConfig, PathBuf) {
    let count = dir.join("slow.count");
    let script = tool_script(
        dir,
        "slow",
        &format!(
            "{}\n{}\ni=0; while [ $i -lt {findings} ]; do i=$((i+1)); echo \"PICKET-FINDING slow-$i\"; done",
            count_start(&count),
            until_exists(gate)
        ),
    );
    let tool = ToolConfig::new("slow")
        .program(script)
        .no_version_probe()
        .finds_marked_lines();
    (tool, count)
}

fn nmap_report() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data/nmap-http-https.xml")
}

/// `scan 127.0.0.1 --tools slow`, answered with its id.
fn start_scan(env: &Env) -> String {
    env.picket_json(["scan", "127.0.0.1", "--tools", "slow"])["id"].to_string()
}

/// `picket scan 127.0.0.1 --tools slow --follow`, its output going to a file.
fn follow_scan(env: &Env, dir: &Path) -> (std::process::Child, PathBuf) {
    let out = dir.join("follow.out");
    let child = env
        .picket_cmd(["scan", "127.0.0.1", "--tools", "slow", "--follow"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (child, out)
}

fn show(env: &Env, id: &str) -> ScanDetail {
    env.picket_as(["show", id])
}

/// Waits until the daemon has tried to store a run and been refused by the storage; the
/// line saying why.
fn wait_for_refused_store(daemon: &Daemon) -> String {
    let log = daemon.wait_for_log("results not stored yet");
    log.lines()
        .find(|l| l.contains("results not stored yet"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_deleted_database_refuses_writes_and_fails_health() {
    let env = Env::new();
    let _daemon = env.start_daemon();
    let report = nmap_report();
    let report = report.to_str().unwrap();
    let before = env.picket(["--json", "import", "nmap", report]);
    assert!(before.status.success(), "{}", describe(&before));
    let db = env.data_dir().join("picket.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    // An import after the delete is an error naming the file and the fix, not a scan id.
    let after = env.picket(["--json", "import", "nmap", report]);
    assert!(!after.status.success(), "{}", describe(&after));
    let text = describe(&after);
    assert!(
        text.contains("picket.db") && text.contains("deleted"),
        "{text}"
    );
    assert!(text.contains("restart picketd"), "{text}");
    assert!(json(&after).get("id").is_none(), "{text}");
    // So is a new scan: it is never admitted into a database that will not be reopened.
    let scan = env.picket(["--json", "scan", "127.0.0.1"]);
    assert!(!scan.status.success(), "{}", describe(&scan));

    let health = env.picket(["health"]);
    assert!(!health.status.success(), "{}", describe(&health));
    let text = stdout(&health);
    assert!(
        text.contains("FAIL") && text.contains("picket.db") && text.contains("deleted"),
        "{text}"
    );
    // No empty database was made in its place (a restart would take it for the real one).
    assert!(!db.exists(), "a new picket.db appeared");
}

#[test]
fn a_scan_whose_database_is_moved_away_ends_done_only_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let (tool, count) = gated_tool(dir.path(), &gate, 50);
    let env = Env::new().with_config(&ConfigBuilder::new().tool(tool));
    let daemon = env.start_daemon();
    let id = start_scan(&env);
    let db = env.data_dir().join("picket.db");
    let aside = env.data_dir().join("picket.db.aside");
    std::fs::rename(&db, &aside).unwrap();
    std::fs::write(&gate, "go").unwrap();
    let why = wait_for_refused_store(&daemon);
    assert!(
        why.contains("picket.db") && why.contains("deleted"),
        "{why}"
    );

    // Nothing is reported stored: the scan is not done, its findings are not there (or,
    // when the read needs a new connection, the file's absence is the answer).
    let held = env.picket(["--json", "show", &id]);
    if held.status.success() {
        let held: ScanDetail = parse(&held);
        assert_ne!(held.status, ScanStatus::Done, "{held:#?}");
        assert!(held.findings.is_empty(), "{held:#?}");
    } else {
        let text = describe(&held);
        assert!(
            text.contains("picket.db") && text.contains("deleted"),
            "{text}"
        );
    }
    assert!(!env.picket(["health"]).status.success());

    // The same file back: the kept results are written, without running the tool again.
    std::fs::rename(&aside, &db).unwrap();
    let done: ScanDetail = env.wait_one(&id);
    assert_eq!(done.status, ScanStatus::Done, "{done:#?}");
    assert_eq!(done.findings.len(), 50, "{done:#?}");
    assert_eq!(starts(&count), 1, "the tool ran once");
    assert!(env.picket(["health"]).status.success());
}

#[test]
fn a_full_data_filesystem_holds_the_scan_until_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let (tool, count) = gated_tool(dir.path(), &gate, 50);
    let env = Env::new()
        .with_small_data_fs("8m")
        .with_config(&ConfigBuilder::new().tool(tool));
    let daemon = env.start_daemon();
    let (mut follower, follow_out) = follow_scan(&env, dir.path());
    let _kill = KillOnDrop(follower.id());
    let id = eventually(EVENTUALLY, "the follower names its scan", || {
        let text = std::fs::read_to_string(&follow_out).ok()?;
        let line = text.lines().find(|l| l.ends_with(" submitted"))?;
        line.split_whitespace().nth(1).map(String::from)
    });
    let filler = env.data_dir().join("filler");
    // Fill every block of the tmpfs (dd stops at ENOSPC), inside the daemon's namespace.
    let fill = env.in_daemon_mounts(
        &daemon,
        &format!(
            "dd if=/dev/zero of='{}' bs=4096 2>/dev/null; true",
            filler.display()
        ),
    );
    assert!(fill.status.success(), "{}", describe(&fill));
    let health = env.picket(["health"]);
    assert!(
        !health.status.success(),
        "a full disk fails health: {}",
        describe(&health)
    );
    assert!(stdout(&health).contains("disk"), "{}", describe(&health));
    std::fs::write(&gate, "go").unwrap();
    let why = wait_for_refused_store(&daemon);
    assert!(why.contains("full"), "refused for the full disk: {why}");

    let held = show(&env, &id);
    assert_ne!(held.status, ScanStatus::Done, "{held:#?}");
    assert!(held.findings.is_empty(), "{held:#?}");

    let free = env.in_daemon_mounts(&daemon, &format!("rm -f '{}'", filler.display()));
    assert!(free.status.success(), "{}", describe(&free));
    let done: ScanDetail = env.wait_one(&id);
    assert_eq!(done.status, ScanStatus::Done, "{done:#?}");
    assert_eq!(done.findings.len(), 50, "every finding stored: {done:#?}");
    assert_eq!(starts(&count), 1, "the tool was not run again");
    // --follow told why it waited, and reported the run and the scan done only after.
    eventually(EVENTUALLY, "the follower ends", || {
        follower.try_wait().ok().flatten()
    });
    let followed = std::fs::read_to_string(&follow_out).unwrap();
    let at = |needle: &str| {
        followed
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{followed}"))
    };
    assert!(
        at("warning: results not stored yet") < at("  done   slow"),
        "{followed}"
    );
    assert!(
        at("  done   slow") < at(&format!("scan {id} done")),
        "{followed}"
    );
    let deep = env.picket(["health", "--deep"]);
    assert!(deep.status.success(), "{}", describe(&deep));
}

#[test]
fn health_names_the_database_file_its_space_and_deep_checks_integrity() {
    let env = Env::new();
    let _daemon = env.start_daemon();
    let plain = env.picket(["health"]);
    assert!(plain.status.success(), "{}", describe(&plain));
    let text = stdout(&plain);
    assert!(
        text.contains("picket.db") && text.contains("inode"),
        "{text}"
    );
    assert!(text.contains("free of"), "{text}");
    assert!(!text.contains("quick_check"), "only on demand: {text}");
    let deep = env.picket(["health", "--deep"]);
    assert!(deep.status.success(), "{}", describe(&deep));
    assert!(
        stdout(&deep).contains("quick_check ok"),
        "{}",
        describe(&deep)
    );
}

#[test]
fn a_damaged_database_at_start_is_refused_with_the_recovery_steps() {
    let env = Env::new();
    let db = env.data_dir().join("picket.db");
    std::fs::create_dir_all(env.data_dir()).unwrap();
    std::fs::write(&db, vec![0x5a_u8; 64 * 1024]).unwrap();
    let mut daemon = env.spawn_daemon(std::iter::empty::<&str>());
    let status = daemon.wait_exit();
    assert!(!status.success());
    let log = daemon.log();
    assert!(
        log.contains("picket.db") && log.contains("damaged") && log.contains("mv "),
        "{log}"
    );
    assert!(log.contains("backup"), "{log}");
    assert!(!log.contains("writable"), "not the writability hint: {log}");
}

/// A stored database of a few imports, the daemon stopped: its file, to damage.
fn stored_database(env: &Env) -> PathBuf {
    let mut daemon = env.start_daemon();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data");
    for report in [
        "nmap-top100.xml",
        "nmap-http-https.xml",
        "nmap-vuln-synthetic.xml",
    ] {
        let out = env.picket(["import", "nmap", data.join(report).to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
    }
    daemon.stop(std::time::Duration::from_secs(20));
    env.data_dir().join("picket.db")
}

#[test]
fn a_truncated_database_at_start_is_refused_with_the_recovery_steps() {
    let env = Env::new();
    let db = stored_database(&env);
    let len = std::fs::metadata(&db).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(len / 2).unwrap();
    let mut daemon = env.spawn_daemon(std::iter::empty::<&str>());
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert!(!status.success(), "{log}");
    assert!(log.contains("damaged") && log.contains("mv "), "{log}");
    assert!(!log.contains("writable"), "not the writability hint: {log}");
}

#[test]
fn a_database_damaged_inside_is_refused_at_start() {
    let env = Env::new();
    let db = stored_database(&env);
    let mut bytes = std::fs::read(&db).unwrap();
    // Pages past the schema's: the file still opens, the tables it holds do not read.
    let end = bytes.len().min(4096 * 12);
    bytes[4096 * 4..end].fill(0x5a);
    std::fs::write(&db, &bytes).unwrap();
    let mut daemon = env.spawn_daemon(std::iter::empty::<&str>());
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("picket.db") && log.contains("damaged"),
        "{log}"
    );
    assert!(log.contains("mv ") && log.contains("backup"), "{log}");
}

#[test]
fn damage_the_start_does_not_read_fails_deep_health() {
    let env = Env::new();
    let db = stored_database(&env);
    let mut bytes = std::fs::read(&db).unwrap();
    // The last pages: later leaves of the tables and indexes, which the start's probe (the
    // first row of each table) does not read.
    let len = bytes.len();
    bytes[len - 2 * 4096..].fill(0x5a);
    std::fs::write(&db, &bytes).unwrap();
    let _daemon = env.start_daemon();
    let plain = env.picket(["health"]);
    assert!(plain.status.success(), "{}", describe(&plain));
    let deep = env.picket(["health", "--deep"]);
    assert!(!deep.status.success(), "{}", describe(&deep));
    let text = stdout(&deep);
    assert!(
        text.contains("FAIL integrity") && text.contains("quick_check found damage"),
        "{text}"
    );
    assert!(
        text.contains("restore the database from a backup"),
        "{text}"
    );
}
