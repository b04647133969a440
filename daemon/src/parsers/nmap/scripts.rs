//! NSE script output -> findings, on a port or a host (`hostscript`). Pure functions of one
//! `<script>` element; must not read the port or host around it (the caller passes them).
//!
//! Which reading applies, first match wins:
//! * vulns-library tables (a `<table>` holding `<elem key="state">`): one finding per
//!   table. `VULNERABLE...` -> High, `LIKELY VULNERABLE` -> Medium, anything else (NOT
//!   VULNERABLE, UNKNOWN) -> none. Title = the table's `title` elem, CVEs = every id in
//!   `table[@key=ids]` ("CVE:CVE-2011-3192"), the table key and the title, deduplicated;
//!   evidence = "<script id>:<table key>".
//! * `vulners`: see `vulners`.
//! * `vulscan`: one Low finding per script listing what it matched by product name and
//!   version (unverified candidates, often many), every CVE id in its output kept.
//! * anything else: an Info finding titled with the script id, detail = its output clipped
//!   to 500 characters, CVEs = every CVE id written in its output or its tables.

use picket_protocol::{Finding, Severity};

use super::super::new_finding;
use super::super::normalize::{clip, CveList};
use super::{vulners, XmlNode, MAX_DETAIL, TOOL};

/// Where a script ran: the finding's host and port.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
}

pub(super) fn script_findings(
    findings: &mut Vec<Finding>,
    host: &str,
    port: Option<u16>,
    script: &XmlNode,
) {
    let at = At { host, port };
    let id = script.attr_nonempty("id").unwrap_or("nse-script");
    let vuln_tables: Vec<&XmlNode> = script
        .children_named("table")
        .filter(|t| elem(t, "state").is_some())
        .collect();
    if !vuln_tables.is_empty() {
        for table in vuln_tables {
            findings.extend(vulns_table_finding(at, id, table));
        }
        return;
    }
    let before = findings.len();
    if id.eq_ignore_ascii_case("vulners") {
        vulners::findings(findings, at, script);
    } else if id.to_ascii_lowercase().starts_with("vulscan") {
        findings.extend(vulscan_finding(at, id, script));
    }
    if findings.len() == before {
        findings.push(plain_finding(at, id, script));
    }
}

/// One vulns-library table; None when its state says the target is not vulnerable.
fn vulns_table_finding(at: At<'_>, id: &str, table: &XmlNode) -> Option<Finding> {
    let state = elem(table, "state")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let severity = if state.starts_with("VULNERABLE") {
        Severity::High
    } else if state.starts_with("LIKELY VULNERABLE") {
        Severity::Medium
    } else {
        return None;
    };
    let key = table.attr_nonempty("key");
    let title = elem(table, "title").or(key).unwrap_or(id);
    let mut cve = CveList::default();
    for e in table
        .children_named("table")
        .filter(|t| t.attr("key") == Some("ids"))
        .flat_map(|t| t.children_named("elem"))
    {
        cve.scan(e.text_trim());
    }
    cve.scan(key.unwrap_or_default());
    cve.scan(title);
    let description: Vec<&str> = table
        .children_named("table")
        .filter(|t| t.attr("key") == Some("description"))
        .flat_map(|t| t.children_named("elem"))
        .map(XmlNode::text_trim)
        .collect();
    let mut detail = format!("{id}: State: {state}.");
    if !description.is_empty() {
        detail.push(' ');
        detail.push_str(&description.join(" "));
    }
    if let Some(date) = elem(table, "disclosure") {
        detail.push_str(&format!(" Disclosed {date}."));
    }
    Some(new_finding(
        TOOL,
        at.host,
        at.port,
        severity,
        title,
        clip(&detail, MAX_DETAIL),
        cve.into_vec(),
        format!("{id}:{}", key.unwrap_or(title)),
    ))
}

/// vulscan (scip AG's NSE script) prints, per database, the entries whose title matches the
/// product and version nmap found: `[CVE-2014-0160] The (1) TLS ...`. No score, and the
/// matching is by words, so the entries are candidates: one Low finding per script with
/// every CVE id, the per-database counts and the first entries. None when it matched
/// nothing.
fn vulscan_finding(at: At<'_>, id: &str, script: &XmlNode) -> Option<Finding> {
    let output = script.attr("output").unwrap_or_default();
    let mut databases: Vec<(String, usize)> = Vec::new();
    let mut entries: Vec<&str> = Vec::new();
    for line in output
        .lines()
        .map(|l| l.trim().trim_start_matches('|').trim())
    {
        if line.starts_with('[') {
            entries.push(line);
            if let Some((_, n)) = databases.last_mut() {
                *n += 1;
            }
        } else if line.ends_with(':') && line.contains(" - ") {
            let name = line.split(" - ").next().unwrap_or(line).trim();
            databases.push((name.to_string(), 0));
        }
    }
    let mut cve = CveList::default();
    cve.scan(output);
    if entries.is_empty() && cve.is_empty() {
        return None;
    }
    let counts: Vec<String> = databases
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name}: {n}"))
        .collect();
    let detail = format!(
        "{} entries matched by product name and version, unverified ({}); {} CVE ids. {}",
        entries.len(),
        counts.join(", "),
        cve.len(),
        entries.join(" ")
    );
    Some(new_finding(
        TOOL,
        at.host,
        at.port,
        Severity::Low,
        "vulscan: possible vulnerabilities by version match",
        clip(&detail, MAX_DETAIL),
        cve.into_vec(),
        id,
    ))
}

fn plain_finding(at: At<'_>, id: &str, script: &XmlNode) -> Finding {
    let output = script.attr("output").unwrap_or_default();
    let mut cve = CveList::default();
    cve.scan(output);
    scan_elems(&mut cve, script, 0);
    new_finding(
        TOOL,
        at.host,
        at.port,
        Severity::Info,
        id,
        clip(output, MAX_DETAIL),
        cve.into_vec(),
        id,
    )
}

/// CVE ids in the text of every `<elem>` under `node`: a script's `output` attribute
/// usually repeats its tables, but not always whole.
fn scan_elems(cve: &mut CveList, node: &XmlNode, depth: usize) {
    // xml_tree bounds the depth already; this only keeps the recursion obviously finite.
    if depth > 200 {
        return;
    }
    for child in &node.children {
        cve.scan(&child.text);
        scan_elems(cve, child, depth + 1);
    }
}

/// Text of the direct `<elem key="...">` child.
pub(super) fn elem<'a>(table: &'a XmlNode, key: &str) -> Option<&'a str> {
    table
        .children_named("elem")
        .find(|e| e.attr("key") == Some(key))
        .map(XmlNode::text_trim)
        .filter(|t| !t.is_empty())
}
