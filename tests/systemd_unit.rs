//! Issue 2, "Must show" (systemd): `systemd-analyze verify` accepts systemd/picketd.service,
//! the unit keeps its promised settings, and the sysusers/tmpfiles snippets create the
//! picket user and its 0700 directories (applied to a temp root, never to this machine).
//! Issue 10, must show 8: the unit fences IP traffic to loopback, and with the drop-in that
//! `picketd --print-systemd-scope` prints for a config it still passes verify.
//!
//! systemd-analyze, systemd-sysusers and systemd-tmpfiles come from Debian's `systemd`
//! package, which scripts/setup installs; a missing tool fails the test, it is not skipped.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use picket_testkit::{describe, output_with_deadline, picketd_bin, stdout, CLIENT_DEADLINE};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: scripts/setup installs it (Debian package `systemd`); run scripts/setup, then the tests again");
}

/// Values of `key=` lines in the unit (later lines win in systemd; we keep them all).
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .collect()
}

fn last<'a>(unit: &'a str, key: &str) -> &'a str {
    values(unit, key)
        .last()
        .copied()
        .unwrap_or_else(|| panic!("picketd.service has no {key}="))
}

/// `systemd-analyze verify` of the shipped unit (ExecStart pointed at the binary just
/// built) with `drop_in` as `picketd.service.d/scope.conf` beside it, if any: its output.
fn verify(drop_in: Option<&str>) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let rewritten = read("systemd/picketd.service").replace(
        "\nExecStart=/usr/bin/picketd",
        &format!("\nExecStart={}", picketd_bin().display()),
    );
    let file = dir.path().join("picketd.service");
    std::fs::write(&file, rewritten).unwrap();
    if let Some(text) = drop_in {
        let d = dir.path().join("picketd.service.d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("scope.conf"), text).unwrap();
    }
    output_with_deadline(
        Command::new(tool("systemd-analyze"))
            .arg("verify")
            .arg(&file)
            .env("SYSTEMD_LOG_COLOR", "0"),
        CLIENT_DEADLINE,
    )
}

/// verify exits 0 on unknown keys and bad values; it only warns. Any line about our unit
/// (or its drop-in) is a mistake in it.
fn complaints(out: &std::process::Output) -> Vec<String> {
    let text = format!("{}{}", stdout(out), String::from_utf8_lossy(&out.stderr));
    text.lines()
        .filter(|l| l.contains("picketd.service") || l.contains("scope.conf"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let unit = read("systemd/picketd.service");
    assert!(
        unit.contains("\nExecStart=/usr/bin/picketd"),
        "ExecStart should run /usr/bin/picketd"
    );
    let out = verify(None);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{}",
        describe(&out)
    );
    assert_eq!(
        complaints(&out),
        Vec::<String>::new(),
        "systemd-analyze verify complains about the unit"
    );
}

#[test]
fn the_printed_scope_drop_in_fences_the_allow_list_and_passes_verify() {
    let env = picket_testkit::Env::new().with_config_file(
        "[scope]\nallow = [\"127.0.0.0/8\", \"::1/128\", \"localhost\", \"10.20.30.40\", \"192.168.7.9/24\", \"*.lab.example\"]\ndeny = [\"10.20.30.41\"]\n",
    );
    let out = output_with_deadline(
        env.command(picketd_bin())
            .arg("--config")
            .arg(env.config_file().unwrap())
            .arg("--print-systemd-scope"),
        CLIENT_DEADLINE,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let drop_in = stdout(&out);
    assert_eq!(
        values(&drop_in, "IPAddressAllow"),
        ["127.0.0.0/8 ::1/128 10.20.30.40/32 192.168.7.0/24"],
        "{drop_in}"
    );
    let comments: String = drop_in.lines().filter(|l| l.starts_with('#')).collect();
    assert!(
        comments.contains("name rules *.lab.example (") && comments.contains("deny"),
        "names and deny rules are said to be outside the fence:\n{drop_in}"
    );
    let verified = verify(Some(&drop_in));
    assert!(verified.status.success(), "{}", describe(&verified));
    assert_eq!(complaints(&verified), Vec::<String>::new(), "{drop_in}");
    // The drop-in is really read: a broken one is reported.
    let broken = verify(Some("[Service]\nIPAddressAllow=not-an-address\n"));
    assert!(
        !complaints(&broken).is_empty(),
        "verify did not read the drop-in:\n{}",
        describe(&broken)
    );
}

#[test]
fn verify_would_catch_a_broken_unit() {
    // The check above must be able to fail: a misspelt key and a missing binary are reported.
    let analyze = tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    let unit = read("systemd/picketd.service").replace(
        "\nExecStart=/usr/bin/picketd",
        &format!("\nExecStart={}", picketd_bin().display()),
    );
    let file = dir.path().join("picketd.service");
    std::fs::write(
        &file,
        unit.replace("\nNoNewPrivileges=", "\nNoNewPrivilegez="),
    )
    .unwrap();
    let out = output_with_deadline(
        Command::new(&analyze).arg("verify").arg(&file),
        CLIENT_DEADLINE,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NoNewPrivilegez"),
        "{}",
        describe(&out)
    );

    let unit = read("systemd/picketd.service").replace(
        "\nExecStart=/usr/bin/picketd",
        "\nExecStart=/nonexistent/picketd",
    );
    std::fs::write(&file, unit).unwrap();
    let out = output_with_deadline(
        Command::new(&analyze).arg("verify").arg(&file),
        CLIENT_DEADLINE,
    );
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn unit_keeps_the_promised_shape_and_hardening() {
    let unit = read("systemd/picketd.service");
    for (key, want) in [
        ("Type", "notify"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("RuntimeDirectory", "picket"),
        ("RuntimeDirectoryMode", "0700"),
        ("StateDirectory", "picket"),
        ("Environment", "PICKET_SOCKET=/run/picket/picketd.sock"),
        ("User", "picket"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("SystemCallArchitectures", "native"),
        ("CapabilityBoundingSet", ""),
        ("IPAddressDeny", "any"),
        ("IPAddressAllow", "localhost"),
    ] {
        assert_eq!(last(&unit, key), want, "picketd.service {key}=");
    }
    let exec = last(&unit, "ExecStart");
    assert!(
        exec.starts_with("/usr/bin/picketd") && exec.contains("--data-dir /var/lib/picket"),
        "ExecStart={exec}"
    );
    let families: Vec<&str> = last(&unit, "RestrictAddressFamilies")
        .split_whitespace()
        .collect();
    assert_eq!(families, ["AF_UNIX", "AF_INET", "AF_INET6"]);
    // No capability is granted by default; the comment explains how to grant CAP_NET_RAW.
    assert!(
        values(&unit, "AmbientCapabilities")
            .iter()
            .all(|v| v.is_empty()),
        "no ambient capabilities by default"
    );
    assert!(
        unit.contains("CAP_NET_RAW") && unit.contains("-sS") && unit.contains("-sT"),
        "the CAP_NET_RAW note is missing"
    );
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_private_directories() {
    let sysusers = tool("systemd-sysusers");
    let tmpfiles = tool("systemd-tmpfiles");
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["etc", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy(
        repo_file("systemd/picket.sysusers.conf"),
        r.join("usr/lib/sysusers.d/picket.conf"),
    )
    .unwrap();
    std::fs::copy(
        repo_file("systemd/picket.tmpfiles.conf"),
        r.join("usr/lib/tmpfiles.d/picket.conf"),
    )
    .unwrap();

    let out = output_with_deadline(
        Command::new(&sysusers).arg(format!("--root={}", r.display())),
        CLIENT_DEADLINE,
    );
    assert!(
        out.status.success(),
        "systemd-sysusers:\n{}",
        describe(&out)
    );
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("picket:"))
        .unwrap_or_else(|| panic!("no picket user:\n{passwd}"));
    let fields: Vec<&str> = entry.split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(
        uid != 0 && uid < 1000,
        "picket should be a system user: {entry}"
    );
    assert_eq!(fields[5], "/var/lib/picket", "{entry}");

    let out = output_with_deadline(
        Command::new(&tmpfiles)
            .arg(format!("--root={}", r.display()))
            .arg("--create"),
        CLIENT_DEADLINE,
    );
    assert!(
        out.status.success(),
        "systemd-tmpfiles:\n{}",
        describe(&out)
    );
    for d in ["run/picket", "var/lib/picket"] {
        let meta = std::fs::metadata(r.join(d)).unwrap_or_else(|e| panic!("{d} not created: {e}"));
        assert_eq!(meta.mode() & 0o777, 0o700, "{d} mode");
        assert_eq!(meta.uid(), uid, "{d} owner");
    }
}
