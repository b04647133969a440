//! Issue 10, "Must show" 5 and 6: whole process trees die. Stand-in tools whose grandchild
//! escapes with `setsid` (holding the run's stdout, or on /dev/null) end at their timeout,
//! on `picket cancel`, at shutdown and when picketd is killed with `kill -9`, and nothing of
//! theirs is left; other scans keep flowing; a restart ends a previous daemon's leftovers
//! and runs each unfinished tool once.
//!
//! "Nothing left" is read from /proc by a unique marker in the processes' argv
//! (`processes_with`), and the escapes are proven to have happened by the pid files the
//! grandchildren write. Runs in the loopback-only namespace like every end-to-end test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use picket_protocol::{RunStatus, ScanDetail, ScanStatus};
use picket_testkit::scripts::{self, count_start, starts, until_exists};
use picket_testkit::*;

/// A stand-in tool running `program` on `{host}`, never probed for a version.
fn stand_in(name: &str, program: &Path) -> ToolConfig {
    ToolConfig::new(name)
        .program(program)
        .no_version_probe()
        .finds_marked_lines()
        .ttl_secs(0)
}

/// A shell line that starts a grandchild in a session of its own (`setsid`, so neither the
/// tool's process group nor its session leads to it) which writes its pid to `pidfile` and
/// then sleeps `marker` seconds. `redirect` is what its stdin/stdout/stderr get (empty: it
/// keeps the tool's stdout pipe); `double_fork` starts it from a subshell that exits at
/// once, so it is orphaned from the start and no parent link leads to the tool either.
fn escapee(pidfile: &Path, marker: &str, redirect: &str, double_fork: bool) -> String {
    let start = format!(
        "setsid sh -c 'echo $$ > {}; exec sleep {marker}' {redirect} &",
        pidfile.display()
    );
    if double_fork {
        format!("( {start} )")
    } else {
        start
    }
}

/// The pid a grandchild wrote, once it has.
fn escaped_pid(pidfile: &Path) -> u32 {
    eventually(
        EVENTUALLY,
        "the grandchild to start and write its pid",
        || std::fs::read_to_string(pidfile).ok()?.trim().parse().ok(),
    )
}

fn assert_none_left(marker: &str, when: &str) {
    assert_eq!(
        processes_with(marker),
        Vec::<u32>::new(),
        "processes of the run are left {when}"
    );
}

struct Escapers {
    dir: tempfile::TempDir,
    marker: String,
}

impl Escapers {
    fn new(salt: u32) -> Escapers {
        Escapers {
            dir: tempfile::tempdir().unwrap(),
            marker: scripts::hang_marker(salt),
        }
    }

    fn pidfile(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.pid"))
    }

    /// A tool whose grandchild escapes holding stdout (`grab_stdout`) or, double-forked, on
    /// /dev/null (`grab_null`), while the tool itself sleeps with the marker too.
    fn tool(&self, name: &str) -> PathBuf {
        let (redirect, double_fork) = match name {
            "grab_stdout" => ("", false),
            _ => ("</dev/null >/dev/null 2>&1", true),
        };
        let body = format!(
            "{}\nsleep {}",
            escapee(&self.pidfile(name), &self.marker, redirect, double_fork),
            self.marker
        );
        scripts::tool_script(self.dir.path(), name, &body)
    }
}

#[test]
fn escaped_grandchildren_end_at_the_timeout_and_other_scans_keep_flowing() {
    let e = Escapers::new(5151);
    let quick = scripts::tool_script(e.dir.path(), "quick", "echo 'PICKET-FINDING quick'");
    // One scan at a time: a wedged escape scan would hold the only slot forever.
    let cfg = ConfigBuilder::new()
        .limit("max_concurrent_scans", 1)
        .tool(
            stand_in("grab_stdout", &e.tool("grab_stdout"))
                .timeout_secs(1)
                .retries(0),
        )
        .tool(
            stand_in("grab_null", &e.tool("grab_null"))
                .timeout_secs(1)
                .retries(0),
        )
        .tool(stand_in("quick", &quick));
    let env = Env::new().with_config(&cfg);
    let _daemon = env.start_daemon();
    let escape = env.picket_json(["scan", "127.0.0.1", "--tools", "grab_stdout,grab_null"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let after = env.picket_json(["scan", "127.0.0.1", "--tools", "quick"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let escaped: ScanDetail =
        parse::<picket_protocol::json::WaitDoc>(&env.picket(["--json", "wait", &escape]))
            .scans
            .remove(0);
    assert_eq!(escaped.tool_runs.len(), 2, "{escaped:#?}");
    for run in &escaped.tool_runs {
        assert_eq!(run.status, RunStatus::TimedOut, "{run:#?}");
    }
    // The run is recorded only after its helper ended the whole tree: nothing may be left
    // at this moment, not "eventually".
    assert_none_left(&e.marker, "after both runs timed out");
    for name in ["grab_stdout", "grab_null"] {
        let pid = escaped_pid(&e.pidfile(name));
        assert!(!pid_alive(pid), "{name}'s setsid grandchild {pid} survived");
    }
    let next: ScanDetail = env.wait_one(&after);
    assert_eq!(next.status, ScanStatus::Done, "{next:#?}");
    assert_eq!(next.findings.len(), 1, "{next:#?}");
}

#[test]
fn cancel_during_an_escaped_run_returns_with_no_process_left() {
    let e = Escapers::new(5252);
    let cfg = ConfigBuilder::new()
        .tool(stand_in("grab_stdout", &e.tool("grab_stdout")).timeout_secs(600));
    let env = Env::new().with_config(&cfg);
    let _daemon = env.start_daemon();
    let id = env.picket_json(["scan", "127.0.0.1", "--tools", "grab_stdout"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let pid = escaped_pid(&e.pidfile("grab_stdout"));
    assert!(pid_alive(pid));
    let cancelled = env.picket_json(["cancel", &id]);
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    // cancel answers once the runs have stopped, and a run stops once its tree is gone.
    assert_none_left(&e.marker, "after picket cancel returned");
    let shown: ScanDetail = env.picket_as(["show", &id]);
    assert_eq!(shown.status, ScanStatus::Cancelled, "{shown:#?}");
}

#[test]
fn shutdown_ends_every_run_tree_before_the_daemon_exits() {
    let e = Escapers::new(5353);
    let cfg = ConfigBuilder::new()
        .tool(stand_in("grab_stdout", &e.tool("grab_stdout")).timeout_secs(600))
        .tool(stand_in("grab_null", &e.tool("grab_null")).timeout_secs(600));
    let env = Env::new().with_config(&cfg);
    let mut daemon = env.start_daemon();
    env.picket_json(["scan", "127.0.0.1", "--tools", "grab_stdout,grab_null"]);
    escaped_pid(&e.pidfile("grab_stdout"));
    escaped_pid(&e.pidfile("grab_null"));
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert_none_left(&e.marker, "after picketd exited on SIGTERM");
}

#[test]
fn kill_9_ends_the_tools_and_the_restart_runs_each_unfinished_tool_once() {
    let e = Escapers::new(5454);
    let dir = e.dir.path();
    let (fast_count, slow_count, gate) = (
        dir.join("fast.count"),
        dir.join("slow.count"),
        dir.join("gate"),
    );
    let fast = scripts::tool_script(
        dir,
        "fast",
        &format!("{}\necho 'PICKET-FINDING alpha'", count_start(&fast_count)),
    );
    // Counts its start, leaves an escaped grandchild, and runs until the gate opens; the
    // marker is in its own argv too (the second argument), so it is found like the others.
    let slow = scripts::tool_script(
        dir,
        "slow",
        &format!(
            "{}\n{}\n{}\necho 'PICKET-FINDING beta'",
            count_start(&slow_count),
            escapee(&e.pidfile("slow"), &e.marker, "", true),
            until_exists(&gate)
        ),
    );
    let cfg = ConfigBuilder::new()
        .tool(stand_in("fast", &fast))
        .tool(stand_in("slow", &slow).args(["{host}", &e.marker]));
    let env = Env::new().with_config(&cfg);
    let mut daemon = env.start_daemon();
    let id = env.picket_json(["scan", "127.0.0.1", "--tools", "fast,slow"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    escaped_pid(&e.pidfile("slow"));
    eventually(EVENTUALLY, "fast finished and slow running", || {
        let st = env.status(Some(&id));
        (st[0].runs_finished == 1 && processes_with(&e.marker).len() >= 2).then_some(())
    });
    daemon.kill9();
    // The one bound that is the behaviour asked: tools die with the daemon, within a second.
    eventually(
        Duration::from_secs(1),
        "the tools to die with picketd",
        || processes_with(&e.marker).is_empty().then_some(()),
    );
    std::fs::write(&gate, "open").unwrap();
    let _daemon = env.start_daemon();
    let done: ScanDetail = env.wait_one(&id);
    assert_eq!(done.status, ScanStatus::Done, "{done:#?}");
    assert_eq!(
        starts(&fast_count),
        1,
        "the finished run must not run again"
    );
    assert_eq!(
        starts(&slow_count),
        2,
        "the interrupted run runs again, once"
    );
    assert_none_left(&e.marker, "after the resumed scan finished");
}

#[test]
fn a_restart_ends_what_a_previous_daemon_of_its_data_directory_left() {
    let env = Env::new();
    std::fs::create_dir_all(env.data_dir()).unwrap();
    let owner = picketd::run::process::owner_of(&env.data_dir());
    let marker = scripts::hang_marker(5555);
    let other_marker = scripts::hang_marker(5556);
    // What a previous daemon's run would leave if its helper had been killed too: a tool
    // process marked as this data directory's, with a child that cleared its environment.
    let mut leftover = env
        .command("sh")
        .args([
            "-c",
            &format!("env -i sleep {marker} & exec sleep {marker}"),
        ])
        .env("PICKET_RUN", format!("{owner}/1/1"))
        .spawn()
        .unwrap();
    // ... and one of another data directory, which must be left alone.
    let mut foreign = env
        .command("sleep")
        .arg(&other_marker)
        .env("PICKET_RUN", "0000000000000000/1/1")
        .spawn()
        .unwrap();
    eventually(EVENTUALLY, "both leftovers running", || {
        (processes_with(&marker).len() == 2).then_some(())
    });
    let daemon = env.start_daemon();
    // Ended before the daemon answers (it ends them before resuming anything).
    let _ = leftover.wait();
    assert_none_left(&marker, "after a daemon of the same data directory started");
    assert!(
        daemon.log().contains("previous picketd"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        processes_with(&other_marker).len(),
        1,
        "another data directory's process was killed"
    );
    let _ = foreign.kill();
    let _ = foreign.wait();
}
