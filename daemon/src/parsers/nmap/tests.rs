//! Tests of the nmap parser: fixtures in tests/data, hand-made shapes after real reports.

    use super::super::testkit::{
        check_fingerprints, check_hostile, check_malformed, check_truncated, data, lacks,
    };
    use super::*;

    const FIXTURES: &[&str] = &[
        "nmap-http-https.xml",
        "nmap-syn-http-https.xml",
        "nmap-nse-http-https.xml",
        "nmap-top100.xml",
        "nmap-1-1000-noopen.xml",
        "nmap-v6-closed.xml",
        "nmap-vuln-synthetic.xml",
    ];

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
    fn no_open_ports_is_empty() {
        for f in [
            "nmap-top100.xml",
            "nmap-1-1000-noopen.xml",
            "nmap-v6-closed.xml",
        ] {
            assert_eq!(parse(&data(f)).unwrap(), ParsedOutput::default(), "{f}");
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
            ],
        );
        let full = data("nmap-http-https.xml");
        check_truncated(parse, &[&full[..full.len() - 40], &full[..full.len() / 2]]);
    }

    #[test]
    fn truncation_and_garbling_never_panic() {
        for name in FIXTURES {
            let input = data(name);
            check_hostile(parse, &input, lacks(b"</nmaprun>"));
        }
    }

    #[test]
    fn fingerprints_stable_and_unique() {
        for name in FIXTURES {
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

mod corpus_dump_tmp {
    #[test]
    #[ignore]
    fn dump() {
        let dir = "/work/shared/real-reports/nmap";
        let mut all = serde_json::Map::new();
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for p in names {
            let b = std::fs::read(&p).unwrap();
            let v = match super::parse(&b) {
                Ok(o) => serde_json::json!({
                    "hosts": o.hosts, "services": o.services, "findings": o.findings,
                    "warnings": o.warnings, "partial": o.partial}),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
            all.insert(p.file_name().unwrap().to_string_lossy().into_owned(), v);
        }
        std::fs::write("/tmp/picket-nmap.json", serde_json::to_string_pretty(&all).unwrap()).unwrap();
    }
}
