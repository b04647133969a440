//! The run helper: a small process between picketd and each tool (picketd's own binary,
//! started as `picketd-run --picketd-run-helper PARENT PROGRAM ARGS...`) that owns the
//! tool's whole process tree and ends all of it.
//!
//! Why a helper: it is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so whatever the tool
//! forks, `setsid` and double-fork included, stays its descendant; it runs single-threaded,
//! so its parent-death signal (`PR_SET_PDEATHSIG`) is not fooled by picketd's threads coming
//! and going (it checks `getppid()` when the signal comes: a picketd thread that forked it and
//! exited is not picketd dying). It ends the tree when the tool exits, when picketd asks
//! (SIGTERM: timeout, cancel, shutdown) and when picketd dies (even by `kill -9`), and only
//! then exits itself, so its exit means "no process of this run is left" and the output
//! pipes close. Its exit status is the tool's (same code, or death by the same signal).
//!
//! Must not read the tool's output (picketd does, from the pipes the tool inherits) and
//! must not start an async runtime: it runs before picketd's `main` parses anything.

use std::collections::HashSet;
use std::ffi::OsString;

use nix::sys::prctl;
use nix::sys::signal::{raise, signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getppid, Pid};

use crate::run::tree;

/// argv[1] that makes picketd the helper.
pub const ARG: &str = "--picketd-run-helper";
/// argv[0] the helper shows in `ps`.
pub const NAME: &str = "picketd-run";
/// The start of the stderr line (and exit 127) when the tool itself could not be started.
pub const SPAWN_FAILED: &str = "picketd-run: cannot run ";

/// Turns this process into the helper when picketd was started as one: never returns then.
/// Called first thing in picketd's `main`.
pub fn run_if_asked() {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() != Some(ARG.as_ref()) {
        return;
    }
    std::process::exit(helper(args.collect()));
}

/// How the wait for the tool ended.
enum Ended {
    Tool(WaitStatus),
    /// picketd asked (SIGTERM or SIGINT) or died.
    Stopped,
}

fn helper(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let parent = args.next().and_then(|p| p.to_str()?.parse::<i32>().ok());
    let (Some(parent), Some(program)) = (parent, args.next()) else {
        eprintln!("{NAME}: usage: picketd {ARG} PARENT-PID PROGRAM [ARGS...] (picketd starts this itself)");
        return 2;
    };
    let signals = [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ];
    let set: SigSet = signals.into_iter().collect();
    // Blocked before anything can send them, then taken one at a time with sigwait: no
    // handler runs at an awkward moment. The tool gets an empty mask (std resets it).
    if let Err(e) = set.thread_block() {
        eprintln!("{NAME}: cannot block signals: {e}");
        return 125;
    }
    if let Err(e) = prctl::set_child_subreaper(true).and(prctl::set_pdeathsig(Signal::SIGHUP)) {
        eprintln!("{NAME}: prctl: {e}");
        return 125;
    }
    // picketd died before the death signal was armed: nothing to run for.
    if getppid().as_raw() != parent {
        return 125;
    }
    let child = match std::process::Command::new(&program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{SPAWN_FAILED}{}: {e}", program.to_string_lossy());
            return 127;
        }
    };
    let main = Pid::from_raw(child.id() as i32);
    // Reaped below with waitpid, as every other process of the tree.
    drop(child);
    let ended = wait_for_end(&set, main, parent);
    end_tree();
    match ended {
        Ended::Tool(WaitStatus::Exited(_, code)) => code,
        Ended::Tool(WaitStatus::Signaled(_, sig, _)) => die_like(sig),
        Ended::Tool(_) | Ended::Stopped => 128 + Signal::SIGTERM as i32,
    }
}

/// Waits for the tool to exit, picketd to ask for the end, or picketd to die.
fn wait_for_end(set: &SigSet, main: Pid, parent: i32) -> Ended {
    loop {
        let Ok(sig) = set.wait() else { continue };
        match sig {
            Signal::SIGCHLD => {
                if let Some(status) = reap(Some(main)) {
                    return Ended::Tool(status);
                }
            }
            Signal::SIGTERM | Signal::SIGINT => return Ended::Stopped,
            // The death signal also fires when only the picketd thread that forked us ends;
            // picketd itself is gone only if we have another parent now.
            _ if getppid().as_raw() != parent => return Ended::Stopped,
            _ => {}
        }
    }
}

/// Reaps every exited child (the tool's orphans are our children too); returns `main`'s
/// status if it was among them.
fn reap(main: Option<Pid>) -> Option<WaitStatus> {
    let mut found = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(status) if status.pid() == main => found = Some(status),
            Ok(_) => {}
        }
    }
}

/// Reaps every exited child; whether any child is still alive. A subreaper with no child
/// has no descendant either: every orphan of the tree is re-parented to it, so a live
/// descendant always means a live child.
fn children_remain() -> bool {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Err(nix::errno::Errno::EINTR) | Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// Kills every descendant, reaping as they die, until none is left. The common case (the
/// tool left nothing behind) costs one `waitpid`, not a walk of /proc.
fn end_tree() {
    if !children_remain() {
        return;
    }
    let me: HashSet<i32> = HashSet::from([std::process::id() as i32]);
    tree::kill_until_gone(
        || tree::descendants(&me, &tree::snapshot()),
        || {
            reap(None);
        },
    );
    reap(None);
}

/// Ends this process the way the tool ended (so picketd sees "killed by SIGSEGV", not an
/// exit code the tool never returned); no core file of the helper.
fn die_like(sig: Signal) -> i32 {
    let no_core = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct only; resetting a disposition to the default is
    // always sound (no handler of ours is involved).
    unsafe {
        nix::libc::setrlimit(nix::libc::RLIMIT_CORE, &no_core);
        let _ = signal(sig, SigHandler::SigDfl);
    }
    let _ = SigSet::from(sig).thread_unblock();
    let _ = raise(sig);
    128 + sig as i32
}
