//! The client as a person sees it, through a pseudo-terminal (expectrl): live progress of a
//! real nmap scan (its start first, a running timer), Ctrl-C detaching, `picket follow`
//! showing the rest and the summary; every line within 40 and 80 columns; completions and
//! the man page. Must not look at --json (tests/json_contract.rs does).
//!
//! Run in a loopback-only namespace:
//! `unshare --net -- bash -c 'ip link set lo up && cargo test --offline --test cli_terminal'`.

use std::ffi::OsString;
use std::time::Duration;

use expectrl::{Eof, Regex, Session};
use picket_testkit::targets::http;
use picket_testkit::{require_installed, ConfigBuilder, Env};

/// Long enough for a cold nmap run on loopback, short enough to fail a hung client.
const PTY_DEADLINE: Duration = Duration::from_secs(180);

/// A profile whose nmap waits 1 s between probes, so that it runs for several seconds:
/// time to see the timer move and to press Ctrl-C while it runs (not a timing assertion).
fn slow_nmap_env() -> Env {
    let config = ConfigBuilder::new().raw(
        "[profiles.slow]\ndiscovery = [\"nmap\"]\n[profiles.slow.args]\nnmap = [\"--scan-delay\", \"1s\"]\n",
    );
    Env::new()
        .with_config(&config)
        .with_env("TERM", "xterm-256color")
}

/// `picket ARGS` in a pseudo-terminal of `cols` columns (set before picket starts, so its
/// first line already sees the width).
fn pty(env: &Env, cols: u16, args: &[&str]) -> Session {
    pty_with(env, cols, args, ("PICKET_TEST_PTY", "1"))
}

/// `pty` with one more environment variable.
fn pty_with(env: &Env, cols: u16, args: &[&str], var: (&str, &str)) -> Session {
    let picket = env.picket_cmd(Vec::<OsString>::new());
    let mut cmd = env.command("sh");
    cmd.env(var.0, var.1);
    // picket starts once the size is set (the pty library sets its own default size after
    // the fork, so a size set by the child itself could be overwritten).
    cmd.arg("-c")
        .arg("read go; exec \"$0\" \"$@\"")
        .arg(picket.get_program())
        .args(args);
    let mut session = Session::spawn(cmd).expect("spawn picket in a pty");
    session.set_expect_timeout(Some(PTY_DEADLINE));
    session
        .get_process_mut()
        .set_window_size(cols, 40)
        .expect("set the pty's size");
    session.send_line("go").expect("start picket");
    session
}

/// The match of `pattern`; on failure, a panic showing what picket printed instead.
fn expect(session: &mut Session, pattern: &str, what: &str) -> expectrl::Captures {
    match session.expect(Regex(pattern)) {
        Ok(c) => c,
        Err(e) => {
            let rest = session
                .expect(Eof)
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default();
            panic!(
                "{what}: {e}; picket printed: {:?}",
                String::from_utf8_lossy(&rest)
            )
        }
    }
}

/// Everything the session prints until it exits.
fn read_to_end(session: &mut Session) -> String {
    let rest = session.expect(Eof).expect("picket ends");
    String::from_utf8_lossy(rest.as_bytes()).into_owned()
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(
            |c| match c.is_ascii_alphanumeric() || c == ' ' || c == ';' {
                true => vec![c],
                false => vec!['\\', c],
            },
        )
        .collect()
}

/// `text` without ANSI sequences (colours, cursor moves, line erases).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines as the terminal shows them: split at newlines and at carriage returns (the
/// spinner redraws its line in place).
fn screen_lines(text: &str) -> Vec<String> {
    strip_ansi(text)
        .split(['\n', '\r'])
        .map(str::to_string)
        .collect()
}

fn assert_fits(text: &str, cols: usize, what: &str) {
    for line in screen_lines(text) {
        assert!(
            line.chars().count() <= cols,
            "{what}: a line of {} columns at {cols}: {line:?} in {text:?}",
            line.chars().count()
        );
    }
}

fn exit_status(session: &Session) -> String {
    format!(
        "{:?}",
        session.get_process().wait().expect("wait for picket")
    )
}

#[test]
fn follow_shows_the_nmap_start_first_and_a_timer_and_ctrl_c_detaches_then_follow_ends_it() {
    require_installed(&["nmap"]);
    let env = slow_nmap_env();
    let target = http(env.root());
    let _daemon = env.start_daemon();
    let ports = format!("{},1-8", target.port);
    let args = [
        "scan",
        "127.0.0.1",
        "--ports",
        &ports,
        "--profile",
        "slow",
        "--follow",
    ];
    let mut s = pty(&env, 80, &args);

    let submitted = expect(&mut s, r"scan (\d+) submitted", "the scan's id");
    let id = String::from_utf8_lossy(submitted.get(1).unwrap()).into_owned();
    let start = expect(
        &mut s,
        r"start(?:\x1b\[[0-9;]*m)?\s+nmap\s+127\.0\.0\.1",
        "nmap's start",
    );
    let before_start = strip_ansi(&String::from_utf8_lossy(start.before()));
    assert!(
        !before_start.contains("nmap"),
        "something about nmap came before its start: {before_start:?}"
    );
    // The spinner's timer for the run in flight, past its first second: it moves.
    expect(
        &mut s,
        r"running nmap 127\.0\.0\.1 [1-9][0-9]*\.[0-9]s",
        "nmap's timer",
    );
    s.send([3u8]).unwrap(); // Ctrl-C
    let detach =
        format!("detached; the scan goes on: `picket follow {id}` or `picket cancel {id}`");
    expect(&mut s, &regex_escape(&detach), "the detach message");
    read_to_end(&mut s);
    assert!(
        exit_status(&s).contains(", 130)"),
        "exit {}",
        exit_status(&s)
    );

    let mut f = pty(&env, 80, &["follow", &id]);
    let rest = strip_ansi(&read_to_end(&mut f));
    let started = rest.find("start  nmap").expect("follow replays the start");
    let done = rest
        .find("done   nmap")
        .unwrap_or_else(|| panic!("nmap's end: {rest}"));
    assert!(started < done, "{rest}");
    assert!(
        rest.contains(&format!("scan {id} done in ")),
        "the end summary with the scan's duration: {rest}"
    );
    assert!(exit_status(&f).contains(", 0)"), "exit {}", exit_status(&f));

    every_view_fits_40_and_80_columns(&env, &id, &ports);
    colour_follows_the_terminal_no_color_and_clicolor_force(&env, &id);
}

/// Must-show 6, on the scan above: the human views at 40 and 80 columns, including a
/// followed rescan answered from the cache.
fn every_view_fits_40_and_80_columns(env: &Env, id: &str, ports: &str) {
    let views: Vec<Vec<&str>> = vec![
        vec!["show", id, "-v"],
        vec!["findings", id, "-v"],
        vec!["list"],
        vec!["status"],
        vec![],
        vec!["tools"],
        vec!["ping"],
        vec![
            "scan",
            "127.0.0.1",
            "--ports",
            ports,
            "--profile",
            "slow",
            "--follow",
        ],
        vec!["--help"],
        vec!["scan", "--help"],
    ];
    for cols in [40u16, 80] {
        for view in &views {
            let mut s = pty(env, cols, view);
            let text = read_to_end(&mut s);
            assert!(!text.trim().is_empty(), "picket {view:?} printed nothing");
            assert_fits(&text, usize::from(cols), &format!("picket {view:?}"));
            if view.contains(&"--follow") {
                assert!(
                    text.contains("answered from the cache") && text.contains("--no-cache"),
                    "a cached rescan says so and how to force a fresh run: {text}"
                );
            }
        }
    }
}

#[test]
fn completions_and_the_man_page_name_the_commands() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.picket(["completions", shell]);
        assert!(out.status.success(), "completions {shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["scan", "follow", "findings", "completions"] {
            assert!(text.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let out = env.picket(["man"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH"),
        "roff: {page:.200}"
    );
    for sub in ["scan", "follow", "findings", "PICKET SCAN"] {
        assert!(page.contains(sub), "the man page lacks {sub}");
    }
}

/// Colour on a terminal, none when piped or under NO_COLOR, forced by CLICOLOR_FORCE.
fn colour_follows_the_terminal_no_color_and_clicolor_force(env: &Env, id: &str) {
    let piped = env.picket(["show", id]);
    assert!(
        !String::from_utf8_lossy(&piped.stdout).contains('\x1b'),
        "no colour when piped"
    );
    let mut forced = env.picket_cmd(["show", id]);
    forced.env("CLICOLOR_FORCE", "1");
    let forced = forced.output().unwrap();
    assert!(
        String::from_utf8_lossy(&forced.stdout).contains("\x1b["),
        "CLICOLOR_FORCE colours"
    );
    let mut s = pty(env, 80, &["show", id]);
    assert!(
        read_to_end(&mut s).contains("\x1b["),
        "colour on a terminal"
    );
    let mut plain = pty_with(env, 80, &["show", id], ("NO_COLOR", "1"));
    assert!(
        !read_to_end(&mut plain).contains("\x1b[3"),
        "NO_COLOR: no colour on a terminal"
    );
}
