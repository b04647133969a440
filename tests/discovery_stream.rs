//! Discovery that streams (issue 13, must-show 2): a follow-up on the first host nmap
//! reports starts while the discovery run is still going. The stand-in discovery tool
//! writes the first host's XML, then waits for the follow-up to have run on it before it
//! writes the second host and ends; without streaming it gives up and fails, so the test
//! proves the order by cause, not by a clock.

use std::path::Path;

use picket_protocol::{RunStatus, ScanStatus, ToolRun};
use picket_testkit::scripts::tool_script;
use picket_testkit::*;

fn host_xml(address: &str) -> String {
    format!(
        r#"<host><status state="up" reason="user-set"/><address addr="{address}" addrtype="ipv4"/><ports><port protocol="tcp" portid="18080"><state state="open" reason="syn-ack"/><service name="http" product="SimpleHTTPServer" method="probed" conf="10"/></port></ports></host>"#
    )
}

/// Writes host 127.0.0.1, waits (at most 60 s) for `seen`, then writes 127.0.0.2 and ends;
/// exits 3 when `seen` never came: the follow-up did not start before discovery ended.
fn discovery(dir: &Path, seen: &Path) -> std::path::PathBuf {
    let body = format!(
        r#"echo '<?xml version="1.0"?><nmaprun scanner="nmap" args="stand-in">'
echo '{first}'
i=0
while [ ! -e {seen} ]; do
  i=$((i+1)); [ $i -gt 1200 ] && {{ echo "no follow-up started on the first host" >&2; exit 3; }}
  sleep 0.05
done
echo '{second}'
echo '<runstats><finished time="1" exit="success"/></runstats></nmaprun>'"#,
        first = host_xml("127.0.0.1"),
        second = host_xml("127.0.0.2"),
        seen = seen.display(),
    );
    tool_script(dir, "disc", &body)
}

fn runs<'a>(runs: &'a [ToolRun], tool: &str) -> Vec<&'a ToolRun> {
    runs.iter().filter(|r| r.tool == tool).collect()
}

#[test]
fn the_first_hosts_follow_up_starts_before_discovery_ends() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let disc = discovery(dir.path(), &seen);
    let follow = tool_script(
        dir.path(),
        "follow",
        &format!("echo \"$@\" >> {0}.log\ntouch {0}", seen.display()),
    );
    let cfg = ConfigBuilder::new()
        .raw("[profiles.streamed]\ndiscovery = [\"disc\"]\nfollow_up = [\"follow\"]")
        .tool(
            ToolConfig::new("disc")
                .program(&disc)
                .no_version_probe()
                .ttl_secs(0)
                .set("parser", "nmap"),
        )
        .tool(
            ToolConfig::new("follow")
                .program(&follow)
                .no_version_probe()
                .ttl_secs(0)
                .triggers(["http"])
                .args(["{url}"]),
        );
    let env = Env::new().with_config(&cfg);
    let _daemon = env.start_daemon();

    let scan = env.scan_wait(&["127.0.0.0/30", "--profile", "streamed"]);

    assert_eq!(scan.status, ScanStatus::Done, "{scan:#?}");
    let disc = runs(&scan.tool_runs, "disc");
    assert_eq!(disc.len(), 1, "{scan:#?}");
    assert_eq!(disc[0].status, RunStatus::Done, "{scan:#?}");
    let follow = runs(&scan.tool_runs, "follow");
    let targets: Vec<&str> = follow.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(follow.len(), 2, "one follow-up per host: {targets:?}");
    let first = follow
        .iter()
        .find(|r| r.target.contains("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no follow-up on the first host: {targets:?}"));
    assert!(
        first.started_at < disc[0].finished_at,
        "the first host's follow-up started before discovery ended: {scan:#?}"
    );
    let log = std::fs::read_to_string(dir.path().join("seen.log")).unwrap();
    assert_eq!(log.lines().count(), 2, "each host followed up once: {log}");
}
