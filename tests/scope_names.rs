//! Host names and scope, end to end (issue 10, must-show 1 and 2): the real picketd sees a
//! private /etc/hosts (`Env::with_hosts`), and an escape sensor on an out-of-scope /24
//! proves that no tool tried to reach the address a name also (or later) resolves to.
//!
//! Stand-in tools record the argv they were given, then do what a real tool does with it:
//! connect (curl, or the real whatweb). Were a tool given the name, that connect would
//! resolve the name again and, once the answer has moved, land on the sensor.
//! Runs only in the tests' loopback-only network namespace (the sensor refuses elsewhere).

use std::path::{Path, PathBuf};

use picket_protocol::{RunStatus, ScanDetail, ScanStatus};
use picket_testkit::scripts::{count_start, starts, until_exists};
use picket_testkit::targets::{http, https};
use picket_testkit::*;

/// A tool script that appends its own name and argv to `witness`, counts its start in
/// `count`, waits for `gate` (when given), then runs `then`, a line that uses "$@".
fn wrapper(dir: &Path, name: &str, gate: Option<&Path>, then: &str) -> PathBuf {
    let witness = dir.join("witness");
    let wait = gate.map(until_exists).unwrap_or_default();
    let body = format!(
        "echo \"{name} $*\" >> {witness}\n{count}\n{wait}\n{then}",
        witness = witness.display(),
        count = count_start(&dir.join("starts")),
    );
    tool_script(dir, name, &body)
}

/// The argv lines the wrappers recorded, one per run.
fn recorded(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("witness"))
        .map(|s| s.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// A stand-in web tool: fetches `{url}` with curl, sending `Host: {vhost}`, and fails if
/// the fetch does.
fn fetcher(dir: &Path, name: &str, gate: Option<&Path>) -> ToolConfig {
    let script = wrapper(
        dir,
        name,
        gate,
        "curl -sf -o /dev/null -m 3 -H \"$1\" \"$2\"",
    );
    ToolConfig::new(name)
        .program(script)
        .args(["Host: {vhost}", "{url}"])
        .no_version_probe()
        .ttl_secs(0)
        .retries(0)
}

/// A real tool with its built-in argv and parser, behind a wrapper that records that argv
/// and appends a copy of its stdout to `dir/TOOL.out` (the pipe's status is tee's: the tools
/// used here exit 0 anyway, see COMMANDS.md).
fn real(dir: &Path, tool: &str, gate: Option<&Path>) -> ToolConfig {
    let builtin = &picketd::config::builtin_tools()[tool];
    let copy = dir.join(format!("{tool}.out"));
    let then = format!("{} \"$@\" | tee -a {}", builtin.program, copy.display());
    ToolConfig::new(tool)
        .program(wrapper(dir, tool, gate, &then))
        .args(&builtin.args)
        .triggers(&builtin.triggers)
        .set("parser", tool)
        .no_version_probe()
        .ttl_secs(0)
        .retries(0)
}

/// hosts(5) text: localhost, then each (address, name) line.
fn hosts(lines: &[(&str, &str)]) -> String {
    let mut text = String::from("127.0.0.1 localhost\n");
    for (addr, name) in lines {
        text.push_str(&format!("{addr} {name}\n"));
    }
    text
}

/// Must-show 1: a name with one answer in scope and one out of it is refused before any
/// tool starts, naming the out-of-scope address, whether or not a name rule allows it, on
/// the `--tools` and the profile paths, as a host and inside a URL.
#[test]
fn a_name_resolving_in_and_out_of_scope_is_refused_naming_the_outside_address() {
    let sensor = Sensor::new();
    let outside = sensor.address();
    let dir = tempfile::tempdir().unwrap();
    let site = http(dir.path());
    let cfg = ConfigBuilder::new()
        .raw("[profiles.rec]\ndiscovery = [\"fetcher\"]")
        .set(
            "scope",
            "allow",
            vec!["127.0.0.0/8", "::1/128", "localhost", "mixed.test"],
        )
        .tool(fetcher(dir.path(), "fetcher", None));
    // `localhost` itself, on the default allow list by name, answers both ways too.
    let env = Env::new()
        .with_hosts(&format!(
            "127.0.0.1 localhost\n{outside} localhost\n127.0.0.1 mixed.test\n{outside} mixed.test\n"
        ))
        .with_config(&cfg);
    let _d = env.start_daemon();
    let before = sensor.tx_packets();
    for target in [
        "mixed.test",
        "http://mixed.test:8080/",
        "localhost",
        "https://localhost/",
    ] {
        for how in [["--tools", "fetcher"], ["--profile", "rec"]] {
            let out = env.picket(["--json", "scan", target, how[0], how[1]]);
            assert_eq!(out.status.code(), Some(4), "{target}: {}", describe(&out));
            let err = json(&out);
            assert_eq!(err["error"]["kind"], "refused", "{err}");
            let message = err["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("of which {outside} lies outside the scope")),
                "{target}: the message must name {outside}: {message}"
            );
        }
    }
    assert_eq!(
        recorded(dir.path()),
        Vec::<String>::new(),
        "no tool started"
    );
    assert_eq!(
        sensor.tx_packets(),
        before,
        "something reached for {outside}"
    );
    // The witness works: an in-scope name does start the tool, at the address.
    env.set_hosts(&hosts(&[("127.0.0.1", "mixed.test")]));
    let port = site.port.to_string();
    let scan = env.scan_wait(&["mixed.test", "--ports", &port, "--tools", "fetcher"]);
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert_eq!(
        recorded(dir.path()),
        [format!(
            "fetcher Host: mixed.test:{port} http://127.0.0.1:{port}/"
        )]
    );
}

/// What every recorded run must show after a rebinding: the checked address as the only
/// thing to connect to, the name only in the Host header.
fn assert_pinned(lines: &[String], port: u16, name: &str) {
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let url = words.last().unwrap();
        assert_eq!(
            *url,
            format!("http://127.0.0.1:{port}/"),
            "the tool must connect to the checked address: {line}"
        );
        assert!(
            line.contains(&format!("Host:{name}:{port}"))
                || line.contains(&format!("Host: {name}:{port}")),
            "the name rides in the Host header: {line}"
        );
        assert!(
            !words.iter().any(|w| w.contains(&format!("//{name}"))),
            "no URL with the name: {line}"
        );
    }
}

/// Runs `args` (a scan of `name`, which resolves to 127.0.0.1 at submission) while the
/// tools are held at the gate, moves the name to the sensor, opens the gate and waits:
/// answers the finished scan and the recorded argv.
fn scan_across_a_rebinding(
    env: &Env,
    dir: &Path,
    sensor: &Sensor,
    name: &str,
    args: &[&str],
) -> (ScanDetail, Vec<String>) {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    let id = env.picket_json(all)["id"].as_i64().unwrap().to_string();
    eventually(EVENTUALLY, "a tool of the scan started", || {
        (starts(&dir.join("starts")) > 0).then_some(())
    });
    env.set_hosts(&hosts(&[(&sensor.address(), name)]));
    std::fs::write(dir.join("gate"), "open").unwrap();
    let done: ScanDetail = env.wait_one(&id);
    (done, recorded(dir))
}

/// Must-show 2: the name's answer moves to an out-of-scope address after the check.
/// One slot per host makes the runs of a scan take turns: the first is spawned before the
/// move and connects after it (held at the gate), the others start after it. Every one
/// connects to the checked address, and the sensor never moves. Covers `--tools` with a
/// URL target (the real whatweb among the tools) and with a host target.
#[test]
fn a_name_that_moves_after_the_check_is_scanned_at_the_checked_address() {
    require_installed(&["whatweb", "curl"]);
    let sensor = Sensor::new();
    let root = tempfile::tempdir().unwrap();
    let site = http(root.path());
    let cases: [(&str, Vec<String>); 2] = [
        (
            "url",
            vec![
                format!("http://rebind.test:{}/", site.port),
                "--tools".into(),
                "fa,fb,whatweb".into(),
            ],
        ),
        (
            "host",
            vec![
                "rebind.test".into(),
                "--ports".into(),
                site.port.to_string(),
                "--tools".into(),
                "fa,fb".into(),
            ],
        ),
    ];
    for (case, args) in cases {
        let dir = root.path().join(case);
        std::fs::create_dir(&dir).unwrap();
        let gate = dir.join("gate");
        let cfg = ConfigBuilder::new()
            .limit("per_target", 1)
            .tool(fetcher(&dir, "fa", Some(&gate)))
            .tool(fetcher(&dir, "fb", Some(&gate)))
            .tool(real(&dir, "whatweb", Some(&gate)));
        let env = Env::new()
            .with_hosts(&hosts(&[("127.0.0.1", "rebind.test")]))
            .with_config(&cfg);
        let _d = env.start_daemon();
        let before = sensor.tx_packets();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (scan, lines) = scan_across_a_rebinding(&env, &dir, &sensor, "rebind.test", &args);
        let tools = args.last().unwrap().split(',').count();
        assert_eq!(lines.len(), tools, "{case}: each tool once: {lines:#?}");
        assert_pinned(&lines, site.port, "rebind.test");
        assert_eq!(
            sensor.tx_packets(),
            before,
            "{case}: a tool reached for the name's new address"
        );
        // And each fetched the page (curl -f, whatweb's parser) at the checked address.
        assert_eq!(scan.status, ScanStatus::Done, "{case}: {scan:#?}");
        assert!(
            scan.tool_runs.iter().all(|r| r.status == RunStatus::Done),
            "{case}: {:#?}",
            scan.tool_runs
        );
        if case == "url" {
            // whatweb fetched the page at the address: its service is the checked one.
            assert!(
                scan.services
                    .iter()
                    .any(|s| s.host == "127.0.0.1" && s.port == site.port),
                "{:#?}",
                scan.services
            );
        }
        // The daemon does see the new answer: the same name is now refused.
        let again = env.picket(["--json", "scan", "rebind.test", "--tools", "fa"]);
        assert_eq!(again.status.code(), Some(4), "{}", describe(&again));
    }
}

/// A resumed scan resolves and checks its name again after the restart, and uses what that
/// check gives: an answer moved out of scope fails the scan without starting the tool
/// again; one moved to another in-scope address runs the tool at that address.
#[test]
fn a_resumed_scan_checks_its_name_again_and_uses_the_new_checked_address() {
    let sensor = Sensor::new();
    let root = tempfile::tempdir().unwrap();
    for (case, moved_to) in [("out", sensor.address()), ("in", "127.0.0.2".into())] {
        let dir = root.path().join(case);
        std::fs::create_dir(&dir).unwrap();
        let gate = dir.join("gate");
        let held = ToolConfig::new("held")
            .program(wrapper(&dir, "held", Some(&gate), "true"))
            .args(["{host}", "{name}"])
            .no_version_probe()
            .ttl_secs(0)
            .retries(0);
        let env = Env::new()
            .with_hosts(&hosts(&[("127.0.0.1", "moving.test")]))
            .with_config(&ConfigBuilder::new().tool(held));
        let mut daemon = env.start_daemon();
        let before = sensor.tx_packets();
        let id = env.picket_json(["scan", "moving.test", "--tools", "held"])["id"]
            .as_i64()
            .unwrap()
            .to_string();
        eventually(EVENTUALLY, "the tool started", || {
            (starts(&dir.join("starts")) > 0).then_some(())
        });
        daemon.kill9();
        env.set_hosts(&hosts(&[(&moved_to, "moving.test")]));
        // Lets the first run's tool, left behind by the kill, end.
        std::fs::write(&gate, "open").unwrap();
        let _daemon = env.start_daemon();
        // `wait` exits 1 for a failed scan; its JSON is the scan either way.
        let done: ScanDetail =
            parse::<picket_protocol::json::WaitDoc>(&env.picket(["--json", "wait", &id]))
                .scans
                .remove(0);
        let lines = recorded(&dir);
        if case == "out" {
            assert_eq!(done.status, ScanStatus::Failed, "{done:#?}");
            let error = done.error.clone().unwrap_or_default();
            assert!(
                error.contains("not resumed") && error.contains(&moved_to),
                "the reason names the address: {error}"
            );
            assert_eq!(lines, ["held 127.0.0.1 moving.test"], "not started again");
        } else {
            assert_eq!(done.status, ScanStatus::Done, "{done:#?}");
            assert_eq!(
                lines,
                ["held 127.0.0.1 moving.test", "held 127.0.0.2 moving.test"]
            );
        }
        assert_eq!(sensor.tx_packets(), before, "{case}: the sensor moved");
    }
}

/// `picket import` of a report about an out-of-scope host stores it and starts nothing:
/// no follow-up of the services it lists, no connect.
#[test]
fn an_import_starts_no_tool_even_for_the_services_it_reports() {
    let sensor = Sensor::new();
    let dir = tempfile::tempdir().unwrap();
    let outside = sensor.address();
    let web = fetcher(dir.path(), "web", None).triggers(["http", "https"]);
    let cfg = ConfigBuilder::new()
        .raw("[profiles.quick]\ndiscovery = [\"web\"]\nfollow_up = [\"web\"]")
        .tool(web);
    let env = Env::new().with_config(&cfg);
    let _d = env.start_daemon();
    let before = sensor.tx_packets();
    let report = dir.path().join("whatweb.json");
    std::fs::write(
        &report,
        format!(
            "[{{\"target\":\"http://{outside}/\",\"http_status\":200,\"plugins\":{{\"HTTPServer\":{{\"string\":[\"nginx\"]}}}}}}]"
        ),
    )
    .unwrap();
    let id = env.picket_json(["import", "whatweb", report.to_str().unwrap()])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let shown: ScanDetail = env.picket_as(["show", &id]);
    assert_eq!(shown.status, ScanStatus::Done, "{shown:#?}");
    assert!(
        shown.services.iter().any(|s| s.host == outside),
        "the report is stored as it is: {shown:#?}"
    );
    assert_eq!(shown.tool_runs.len(), 1, "only the import itself");
    assert_eq!(
        recorded(dir.path()),
        Vec::<String>::new(),
        "no tool started"
    );
    assert_eq!(sensor.tx_packets(), before);
}

/// The real sslscan and whatweb across the same rebinding: each connects to the checked
/// address and gets the name through its own option (sslscan's SNI, whatweb's Host header),
/// as their own output shows.
#[test]
fn real_tools_get_the_address_to_connect_to_and_the_name_for_sni_and_host() {
    require_installed(&["sslscan", "whatweb"]);
    let sensor = Sensor::new();
    let dir = tempfile::tempdir().unwrap();
    let (web, tls) = (http(dir.path()), https(dir.path()));
    let gate = dir.path().join("gate");
    let cfg = ConfigBuilder::new()
        .limit("per_target", 1)
        .tool(real(dir.path(), "sslscan", Some(&gate)))
        .tool(real(dir.path(), "whatweb", Some(&gate)));
    let env = Env::new()
        .with_hosts(&hosts(&[("127.0.0.1", "pinned.test")]))
        .with_config(&cfg);
    let _d = env.start_daemon();
    let before = sensor.tx_packets();
    let (https_url, http_url) = (
        format!("https://pinned.test:{}/", tls.port),
        format!("http://pinned.test:{}/", web.port),
    );
    let args = [https_url.as_str(), &http_url, "--tools", "sslscan,whatweb"];
    let (scan, lines) = scan_across_a_rebinding(&env, dir.path(), &sensor, "pinned.test", &args);
    assert_eq!(
        sensor.tx_packets(),
        before,
        "a tool reached for the new address"
    );
    let (p, q) = (tls.port, web.port);
    let mut expected = vec![
        format!("sslscan --xml=- --sni-name=pinned.test 127.0.0.1:{p}"),
        format!("sslscan --xml=- --sni-name=pinned.test 127.0.0.1:{q}"),
        format!("whatweb -q --color=never --follow-redirect=never --log-json=- --header Host:pinned.test:{p} https://127.0.0.1:{p}/"),
        format!("whatweb -q --color=never --follow-redirect=never --log-json=- --header Host:pinned.test:{q} http://127.0.0.1:{q}/"),
    ];
    let mut lines = lines;
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected);
    let sslscan = std::fs::read_to_string(dir.path().join("sslscan.out")).unwrap();
    assert!(
        sslscan.contains(&format!(
            "host=\"127.0.0.1\" sniname=\"pinned.test\" port=\"{p}\""
        )),
        "sslscan connected to the address with the name as SNI: {sslscan}"
    );
    let whatweb = std::fs::read_to_string(dir.path().join("whatweb.out")).unwrap();
    assert!(
        whatweb.contains(&format!(
            "\"target\":\"http://127.0.0.1:{q}/\",\"http_status\":200,\"request_config\":{{\"headers\":{{\"Host\":\"pinned.test:{q}\""
        )),
        "whatweb fetched the address with the name as Host: {whatweb}"
    );
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert!(
        scan.findings
            .iter()
            .any(|f| f.tool == "sslscan" && f.host == "127.0.0.1" && f.port == Some(p)),
        "{:#?}",
        scan.findings
    );
}

/// The profile path with a name: the real nmap discovers at the checked address (the name
/// only in its NSE script arguments), and the follow-ups on what it found, started after
/// the name moved to the sensor, still get that address, with the name for SNI and Host.
#[test]
fn the_quick_profile_on_a_name_discovers_and_follows_up_at_the_checked_address() {
    require_installed(&["nmap", "sslscan", "whatweb"]);
    let sensor = Sensor::new();
    let dir = tempfile::tempdir().unwrap();
    let (web, tls) = (http(dir.path()), https(dir.path()));
    let gate = dir.path().join("gate");
    let cfg = ["nmap", "sslscan", "whatweb"]
        .into_iter()
        .fold(ConfigBuilder::new(), |cfg, tool| {
            cfg.tool(real(dir.path(), tool, Some(&gate)))
        });
    let env = Env::new()
        .with_hosts(&hosts(&[("127.0.0.1", "pinned.test")]))
        .with_config(&cfg);
    let _d = env.start_daemon();
    let before = sensor.tx_packets();
    let (p, q) = (tls.port, web.port);
    let ports = format!("{q},{p}");
    let args = ["pinned.test", "--ports", &ports, "--profile", "quick"];
    let (scan, lines) = scan_across_a_rebinding(&env, dir.path(), &sensor, "pinned.test", &args);
    assert_eq!(
        sensor.tx_packets(),
        before,
        "a tool reached for the new address"
    );
    assert!(
        lines.contains(&format!(
            "nmap -sT -sV --version-light -Pn -n -p{ports} --script-args=http.host=pinned.test,tls.servername=pinned.test -oX - 127.0.0.1"
        )),
        "{lines:#?}"
    );
    let sslscan = format!("sslscan --xml=- --sni-name=pinned.test 127.0.0.1:{p}");
    let whatweb = format!(
        "whatweb -q --color=never --follow-redirect=never --log-json=- --header Host:pinned.test:{q} http://127.0.0.1:{q}/"
    );
    assert!(lines.contains(&sslscan), "{lines:#?}");
    assert!(lines.contains(&whatweb), "{lines:#?}");
    for line in lines.iter().filter(|l| !l.starts_with("nmap ")) {
        assert!(
            line.ends_with(&format!("127.0.0.1:{p}"))
                || line.ends_with(&format!("//127.0.0.1:{p}/"))
                || line.ends_with(&format!("//127.0.0.1:{q}/")),
            "a follow-up pointed elsewhere than the checked address: {line}"
        );
    }
    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    assert!(
        scan.services.iter().all(|s| s.host == "127.0.0.1"),
        "{:#?}",
        scan.services
    );
}
