//! What the parsers share to turn raw tool text into findings: severity words, clipping,
//! de-duplication by fingerprint, CVE and host clean-up, ANSI stripping. `clip` and
//! `strip_ansi` are the daemon's only copies: run/ calls them for stderr tails and
//! version lines rather than keeping its own.
//!
//! Same rules as the parsers: pure functions of their input, no I/O, never panic.

use std::collections::{HashMap, HashSet};

use picket_protocol::{Finding, Service, Severity};

use super::ParseError;

/// Severity words as tools and users write them. Unknown words give None and the caller
/// decides (most map them to Info).
pub(crate) fn severity_word(word: &str) -> Option<Severity> {
    Some(match word.trim().to_ascii_lowercase().as_str() {
        "info" | "informational" | "information" | "note" | "none" => Severity::Info,
        "low" => Severity::Low,
        "medium" | "moderate" | "med" => Severity::Medium,
        "high" => Severity::High,
        "critical" | "crit" => Severity::Critical,
        _ => return None,
    })
}

/// Cuts trimmed text to at most `max` characters on a char boundary, marking the cut with
/// '…', so one verbose script output (or one chatty stderr) cannot bloat every report.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
    }
}

/// Keeps the first finding per fingerprint; a repeat raises its severity and adds CVEs,
/// so a tool that reports one issue twice still yields one finding.
pub(crate) fn dedupe_findings(findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match seen.get(&f.fingerprint).and_then(|&i| out.get_mut(i)) {
            Some(kept) => {
                kept.severity = kept.severity.max(f.severity);
                for cve in f.cve {
                    if !kept.cve.contains(&cve) {
                        kept.cve.push(cve);
                    }
                }
            }
            None => {
                seen.insert(f.fingerprint.clone(), out.len());
                out.push(f);
            }
        }
    }
    out
}

/// A TLS endpoint as the TLS scanners report it: no product, name "ssl".
pub(crate) fn tls_endpoint(host: &str, port: u16) -> Service {
    Service {
        host: host.to_string(),
        port,
        proto: "tcp".into(),
        name: "ssl".into(),
        product: None,
        version: None,
        tls: true,
    }
}

/// The services a parser found, each (host, port, protocol) once. A repeat does not add a
/// service: the kept one borrows product/version it lacked (a redirect hop may lack the
/// Server header). Indexed by that key, so adding is O(1): a linear search here made an
/// 11 MB nmap report (131k open ports) take 135 s of CPU.
#[derive(Debug, Default)]
pub(crate) struct ServiceSet {
    services: Vec<Service>,
    index: HashMap<(String, u16, String), usize>,
}

impl ServiceSet {
    pub fn push(&mut self, svc: Service) {
        let key = (svc.host.clone(), svc.port, svc.proto.clone());
        match self.index.get(&key).and_then(|&i| self.services.get_mut(i)) {
            Some(kept) => {
                if kept.product.is_none() {
                    kept.product = svc.product;
                }
                if kept.version.is_none() {
                    kept.version = svc.version;
                }
                kept.tls |= svc.tls;
            }
            None => {
                self.index.insert(key, self.services.len());
                self.services.push(svc);
            }
        }
    }

    /// The services in the order they were first seen.
    pub fn into_vec(self) -> Vec<Service> {
        self.services
    }
}

/// Output that is empty or only whitespace is `Malformed`: the tool wrote no report at
/// all (refused to start, or died first), which is not an empty result.
pub(crate) fn reject_empty(tool: &'static str, output: &[u8]) -> Result<(), ParseError> {
    if output.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Malformed {
            tool,
            reason: "empty output".into(),
        });
    }
    Ok(())
}

/// serde_json errors at end of input mean the output was cut short.
pub(crate) fn json_error(tool: &'static str, err: &serde_json::Error) -> ParseError {
    if err.is_eof() {
        ParseError::Truncated {
            tool,
            reason: err.to_string(),
        }
    } else {
        ParseError::Malformed {
            tool,
            reason: err.to_string(),
        }
    }
}

/// Normalizes a CVE id ("cve-2021-41773", "CVE:CVE-2011-3192") to "CVE-2021-41773";
/// None when it is not one.
pub(crate) fn normalize_cve(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("CVE:").unwrap_or(raw);
    let upper = raw.to_ascii_uppercase();
    let rest = upper.strip_prefix("CVE-")?;
    let (year, num) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (year.len() == 4 && digits(year) && num.len() >= 4 && digits(num)).then_some(upper)
}

/// Removes ANSI escape sequences and carriage returns: tools colour their stdout even
/// without a TTY (gobuster's "\r\x1b[2K", whatweb's brief line, testssl.sh's banner).
/// The daemon's one ANSI stripper (run/ uses it for stderr and `--version` lines).
///
/// Not the `strip-ansi-escapes` crate: it drops every control character but '\n', tabs
/// included, so a user's pattern matching tab-separated output would stop matching.
pub(crate) fn strip_ansi(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains(['\x1b', '\r']) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\x1b' => {
                if chars.next_if_eq(&'[').is_some() {
                    // CSI: parameters and intermediates up to a final byte in @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The CVE ids among `words`, normalized, each once in first-seen order: tools repeat an
/// id in upper and lower case, or in two fields.
pub(crate) fn unique_cves<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in words.into_iter().filter_map(normalize_cve) {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Every CVE id written anywhere in free text (script output, a description, a list
/// separated by spaces, commas or semicolons, an exploit name that embeds one), normalized,
/// each once in first-seen order.
pub(crate) fn cves_in_text(text: &str) -> Vec<String> {
    let mut ids = CveList::default();
    ids.scan(text);
    ids.into_vec()
}

/// CVE ids, each once in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct CveList {
    ids: Vec<String>,
    seen: HashSet<String>,
}

impl CveList {
    /// Adds every CVE id written in `text`, also inside a longer word: vulners names
    /// exploits "MSF:ILITIES/UBUNTU-CVE-2020-11984/" and "PRION:CVE-2020-11984", where
    /// a split on word boundaries (`normalize::cves_in_text`) finds nothing.
    pub fn scan(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(at) = find_cve_prefix(bytes, from) {
            from = at + 4;
            let end = cve_end(bytes, from);
            if let Some(id) = text.get(at..end).and_then(normalize_cve) {
                self.push(id);
            }
        }
    }

    pub fn push(&mut self, id: String) {
        if self.seen.insert(id.clone()) {
            self.ids.push(id);
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.ids.iter()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.ids
    }
}

/// Index of the next "cve-" (any case) at or after `from`.
fn find_cve_prefix(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"cve-"))
        .map(|i| i + from)
}

/// End of "YYYY-NNNN..." starting at `from`: digits, one dash, digits.
fn cve_end(bytes: &[u8], from: usize) -> usize {
    let digits_from = |i: usize| {
        bytes.get(i..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        }) + i
    };
    let year_end = digits_from(from);
    if bytes.get(year_end) != Some(&b'-') {
        return year_end;
    }
    digits_from(year_end + 1)
}

/// Strips brackets from an IPv6 literal as URLs write it.
pub(crate) fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("  ab ", 3), "ab");
        assert_eq!(clip("ééééé", 2), "éé…");
        assert_eq!(
            normalize_cve("cve-2021-41773").as_deref(),
            Some("CVE-2021-41773")
        );
        assert_eq!(
            normalize_cve("CVE:CVE-2011-3192").as_deref(),
            Some("CVE-2011-3192")
        );
        assert_eq!(normalize_cve("BID:49303"), None);
        assert_eq!(normalize_cve("CVE-20x1-1"), None);
        assert_eq!(
            unique_cves(["cve-2014-0160", "x", "CVE-2014-0160", "CVE-2014-0224"]),
            vec!["CVE-2014-0160".to_string(), "CVE-2014-0224".to_string()]
        );
        assert_eq!(
            cves_in_text("CVE-2016-2183 CVE-2016-6329,cve-2016-2183;(CVE:CVE-2011-3192)"),
            vec!["CVE-2016-2183", "CVE-2016-6329", "CVE-2011-3192"]
        );
        assert!(cves_in_text("no ids; CVE-x").is_empty());
        assert_eq!(severity_word("CRITICAL"), Some(Severity::Critical));
        assert_eq!(severity_word("bogus"), None);
        assert_eq!(unbracket("[::1]"), "::1");
        let tls = tls_endpoint("127.0.0.1", 18443);
        assert_eq!(
            (
                tls.proto.as_str(),
                tls.name.as_str(),
                &tls.product,
                &tls.version,
                tls.tls
            ),
            ("tcp", "ssl", &None, &None, true),
            "the TLS scanners' endpoint: tcp, named ssl, no product"
        );
        assert_eq!(
            strip_ansi("\r\x1b[2K/admin \x1b[1m\x1b[34mx\x1b[0m"),
            "/admin x"
        );
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("\x1b[12"), "");
        assert_eq!(strip_ansi("\x1b[1ma\tb\x1b[0m"), "a\tb", "tabs are data");
    }

    #[test]
    fn a_service_set_keeps_each_endpoint_once_in_first_seen_order() {
        let mut set = ServiceSet::default();
        let mut plain = tls_endpoint("h", 443);
        plain.tls = false;
        plain.name = "https".into();
        set.push(plain);
        set.push(tls_endpoint("h", 8443));
        let mut again = tls_endpoint("h", 443);
        again.product = Some("nginx".into());
        set.push(again);
        let mut udp = tls_endpoint("h", 443);
        udp.proto = "udp".into();
        set.push(udp);
        let got = set.into_vec();
        let keys: Vec<(u16, &str)> = got.iter().map(|s| (s.port, s.proto.as_str())).collect();
        assert_eq!(keys, [(443, "tcp"), (8443, "tcp"), (443, "udp")]);
        // The repeat lent what the first lacked, and did not replace what it had.
        assert_eq!(got[0].product.as_deref(), Some("nginx"));
        assert_eq!((got[0].name.as_str(), got[0].tls), ("https", true));
    }
}
