//! The real-world corpus test of issue 12: every report in `../shared/real-reports/`
//! (reports other projects keep as test data, listed in its SOURCES.md) imported through the
//! real `picketd` and `picket import`, then read back with `picket show ID --json`. Checks:
//! no file refused (but the listed, justified ones), nmap services, hosts, host names and OS
//! matches equal to python-libnmap's reading (scripts/peers/libnmap_summary.py, run with the
//! venv `scripts/setup` makes), every CVE id written in a file on some stored finding, counts
//! checked by hand for a few files, and no `error` text on a successful import. Prints a
//! per-tool summary table, then every failed check at once.
//!
//! Must not copy the corpus into the repository (it belongs to other projects: only file
//! names and counts appear here), must not be skipped silently (it says so when the corpus is
//! absent) and must not soften a check to pass: a deliberate difference from the peer or
//! the file is listed below with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use picket_protocol::ScanDetail;
use picket_testkit::*;
use serde_json::Value;

const TOOLS: [&str; 5] = ["nmap", "sslscan", "testssl", "whatweb", "nuclei"];

/// Files that may be refused: none of them is a report the peer reads as one.
const MAY_BE_REFUSED: &[(&str, &str, &str)] = &[
    (
        "nmap",
        "nmapparserxml__nmap_std.xml",
        // `</scaninfo type=...>` used as start tags: nmap 2.54BETA3 wrote no XML yet.
        "pre-release nmap 2.54BETA3 document, not well-formed XML; libnmap refuses it too",
    ),
    (
        "nmap",
        "ayrx__incomplete_scan.xml",
        // Interrupted during the first SYN scan, before any <host>: the rule is
        // "fail only when nothing complete remains".
        "interrupted before its first host: nothing complete to keep (libnmap, even with incomplete=True, reads zero hosts)",
    ),
    (
        "nuclei",
        "ostorlab__invalid_nuclei_result.json",
        // Its authors keep it as their invalid-input case: `"cve-id":null "cvss-metrics"`.
        "not valid JSON (a comma missing); no JSON reader, nuclei's peers included, reads it",
    ),
];

/// Counts checked by hand against the files, from the parsers' mapping rules (README and
/// each parser's header): (tool, file, hosts, services, findings); None where the count
/// depends on a choice the rules leave open, so it is not pinned.
type Pin = (
    &'static str,
    &'static str,
    Option<usize>,
    Option<usize>,
    Option<usize>,
);
const PINNED: &[Pin] = &[
    // 1 host up (names scanme.nmap.org user + PTR), 4 open tcp ports (22, 80, 9929,
    // 31337), no script: 4 open-port findings.
    ("nmap", "ayrx__test.xml", Some(1), Some(4), Some(4)),
    // 2 hosts up; open 80 and 443 on each (135, 139, 445 filtered): 4 open-port findings.
    ("nmap", "dojo__issue12411.xml", Some(2), Some(4), Some(4)),
    // 1 host, one open port 5022 (ssh) carrying `vulners` with 2 CVE rows. Findings not
    // pinned: one per row or one per script is the parser's choice (the CVE check holds).
    (
        "nmap",
        "dojo__nmap_script_vulners.xml",
        Some(1),
        Some(1),
        None,
    ),
    // A ping scan: 1 host up (2 names), no <ports>.
    (
        "nmap",
        "libnmap__1_host_ping.xml",
        Some(1),
        Some(0),
        Some(0),
    ),
    // 4 hosts, every one `down`: 4 host records, no service.
    ("nmap", "ayrx__host-down.xml", Some(4), Some(0), Some(0)),
    // 2.x: TLSv1.0 and TLSv1.1 enabled (2 Medium), heartbleed on 1.1 and 1.0 (one
    // Critical); every accepted cipher `acceptable`, certificate valid, renegotiation secure.
    ("sslscan", "rekono__heartbleed.xml", None, Some(1), Some(3)),
    // 1.11 (no <protocol>): accepted ciphers only on TLSv1.2, all strong or acceptable (the
    // weak one is `not accepted`); heartbleed on TLSv1.0 (Critical) and an expired
    // certificate (High).
    (
        "sslscan",
        "dojo__sslscan_many_vuln.xml",
        None,
        Some(1),
        Some(2),
    ),
    // The same server without heartbleed: the expired certificate alone.
    (
        "sslscan",
        "dojo__sslscan_no_vuln.xml",
        None,
        Some(1),
        Some(1),
    ),
    // --jsonfile-pretty, one target: LOW sweet32, beast, lucky13 and MEDIUM cbc_tls1 (18 OK
    // and 6 INFO entries give nothing).
    (
        "testssl",
        "testssl2xlsx__test-1.json",
        None,
        Some(1),
        Some(4),
    ),
    // One 200 response on http://example.com, HTTPServer without version: 3 missing headers
    // (X-Frame-Options, CSP, X-Content-Type-Options; no HSTS on http).
    ("whatweb", "scb__example.com.json", None, Some(1), Some(3)),
    // `[` `]` with nothing between: every target unreachable.
    (
        "whatweb",
        "scb__no-address.com.json",
        None,
        Some(0),
        Some(0),
    ),
    // --log-json-verbose, 2 lines: http://10fastfingers.com (301) and https://...:443 (200).
    ("whatweb", "ostorlab__output.json", None, Some(2), None),
    // --log-json-verbose, one line each: one https endpoint.
    ("whatweb", "ostorlab__sap_output.json", None, Some(1), None),
    (
        "whatweb",
        "ostorlab__broadworks_output.json",
        None,
        Some(1),
        None,
    ),
    // 0 bytes: nuclei matched nothing.
    ("nuclei", "dojo__empty.jsonl", None, Some(0), Some(0)),
    // 11 lines, 11 distinct (template, matcher, matched-at).
    ("nuclei", "rekono__2022-dvwa.json", None, None, Some(11)),
    // 25 lines, all distinct (tomcat-exposed-docs twice, by matchers word-1 and status-2).
    (
        "nuclei",
        "scb-bodgeit__nuclei-results.jsonl",
        None,
        None,
        Some(25),
    ),
    // nuclei 2.x keys, one match whose matched-at is empty (host https://web.com): kept.
    (
        "nuclei",
        "ostorlab__result_nuclei_matched_at_empty.json",
        None,
        None,
        Some(1),
    ),
];

/// Where a finding must be stored, read by hand from the file: (tool, file, words of its
/// title, host, port).
const FINDING_AT: &[(&str, &str, &str, &str, Option<u16>)] = &[
    // `matched-at` "nuclei-example.com:22" (a `network` template on OpenSSH); `host` is
    // "https://nuclei-example.com", whose default port is not where it matched.
    (
        "nuclei",
        "dojo__many_findings_new.json",
        "OpenSSH Username Enumeration",
        "nuclei-example.com",
        Some(22),
    ),
    // 2.x keys, `matched-at` "example.com:8080".
    (
        "nuclei",
        "ostorlab__result_nuclei_domain_port.json",
        "WAF Detection",
        "example.com",
        Some(8080),
    ),
    // `matched-at` "https://web.com:443/".
    (
        "nuclei",
        "ostorlab__result_nuclei_with_port.json",
        "WAF Detection",
        "web.com",
        Some(443),
    ),
];

/// CVE ids a file names that no finding must carry: (file, CVE id, why).
const CVE_NOT_KEPT: &[(&str, &str, &str)] = &[(
    "rekono__smb-analysis.xml",
    "CVE-2017-7494",
    // Only in the invocation (the `<!-- Nmap ... as:` comment and `nmaprun@args`): the
    // script `smb-vuln-cve-2017-7494` ran and wrote nothing, i.e. nmap found no such flaw.
    "named only as a script in the nmap command line; the script reported nothing",
)];

/// The corpus, when present next to the repository.
fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/real-reports");
    dir.is_dir().then_some(dir)
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-peers/bin/python")
}

/// Every distinct `CVE-\d{4}-\d{4,}` (case-insensitive) in `bytes`, upper-cased. Written
/// here rather than taken from the daemon so that the check does not share the parsers' bugs.
fn cves_written(bytes: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let digits = |from: usize| {
        bytes[from.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    for i in 0..bytes.len().saturating_sub(3) {
        if !bytes[i..i + 4].eq_ignore_ascii_case(b"cve-") || digits(i + 4) != 4 {
            continue;
        }
        if bytes.get(i + 8) != Some(&b'-') || digits(i + 9) < 4 {
            continue;
        }
        let end = i + 9 + digits(i + 9);
        out.insert(String::from_utf8_lossy(&bytes[i..end]).to_ascii_uppercase());
    }
    out
}

/// testssl.sh writes the `cve` field on every check, vulnerable or not: an OK entry says
/// "not vulnerable to CVE-X", which is no finding (README: OK/INFO are dropped). The CVEs
/// found only on such entries are not expected on a finding.
fn testssl_cves_of_passed_checks(bytes: &[u8]) -> BTreeSet<String> {
    fn walk(v: &Value, passed: &mut BTreeSet<String>, failed: &mut BTreeSet<String>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, passed, failed)),
            Value::Object(o) => {
                if let (Some(sev), Some(cve)) = (o.get("severity"), o.get("cve")) {
                    let sev = sev.as_str().unwrap_or("").to_ascii_uppercase();
                    let ids = cves_written(cve.to_string().as_bytes());
                    let quiet = ["OK", "INFO", "DEBUG", "WARN"].contains(&sev.as_str());
                    if quiet {
                        passed.extend(ids);
                    } else {
                        failed.extend(ids);
                    }
                }
                o.values().for_each(|x| walk(x, passed, failed));
            }
            _ => {}
        }
    }
    let (mut passed, mut failed) = (BTreeSet::new(), BTreeSet::new());
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        walk(&v, &mut passed, &mut failed);
    }
    passed.difference(&failed).cloned().collect()
}

/// What one file gave.
struct Imported {
    file: String,
    scan: Option<ScanDetail>,
}

#[derive(Default)]
struct Row {
    files: usize,
    imported: usize,
    refused: usize,
    hosts: usize,
    names: usize,
    services: usize,
    findings: usize,
    cves: usize,
    warnings: usize,
}

/// `picket import TOOL FILE`, then `picket show ID --json`; None (and a failure unless
/// listed) when refused.
fn import(env: &Env, tool: &str, path: &Path, failures: &mut Vec<String>) -> Imported {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let out = env.picket(["--json", "import", tool, path.to_str().unwrap()]);
    if !out.status.success() {
        let listed = MAY_BE_REFUSED
            .iter()
            .any(|(t, f, _)| *t == tool && *f == file);
        if !listed {
            let mut why = format!("{} {}", stderr(&out).trim(), stdout(&out).trim());
            why.truncate(300);
            failures.push(format!("{tool}/{file}: refused: {}", why.trim()));
        }
        return Imported { file, scan: None };
    }
    let id = json(&out)["id"].to_string();
    let scan: ScanDetail = env.picket_as(["show", &id]);
    Imported {
        file,
        scan: Some(scan),
    }
}

/// The checks every tool shares: CVEs kept, hand counts, no `error` on an import, every
/// host among the targets.
fn common_checks(tool: &str, path: &Path, got: &Imported, failures: &mut Vec<String>) {
    let Some(scan) = &got.scan else { return };
    let file = &got.file;
    let bytes = std::fs::read(path).unwrap();
    let mut expected = cves_written(&bytes);
    if tool == "testssl" {
        let passed = testssl_cves_of_passed_checks(&bytes);
        expected.retain(|c| !passed.contains(c));
    }
    expected.retain(|c| {
        !CVE_NOT_KEPT
            .iter()
            .any(|(f, id, _)| f == file && id.eq_ignore_ascii_case(c))
    });
    let kept: BTreeSet<String> = scan
        .findings
        .iter()
        .flat_map(|f| f.cve.iter().map(|c| c.to_ascii_uppercase()))
        .collect();
    let lost: Vec<_> = expected.difference(&kept).collect();
    if !lost.is_empty() {
        failures.push(format!(
            "{tool}/{file}: {} of {} CVE ids written in the file are on no finding: {lost:?}",
            lost.len(),
            expected.len()
        ));
    }
    if let Some((_, _, h, s, f)) = PINNED.iter().find(|p| p.0 == tool && p.1 == file) {
        let counts = [scan.hosts.len(), scan.services.len(), scan.findings.len()];
        let differs = counts
            .iter()
            .zip([h, s, f])
            .any(|(c, p)| p.is_some_and(|p| p != *c));
        if differs {
            failures.push(format!(
                "{tool}/{file}: (hosts, services, findings) = {counts:?}, counted by hand {:?}",
                (h, s, f)
            ));
        }
    }
    for (_, _, words, host, port) in FINDING_AT.iter().filter(|p| p.0 == tool && p.1 == file) {
        let at: Vec<_> = scan
            .findings
            .iter()
            .filter(|f| f.title.contains(words))
            .map(|f| (f.host.as_str(), f.port))
            .collect();
        if !at.contains(&(*host, *port)) {
            failures.push(format!(
                "{tool}/{file}: finding {words:?} stored at {at:?}, the file says {host}:{port:?}"
            ));
        }
    }
    for run in &scan.tool_runs {
        if let Some(e) = &run.error {
            failures.push(format!(
                "{tool}/{file}: a successful import stores error {e:?}"
            ));
        }
    }
    let targets: BTreeSet<&str> = scan.targets.iter().map(String::as_str).collect();
    let missing: Vec<_> = scan
        .hosts
        .iter()
        .map(|h| h.address.as_str())
        .filter(|a| !targets.contains(a))
        .collect();
    if !missing.is_empty() {
        failures.push(format!(
            "{tool}/{file}: hosts not among the scan's targets: {missing:?}"
        ));
    }
}

/// python-libnmap's reading of every nmap file, keyed by file name.
fn libnmap_readings(files: &[PathBuf]) -> BTreeMap<String, Value> {
    let python = venv_python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup (it makes the peers' venv with python-libnmap)",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/libnmap_summary.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(files)
        .output()
        .expect("run the libnmap peer");
    assert!(out.status.success(), "libnmap peer: {}", describe(&out));
    let all: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).expect("peer JSON");
    all.into_iter()
        .map(|(k, v)| {
            (
                Path::new(&k).file_name().unwrap().to_string_lossy().into(),
                v,
            )
        })
        .collect()
}

type Svc = (String, u16, String, String, Option<String>, Option<String>);

fn non_empty(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The peer's host address as Picket keys hosts: IPv4, else IPv6, else MAC.
fn peer_address(h: &Value) -> String {
    ["ipv4", "ipv6", "mac"]
        .iter()
        .find_map(|k| non_empty(&h[k]))
        .unwrap_or_default()
}

/// Picket's services are the open ports of hosts not down (README, nmap mapping); an
/// absent service name is stored as "unknown". Deliberate difference: an "http" port with
/// `tunnel="ssl"` is stored as "https" (nmap's own text output says "ssl/http"; Picket's
/// follow-up tools pick the scheme from the name), where libnmap keeps "http".
fn peer_services(reading: &Value) -> BTreeSet<Svc> {
    let mut out = BTreeSet::new();
    for h in reading["hosts"].as_array().into_iter().flatten() {
        if h["status"] == "down" {
            continue;
        }
        for p in h["ports"].as_array().into_iter().flatten() {
            if p[2] != "open" {
                continue;
            }
            out.insert((
                peer_address(h),
                p[0].as_u64().unwrap_or(0) as u16,
                p[1].as_str().unwrap_or("").into(),
                match (non_empty(&p[3]), p[6].as_str()) {
                    (Some(n), Some("ssl")) if n == "http" => "https".into(),
                    (n, _) => n.unwrap_or_else(|| "unknown".into()),
                },
                non_empty(&p[4]),
                non_empty(&p[5]),
            ));
        }
    }
    out
}

/// One nmap file against libnmap: services, an interrupted run's warning, then the hosts.
fn compare_with_libnmap(
    file: &str,
    scan: &ScanDetail,
    reading: &Value,
    failures: &mut Vec<String>,
) {
    let ours: BTreeSet<Svc> = scan
        .services
        .iter()
        .map(|s| {
            let o = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
            (
                s.host.clone(),
                s.port,
                s.proto.clone(),
                s.name.clone(),
                o(&s.product),
                o(&s.version),
            )
        })
        .collect();
    // libnmap read it only by closing the document itself: an interrupted run, which
    // Picket keeps as partial, saying what was cut.
    let warned = scan.tool_runs.iter().any(|r| !r.warnings.is_empty());
    if reading["incomplete"] == true && !warned {
        failures.push(format!(
            "nmap/{file}: an interrupted run imported without a warning"
        ));
    }
    let theirs = peer_services(reading);
    if ours != theirs {
        failures.push(format!(
            "nmap/{file}: services differ from libnmap: only libnmap {:?}; only Picket {:?}",
            theirs.difference(&ours).collect::<Vec<_>>(),
            ours.difference(&theirs).collect::<Vec<_>>()
        ));
    }
    compare_hosts(file, scan, reading, failures);
}

/// The same OS guesses, where a guess made of nmap 4.x `<osclass>` elements is named
/// differently on purpose: libnmap writes "type:vendor:family" for the first class of an
/// accuracy, Picket "vendor family generation (type)", joined with " or " for the others of
/// that accuracy (the generation and the alternatives are kept, not dropped). Both count
/// one guess per accuracy; the first alternative must be the class libnmap names.
fn same_os_guesses(ours: &BTreeSet<&str>, peer: &BTreeSet<&str>) -> bool {
    let mut unmatched: Vec<&str> = ours.difference(peer).copied().collect();
    for p in peer.difference(ours) {
        let parts: Vec<&str> = p.split(':').collect();
        let [kind, vendor, family] = parts[..] else {
            return false;
        };
        let prefix = if vendor == family {
            vendor.to_string()
        } else {
            format!("{vendor} {family}")
        };
        // Two guesses whose first classes are alike are one name in libnmap's set.
        let before = unmatched.len();
        unmatched.retain(|o| {
            let first = o.split(" or ").next().unwrap_or_default();
            !(first.starts_with(&prefix) && first.ends_with(&format!("({kind})")))
        });
        if unmatched.len() == before {
            return false;
        }
    }
    unmatched.is_empty()
}

/// Every host libnmap reads, stored with its state, host names and OS match names.
fn compare_hosts(file: &str, scan: &ScanDetail, reading: &Value, failures: &mut Vec<String>) {
    let hosts: BTreeMap<&str, &picket_protocol::Host> =
        scan.hosts.iter().map(|h| (h.address.as_str(), h)).collect();
    let mut lost = Vec::new();
    for h in reading["hosts"].as_array().into_iter().flatten() {
        let addr = peer_address(h);
        let Some(ours) = hosts.get(addr.as_str()) else {
            lost.push(format!("{addr} ({})", h["status"].as_str().unwrap_or("?")));
            continue;
        };
        if ours.state.as_deref() != h["status"].as_str() {
            failures.push(format!(
                "nmap/{file}: host {addr} state {:?}, libnmap {}",
                ours.state, h["status"]
            ));
        }
        let names: BTreeSet<&str> = ours.hostnames.iter().map(|n| n.name.as_str()).collect();
        let peer_names: BTreeSet<&str> = h["hostnames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if names != peer_names {
            failures.push(format!(
                "nmap/{file}: host {addr} names {names:?}, libnmap {peer_names:?}"
            ));
        }
        // libnmap raises on some old OS shapes (osclass without osmatch): nothing to compare.
        if let Some(os) = h["os"].as_array() {
            let ours_os: BTreeSet<&str> = ours.os.iter().map(|o| o.name.as_str()).collect();
            let peer_os: BTreeSet<&str> = os.iter().filter_map(|m| m[0].as_str()).collect();
            if !same_os_guesses(&ours_os, &peer_os) {
                failures.push(format!(
                    "nmap/{file}: host {addr} OS {ours_os:?}, libnmap {peer_os:?}"
                ));
            }
        }
    }
    if !lost.is_empty() {
        failures.push(format!(
            "nmap/{file}: {} of {} libnmap hosts not stored, e.g. {:?}",
            lost.len(),
            reading["hosts"].as_array().map_or(0, Vec::len),
            &lost[..lost.len().min(3)]
        ));
    }
}

/// Adds one file to its tool's row, and prints its own line.
fn add_to_row(tool: &str, row: &mut Row, got: &Imported) {
    row.files += 1;
    let Some(scan) = &got.scan else {
        println!("{tool}/{}: refused", got.file);
        row.refused += 1;
        return;
    };
    println!(
        "{tool}/{}: hosts {}, services {}, findings {}, warnings {}",
        got.file,
        scan.hosts.len(),
        scan.services.len(),
        scan.findings.len(),
        scan.tool_runs
            .iter()
            .map(|r| r.warnings.len())
            .sum::<usize>()
    );
    row.imported += 1;
    row.hosts += scan.hosts.len();
    row.names += scan.hosts.iter().map(|h| h.hostnames.len()).sum::<usize>();
    row.services += scan.services.len();
    row.findings += scan.findings.len();
    let cves: BTreeSet<&String> = scan.findings.iter().flat_map(|f| &f.cve).collect();
    row.cves += cves.len();
    row.warnings += scan
        .tool_runs
        .iter()
        .map(|r| r.warnings.len())
        .sum::<usize>();
}

fn print_table(rows: &BTreeMap<&str, Row>) {
    println!(
        "\n{:<8} {:>5} {:>8} {:>7} {:>5} {:>10} {:>8} {:>8} {:>5} {:>8}",
        "tool",
        "files",
        "imported",
        "refused",
        "hosts",
        "host names",
        "services",
        "findings",
        "CVEs",
        "warnings"
    );
    for tool in TOOLS {
        let r = &rows[tool];
        println!(
            "{tool:<8} {:>5} {:>8} {:>7} {:>5} {:>10} {:>8} {:>8} {:>5} {:>8}",
            r.files,
            r.imported,
            r.refused,
            r.hosts,
            r.names,
            r.services,
            r.findings,
            r.cves,
            r.warnings
        );
    }
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_real_report_imports_and_keeps_what_its_tool_wrote() {
    let Some(corpus) = corpus() else {
        println!(
            "SKIPPED: no corpus at {}/../shared/real-reports: the real-report checks did not run",
            env!("CARGO_MANIFEST_DIR")
        );
        return;
    };
    let nmap_files = files_of(&corpus.join("nmap"));
    let peer = libnmap_readings(&nmap_files);
    let env = Env::new();
    let _daemon = env.start_daemon();
    let mut failures = Vec::new();
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for tool in TOOLS {
        let row = rows.entry(tool).or_default();
        for path in files_of(&corpus.join(tool)) {
            let got = import(&env, tool, &path, &mut failures);
            common_checks(tool, &path, &got, &mut failures);
            if let (Some(scan), Some(reading)) = (&got.scan, peer.get(&got.file)) {
                if reading.get("error").is_none() {
                    compare_with_libnmap(&got.file, scan, reading, &mut failures);
                }
            }
            add_to_row(tool, row, &got);
        }
    }
    print_table(&rows);
    for (tool, file, why) in MAY_BE_REFUSED {
        println!("may be refused: {tool}/{file}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} failed checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
