//! Tests of the nmap parser: fixtures in tests/data, hand-made shapes after real reports.

use super::super::testkit::{
    check_fingerprints, check_hostile, check_malformed, check_truncated, cut_points, data, lacks,
};
use super::*;
use picket_protocol::{Finding, HostName, OsMatch, Service, Severity};

const FIXTURES: &[&str] = &[
    "nmap-http-https.xml",
    "nmap-syn-http-https.xml",
    "nmap-nse-http-https.xml",
    "nmap-top100.xml",
    "nmap-1-1000-noopen.xml",
    "nmap-v6-closed.xml",
    "nmap-vuln-synthetic.xml",
];

/// Hand-made after real shapes for issue 12.
const NEW_FIXTURES: &[&str] = &["nmap-vulners.xml", "nmap-vulscan.xml", "nmap-hosts.xml"];

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle")
}

fn svc(out: &ParsedOutput, port: u16) -> &Service {
    out.services
        .iter()
        .find(|s| s.port == port)
        .expect("service")
}

fn finding<'a>(out: &'a ParsedOutput, port: Option<u16>, title: &str) -> &'a Finding {
    out.findings
        .iter()
        .find(|f| f.port == port && f.title == title)
        .unwrap_or_else(|| panic!("no finding {title:?} on {port:?} in {:#?}", out.findings))
}

fn check_three_services(out: &ParsedOutput) {
    assert_eq!(out.services.len(), 3);
    let http = svc(out, 18080);
    assert_eq!(
        (http.host.as_str(), http.proto.as_str(), http.name.as_str()),
        ("127.0.0.1", "tcp", "http")
    );
    assert_eq!(
        (http.product.as_deref(), http.version.as_deref(), http.tls),
        (Some("SimpleHTTPServer"), Some("0.6"), false)
    );
    let https = svc(out, 18443);
    assert_eq!(https.name, "https");
    assert_eq!(
        (
            https.product.as_deref(),
            https.version.as_deref(),
            https.tls
        ),
        (Some("nginx"), Some("1.22.1"), true)
    );
    let ssh = svc(out, 18022);
    assert_eq!(ssh.name, "ssh");
    assert_eq!(
        (ssh.product.as_deref(), ssh.version.as_deref(), ssh.tls),
        (Some("OpenSSH"), Some("7.4"), false)
    );

    assert_eq!(out.findings.len(), 3);
    assert!(out
        .findings
        .iter()
        .all(|f| f.severity == Severity::Info && f.tool == "nmap"));
    let f = finding(out, Some(18080), "Open port 18080/tcp: http");
    assert_eq!(f.detail, "SimpleHTTPServer 0.6 (Python 3.11.7)");
    assert_eq!(f.evidence, "port");
    assert_eq!(
        finding(out, Some(18443), "Open port 18443/tcp: https").detail,
        "nginx 1.22.1"
    );
    assert_eq!(
        finding(out, Some(18022), "Open port 18022/tcp: ssh").detail,
        "OpenSSH 7.4 (protocol 2.0)"
    );
}

#[test]
fn connect_and_syn_scans() {
    check_three_services(&parse(&data("nmap-http-https.xml")).unwrap());
    check_three_services(&parse(&data("nmap-syn-http-https.xml")).unwrap());
}

#[test]
fn nse_scripts_are_info_findings() {
    let out = parse(&data("nmap-nse-http-https.xml")).unwrap();
    assert_eq!(out.services.len(), 2);
    assert_eq!(svc(&out, 18443).name, "https");
    let title = finding(&out, Some(18080), "http-title");
    assert_eq!(
        (
            title.severity,
            title.detail.as_str(),
            title.evidence.as_str()
        ),
        (Severity::Info, "Scanlab Test Page", "http-title")
    );
    let robots = finding(&out, Some(18080), "http-robots.txt");
    assert_eq!(robots.detail, "1 disallowed entry \n/backup/");
    let ciphers = finding(&out, Some(18443), "ssl-enum-ciphers");
    assert!(ciphers.detail.starts_with("TLSv1.0:"), "{}", ciphers.detail);
    assert!(ciphers.detail.chars().count() <= 501 && ciphers.detail.ends_with('…'));
    assert!(finding(&out, Some(18443), "ssl-cert")
        .detail
        .starts_with("Subject: commonName=localhost"));
    // 2 open ports + 4 scripts on 18080 + 6 on 18443
    assert_eq!(out.findings.len(), 12);
    assert!(out.findings.iter().all(|f| f.severity == Severity::Info));
}

#[test]
fn vulns_library_tables() {
    let out = parse(&data("nmap-vuln-synthetic.xml")).unwrap();
    let apache = svc(&out, 18081);
    assert_eq!(
        (
            apache.name.as_str(),
            apache.product.as_deref(),
            apache.version.as_deref()
        ),
        ("http", Some("Apache httpd"), Some("2.2.3"))
    );
    let v = finding(&out, Some(18081), "Apache byterange filter DoS");
    assert_eq!(v.severity, Severity::High);
    assert_eq!(v.cve, vec!["CVE-2011-3192".to_string()]);
    assert_eq!(v.evidence, "http-vuln-cve2011-3192:CVE-2011-3192");
    assert!(
        v.detail.contains("State: VULNERABLE") && v.detail.contains("2011-08-19"),
        "{}",
        v.detail
    );
    let likely = finding(&out, Some(18081), "Slowloris DOS attack");
    assert_eq!(likely.severity, Severity::Medium);
    assert_eq!(likely.cve, vec!["CVE-2007-6750".to_string()]);
    // NOT VULNERABLE gives nothing, not even an Info finding for the script.
    assert!(!out
        .findings
        .iter()
        .any(|f| f.title.contains("CCS") || f.evidence.starts_with("ssl-ccs-injection")));
    let hostscript = finding(&out, None, "smb-os-discovery");
    assert_eq!(hostscript.severity, Severity::Info);
    assert!(finding(&out, Some(18081), "http-title")
        .detail
        .contains("Old Apache"));
    // closed port 18082 gives nothing
    assert!(out.services.iter().all(|s| s.port != 18082));
}

#[test]
fn no_open_ports_is_empty_but_the_host_is_kept() {
    for (f, addr) in [
        ("nmap-top100.xml", "127.0.0.1"),
        ("nmap-1-1000-noopen.xml", "127.0.0.1"),
        ("nmap-v6-closed.xml", "::1"),
    ] {
        let out = parse(&data(f)).unwrap();
        let hosts: Vec<&str> = out.hosts.iter().map(|h| h.address.as_str()).collect();
        assert_eq!(hosts, [addr], "{f}");
        assert_eq!(out.hosts[0].state.as_deref(), Some("up"), "{f}");
        assert!(out.services.is_empty() && out.findings.is_empty(), "{f}");
        assert!(
            out.warnings.is_empty() && out.partial.is_none(),
            "{f}: {out:?}"
        );
    }
}

#[test]
fn ipv6_and_tool_error() {
    let xml = br#"<?xml version="1.0"?><nmaprun><host><status state="up"/><address addr="::1" addrtype="ipv6"/>
<address addr="00:11:22:33:44:55" addrtype="mac"/><ports><port protocol="udp" portid="53"><state state="open"/></port>
<port protocol="udp" portid="161"><state state="open|filtered"/></port></ports></host>
<host><status state="down"/><address addr="10.0.0.9" addrtype="ipv4"/><ports><port protocol="tcp" portid="1"><state state="open"/></port></ports></host>
<runstats><finished exit="success"/></runstats></nmaprun>"#;
    let out = parse(xml).unwrap();
    assert_eq!(out.services.len(), 1);
    let s = &out.services[0];
    assert_eq!(
        (
            s.host.as_str(),
            s.port,
            s.proto.as_str(),
            s.name.as_str(),
            s.tls
        ),
        ("::1", 53, "udp", "unknown", false)
    );

    let err = br#"<?xml version="1.0"?><nmaprun><runstats><finished exit="error" errormsg="Failed to open device eth9"/></runstats></nmaprun>"#;
    assert_eq!(
        parse(err),
        Err(ParseError::ToolReported {
            tool: "nmap",
            message: "Failed to open device eth9".into()
        })
    );
}

#[test]
fn error_classes() {
    check_malformed(
        parse,
        &[
            b"",
            b"You requested a scan type which requires root privileges.\nQUITTING!\n",
            b"{\"json\": true}",
            &data("sslscan-https.xml"),
            // nmap 2.54BETA's "XML" (end tags used as empty tags): not XML, refused as
            // python-libnmap refuses it ("not well-formed (invalid token)").
            b"<?xml version=\"1.0\" ?>\n<nmaprun args=\"-sT\" version=\"2.54BETA3\">\n</scaninfo type=\"connect\" protocol=\"tcp\" services=\"1-1024\">\n<host status=\"up\">\n</address addr=\"192.0.2.1\" addrtype=\"ipv4\">\n</host>\n</nmaprun>\n",
        ],
    );
    // Cut inside the only host: nothing complete remains.
    let full = data("nmap-http-https.xml");
    let in_host = find(&full, b"<ports>") + 10;
    let host_end = find(&full, b"</host>");
    check_truncated(parse, &[&full[..in_host], &full[..host_end]]);
}

#[test]
fn truncation_and_garbling_never_panic() {
    for name in FIXTURES.iter().chain(NEW_FIXTURES) {
        let input = data(name);
        // A prefix with no complete host must fail; one with a complete host and no end
        // of document is a partial run.
        check_hostile(parse, &input, lacks(b"</host>"));
        for cut in cut_points(input.len()) {
            let prefix = &input[..cut];
            if lacks(b"</host>")(prefix) || !lacks(b"</nmaprun>")(prefix) {
                continue;
            }
            let out = parse(prefix).unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            assert!(out.partial.is_some(), "{name} cut at {cut}");
            assert!(!out.hosts.is_empty(), "{name} cut at {cut}");
        }
    }
}

#[test]
fn fingerprints_stable_and_unique() {
    for name in FIXTURES.iter().chain(NEW_FIXTURES) {
        check_fingerprints(parse, &data(name));
    }
    let a = parse(&data("nmap-http-https.xml")).unwrap();
    let b = parse(&data("nmap-syn-http-https.xml")).unwrap();
    let fa: Vec<_> = a.findings.iter().map(|f| &f.fingerprint).collect();
    let fb: Vec<_> = b.findings.iter().map(|f| &f.fingerprint).collect();
    assert_eq!(
        fa, fb,
        "connect and SYN scans of the same ports are the same findings"
    );
}

/// `hosts` hosts with `ports` open ports each, every port listed twice (the second time
/// naming its product): what a merged report of two scans looks like.
fn many_ports(hosts: u32, ports: u16) -> String {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<nmaprun scanner=\"nmap\">\n");
    for h in 0..hosts {
        xml.push_str(&format!(
            "<host><status state=\"up\"/><address addr=\"10.0.{}.{}\" addrtype=\"ipv4\"/><ports>\n",
            h / 256,
            h % 256
        ));
        for round in 0..2 {
            for p in 1..=ports {
                let product = if round == 1 { " product=\"Srv\"" } else { "" };
                xml.push_str(&format!(
                    "<port protocol=\"tcp\" portid=\"{p}\"><state state=\"open\"/><service name=\"http\"{product}/></port>\n"
                ));
            }
        }
        xml.push_str("</ports></host>\n");
    }
    xml.push_str("</nmaprun>\n");
    xml
}

#[test]
fn two_hundred_thousand_open_ports_parse_once_each() {
    // Quadratic de-duplication made this take hours; it is part of the normal run now.
    let out = parse(many_ports(4, 50_000).as_bytes()).unwrap();
    assert_eq!(out.services.len(), 200_000);
    assert_eq!(out.findings.len(), 200_000);
    // The repeat of each port was merged into the first: its product was borrowed.
    assert!(out
        .services
        .iter()
        .all(|s| s.product.as_deref() == Some("Srv")));
    assert_eq!(svc(&out, 50_000).host, "10.0.0.0");
}

#[test]
fn vulners_table_gives_one_finding_per_cve_with_its_cvss_severity() {
    let out = parse(&data("nmap-vulners.xml")).unwrap();
    for (cve, severity) in [
        ("CVE-2021-42013", Severity::Critical),
        ("CVE-2021-44790", Severity::High),
        ("CVE-2019-0220", Severity::Medium),
        ("CVE-2001-1556", Severity::Low),
    ] {
        let f = finding(&out, Some(80), cve);
        assert_eq!(
            (f.severity, f.cve.clone()),
            (severity, vec![cve.to_string()])
        );
        assert_eq!(f.evidence, format!("vulners:{cve}"));
        assert!(
            f.detail.contains("cpe:/a:apache:http_server:2.4.49"),
            "{}",
            f.detail
        );
    }
    // The exploit that names a CVE is told on that CVE's finding, not on its own.
    let rce = finding(&out, Some(80), "CVE-2021-42013");
    assert!(
        rce.detail.contains("CVSS 9.8")
            && rce.detail.contains("public exploit")
            && rce
                .detail
                .contains("MSF:ILITIES/APACHE-HTTPD-CVE-2021-42013/"),
        "{}",
        rce.detail
    );
    // Ids that name no CVE are grouped per CPE, each kept with its score.
    let other = finding(
        &out,
        Some(80),
        "Exploits and advisories without a CVE id for cpe:/a:apache:http_server:2.4.49",
    );
    assert_eq!(other.severity, Severity::Critical, "the best score, 9.8");
    for id in [
        "MSF:EXPLOIT-MULTI-HTTP-APACHE_NORMALIZE_PATH_RCE- (metasploit, CVSS 9.8, exploit)",
        "EDB-ID:50383 (exploitdb, CVSS 7.5, exploit)",
        "PACKETSTORM:164418 (packetstorm, CVSS 0.0, exploit)",
    ] {
        assert!(other.detail.contains(id), "{id} in {}", other.detail);
    }
    assert!(other.cve.is_empty());
    // No catch-all "vulners" info finding any more.
    assert!(out.findings.iter().all(|f| f.title != "vulners"));
    // port 80: open port + 4 CVEs + the group; port 22: open port + 2 CVEs (text form).
    assert_eq!(out.findings.len(), 9, "{:#?}", out.findings);
}

#[test]
fn vulners_text_form_without_tables() {
    let out = parse(&data("nmap-vulners.xml")).unwrap();
    for cve in ["CVE-2018-15919", "CVE-2017-15906"] {
        let f = finding(&out, Some(22), cve);
        assert_eq!(f.severity, Severity::Medium);
        assert!(f
            .detail
            .contains("CVSS 5.0 (vulners) for cpe:/a:openbsd:openssh:7.4"));
    }
    // The evidence does not hold the score or version: a rescan that scores it anew is
    // the same finding.
    let again = String::from_utf8(data("nmap-vulners.xml"))
        .unwrap()
        .replace(
            "5.0&#x9;&#x9;https://vulners.com/cve/CVE-2018-15919",
            "5.3&#x9;&#x9;https://vulners.com/cve/CVE-2018-15919",
        );
    let rescored = parse(again.as_bytes()).unwrap();
    let (a, b) = (
        finding(&out, Some(22), "CVE-2018-15919"),
        finding(&rescored, Some(22), "CVE-2018-15919"),
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    assert!(b.detail.contains("CVSS 5.3"));
}

#[test]
fn cvss_bands() {
    use super::vulners::cvss_severity;
    for (score, severity) in [
        (Some(10.0), Severity::Critical),
        (Some(9.0), Severity::Critical),
        (Some(8.9), Severity::High),
        (Some(7.0), Severity::High),
        (Some(6.9), Severity::Medium),
        (Some(4.0), Severity::Medium),
        (Some(3.9), Severity::Low),
        (Some(0.0), Severity::Low),
        (None, Severity::Low),
    ] {
        assert_eq!(cvss_severity(score), severity, "{score:?}");
    }
}

#[test]
fn vulscan_block_keeps_every_cve() {
    let out = parse(&data("nmap-vulscan.xml")).unwrap();
    let f = finding(
        &out,
        Some(443),
        "vulscan: possible vulnerabilities by version match",
    );
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.cve, ["CVE-2014-0160", "CVE-2013-4547"]);
    assert_eq!(f.evidence, "vulscan");
    assert!(
        f.detail.starts_with("4 entries matched by product name and version, unverified (VulDB: 1, MITRE CVE: 2, SecurityFocus: 1)"),
        "{}",
        f.detail
    );
    assert_eq!(out.findings.len(), 2, "open port + vulscan");
}

#[test]
fn hosts_with_names_os_mac_and_a_down_host() {
    // The fixture opens with a licence comment before `<?xml`.
    let input = data("nmap-hosts.xml");
    assert!(input.starts_with(b"<!--"));
    let out = parse(&input).unwrap();
    assert_eq!(out.hosts.len(), 2);
    let up = &out.hosts[0];
    assert_eq!(up.address, "192.0.2.30");
    assert_eq!(up.state.as_deref(), Some("up"));
    let name = |n: &str, k: &str| HostName {
        name: n.into(),
        kind: k.into(),
    };
    assert_eq!(
        up.hostnames,
        [
            name("files.example.test", "user"),
            name("fs01.corp.example.test", "PTR")
        ]
    );
    let os = |n: &str, a: u8| OsMatch {
        name: n.into(),
        accuracy: a,
    };
    assert_eq!(
        up.os,
        [
            os("Microsoft Windows Server 2008 R2", 100),
            os("Microsoft Windows 7 SP1", 98),
            os("Microsoft Windows 8.1", 91)
        ],
        "best first"
    );
    assert_eq!(
        (up.mac.as_deref(), up.vendor.as_deref()),
        (Some("00:0C:29:AB:CD:EF"), Some("VMware"))
    );
    let down = &out.hosts[1];
    assert_eq!(
        (down.address.as_str(), down.state.as_deref()),
        ("192.0.2.31", Some("down"))
    );
    assert!(down.hostnames.is_empty() && down.os.is_empty() && down.mac.is_none());
    assert!(out.services.iter().all(|s| s.host == "192.0.2.30"));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[test]
fn host_script_vulnerable_table_keeps_every_cve_once() {
    let out = parse(&data("nmap-hosts.xml")).unwrap();
    let f = finding(
        &out,
        None,
        "Remote Code Execution vulnerability in Microsoft SMBv1 servers (ms17-010)",
    );
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.cve, ["CVE-2017-0143", "CVE-2017-0144"]);
    assert_eq!(f.evidence, "smb-vuln-ms17-010:CVE-2017-0143");
    assert_eq!(f.host, "192.0.2.30");
}

#[test]
fn plain_script_output_cves_are_kept() {
    let out = parse(&data("nmap-hosts.xml")).unwrap();
    let f = finding(&out, None, "smb-os-discovery");
    assert_eq!(
        (f.severity, f.cve.clone()),
        (Severity::Info, vec!["CVE-2008-4250".to_string()])
    );
    // Ids written inside longer words are found too (vulners names exploits so).
    let mut list = crate::parsers::normalize::CveList::default();
    list.scan(
        "MSF:ILITIES/UBUNTU-CVE-2020-11984/ cve-2020-11984 PRION:CVE-2021-1234 CVE-99-1 CVE-2020-",
    );
    assert_eq!(list.into_vec(), ["CVE-2020-11984", "CVE-2021-1234"]);
}

#[test]
fn interrupted_run_keeps_complete_hosts() {
    let out = parse(&data("nmap-interrupted.xml")).unwrap();
    let hosts: Vec<&str> = out.hosts.iter().map(|h| h.address.as_str()).collect();
    assert_eq!(
        hosts,
        ["192.0.2.40", "192.0.2.41"],
        "the cut third host is not kept"
    );
    let services: Vec<(&str, u16)> = out
        .services
        .iter()
        .map(|s| (s.host.as_str(), s.port))
        .collect();
    assert_eq!(services, [("192.0.2.40", 22), ("192.0.2.41", 80)]);
    assert_eq!(
        finding(&out, Some(80), "http-title").detail,
        "Welcome to nginx!"
    );
    let partial = out.partial.as_deref().expect("partial");
    assert!(
        partial.contains("ends before </nmaprun>")
            && partial.contains("2 complete host(s) kept")
            && partial.contains("host being written at the cut is lost")
            && partial.contains("Service scan 66.67% done"),
        "{partial}"
    );
    // Only the first host, cut: nothing complete remains.
    let full = data("nmap-interrupted.xml");
    let first_cut = &full[..find(&full, b"<service name=\"ssh\"")];
    match parse(first_cut) {
        Err(ParseError::Truncated { reason, .. }) => {
            assert!(reason.contains("0 complete host(s)"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bytes_that_are_not_utf8_are_decoded_and_said() {
    let doc = |decl: &str, name: &[u8]| {
        let mut v = format!("<?xml version=\"1.0\"{decl}?><nmaprun><host><status state=\"up\"/><address addr=\"192.0.2.50\" addrtype=\"ipv4\"/><hostnames><hostname name=\"").into_bytes();
        v.extend_from_slice(name);
        v.extend_from_slice(b"\" type=\"PTR\"/></hostnames><ports><port protocol=\"tcp\" portid=\"21\"><state state=\"open\"/><service name=\"ftp\"/><script id=\"banner\" output=\"220 Bienvenue \xe0 bord\"/></port></ports></host></nmaprun>");
        v
    };
    // Declared Latin-1: read as such.
    let out = parse(&doc(" encoding=\"iso-8859-1\"", b"caf\xe9.example.test")).unwrap();
    assert_eq!(out.hosts[0].hostnames[0].name, "café.example.test");
    assert_eq!(
        finding(&out, Some(21), "banner").detail,
        "220 Bienvenue à bord"
    );
    assert!(
        out.warnings.iter().any(|w| w.contains("ISO-8859-1")),
        "{:?}",
        out.warnings
    );
    // Undeclared: each bad byte becomes U+FFFD, the rest is kept.
    let out = parse(&doc("", b"caf\xe9.example.test")).unwrap();
    assert_eq!(out.hosts[0].hostnames[0].name, "caf\u{fffd}.example.test");
    assert_eq!(out.services.len(), 1);
    assert!(
        out.warnings.iter().any(|w| w.contains("not UTF-8")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn what_cannot_be_placed_is_a_warning() {
    let xml = br#"<?xml version="1.0"?><nmaprun>
<target specification="no.such.name" status="skipped" reason="invalid"/>
<prescript><script id="broadcast-ping" output="IP: 192.0.2.99"/></prescript>
<host><status state="up"/><hostnames/><ports/></host>
<host><status state="up"/><address addr="192.0.2.60" addrtype="ipv4"/><smurf responses="1"/><weird/>
<ports><port protocol="tcp" portid="99999"><state state="open"/></port></ports></host>
<host><status state="up"/><address addr="192.0.2.61" addrtype="ipv4"/><weird/><host><status state="down"/><address addr="192.0.2.62" addrtype="ipv4"/></host></host>
<newthing/></nmaprun>"#;
    let out = parse(xml).unwrap();
    assert_eq!(
        out.warnings,
        [
            "a <host> without an address or name was skipped",
            "element <weird> in <host> not read (2 times)",
            "a <port> of 192.0.2.60 without a valid portid (\"99999\") was skipped",
            "a <host> inside a <host> was read as a host of its own",
            "nmap skipped target \"no.such.name\": skipped invalid",
            "prescript script broadcast-ping reported on no host, not stored as a finding: IP: 192.0.2.99",
            "element <newthing> in <nmaprun> not read",
        ]
    );
    let hosts: Vec<&str> = out.hosts.iter().map(|h| h.address.as_str()).collect();
    assert_eq!(hosts, ["192.0.2.60", "192.0.2.62", "192.0.2.61"]);
}

#[test]
fn two_host_elements_of_one_address_are_one_host() {
    let xml = br#"<nmaprun><host><status state="down"/><address addr="192.0.2.70" addrtype="ipv4"/></host>
<host><status state="up"/><address addr="192.0.2.70" addrtype="ipv4"/><hostnames><hostname name="a.test" type="PTR"/></hostnames></host></nmaprun>"#;
    let out = parse(xml).unwrap();
    assert_eq!(out.hosts.len(), 1);
    assert_eq!(out.hosts[0].state.as_deref(), Some("up"));
    assert_eq!(out.hosts[0].hostnames.len(), 1);
}

/// Every CVE id written in a real vulners report (other projects' test data, read in
/// place: see ../shared/real-reports/SOURCES.md) is on some finding.
#[test]
fn real_vulners_reports_lose_no_cve() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-reports/nmap");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("vulners"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        eprintln!("skipped: no *vulners* report in {}", dir.display());
        return;
    }
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let out = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Ids in the scan's own arguments and comments are not results.
        let text = String::from_utf8_lossy(&bytes);
        let body = text.find("<host").map_or(&text[..], |i| &text[i..]);
        let mut written = crate::parsers::normalize::CveList::default();
        written.scan(body);
        let kept: std::collections::HashSet<&str> = out
            .findings
            .iter()
            .flat_map(|f| f.cve.iter().map(String::as_str))
            .collect();
        let lost: Vec<&String> = written
            .iter()
            .filter(|c| !kept.contains(c.as_str()))
            .collect();
        assert!(lost.is_empty(), "{}: lost {lost:?}", path.display());
        eprintln!("{}: {} CVE ids, all kept", path.display(), written.len());
    }
}
