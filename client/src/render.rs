//! Output for people (aligned, concise) and for programs (one JSON document).
//! Must not talk to the daemon.

use picket_protocol::*;
use serde::Serialize;

use crate::failure::Failure;
use crate::style;
use crate::time::{duration, local};

/// Every human line goes through term::emit: cut to the terminal's width, colour only where
/// wanted. (`print_json` writes whole documents with std's println.)
macro_rules! println {
    () => {
        crate::term::emit("")
    };
    ($($arg:tt)*) => {
        crate::term::emit(&format!($($arg)*))
    };
}

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

/// One `--json` document: `schema_version`, then the fields of `v` (an object: a list goes
/// in a named field, see picket_protocol::json).
pub fn print_json<T: Serialize + ?Sized>(v: &T) {
    let doc = picket_protocol::json::Doc::new(v);
    std::println!(
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

impl Out {
    /// One JSON document for programs, or `human` for people.
    fn json_or<T: Serialize + ?Sized>(
        self,
        value: &T,
        human: impl FnOnce(&T),
    ) -> Result<(), Failure> {
        if self.json {
            print_json(value);
        } else {
            human(value);
        }
        Ok(())
    }

    pub fn message<T: Serialize>(self, json: T, text: &str) -> Result<(), Failure> {
        self.json_or(&json, |_| println!("{text}"))
    }

    pub fn ping(self, p: &PingInfo, socket: &std::path::Path) -> Result<(), Failure> {
        let json = picket_protocol::json::PingDoc {
            daemon_version: p.daemon_version.clone(),
            client_version: PACKAGE_VERSION.into(),
            protocol_version: p.protocol_version,
            pid: p.pid,
            uptime_ms: p.uptime_ms,
            socket: socket.display().to_string(),
        };
        self.json_or(&json, |_| {
            println!(
                "picketd {} (protocol {}), pid {}, up {}; picket {}",
                p.daemon_version,
                p.protocol_version,
                p.pid,
                duration(p.uptime_ms),
                PACKAGE_VERSION
            );
            println!("socket {}", socket.display());
        })
    }

    pub fn health(self, h: &HealthReport) -> Result<(), Failure> {
        self.json_or(h, |h| {
            for c in &h.checks {
                println!(
                    "{:<4} {:<10} {}",
                    if c.ok { "ok" } else { "FAIL" },
                    c.name,
                    c.detail
                );
            }
        })
    }

    pub fn stats(self, m: &MetricsReport) -> Result<(), Failure> {
        self.json_or(m, |m| {
            for (name, value) in stats_rows(m) {
                println!("{name:<12} {value}");
            }
            histogram_table("requests", &m.request_latency);
            histogram_table("tool runs", &m.tool_run_duration);
            println!(
                "\nslow queries (over {} ms): {}",
                m.slow_query_threshold_ms,
                m.slow_queries.len()
            );
            for q in m.slow_queries.iter().take(10) {
                println!(
                    "  {:>9.3} ms  {}  {}",
                    q.micros as f64 / 1000.0,
                    q.query,
                    q.at
                );
            }
        })
    }

    pub fn cache_stats(self, c: &CacheStatsReport) -> Result<(), Failure> {
        self.json_or(c, |c| {
            let rows = [
                (
                    "entries",
                    format!("L1 {}, L2 {}", c.l1_entries, c.l2_entries),
                ),
                (
                    "bytes",
                    format!(
                        "L1 {} of {}, L2 {}",
                        c.l1_bytes, c.l1_capacity_bytes, c.l2_bytes
                    ),
                ),
                (
                    "hits",
                    format!(
                        "{} (L1 {}, L2 {}, shared {})",
                        c.hits, c.hits_l1, c.hits_l2, c.hits_shared
                    ),
                ),
                (
                    "misses",
                    format!("{} ({} with --no-cache)", c.misses, c.bypassed),
                ),
                ("hit rate", format!("{:.1}%", c.hit_rate * 100.0)),
                ("evictions", c.evictions.to_string()),
                ("expirations", c.expirations.to_string()),
                ("in flight", c.in_flight.to_string()),
            ];
            for (k, v) in rows {
                println!("{k:<12} {v}");
            }
        })
    }

    pub fn status(self, scans: &[ScanProgress]) -> Result<(), Failure> {
        if self.json {
            print_json(&picket_protocol::json::StatusDoc {
                scans: scans.to_vec(),
            });
            return Ok(());
        }
        self.json_or(scans, |scans| {
            if scans.is_empty() {
                println!("no scans running or queued");
            }
            for s in scans {
                println!(
                    "{:>6}  {} {:<8} {}/{} runs  {} findings  {}{}",
                    s.id,
                    style::padded(style::scan_status(s.status), s.status.as_str(), 11),
                    s.profile,
                    s.runs_finished,
                    s.runs_total,
                    s.findings_count,
                    s.targets.join(" "),
                    if s.running.is_empty() {
                        String::new()
                    } else {
                        format!("  running: {}", s.running.join(", "))
                    }
                );
            }
        })
    }

    pub fn scans(self, page: &ScanPage) -> Result<(), Failure> {
        self.json_or(page, |page| {
            println!(
                "{:>6}  {:<11} {:<8} {:>8}  {:<19}  targets",
                "id", "status", "profile", "findings", "created"
            );
            for s in &page.scans {
                println!(
                    "{:>6}  {} {:<8} {:>8}  {:<19}  {}",
                    s.id,
                    style::padded(style::scan_status(s.status), s.status.as_str(), 11),
                    s.profile,
                    s.findings_count,
                    local(&s.created_at),
                    s.targets.join(" ")
                );
            }
            if let Some(c) = &page.next_cursor {
                println!("more: --cursor {c}");
            }
        })
    }

    pub fn findings(self, page: &FindingPage, verbose: bool) -> Result<(), Failure> {
        self.json_or(page, |page| {
            for f in &page.findings {
                println!("{}", finding_line(f));
                if verbose {
                    finding_detail(f, "  ");
                }
            }
            if page.findings.is_empty() {
                println!("no findings");
            }
            if let Some(c) = &page.next_cursor {
                println!("more: --cursor {c}");
            }
        })
    }

    pub fn tools(self, tools: &[ToolInfo]) -> Result<(), Failure> {
        if self.json {
            print_json(&picket_protocol::json::ToolsDoc {
                tools: tools.to_vec(),
            });
            return Ok(());
        }
        self.json_or(tools, |tools| {
            println!(
                "{:<10} {:<9} {:>4} {:>8} {:>8}  version",
                "tool", "installed", "jobs", "timeout", "ttl"
            );
            for t in tools {
                println!(
                    "{:<10} {:<9} {:>4} {:>7}s {:>7}s  {}",
                    t.name,
                    if t.installed { "yes" } else { "MISSING" },
                    t.concurrency,
                    t.timeout_secs,
                    t.cache_ttl_secs,
                    t.version
                        .as_deref()
                        .map(short_version)
                        .unwrap_or(if t.installed {
                            "?"
                        } else {
                            "install it to use it"
                        })
                );
            }
        })
    }
}

impl Out {
    /// `picket finding ID`: every field, the detail text, and where it came from.
    pub fn finding_detail(self, d: &FindingDetail) -> Result<(), Failure> {
        self.json_or(d, |d| {
            let f = &d.finding;
            let port = f.port.map(|p| format!(":{p}")).unwrap_or_default();
            println!("finding {}  {}  {}", f.id, f.severity, f.title);
            let mut rows = vec![
                ("where", format!("{}{port}", f.host)),
                ("tool", f.tool.clone()),
                ("evidence", f.evidence.clone()),
            ];
            if !f.cve.is_empty() {
                rows.push(("cve", f.cve.join(", ")));
            }
            let seen = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
            rows.push((
                "first seen",
                format!("{} (scan {})", seen(&f.first_seen), d.first_scan),
            ));
            rows.push((
                "last seen",
                format!("{} (scan {})", seen(&f.last_seen), d.last_scan),
            ));
            let scans: Vec<String> = d.scans.iter().map(|s| s.to_string()).collect();
            rows.push(("scans", scans.join(", ")));
            if let Some(r) = &d.run {
                let when = r.started_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                rows.push((
                    "run",
                    format!("{} on {}, {} {when}", r.tool, r.target, r.status),
                ));
            }
            rows.push(("fingerprint", f.fingerprint.clone()));
            for (k, v) in rows {
                println!("  {k:<12} {v}");
            }
            println!();
            if f.detail.is_empty() {
                println!("  (the tool gave no detail)");
            }
            for line in f.detail.lines() {
                println!("  {line}");
            }
        })
    }
}

/// The name/value lines at the top of `picket stats`.
fn stats_rows(m: &MetricsReport) -> Vec<(&'static str, String)> {
    let (s, c, p, q) = (&m.stats, &m.cache, &m.stats.db_pool, &m.query_duration);
    vec![
        ("uptime", duration(s.uptime_ms)),
        (
            "process",
            format!(
                "{:.1} MiB resident, {:.2} s CPU",
                m.rss_bytes as f64 / 1048576.0,
                m.cpu_seconds
            ),
        ),
        (
            "connections",
            format!(
                "{} open, {} total, {} refused, {} protocol errors",
                s.connections_open, s.connections_total, s.refused_peers, s.protocol_errors
            ),
        ),
        (
            "scans",
            format!("{} running, {} queued", s.scans_running, s.scans_queued),
        ),
        (
            "cache",
            format!(
                "hit rate {:.1}% ({} hits: {} L1, {} L2, {} shared; {} misses)",
                c.hit_rate * 100.0,
                c.hits,
                c.hits_l1,
                c.hits_l2,
                c.hits_shared,
                c.misses
            ),
        ),
        (
            "cache size",
            format!(
                "L1 {} entries, {:.1} of {:.0} MiB; L2 {} entries; {} evicted, {} expired",
                c.l1_entries,
                c.l1_bytes as f64 / 1048576.0,
                c.l1_capacity_bytes as f64 / 1048576.0,
                c.l2_entries,
                c.evictions,
                c.expirations
            ),
        ),
        (
            "db pool",
            format!(
                "{} of {} open, {} idle, {} waiting",
                p.size, p.max_size, p.available, p.waiting
            ),
        ),
        (
            "db queries",
            format!(
                "{} run, p50 {}, p99 {}",
                q.count,
                quantile(q, 0.5),
                quantile(q, 0.99)
            ),
        ),
        ("queues", queues(&m.queue_depths)),
    ]
}

/// The non-empty queues, as "kind name=depth".
fn queues(depths: &[LabeledCount]) -> String {
    let busy: Vec<String> = depths
        .iter()
        .filter(|d| d.value > 0)
        .map(|d| {
            format!(
                "{} {}={}",
                d.labels.first().map(|l| l.1.as_str()).unwrap_or(""),
                d.labels.get(1).map(|l| l.1.as_str()).unwrap_or(""),
                d.value
            )
        })
        .collect();
    if busy.is_empty() {
        "all empty".to_string()
    } else {
        busy.join(", ")
    }
}

/// Count, p50 and p99 per label, under a `title` header; nothing when there is no label.
fn histogram_table(title: &str, histograms: &[LabeledHistogram]) {
    if histograms.is_empty() {
        return;
    }
    println!("\n{title:<14} count      p50      p99");
    for h in histograms {
        println!(
            "  {:<10} {:>8} {:>8} {:>8}",
            h.label,
            h.histogram.count,
            quantile(&h.histogram, 0.5),
            quantile(&h.histogram, 0.99)
        );
    }
}

pub(crate) fn finding_line(f: &Finding) -> String {
    let port = f.port.map(|p| format!(":{p}")).unwrap_or_default();
    let cve = if f.cve.is_empty() {
        String::new()
    } else {
        format!("  [{}]", f.cve.join(", "))
    };
    let state = match (f.state, f.resolved_scan) {
        (FindingState::Resolved, Some(scan)) => format!("  (resolved by scan {scan})"),
        (FindingState::Resolved, None) => "  (resolved)".to_string(),
        (FindingState::Open, _) => String::new(),
    };
    format!(
        "{} {:<8} {}{:<7} {}{}{}",
        style::padded(style::severity(f.severity), f.severity.as_str(), 8),
        f.tool,
        f.host,
        port,
        f.title,
        cve,
        state
    )
}

/// A finding's detail under its line: the prose wrapped to the terminal (never cut), then
/// CVEs, evidence, id and first/last seen in local time.
fn finding_detail(f: &Finding, indent: &str) {
    let width = crate::term::width()
        .unwrap_or(100)
        .saturating_sub(indent.len() + 2);
    for line in crate::term::wrap(&f.detail, width) {
        println!("{indent}  {line}");
    }
    if !f.cve.is_empty() {
        println!("{indent}  cve: {}", f.cve.join(", "));
    }
    for line in f.evidence.lines().filter(|l| !l.trim().is_empty()).take(3) {
        println!(
            "{indent}  {}",
            style::paint(style::dim(), &format!("evidence: {}", line.trim()))
        );
    }
    let seen = |t: &Option<String>| t.as_deref().map(local).unwrap_or_else(|| "-".into());
    println!(
        "{indent}  {}",
        style::paint(
            style::dim(),
            &format!(
                "id {}  first seen {}  last seen {}",
                f.id,
                seen(&f.first_seen),
                seen(&f.last_seen)
            )
        )
    );
}

/// The closing lines of a waited or followed scan: how long it took, its findings by
/// severity, how many are new, and how much came from the cache (and how to redo it).
pub fn end_summary(d: &ScanDetail) {
    let took = match (&d.started_at, &d.finished_at) {
        (Some(a), Some(b)) => {
            crate::time::between_ms(a, b).map(|ms| format!(" in {}", duration(ms)))
        }
        _ => None,
    };
    let mut counts = Vec::new();
    for sev in Severity::ALL.iter().rev() {
        let n = d.findings.iter().filter(|f| f.severity == *sev).count();
        if n > 0 {
            counts.push(style::paint(style::severity(*sev), &format!("{n} {sev}")));
        }
    }
    // Counted by the daemon as it stored the scan: first seen or reopened here, and what
    // its complete runs no longer reported.
    let new = d.new_count.min(d.findings.len() as u64);
    let still_open = d.findings.len() as u64 - new;
    println!(
        "{} {}{}: {}{}",
        style::paint(style::heading(), &format!("scan {}", d.id)),
        style::paint(style::scan_status(d.status), d.status.as_str()),
        took.unwrap_or_default(),
        if counts.is_empty() {
            "no findings".to_string()
        } else {
            counts.join(", ")
        },
        if d.findings.is_empty() && d.resolved.is_empty() {
            String::new()
        } else {
            format!(
                " ({new} new, {still_open} still open, {} resolved)",
                d.resolved.len()
            )
        }
    );
    let cached = d.tool_runs.iter().filter(|r| r.cache_hit).count();
    if cached > 0 {
        crate::term::emit_wrapped(&format!(
            "{cached} of {} runs answered from the cache; `--no-cache` runs them afresh",
            d.tool_runs.len()
        ));
    }
}

pub fn scan_summary(d: &ScanDetail, verbose: bool) {
    println!(
        "scan {}  {}  profile {}  targets {}{}",
        d.id,
        style::paint(style::scan_status(d.status), d.status.as_str()),
        d.profile,
        d.targets.join(" "),
        d.ports
            .as_ref()
            .map(|p| format!("  ports {p}"))
            .unwrap_or_default()
    );
    if let Some(e) = &d.error {
        println!("error: {e}");
    }
    for w in &d.warnings {
        println!("warning: {w}");
    }
    if !d.tool_runs.is_empty() {
        // The run's id first: what `picket output RUN` takes.
        println!("\ntool runs:");
        for r in &d.tool_runs {
            println!(
                "  {:>4} {:<9} {:<28} {} {:>8}  {}{}",
                r.id,
                r.tool,
                r.target,
                style::padded(style::run_status(r.status), r.status.as_str(), 10),
                r.duration_ms.map(duration).unwrap_or_default(),
                cached_label(r).map(|c| c + " ").unwrap_or_default(),
                r.error.as_deref().unwrap_or("")
            );
            for w in &r.warnings {
                println!("    warning: {w}");
            }
            if let Some(when) = &r.output_removed_at {
                println!("    output removed by retention at {when}");
            }
        }
    }
    hosts_section(&d.hosts);
    if !d.services.is_empty() {
        println!("\nservices:");
        for s in &d.services {
            let what = [s.product.as_deref(), s.version.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            println!(
                "  {}:{}/{:<4} {:<10} {}",
                s.host, s.port, s.proto, s.name, what
            );
        }
    }
    println!("\nfindings: {}", d.findings.len());
    for f in &d.findings {
        println!("  {}", finding_line(f));
        if verbose {
            finding_detail(f, "  ");
        }
    }
    if !d.resolved.is_empty() {
        println!("\nresolved by this scan: {}", d.resolved.len());
        for f in &d.resolved {
            println!("  {}", finding_line(f));
        }
    }
}

/// Hosts a tool said more about than their address; nothing when none did (a scan of
/// web tools, or nmap without name resolution, OS detection or a local network).
fn hosts_section(hosts: &[Host]) {
    let told: Vec<&Host> = hosts.iter().filter(|h| host_detail(h).is_some()).collect();
    if told.is_empty() {
        return;
    }
    println!("\nhosts:");
    for h in told {
        println!("  {:<16} {}", h.address, host_detail(h).unwrap_or_default());
    }
}

/// "up  names a.example (PTR), a (user)  os Linux 5.X (96%)  mac 00:.. (Vendor)", or
/// None for a host known by its address alone.
pub fn host_detail(h: &Host) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(state) = &h.state {
        parts.push(state.clone());
    }
    if !h.hostnames.is_empty() {
        let names: Vec<String> = h
            .hostnames
            .iter()
            .map(|n| format!("{} ({})", n.name, n.kind))
            .collect();
        parts.push(format!("names {}", names.join(", ")));
    }
    // Best first, as the tool ranked them; the others are in --json.
    if let Some(os) = h.os.first() {
        parts.push(format!("os {} ({}%)", os.name, os.accuracy));
    }
    match (&h.mac, &h.vendor) {
        (Some(mac), Some(vendor)) => parts.push(format!("mac {mac} ({vendor})")),
        (Some(mac), None) => parts.push(format!("mac {mac}")),
        (None, Some(vendor)) => parts.push(format!("vendor {vendor}")),
        (None, None) => {}
    }
    (!parts.is_empty()).then(|| parts.join("  "))
}

/// The version number out of a tool's banner ("Nmap version 7.93 ( https://nmap.org )" →
/// "7.93", "WhatWeb version 0.5.5 ( https://… )" → "0.5.5"): the first word that starts with a
/// digit and holds a dot; the banner as it is when none does (`--json` keeps it whole).
fn short_version(banner: &str) -> &str {
    banner
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .map(|w| w.trim_start_matches(['v', 'V']))
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
        .unwrap_or(banner)
}

/// "cached 4 min ago" for a run the cache answered (just "cached" when the daemon did not
/// say when the output was made); None for a run that ran.
pub(crate) fn cached_label(run: &ToolRun) -> Option<String> {
    if !run.cache_hit {
        return None;
    }
    Some(match run.cached_at.as_deref().and_then(crate::time::ago) {
        Some(ago) => format!("cached {ago}"),
        None => "cached".into(),
    })
}

/// Upper bound of the bucket holding the q-th quantile: what a histogram can tell.
fn quantile(h: &Histogram, q: f64) -> String {
    if h.count == 0 {
        return "-".into();
    }
    let want = (h.count as f64 * q).ceil() as u64;
    match h.bounds.iter().zip(&h.counts).find(|(_, c)| **c >= want) {
        Some((b, _)) if *b < 1.0 => format!("<{:.1}ms", b * 1000.0),
        Some((b, _)) => format!("<{b}s"),
        None => format!(">{}s", h.bounds.last().copied().unwrap_or(0.0)),
    }
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn banners_shrink_to_their_version_number() {
        use super::short_version;
        assert_eq!(
            short_version("Nmap version 7.93 ( https://nmap.org )"),
            "7.93"
        );
        assert_eq!(
            short_version(
                "WhatWeb version 0.5.5 ( https://www.morningstarsecurity.com/research/whatweb )"
            ),
            "0.5.5"
        );
        assert_eq!(short_version("sslscan v2.0.16-static"), "2.0.16-static");
        assert_eq!(
            short_version("testssl.sh 3.0.8 from https://testssl.sh/"),
            "3.0.8"
        );
        assert_eq!(short_version("odd banner"), "odd banner");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_line_says_state_names_best_os_and_mac_and_an_address_alone_says_nothing() {
        let mut h = Host {
            address: "192.168.1.10".into(),
            ..Host::default()
        };
        assert_eq!(host_detail(&h), None);
        h.state = Some("up".into());
        h.hostnames = vec![
            HostName {
                name: "nas.example.test".into(),
                kind: "PTR".into(),
            },
            HostName {
                name: "nas".into(),
                kind: "user".into(),
            },
        ];
        h.os = vec![
            OsMatch {
                name: "Linux 5.0 - 5.14".into(),
                accuracy: 96,
            },
            OsMatch {
                name: "Linux 4.15".into(),
                accuracy: 90,
            },
        ];
        h.mac = Some("00:11:32:AA:BB:CC".into());
        h.vendor = Some("Synology".into());
        assert_eq!(
            host_detail(&h).unwrap(),
            "up  names nas.example.test (PTR), nas (user)  os Linux 5.0 - 5.14 (96%)  mac 00:11:32:AA:BB:CC (Synology)"
        );
    }
}
