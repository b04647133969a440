//! Process trees seen through /proc: who descends from whom, which processes carry a run's
//! marker in their environment, and killing such a set until none of it is left.
//!
//! Why /proc and not process groups: a tool's child may call `setsid` (new group, new
//! session) or double-fork, and then no group or session id leads back to the run. The
//! parent links do while the run's helper is alive (it is a child subreaper, so orphans of
//! the run are re-parented to it), and the marker variable does once they are broken.
//! Must not spawn anything (run/process.rs and run/helper.rs do).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The environment variable that marks every process of a run: `owner/daemon-pid/seq`,
/// `owner` naming the data directory (see run/process.rs).
pub const MARKER_VAR: &str = "PICKET_RUN";

/// How many kill rounds before giving up: each round kills what it sees, and a killed
/// process forks no more, so two or three rounds end any tree; the bound only stops a
/// process stuck in the kernel (state D) from holding a caller forever.
const MAX_ROUNDS: usize = 400;
const ROUND_PAUSE: Duration = Duration::from_millis(5);

/// One line of /proc/PID/stat, the fields used here.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Exited, not yet reaped: it can't run, fork or hold a file any more.
    pub zombie: bool,
}

/// Parses /proc/PID/stat: the fields after the command name, which is in parentheses and may
/// itself contain spaces and parentheses (hence the last `)`).
fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        zombie: matches!(state, "Z" | "X" | "x"),
    })
}

/// Every process visible now.
pub fn snapshot() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// Live descendants of any of `roots` (the roots themselves excluded), in `procs`.
pub fn descendants(roots: &HashSet<i32>, procs: &[Proc]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut stack: Vec<i32> = roots.iter().copied().collect();
    let mut seen: HashSet<i32> = roots.clone();
    while let Some(pid) = stack.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            if seen.insert(child.pid) {
                stack.push(child.pid);
                if !child.zombie {
                    out.push(child.pid);
                }
            }
        }
    }
    out
}

/// Whether /proc/PID/environ holds `MARKER_VAR=value` with `value` equal to `token`, or
/// starting with it when `prefix` is set. Unreadable (gone, a zombie) counts as no.
fn carries(pid: i32, token: &str, prefix: bool) -> bool {
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let key = format!("{MARKER_VAR}=");
    env.split(|b| *b == 0).any(|entry| {
        entry
            .strip_prefix(key.as_bytes())
            .is_some_and(|v| v == token.as_bytes() || (prefix && v.starts_with(token.as_bytes())))
    })
}

/// Live processes (other than this one) carrying the marker `token` (or any marker starting
/// with it, when `prefix`), with all their live descendants.
pub fn marked(token: &str, prefix: bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let procs = snapshot();
    let roots: HashSet<i32> = procs
        .iter()
        .filter(|p| !p.zombie && p.pid != me && carries(p.pid, token, prefix))
        .map(|p| p.pid)
        .collect();
    let mut all = descendants(&roots, &procs);
    all.extend(roots);
    all.retain(|p| *p != me);
    all
}

/// SIGKILLs what `find` returns, round after round, until it returns nothing (or the round
/// bound is hit). `between` runs after each round's kills (the helper reaps there, so its
/// dead children stop counting). Returns how many kills were sent.
pub fn kill_until_gone(mut find: impl FnMut() -> Vec<i32>, mut between: impl FnMut()) -> usize {
    let mut sent = 0;
    for _ in 0..MAX_ROUNDS {
        let pids = find();
        if pids.is_empty() {
            return sent;
        }
        for pid in pids {
            // ESRCH: it died on its own meanwhile, which is what we want.
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                sent += 1;
            }
        }
        between();
        std::thread::sleep(ROUND_PAUSE);
    }
    sent
}

/// Kills every process carrying the marker `token` (exactly, or as a prefix) and their
/// descendants; returns how many kills were sent.
pub fn sweep(token: &str, prefix: bool) -> usize {
    kill_until_gone(|| marked(token, prefix), || {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let p = parse_stat(42, "42 (a) b (c)) S 7 42 42 0 -1").unwrap();
        assert_eq!((p.pid, p.ppid, p.zombie), (42, 7, false));
        let z = parse_stat(43, "43 (sleep) Z 1 43 43 0 -1").unwrap();
        assert!(z.zombie);
        assert!(parse_stat(1, "garbage").is_none());
    }

    #[test]
    fn descendants_follow_parent_links_and_skip_zombies() {
        let p = |pid, ppid, zombie| Proc { pid, ppid, zombie };
        let procs = [
            p(10, 1, false),
            p(11, 10, false),
            p(12, 11, true),
            p(13, 12, false),
            p(20, 1, false),
        ];
        let mut d = descendants(&HashSet::from([10]), &procs);
        d.sort();
        assert_eq!(d, [11, 13]);
    }

    #[test]
    fn a_marked_child_is_found_and_killed() {
        let token = format!("unit-test/{}/tree", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .env(MARKER_VAR, &token)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert_eq!(marked(&token, false), [pid]);
        assert!(marked(&format!("{token}x"), false).is_empty());
        assert!(marked("unit-test/", true).contains(&pid));
        assert!(sweep(&token, false) >= 1);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
