//! Issue 2, "Must show" 1-5: the real picketd and picket, end to end, in a temp dir each.
//!
//! 1. ping over the socket (versions, pid); no daemon → exit 3 with how to start one;
//!    autostart; shutdown.
//! 2. hostile bytes on the socket (raw `UnixStream`; well-framed garbage via the protocol's
//!    `frame_raw`, valid hellos via picket-client): every case ends that connection, the
//!    daemon keeps answering, memory stays bounded.
//! 3. socket directory 0700, socket 0600, another uid (`nobody`, via setpriv) refused.
//! 4. one daemon per socket (flock), and a clean takeover after kill -9; one daemon per data
//!    directory (issue 10, must show 7): a second one on another socket is refused.
//! 5. SIGTERM exits 0 and removes the socket; SIGHUP with a broken config keeps the old one;
//!    a broken config at start names the file and line.
//!
//! Storage (6) is daemon/tests/storage.rs; the systemd unit (7) is tests/systemd_unit.rs.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use picket_client::{Client, ClientError};
use picket_protocol::handshake::MAGIC;
use picket_protocol::{
    decode_frames, frame_raw, ErrorKind, Hello, HelloReply, RejectKind, Response, ServerFrame,
    DEFAULT_MAX_FRAME, PACKAGE_VERSION, PROTOCOL_VERSION,
};
use picket_testkit::*;

// ---------------------------------------------------------------------------------------
// Raw socket helpers
// ---------------------------------------------------------------------------------------

/// A raw connection to the daemon; reads give up after `EVENTUALLY` (then the test fails).
fn raw_connect(env: &Env) -> UnixStream {
    let s = UnixStream::connect(env.socket())
        .unwrap_or_else(|e| panic!("connect {}: {e}", env.socket().display()));
    s.set_read_timeout(Some(EVENTUALLY)).unwrap();
    s.set_write_timeout(Some(EVENTUALLY)).unwrap();
    s
}

/// Reads everything until the daemon closes the connection (EOF or reset). Panics if the
/// daemon keeps it open past the deadline.
fn read_until_closed(s: &mut UnixStream, case: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), IoKind::ConnectionReset | IoKind::BrokenPipe) => {
                return got
            }
            Err(e) if e.kind() == IoKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                panic!(
                    "{case}: the daemon kept the connection open ({} bytes received)",
                    got.len()
                )
            }
            Err(e) => panic!("{case}: read error {e}"),
        }
    }
}

/// What the daemon sent before closing, as handshake answers; a frame cut short at the end
/// is left out: only complete answers are judged.
fn hello_replies(received: &[u8], case: &str) -> Vec<HelloReply> {
    decode_frames(received, DEFAULT_MAX_FRAME)
        .unwrap_or_else(|e| panic!("{case}: undecodable HelloReply: {e}"))
        .0
}

/// Runs `f` on a current-thread runtime: picket-client is async, these tests are not.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Whatever the daemon sent before closing must be a refusal, never a welcome.
fn assert_closed_with_refusal_at_most(received: &[u8], case: &str) {
    for reply in hello_replies(received, case) {
        match reply {
            HelloReply::Rejected { .. } => {}
            other => panic!("{case}: the daemon answered garbage with {other:?}"),
        }
    }
}

/// The reason of the one `Rejected` reply in `received`.
fn rejection_reason(received: &[u8], case: &str) -> String {
    rejection(received, case).1
}

/// The kind and reason of the one `Rejected` reply in `received`.
fn rejection(received: &[u8], case: &str) -> (RejectKind, String) {
    let replies = hello_replies(received, case);
    let Some(first) = replies.into_iter().next() else {
        panic!("{case}: the daemon closed the connection without saying why")
    };
    match first {
        HelloReply::Rejected {
            kind,
            reason,
            daemon_protocol,
            daemon_version,
        } => {
            assert_eq!(daemon_protocol, PROTOCOL_VERSION, "{case}");
            assert_eq!(daemon_version, PACKAGE_VERSION, "{case}");
            (kind, reason)
        }
        other => panic!("{case}: expected a rejection, got {other:?}"),
    }
}

/// `picket --no-autostart ping` answers, from this very daemon (an autostarted replacement
/// would hide a crash).
fn assert_serving(env: &Env, daemon: &Daemon, after: &str) {
    let ping = env.try_ping().unwrap_or_else(|| {
        panic!(
            "after {after}: picket ping got no answer; daemon log:\n{}",
            daemon.log()
        )
    });
    assert_eq!(
        ping["pid"],
        daemon.pid(),
        "after {after}: answered by another daemon: {ping}"
    );
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failure can be replayed.
struct Noise(u64);

impl Noise {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }
}

fn stats(env: &Env) -> serde_json::Value {
    // `stats --json` is the full metrics report; the daemon's own counters are under "stats".
    env.picket_json(["--no-autostart", "stats"])["stats"].clone()
}

// ---------------------------------------------------------------------------------------
// 1. End to end: ping, no daemon, autostart
// ---------------------------------------------------------------------------------------

#[test]
fn ping_json_reports_both_versions_protocol_and_the_daemon_pid() {
    let env = Env::new();
    let daemon = env.start_daemon();
    let out = env.picket(["ping", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let ping = json(&out);
    assert_eq!(ping["daemon_version"], PACKAGE_VERSION, "{ping}");
    assert_eq!(ping["client_version"], PACKAGE_VERSION, "{ping}");
    assert_eq!(ping["protocol_version"], PROTOCOL_VERSION, "{ping}");
    assert_eq!(ping["pid"], daemon.pid(), "{ping}");
    // The data stayed inside this test's XDG_DATA_HOME.
    assert!(
        env.data_dir().join("picket.db").is_file(),
        "no picket.db in {}",
        env.data_dir().display()
    );

    // The human form says the same, on one line.
    let out = env.picket(["ping"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains(PACKAGE_VERSION) && text.contains(&daemon.pid().to_string()),
        "{text}"
    );
}

#[test]
fn without_a_daemon_no_autostart_exits_3_and_says_how_to_start_one() {
    let env = Env::new();

    let out = env.picket(["--no-autostart", "ping"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("picketd"),
        "stderr should say how to start picketd:\n{err}"
    );
    assert!(
        err.to_lowercase().contains("start"),
        "stderr should say how to start picketd:\n{err}"
    );
    assert!(
        stdout(&out).is_empty(),
        "errors go to stderr: {}",
        describe(&out)
    );

    let out = env.picket(["--no-autostart", "--json", "ping"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let doc = json(&out);
    let error = doc
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or_else(|| panic!("expected {{\"error\": {{...}}}}, got {doc}"));
    assert!(
        error.to_string().contains("picketd"),
        "the JSON error should say how to start picketd: {doc}"
    );

    // Nothing was started behind our back.
    assert!(
        !env.socket().exists(),
        "--no-autostart must not start a daemon"
    );
}

#[test]
fn plain_ping_starts_the_daemon_and_shutdown_stops_it() {
    let env = Env::new();
    assert!(!env.socket().exists());

    let out = env.picket(["ping"]);
    assert!(
        out.status.success(),
        "autostart failed:\n{}",
        describe(&out)
    );
    assert!(stdout(&out).contains("picketd"), "{}", describe(&out));

    // The auto-started daemon is not our child: kill it on any failure below.
    let ping = env
        .try_ping()
        .expect("the auto-started daemon keeps running after the client exits");
    let pid = ping["pid"].as_u64().expect("pid") as u32;
    let _guard = KillOnDrop(pid);
    assert!(pid_alive(pid));
    assert!(env.socket().exists());
    assert!(
        env.data_dir().join("picket.db").is_file(),
        "the auto-started daemon used another data dir"
    );

    let out = env.picket(["--no-autostart", "shutdown"]);
    assert!(out.status.success(), "{}", describe(&out));
    eventually(
        EVENTUALLY,
        "the auto-started picketd to exit after `picket shutdown`",
        || (!pid_alive(pid)).then_some(()),
    );
    assert!(!env.socket().exists(), "socket left behind after shutdown");
    assert_eq!(
        env.picket(["--no-autostart", "ping"]).status.code(),
        Some(3)
    );
}

// ---------------------------------------------------------------------------------------
// 2. Bad input against a live daemon
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_frames_end_their_connection_and_the_daemon_keeps_serving() {
    let env = Env::new();
    let daemon = env.start_daemon();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);

    random_bytes_are_never_welcomed(&env, &daemon, &mut noise);
    cut_and_oversized_frames_are_refused(&env, &daemon, &mut noise);
    another_protocol_version_is_refused_naming_both_and_the_fix(&env, &daemon);
    garbage_after_a_valid_handshake_gets_one_error_answer(&env, &daemon, &mut noise);

    // Every one of those was counted as a protocol error, not silently ignored.
    let st = stats(&env);
    assert!(
        st["protocol_errors"].as_u64().unwrap() >= 10,
        "protocol_errors not counted: {st}"
    );
}

/// Random bytes of various lengths, then end of input: closed, never welcomed.
fn random_bytes_are_never_welcomed(env: &Env, daemon: &Daemon, noise: &mut Noise) {
    for (i, len) in [1usize, 3, 4, 5, 17, 100, 4096, 70_000]
        .into_iter()
        .enumerate()
    {
        let case = format!("random bytes #{i} ({len} bytes)");
        let mut s = raw_connect(env);
        let _ = s.write_all(&noise.bytes(len));
        let _ = s.shutdown(std::net::Shutdown::Write);
        let got = read_until_closed(&mut s, &case);
        assert_closed_with_refusal_at_most(&got, &case);
        assert_serving(env, daemon, &case);
    }
}

/// A frame cut short, a header announcing 4 GiB, and well-sized frames of garbage.
fn cut_and_oversized_frames_are_refused(env: &Env, daemon: &Daemon, noise: &mut Noise) {
    // A truncated frame: the header announces 100 bytes, 10 arrive, then the peer closes.
    {
        let case = "truncated frame";
        let mut s = raw_connect(env);
        let mut bytes = 100u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&noise.bytes(10));
        s.write_all(&bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let got = read_until_closed(&mut s, case);
        assert_closed_with_refusal_at_most(&got, case);
        assert_serving(env, daemon, case);
    }

    // A frame announcing 4 GiB: refused on the header alone, without waiting for a body,
    // and the refusal names the size it refused.
    {
        let case = "frame announcing 4 GiB";
        let mut s = raw_connect(env);
        s.write_all(&u32::MAX.to_be_bytes()).unwrap();
        let got = read_until_closed(&mut s, case);
        let reason = rejection_reason(&got, case);
        assert!(
            reason.contains(&u32::MAX.to_string()),
            "{case}: the refusal should name the announced size: {reason}"
        );
        assert_serving(env, daemon, case);
    }

    // A correctly sized frame of garbage: answered with a refusal and closed (no waiting).
    for len in [8usize, 64, 1000] {
        let case = format!("well-sized garbage frame of {len} bytes");
        let mut s = raw_connect(env);
        let mut garbage = noise.bytes(len);
        garbage[0] = 0xFF; // never the start of a valid Hello (magic "PICKET")
        s.write_all(&frame_raw(&garbage)).unwrap();
        let got = read_until_closed(&mut s, &case);
        let (kind, reason) = rejection(&got, &case);
        assert_eq!(kind, RejectKind::BadHello, "{case}: {reason}");
        assert_serving(env, daemon, &case);
    }
}

/// A well-formed handshake from a client speaking another protocol version.
fn another_protocol_version_is_refused_naming_both_and_the_fix(env: &Env, daemon: &Daemon) {
    let case = "handshake with protocol 999";
    let hello = Hello {
        magic: MAGIC,
        protocol: 999,
        package_version: "9.9.9".into(),
    };
    let (kind, reason, daemon_protocol, daemon_version) =
        match block_on(Client::connect_with_hello(env.socket(), hello)) {
            Err(ClientError::Rejected {
                kind,
                reason,
                daemon_protocol,
                daemon_version,
            }) => (kind, reason, daemon_protocol, daemon_version),
            Err(e) => panic!("{case}: expected a refusal, got {e}"),
            Ok(_) => panic!("{case}: the daemon let a protocol 999 client in"),
        };
    assert_eq!(kind, RejectKind::VersionMismatch, "{case}: {reason}");
    assert_eq!(
        (daemon_protocol, daemon_version.as_str()),
        (PROTOCOL_VERSION, PACKAGE_VERSION),
        "{case}"
    );
    assert!(
        reason.contains("999"),
        "{case}: should name the client's protocol: {reason}"
    );
    assert!(
        reason.contains(&format!("protocol {PROTOCOL_VERSION}")),
        "{case}: should name the daemon's protocol: {reason}"
    );
    assert!(
        reason.to_lowercase().contains("restart the daemon"),
        "{case}: should say to restart the daemon: {reason}"
    );
    assert_serving(env, daemon, case);
}

/// A valid handshake and a real request, then a garbage request frame on the same
/// connection: one error answer, then close.
fn garbage_after_a_valid_handshake_gets_one_error_answer(
    env: &Env,
    daemon: &Daemon,
    noise: &mut Noise,
) {
    let case = "garbage request after a valid handshake";
    let mut s = block_on(async {
        let mut client = Client::connect(env.socket())
            .await
            .unwrap_or_else(|e| panic!("{case}: valid hello refused: {e}"));
        assert_eq!(client.welcome().protocol, PROTOCOL_VERSION);
        assert_eq!(client.welcome().pid, daemon.pid());
        // A real request first, to show the connection works before the garbage.
        let pong = client.ping().await.unwrap();
        assert_eq!(pong.pid, daemon.pid(), "{case}");
        client.into_stream().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(EVENTUALLY)).unwrap();

    let mut garbage = b"\xff\xfe\xfd this is not a picket request \x00\x01\x02".to_vec();
    garbage.extend_from_slice(&noise.bytes(32));
    s.write_all(&frame_raw(&garbage)).unwrap();
    let got = read_until_closed(&mut s, case);
    let (answers, _) = decode_frames::<ServerFrame>(&got, DEFAULT_MAX_FRAME)
        .unwrap_or_else(|e| panic!("{case}: undecodable answer: {e}"));
    assert_eq!(
        answers.len(),
        1,
        "{case}: expected exactly one error answer, got {} frames",
        answers.len()
    );
    match &answers[0].response {
        Response::Error(e) => assert_eq!(e.kind, ErrorKind::Invalid, "{case}: {e:?}"),
        other => panic!("{case}: expected Response::Error, got {other:?}"),
    }
    assert_serving(env, daemon, case);
}

#[test]
fn a_thousand_dropped_connections_and_oversized_claims_keep_memory_bounded() {
    let env = Env::new();
    let daemon = env.start_daemon();

    // Warm up, so lazy one-time allocations are not counted as growth.
    for _ in 0..20 {
        let mut s = raw_connect(&env);
        let _ = s.write_all(&[0, 0]);
    }
    {
        let mut s = raw_connect(&env);
        s.write_all(&u32::MAX.to_be_bytes()).unwrap();
        read_until_closed(&mut s, "warm-up");
    }
    assert_serving(&env, &daemon, "warm-up");
    let st = stats(&env);
    let errors_before = st["protocol_errors"].as_u64().unwrap();
    let rss_before = daemon.rss_bytes();

    // 1,000 connections, held 100 at a time, then dropped; some send part of a header,
    // some a full header and part of a body.
    let mut held = Vec::with_capacity(100);
    for i in 0..1000usize {
        let mut s =
            UnixStream::connect(env.socket()).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        let _ = match i % 4 {
            0 => Ok(()),
            1 => s.write_all(&[0]),
            2 => s.write_all(&[0, 0, 1]),
            _ => s.write_all(&[0, 0, 0, 50, b'P', b'I', b'C']),
        };
        held.push(s);
        if held.len() == 100 {
            held.clear();
        }
    }
    drop(held);
    assert_serving(&env, &daemon, "1,000 connections opened and dropped");

    // A burst of 50 connections all claiming frames over the cap, held open together.
    let mut claims: Vec<UnixStream> = (0..50)
        .map(|i| {
            let mut s = raw_connect(&env);
            let claim = if i % 2 == 0 {
                u32::MAX
            } else {
                DEFAULT_MAX_FRAME as u32 + 1
            };
            s.write_all(&claim.to_be_bytes()).unwrap();
            s
        })
        .collect();
    for (i, s) in claims.iter_mut().enumerate() {
        let got = read_until_closed(s, &format!("oversized claim #{i}"));
        rejection_reason(&got, &format!("oversized claim #{i}"));
    }
    drop(claims);
    assert_serving(&env, &daemon, "50 oversized frame claims");

    // All those connections are gone from the daemon too (only the stats one is open).
    let st = eventually(
        EVENTUALLY,
        "the daemon to close every dropped connection",
        || {
            let st = stats(&env);
            (st["connections_open"] == 1).then_some(st)
        },
    );
    assert!(st["connections_total"].as_u64().unwrap() >= 1050, "{st}");
    assert!(
        st["protocol_errors"].as_u64().unwrap() >= errors_before + 50,
        "oversized claims not counted: {st}"
    );

    let rss_after = daemon.rss_bytes();
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!("picketd RSS: {rss_before} bytes before, {rss_after} after the hostile connections");
    assert!(
        growth < 64 << 20,
        "picketd RSS grew by {} MiB ({} → {} bytes) over 1,050 hostile connections",
        growth >> 20,
        rss_before,
        rss_after
    );
}

// ---------------------------------------------------------------------------------------
// 3. Socket permissions and peer credentials
// ---------------------------------------------------------------------------------------

const NOBODY: u32 = 65534;

/// Whether every directory above `path` is searchable by others and the file is
/// readable and executable by others.
fn usable_by_others(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.mode() & 0o005 != 0o005 {
        return false;
    }
    path.ancestors().skip(1).all(|dir| {
        std::fs::metadata(dir)
            .map(|m| m.mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

/// A picket binary that `nobody` can run: the built one if its path allows it, otherwise a
/// copy in a fresh 0755 directory.
fn picket_runnable_by_nobody(scratch: &mut Option<tempfile::TempDir>) -> PathBuf {
    let built = picket_bin();
    if usable_by_others(&built) {
        return built;
    }
    let (dir, copy) = picket_for_everyone();
    assert!(
        usable_by_others(&copy),
        "cannot make a picket binary that uid {NOBODY} can run: {}",
        copy.display()
    );
    *scratch = Some(dir);
    copy
}

fn run_as_nobody(env: &Env, picket: &Path, with_dac_override: bool) -> std::process::Output {
    let mut cmd = env.command("setpriv");
    cmd.args([
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".into(),
    ]);
    if with_dac_override {
        // Lets it traverse the 0700 directories and open the 0600 socket, so that the
        // daemon's own peer-credential check is what has to refuse it.
        cmd.args(["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]);
    }
    cmd.arg("--").arg(picket).args(["--no-autostart", "ping"]);
    output_with_deadline(&mut cmd, CLIENT_DEADLINE)
}

/// These tests run clients as uid `NOBODY` with setpriv, which needs root.
fn daemon_for_nobody_tests() -> (Env, Daemon) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs clients as uid {NOBODY} with setpriv, which needs root"
    );
    let env = Env::new();
    let daemon = env.start_daemon();
    (env, daemon)
}

#[test]
fn socket_is_private_and_other_uids_are_refused() {
    let (env, daemon) = daemon_for_nobody_tests();

    let dir = env.socket().parent().unwrap();
    let dir_meta = std::fs::metadata(dir).unwrap();
    assert_eq!(
        dir_meta.mode() & 0o777,
        0o700,
        "socket directory {} mode {:o}",
        dir.display(),
        dir_meta.mode() & 0o777
    );
    assert_eq!(dir_meta.uid(), nix::unistd::geteuid().as_raw());
    let sock_meta = std::fs::symlink_metadata(env.socket()).unwrap();
    assert!(
        sock_meta.file_type().is_socket(),
        "{} is not a socket",
        env.socket().display()
    );
    assert_eq!(
        sock_meta.mode() & 0o777,
        0o600,
        "socket mode {:o}",
        sock_meta.mode() & 0o777
    );

    let mut scratch = None;
    let picket = picket_runnable_by_nobody(&mut scratch);

    // Without privileges, nobody cannot even reach the socket: the directories stop it.
    let out = run_as_nobody(&env, &picket, false);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        stderr(&out).to_lowercase().contains("permission denied"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        stats(&env)["refused_peers"],
        0,
        "the filesystem, not the daemon, refused this one"
    );

    // With CAP_DAC_OVERRIDE it reaches the socket, and the daemon's SO_PEERCRED check refuses
    // it (the client's wording is checked by the next test).
    let out = run_as_nobody(&env, &picket, true);
    assert!(
        !out.status.success(),
        "uid {NOBODY} was let in:\n{}",
        describe(&out)
    );
    assert!(
        stats(&env)["refused_peers"].as_u64().unwrap() >= 1,
        "the daemon did not count the refused peer"
    );
    daemon.wait_for_log(&format!("uid {NOBODY}"));

    // The owner still gets in.
    assert_serving(&env, &daemon, "refusing uid 65534");
}

#[test]
fn another_uid_reaching_the_socket_gets_a_clear_refusal_every_time() {
    let (env, daemon) = daemon_for_nobody_tests();
    let mut scratch = None;
    let picket = picket_runnable_by_nobody(&mut scratch);
    // Repeated: the refusal must not depend on who wins the race between the daemon's
    // answer-and-close and the client's Hello.
    for attempt in 0..20 {
        let out = run_as_nobody(&env, &picket, true);
        assert_eq!(
            out.status.code(),
            Some(4),
            "attempt {attempt}: {}",
            describe(&out)
        );
        let err = stderr(&out).to_lowercase();
        assert!(
            err.contains("permission denied"),
            "attempt {attempt}: {}",
            describe(&out)
        );
        assert!(
            err.contains(&format!("uid {NOBODY}")),
            "attempt {attempt}: the refusal should name the uid: {}",
            describe(&out)
        );
    }
    assert!(stats(&env)["refused_peers"].as_u64().unwrap() >= 20);
    assert_serving(&env, &daemon, "refusing uid 65534");
}

// ---------------------------------------------------------------------------------------
// 4. One daemon per socket
// ---------------------------------------------------------------------------------------

#[test]
fn second_daemon_refuses_to_start_and_a_new_one_takes_over_after_kill_9() {
    let env = Env::new();
    let mut first = env.start_daemon();

    let mut second = env.spawn_daemon(std::iter::empty::<&str>());
    let status = second.wait_exit();
    assert!(
        !status.success(),
        "a second picketd on the same socket started: {status:?}\n{}",
        second.log()
    );
    let log = second.log();
    assert!(
        log.contains(&format!("pid {}", first.pid())),
        "the refusal should name the running daemon's pid {}:\n{log}",
        first.pid()
    );
    // ... and it did not steal or remove the first one's socket.
    assert_serving(&env, &first, "a second picketd tried to start");

    first.kill9();
    assert!(
        env.socket().exists(),
        "after kill -9 the socket file is expected to stay behind (stale)"
    );
    assert!(
        env.try_ping().is_none(),
        "nothing should answer on a stale socket"
    );

    let third = env.start_daemon();
    assert_serving(&env, &third, "restart after kill -9");
    assert_ne!(third.pid(), first.pid());
}

#[test]
fn second_daemon_on_the_same_data_directory_with_another_socket_is_refused() {
    let env = Env::new();
    let first = env.start_daemon();
    // Another world (its own socket) pointed at the first one's data directory.
    let other = Env::new().with_data_dir(&env.data_dir());
    let mut second = other.spawn_daemon(std::iter::empty::<&str>());
    let status = second.wait_exit();
    assert!(
        !status.success(),
        "a second picketd on the same data directory started: {status:?}\n{}",
        second.log()
    );
    let log = second.log();
    for named in [
        format!("pid {}", first.pid()),
        env.socket().display().to_string(),
    ] {
        assert!(
            log.contains(&named),
            "the refusal should name {named}:\n{log}"
        );
    }
    assert!(
        !other.socket().exists(),
        "the refused daemon bound its socket"
    );
    assert_serving(
        &env,
        &first,
        "a second picketd tried the same data directory",
    );
}

// ---------------------------------------------------------------------------------------
// 5. Signals and configuration
// ---------------------------------------------------------------------------------------

#[test]
fn sigterm_exits_0_and_removes_the_socket() {
    let env = Env::new();
    let mut daemon = env.start_daemon();
    assert!(env.socket().exists());
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "picketd after SIGTERM: {status:?}\n{}",
        daemon.log()
    );
    assert!(
        !env.socket().exists(),
        "socket {} left behind after SIGTERM",
        env.socket().display()
    );
    assert_eq!(
        env.picket(["--no-autostart", "ping"]).status.code(),
        Some(3)
    );
}

fn config_with_deny(marker: &str) -> String {
    ConfigBuilder::new()
        .limit("max_connections", 64)
        .set(
            "scope",
            "allow",
            vec!["127.0.0.0/8", "::1/128", "localhost"],
        )
        .set("scope", "deny", vec![marker])
        .render()
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one_and_logs_why() {
    let env = Env::new().with_config_file(&config_with_deny("127.0.0.91/32"));
    let config = env.config_file().unwrap().to_path_buf();
    let daemon = env.start_daemon();
    let health = env.picket_json(["--no-autostart", "health"]);
    assert!(
        health.to_string().contains("127.0.0.91/32"),
        "the config's scope is not in effect: {health}"
    );

    // A valid change is picked up: SIGHUP does reload (so "kept" below means something).
    std::fs::write(&config, config_with_deny("127.0.0.92/32")).unwrap();
    daemon.signal(Signal::SIGHUP);
    eventually(
        EVENTUALLY,
        "the reloaded scope (deny 127.0.0.92/32) to show in `picket health`",
        || {
            env.picket_json(["--no-autostart", "health"])
                .to_string()
                .contains("127.0.0.92/32")
                .then_some(())
        },
    );

    // A broken file: logged with the file's name and "NOT reloaded", old config kept.
    std::fs::write(
        &config,
        "[limits]\nmax_connections = 64\n\n[scope\ndeny = [\"127.0.0.93/32\"]\n",
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    let log = daemon.wait_for_log("NOT reloaded");
    let line = log.lines().find(|l| l.contains("NOT reloaded")).unwrap();
    assert!(
        line.contains(&config.display().to_string()),
        "the log should name the broken file:\n{line}"
    );
    assert!(
        line.contains("line 4"),
        "the log should name the broken line:\n{line}"
    );

    assert_serving(&env, &daemon, "SIGHUP with a broken config");
    let health = env.picket_json(["--no-autostart", "health"]).to_string();
    assert!(
        health.contains("127.0.0.92/32"),
        "the previous config should still apply: {health}"
    );
    assert!(
        !health.contains("127.0.0.93/32"),
        "the broken config leaked in: {health}"
    );
}

/// Starts picketd on a config file holding `text`; it must exit non-zero, naming the file
/// and `line`, without listening.
fn assert_refuses_to_start(text: &str, line: &str) {
    let env = Env::new().with_config_file(text);
    let mut daemon = env.spawn_daemon(std::iter::empty::<&str>());
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert!(
        !status.success(),
        "picketd started with a broken config:\n{text}\n{log}"
    );
    assert!(
        log.contains(&env.config_file().unwrap().display().to_string()),
        "stderr should name the file:\n{log}"
    );
    assert!(log.contains(line), "stderr should name {line}:\n{log}");
    assert!(
        !env.socket().exists(),
        "a daemon with a broken config must not listen"
    );
}

#[test]
fn config_syntax_error_at_start_stops_the_daemon_naming_file_and_line() {
    assert_refuses_to_start(
        "log_level = \"info\"\n\n[limits]\nmax_connections = = 4\n",
        "line 4",
    );
}

#[test]
fn config_type_error_at_start_stops_the_daemon_naming_file_and_line() {
    assert_refuses_to_start(
        "log_level = \"info\"\n[limits]\nmax_connections = \"many\"\n",
        "line 3",
    );
}
