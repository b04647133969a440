//! The `vulners` NSE script -> findings. Pure function of one `<script id="vulners">`;
//! must not read the port around it.
//!
//! vulners lists, per CPE nmap found on the port, the advisories and exploits vulners.com
//! knows with their CVSS score: as tables (`table[@key=CPE]/table/elem[@key=id|cvss|type|
//! is_exploit]`, nmap 7.80+ with vulners 1.2+) and as text lines
//! `\tID\tCVSS\tURL[\t*EXPLOIT*]` under a `cpe:...:` line (every version). The tables are
//! read when present, else the text.
//!
//! What a security engineer triages is the CVE, so:
//! * one finding per CVE id per endpoint: title = the id, severity from its CVSS (>= 9
//!   critical, >= 7 high, >= 4 medium, else low; the highest when several CPEs list it),
//!   evidence "vulners:CVE-..." (stable across scans, whatever the score or product
//!   version), detail = score, CPEs, and the exploit ids that name this CVE
//!   ("MSF:ILITIES/UBUNTU-CVE-2020-11984/", "PRION:CVE-...").
//! * ids that name no CVE (EDB-ID:, PACKETSTORM:, 1337DAY-ID-, githubexploit UUIDs) are
//!   grouped: one finding per CPE listing each with its type, score and exploit mark,
//!   severity from the highest score, evidence "vulners:other:CPE".
//! * a CVE id written anywhere else in the output (a layout we do not know) still gets a
//!   finding, Low, marked as unscored.

use std::collections::HashMap;

use picket_protocol::{Finding, Severity};

use super::super::new_finding;
use super::super::normalize::CveList;
use super::super::normalize::{clip, normalize_cve};
use super::scripts::{elem, At};
use super::{XmlNode, TOOL};

/// The grouped non-CVE ids can be many (70 on one Apache port); they are the finding's
/// substance, so they get more room than a script's output.
const MAX_LIST_DETAIL: usize = 4000;

/// How many CPEs and related ids one CVE's finding names.
const MAX_LISTED: usize = 64;

/// One line of vulners' list.
#[derive(Debug, Clone)]
struct Entry {
    cpe: String,
    id: String,
    cvss: Option<f32>,
    kind: String,
    exploit: bool,
}

/// What the list says about one CVE.
#[derive(Debug)]
struct CveRecord {
    id: String,
    cvss: Option<f32>,
    cpes: Vec<String>,
    /// Other ids (exploits, advisories) that name this CVE.
    related: Vec<String>,
    exploit: bool,
}

pub(super) fn cvss_severity(cvss: Option<f32>) -> Severity {
    match cvss {
        Some(s) if s >= 9.0 => Severity::Critical,
        Some(s) if s >= 7.0 => Severity::High,
        Some(s) if s >= 4.0 => Severity::Medium,
        _ => Severity::Low,
    }
}

pub(super) fn findings(out: &mut Vec<Finding>, at: At<'_>, script: &XmlNode) {
    let output = script.attr("output").unwrap_or_default();
    let mut entries = Vec::new();
    table_entries(&mut entries, script, None, 0);
    if entries.is_empty() {
        entries = text_entries(output);
    }
    let mut cves: Vec<CveRecord> = Vec::new();
    let mut by_cve: HashMap<String, usize> = HashMap::new();
    let mut others: Vec<(String, Vec<Entry>)> = Vec::new();
    let mut by_cpe: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        let mut named = CveList::default();
        named.scan(&entry.id);
        if named.is_empty() {
            let i = *by_cpe.entry(entry.cpe.clone()).or_insert_with(|| {
                others.push((entry.cpe.clone(), Vec::new()));
                others.len() - 1
            });
            if let Some((_, list)) = others.get_mut(i) {
                list.push(entry);
            }
            continue;
        }
        let is_cve_itself = normalize_cve(&entry.id).is_some();
        for id in named.iter() {
            let i = *by_cve.entry(id.clone()).or_insert_with(|| {
                cves.push(CveRecord {
                    id: id.clone(),
                    cvss: None,
                    cpes: Vec::new(),
                    related: Vec::new(),
                    exploit: false,
                });
                cves.len() - 1
            });
            let Some(rec) = cves.get_mut(i) else { continue };
            rec.cvss = max_score(rec.cvss, entry.cvss);
            // Bounded lists: a hostile output naming one CVE a million times must not
            // make the de-duplication quadratic (the detail is clipped long before).
            if rec.cpes.len() < MAX_LISTED && !rec.cpes.contains(&entry.cpe) {
                rec.cpes.push(entry.cpe.clone());
            }
            rec.exploit |= entry.exploit;
            if !is_cve_itself && rec.related.len() < MAX_LISTED && !rec.related.contains(&entry.id)
            {
                rec.related.push(entry.id.clone());
            }
        }
    }
    // Whatever CVE id the output names beyond the list read above.
    let mut written = CveList::default();
    written.scan(output);
    for id in written.into_vec() {
        if !by_cve.contains_key(&id) {
            by_cve.insert(id.clone(), cves.len());
            cves.push(CveRecord {
                id,
                cvss: None,
                cpes: Vec::new(),
                related: Vec::new(),
                exploit: false,
            });
        }
    }
    out.extend(cves.iter().map(|rec| cve_finding(at, rec)));
    out.extend(
        others
            .iter()
            .map(|(cpe, list)| other_finding(at, cpe, list)),
    );
}

fn max_score(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Every table holding an `id` elem, with the key of the nearest table above it (the
/// CPE) as its product.
fn table_entries(out: &mut Vec<Entry>, node: &XmlNode, cpe: Option<&str>, depth: usize) {
    if depth > 200 {
        return;
    }
    for table in node.children_named("table") {
        if let Some(id) = elem(table, "id") {
            out.push(Entry {
                cpe: cpe.unwrap_or("unknown product").to_string(),
                id: id.to_string(),
                cvss: elem(table, "cvss").and_then(score),
                kind: elem(table, "type").unwrap_or_default().to_string(),
                exploit: elem(table, "is_exploit").is_some_and(|e| e.eq_ignore_ascii_case("true")),
            });
        } else {
            let key = table.attr_nonempty("key").or(cpe);
            table_entries(out, table, key, depth + 1);
        }
    }
}

fn score(raw: &str) -> Option<f32> {
    raw.trim()
        .parse::<f32>()
        .ok()
        .filter(|s| s.is_finite() && (0.0..=10.0).contains(s))
}

/// The text form: a `cpe:/...:` line opens a product, each following line is
/// `ID CVSS URL [*EXPLOIT*]` separated by tabs (one or two, by version).
fn text_entries(output: &str) -> Vec<Entry> {
    let mut cpe = "unknown product".to_string();
    let mut out = Vec::new();
    for line in output.lines().map(str::trim) {
        if line.starts_with("cpe:") && line.ends_with(':') {
            cpe = line.trim_end_matches(':').trim().to_string();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(id), Some(cvss)) = (words.first(), words.get(1).and_then(|w| score(w))) else {
            continue;
        };
        let url = words.get(2).copied().unwrap_or_default();
        let kind = url
            .split("vulners.com/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        out.push(Entry {
            cpe: cpe.clone(),
            id: (*id).to_string(),
            cvss: Some(cvss),
            kind: kind.to_string(),
            exploit: words.contains(&"*EXPLOIT*"),
        });
    }
    out
}

fn cve_finding(at: At<'_>, rec: &CveRecord) -> Finding {
    let mut detail = match rec.cvss {
        Some(s) => format!("CVSS {s:.1} (vulners)"),
        None => "named in the vulners output without a CVSS score".to_string(),
    };
    if !rec.cpes.is_empty() {
        detail.push_str(&format!(" for {}", rec.cpes.join(", ")));
    }
    detail.push('.');
    if rec.exploit {
        detail.push_str(" vulners marks a public exploit.");
    }
    if !rec.related.is_empty() {
        detail.push_str(&format!(" Related: {}.", rec.related.join(", ")));
    }
    detail.push_str(&format!(" https://vulners.com/cve/{}", rec.id));
    new_finding(
        TOOL,
        at.host,
        at.port,
        cvss_severity(rec.cvss),
        rec.id.clone(),
        clip(&detail, MAX_LIST_DETAIL),
        vec![rec.id.clone()],
        format!("vulners:{}", rec.id),
    )
}

fn other_finding(at: At<'_>, cpe: &str, list: &[Entry]) -> Finding {
    let top = list.iter().filter_map(|e| e.cvss).reduce(f32::max);
    let items: Vec<String> = list
        .iter()
        .map(|e| {
            let mut s = format!(
                "{} ({}",
                e.id,
                if e.kind.is_empty() { "?" } else { &e.kind }
            );
            if let Some(c) = e.cvss {
                s.push_str(&format!(", CVSS {c:.1}"));
            }
            if e.exploit {
                s.push_str(", exploit");
            }
            s.push(')');
            s
        })
        .collect();
    let detail = format!(
        "{} ids listed by vulners for {cpe} that name no CVE: {}",
        list.len(),
        items.join("; ")
    );
    new_finding(
        TOOL,
        at.host,
        at.port,
        cvss_severity(top),
        format!("Exploits and advisories without a CVE id for {cpe}"),
        clip(&detail, MAX_LIST_DETAIL),
        Vec::new(),
        format!("vulners:other:{cpe}"),
    )
}
