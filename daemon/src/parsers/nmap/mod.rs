//! nmap parser: turns `nmap -oX` XML into hosts, services and findings. Pure function of
//! the bytes: no I/O, no panics, linear in the input; bad output is a `ParseError`. Owns
//! the reading of the report (hosts, ports, partial runs, warnings); what NSE scripts say
//! is `scripts`' job (`vulners` for that script), what a host is (names, OS, MAC) is
//! `hosts`'.
//!
//! Mapping rules:
//! * Every `<host>` gives a `Host` (see `hosts`), down hosts included; two `<host>`
//!   elements with one address are one host.
//! * Every `<port>` whose state is `open` (on a host that is not `down`) gives a Service:
//!   host = the ipv4 address, else the ipv6 one, else the first hostname; proto, port,
//!   `service@name` ("unknown" when absent), product, version. `tunnel="ssl"` sets
//!   `tls = true`, and such an "http" service is reported as "https". Ports in any other
//!   state (closed, filtered, open|filtered) and `extraports` give nothing.
//! * Each open port also gives an Info finding "Open port 18080/tcp: http" whose detail is
//!   product, version and extrainfo (evidence "port").
//! * NSE scripts on an open port and in `<hostscript>` give findings as `scripts` says.
//! * `runstats/finished@exit="error"` -> `ToolReported` with `errormsg`.
//! * Input that ends before `</nmaprun>` (an interrupted run) keeps every complete
//!   `<host>` and sets `partial` to what was cut; it is `Truncated` only when no host
//!   was complete. Empty output (nmap prints no XML when it refuses to start, e.g. -sS
//!   without root) and non-XML -> `Malformed`. A scan with no open port is a valid
//!   empty result. Bytes that are not UTF-8 are decoded (`xml_tree::decode_input`) and
//!   said in a warning.
//! * What cannot be placed (a host without address, a port without a number, a
//!   pre/post-scan script, an element of an unknown name, a target nmap skipped) is a
//!   line in `warnings`, counted, never dropped without a word.

mod hosts;
mod scripts;
#[cfg(test)]
mod tests;
mod vulners;

use std::collections::HashMap;

use picket_protocol::{Finding, Service, Severity};

use super::normalize::{clip, dedupe_findings, ServiceSet};
use super::xml_tree::{parse_xml_streaming, Cut, XmlNode};
use super::{new_finding, ParseError, ParsedOutput};
use hosts::HostSet;

const TOOL: &str = "nmap";
const MAX_DETAIL: usize = 500;

/// Children of `<host>` that nmap writes and that carry nothing Picket keeps beyond what
/// is read: they are skipped without a warning.
const QUIET_HOST_CHILDREN: &[&str] = &[
    "status",
    "address",
    "hostnames",
    "ports",
    "os",
    "hostscript",
    "times",
    "uptime",
    "distance",
    "tcpsequence",
    "ipidsequence",
    "tcptssequence",
    "trace",
    "smurf",
    // nmap 3.x progress lines: each repeats a `<port>` written in full later.
    "addport",
];

/// Children of `<nmaprun>` (hosts aside) that describe the run, not a result.
const QUIET_ROOT_CHILDREN: &[&str] = &[
    "scaninfo",
    "verbose",
    "debugging",
    "taskbegin",
    "taskend",
    "taskprogress",
    "hosthint",
    "output",
    "runstats",
];

pub fn parse(output: &[u8]) -> Result<ParsedOutput, ParseError> {
    let mut report = Report::default();
    // Hosts are read as each one closes and then dropped: memory is one host's tree, not
    // the whole report's (see parse_xml_streaming).
    let doc = parse_xml_streaming(TOOL, output, "nmaprun", "host", |host| {
        report.read_host(&host);
    })?;
    for note in doc.notes {
        report.warnings.add(note);
    }
    report.read_root_leftovers(&doc.root);
    let partial = match doc.cut {
        Some(cut) => {
            let what = describe_cut(&cut, &doc.root, report.complete_hosts);
            if report.complete_hosts == 0 {
                return Err(ParseError::Truncated {
                    tool: TOOL,
                    reason: what,
                });
            }
            Some(what)
        }
        None => {
            tool_error(&doc.root)?;
            None
        }
    };
    Ok(ParsedOutput {
        hosts: report.hosts.into_vec(),
        services: report.services.into_vec(),
        findings: dedupe_findings(report.findings),
        warnings: report.warnings.into_lines(),
        partial,
        ..ParsedOutput::default()
    })
}

/// nmap writes `<runstats>` last: an error there voids the hosts read before it.
fn tool_error(root: &XmlNode) -> Result<(), ParseError> {
    let Some(finished) = root.child("runstats").and_then(|r| r.child("finished")) else {
        return Ok(());
    };
    if !finished
        .attr("exit")
        .is_some_and(|e| e.eq_ignore_ascii_case("error"))
    {
        return Ok(());
    }
    let message = finished
        .attr_nonempty("errormsg")
        .unwrap_or("nmap exited with an error");
    Err(ParseError::ToolReported {
        tool: TOOL,
        message: message.to_string(),
    })
}

/// What an interrupted run lost, for the run's warning (or the error when nothing is left).
fn describe_cut(cut: &Cut, root: &XmlNode, complete_hosts: usize) -> String {
    let inner = cut.open.last().map_or("nmaprun", String::as_str);
    let mut what = format!(
        "nmap output ends before </nmaprun> (interrupted run), inside <{inner}>: {complete_hosts} complete host(s) kept"
    );
    if cut.open.iter().any(|n| n == "host") {
        what.push_str(", the host being written at the cut is lost");
    }
    if let Some(progress) = root.children_named("taskprogress").last() {
        let task = progress.attr_nonempty("task").unwrap_or("scan");
        let percent = progress.attr_nonempty("percent").unwrap_or("?");
        what.push_str(&format!("; last progress: {task} {percent}% done"));
    }
    what
}

/// What the hosts read so far gave.
#[derive(Default)]
struct Report {
    hosts: HostSet,
    services: ServiceSet,
    findings: Vec<Finding>,
    warnings: Warnings,
    complete_hosts: usize,
}

impl Report {
    /// One `<host>`: its record, its open ports as services and findings, its scripts'
    /// findings.
    fn read_host(&mut self, host: &XmlNode) {
        self.complete_hosts += 1;
        for child in &host.children {
            if child.name == "host" {
                // Seen in a hand-edited report that other parsers keep as test data:
                // its content is a host like any other. Depth is bounded by xml_tree.
                self.warnings
                    .add("a <host> inside a <host> was read as a host of its own".into());
                self.read_host(child);
            } else if !QUIET_HOST_CHILDREN.contains(&child.name.as_str()) {
                self.warnings
                    .add(format!("element <{}> in <host> not read", child.name));
            }
        }
        let Some(addr) = hosts::host_address(host) else {
            self.warnings
                .add("a <host> without an address or name was skipped".into());
            return;
        };
        self.hosts.push(hosts::host_record(host, addr));
        let state = host
            .child("status")
            .and_then(|s| s.attr("state"))
            .unwrap_or("up");
        if state.eq_ignore_ascii_case("down") {
            return;
        }
        for port in host
            .children_named("ports")
            .flat_map(|p| p.children_named("port"))
        {
            self.read_port(addr, port);
        }
        for script in host
            .children_named("hostscript")
            .flat_map(|h| h.children_named("script"))
        {
            scripts::script_findings(&mut self.findings, addr, None, script);
        }
    }

    fn read_port(&mut self, addr: &str, port: &XmlNode) {
        let Some(portid) = port
            .attr("portid")
            .and_then(|p| p.trim().parse::<u16>().ok())
        else {
            self.warnings.add(format!(
                "a <port> of {addr} without a valid portid ({:?}) was skipped",
                port.attr("portid").unwrap_or_default()
            ));
            return;
        };
        if port.child("state").and_then(|s| s.attr("state")) != Some("open") {
            return;
        }
        let svc = service(addr, portid, port);
        self.findings
            .push(open_port_finding(&svc, port.child("service")));
        for script in port.children_named("script") {
            scripts::script_findings(&mut self.findings, addr, Some(portid), script);
        }
        self.services.push(svc);
    }

    /// What stayed in `<nmaprun>` besides the hosts: run-level scripts and skipped
    /// targets are results without a host, so they become warnings.
    fn read_root_leftovers(&mut self, root: &XmlNode) {
        for child in &root.children {
            match child.name.as_str() {
                "prescript" | "postscript" => {
                    for script in child.children_named("script") {
                        let id = script.attr_nonempty("id").unwrap_or("nse-script");
                        let output = script.attr("output").unwrap_or_default();
                        self.warnings.add(format!(
                            "{} script {id} reported on no host, not stored as a finding: {}",
                            child.name,
                            clip(&output.replace('\n', " "), 200)
                        ));
                    }
                }
                "target" => self.warnings.add(format!(
                    "nmap skipped target {:?}: {} {}",
                    child.attr("specification").unwrap_or_default(),
                    child.attr("status").unwrap_or("skipped"),
                    child.attr("reason").unwrap_or_default()
                )),
                name if QUIET_ROOT_CHILDREN.contains(&name) => {}
                name => self
                    .warnings
                    .add(format!("element <{name}> in <nmaprun> not read")),
            }
        }
    }
}

/// Warning lines, each once in first-seen order with how often it came: a report of
/// 10k hosts with one odd element each gives one line, not 10k.
#[derive(Default)]
struct Warnings {
    lines: Vec<(String, usize)>,
    index: HashMap<String, usize>,
}

impl Warnings {
    fn add(&mut self, line: String) {
        match self.index.get(&line).and_then(|&i| self.lines.get_mut(i)) {
            Some((_, n)) => *n += 1,
            None => {
                self.index.insert(line.clone(), self.lines.len());
                self.lines.push((line, 1));
            }
        }
    }

    fn into_lines(self) -> Vec<String> {
        self.lines
            .into_iter()
            .map(|(line, n)| {
                if n > 1 {
                    format!("{line} ({n} times)")
                } else {
                    line
                }
            })
            .collect()
    }
}

fn service(addr: &str, port: u16, port_el: &XmlNode) -> Service {
    let svc = port_el.child("service");
    let get = |k: &str| svc.and_then(|s| s.attr_nonempty(k)).map(str::to_string);
    let tls = svc.and_then(|s| s.attr("tunnel")) == Some("ssl");
    let mut name = get("name").unwrap_or_else(|| "unknown".to_string());
    if tls && name == "http" {
        name = "https".to_string();
    }
    Service {
        host: addr.to_string(),
        port,
        proto: port_el
            .attr_nonempty("protocol")
            .unwrap_or("tcp")
            .to_string(),
        name,
        product: get("product"),
        version: get("version"),
        tls,
    }
}

fn open_port_finding(svc: &Service, svc_el: Option<&XmlNode>) -> Finding {
    let mut detail = [svc.product.as_deref(), svc.version.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(extra) = svc_el.and_then(|s| s.attr_nonempty("extrainfo")) {
        if !detail.is_empty() {
            detail.push(' ');
        }
        detail.push_str(&format!("({extra})"));
    }
    new_finding(
        TOOL,
        &svc.host,
        Some(svc.port),
        Severity::Info,
        format!("Open port {}/{}: {}", svc.port, svc.proto, svc.name),
        detail,
        Vec::new(),
        "port",
    )
}
