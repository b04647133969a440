//! Helpers shared by the tool parsers: a small bounded XML tree built from quick-xml
//! events, severity words, text clipping and de-duplication.
//!
//! Same rules as the parsers: pure functions of their input, no I/O, never panic on
//! hostile input (depth is bounded so that building or dropping a tree cannot blow the stack).

use std::collections::HashMap;

use picket_protocol::{Finding, Service, Severity};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::ParseError;

/// Nesting deeper than this is not something nmap or sslscan write (nmap NSE tables go
/// about 6 deep); refusing it keeps recursion on the tree bounded.
const MAX_XML_DEPTH: usize = 128;

/// One XML element with its attributes, child elements and concatenated text.
#[derive(Debug, Default)]
pub(crate) struct XmlNode {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<XmlNode>,
    pub text: String,
}

impl XmlNode {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Attribute value, trimmed, or None when absent or blank.
    pub fn attr_nonempty(&self, name: &str) -> Option<&str> {
        self.attr(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlNode> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn text_trim(&self) -> &str {
        self.text.trim()
    }
}

/// Parses a whole XML document and returns its root element, which must be named `root`.
///
/// Error classes, chosen so the run record says something useful:
/// * input that ends inside markup, or before the root element is closed -> `Truncated`
///   (a killed or timed-out tool leaves exactly that);
/// * anything else that is not well-formed, or a different root -> `Malformed`.
///
/// Everything after the root's end tag is ignored.
pub(crate) fn parse_xml(
    tool: &'static str,
    input: &[u8],
    root: &str,
) -> Result<XmlNode, ParseError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Malformed {
            tool,
            reason: "empty output".into(),
        });
    }
    let malformed = |reason: String| ParseError::Malformed { tool, reason };
    let truncated = |reason: String| ParseError::Truncated { tool, reason };

    let mut reader = Reader::from_reader(input);
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut saw_prolog = false;
    loop {
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(quick_xml::Error::Syntax(e)) => {
                return Err(truncated(format!(
                    "{e} at byte {}",
                    reader.error_position()
                )));
            }
            Err(e) => {
                return Err(malformed(format!(
                    "{e} at byte {}",
                    reader.error_position()
                )))
            }
        };
        match event {
            Event::Decl(_) | Event::DocType(_) | Event::PI(_) => saw_prolog = true,
            Event::Comment(_) => {}
            Event::Start(e) => {
                if stack.is_empty() {
                    check_root(tool, &e, root)?;
                }
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(malformed(format!(
                        "elements nested deeper than {MAX_XML_DEPTH}"
                    )));
                }
                stack.push(element(tool, &reader, &e)?);
            }
            Event::Empty(e) => {
                let node = element(tool, &reader, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => {
                        check_root(tool, &e, root)?;
                        return Ok(node);
                    }
                }
            }
            Event::End(_) => {
                // quick-xml already checked that the name matches the open element.
                let Some(node) = stack.pop() else {
                    return Err(malformed("end tag without a start tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text
                        .push_str(&t.decode().map_err(|e| malformed(e.to_string()))?);
                } else if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(malformed(format!("text outside the <{root}> element")));
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text
                        .push_str(&t.decode().map_err(|e| malformed(e.to_string()))?);
                }
            }
            Event::GeneralRef(r) => {
                let Some(node) = stack.last_mut() else {
                    return Err(malformed(format!("text outside the <{root}> element")));
                };
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => node.text.push(c),
                        _ => return Err(malformed("invalid character reference".into())),
                    }
                } else {
                    let name = r.decode().map_err(|e| malformed(e.to_string()))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => node.text.push_str(s),
                        None => return Err(malformed(format!("unknown entity &{name};"))),
                    }
                }
            }
            Event::Eof => {
                return Err(if !stack.is_empty() {
                    truncated(format!("input ends before </{root}>"))
                } else if saw_prolog {
                    truncated(format!("input ends before the <{root}> element"))
                } else {
                    malformed("no XML element found".into())
                });
            }
        }
    }
}

fn check_root(tool: &'static str, e: &BytesStart<'_>, root: &str) -> Result<(), ParseError> {
    if e.name().as_ref() == root.as_bytes() {
        Ok(())
    } else {
        Err(ParseError::Malformed {
            tool,
            reason: format!(
                "expected <{root}>, found <{}>",
                String::from_utf8_lossy(e.name().as_ref())
            ),
        })
    }
}

fn element(
    tool: &'static str,
    reader: &Reader<&[u8]>,
    e: &BytesStart<'_>,
) -> Result<XmlNode, ParseError> {
    let malformed = |reason: String| ParseError::Malformed { tool, reason };
    let name = std::str::from_utf8(e.name().as_ref())
        .map_err(|_| malformed("element name is not UTF-8".into()))?
        .to_string();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| malformed(format!("bad attribute in <{name}>: {err}")))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|err| malformed(format!("bad attribute {key} in <{name}>: {err}")))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(XmlNode {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

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

/// Cuts text to at most `max` characters on a char boundary, marking the cut, so one
/// verbose script output cannot bloat every report.
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

/// Adds a service unless one with the same host, port and protocol is there already; the
/// kept one borrows product/version it lacked (a redirect hop may lack the Server header).
pub(crate) fn push_service(services: &mut Vec<Service>, svc: Service) {
    match services
        .iter_mut()
        .find(|s| s.host == svc.host && s.port == svc.port && s.proto == svc.proto)
    {
        Some(kept) => {
            if kept.product.is_none() {
                kept.product = svc.product;
            }
            if kept.version.is_none() {
                kept.version = svc.version;
            }
            kept.tls |= svc.tls;
        }
        None => services.push(svc),
    }
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
/// without a TTY (gobuster's "\r\x1b[2K", whatweb's brief line).
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

/// Strips brackets from an IPv6 literal as URLs write it.
pub(crate) fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Shared checks for the parser tests: truncation, garbling, fingerprint stability.
    use super::super::{ParseError, ParsedOutput};
    use std::collections::HashSet;

    pub fn data(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// About 50 evenly spaced cut points over the input, plus the very short ones.
    pub fn cut_points(len: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = (0..50).map(|i| len * i / 50).collect();
        cuts.extend([1, 2, 3, 10].into_iter().filter(|&c| c < len));
        if len > 0 {
            cuts.push(len - 1);
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }

    /// Parses every prefix; `must_fail(prefix)` says which prefixes have to give an error.
    pub fn check_prefixes(
        parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>,
        input: &[u8],
        must_fail: impl Fn(&[u8]) -> bool,
    ) {
        for cut in cut_points(input.len()) {
            let prefix = &input[..cut];
            let res = parse(prefix);
            if must_fail(prefix) {
                assert!(
                    res.is_err(),
                    "prefix of {cut}/{} bytes parsed: {res:?}",
                    input.len()
                );
            }
        }
    }

    /// Byte flips, deletions and random noise: the parser may succeed or fail, never panic.
    pub fn check_garbled(parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>, input: &[u8]) {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let len = input.len().max(1) as u64;
        for _ in 0..24 {
            let mut v = input.to_vec();
            for _ in 0..(1 + next() % 4) {
                let i = (next() % len) as usize;
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << (next() % 8);
                }
            }
            let _ = parse(&v);
            let mut w = input.to_vec();
            let i = (next() % len) as usize;
            if i < w.len() {
                let n = ((next() % 16) as usize).min(w.len() - i);
                w.drain(i..i + n);
            }
            let _ = parse(&w);
        }
        let noise: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        let _ = parse(&noise);
        let _ = parse(b"");
        let _ = parse(b"\n");
        let _ = parse(&[0xff, 0xfe, 0x00, 0x3c]);
    }

    /// Same input twice gives the same fingerprints, and no fingerprint repeats in one parse.
    pub fn check_fingerprints(
        parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>,
        input: &[u8],
    ) {
        let a = parse(input).expect("parse");
        let b = parse(input).expect("parse again");
        let fa: Vec<&str> = a.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        let fb: Vec<&str> = b.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fa, fb);
        let unique: HashSet<&str> = fa.iter().copied().collect();
        assert_eq!(
            unique.len(),
            fa.len(),
            "duplicate fingerprints in one parse"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_tree_and_errors() {
        let doc =
            br#"<?xml version="1.0"?><r a="x&amp;y&#xa;"><c>t&lt;1<![CDATA[<z>]]></c><c/></r>"#;
        let root = parse_xml("t", doc, "r").unwrap();
        assert_eq!(root.attr("a"), Some("x&y\n"));
        assert_eq!(root.children_named("c").count(), 2);
        assert_eq!(root.child("c").unwrap().text, "t<1<z>");
        assert!(matches!(
            parse_xml("t", b"<?xml version=\"1.0\"?><r><c>", "r"),
            Err(ParseError::Truncated { .. })
        ));
        assert!(matches!(
            parse_xml("t", b"<?xml version=\"1.0\"?>\n", "r"),
            Err(ParseError::Truncated { .. })
        ));
        assert!(matches!(
            parse_xml("t", b"<r><c", "r"),
            Err(ParseError::Truncated { .. })
        ));
        assert!(matches!(
            parse_xml("t", b"QUITTING!", "r"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            parse_xml("t", b"<x/>", "r"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            parse_xml("t", b"<r></x>", "r"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            parse_xml("t", b"", "r"),
            Err(ParseError::Malformed { .. })
        ));
        let deep = "<r>".repeat(100_000);
        assert!(matches!(
            parse_xml("t", deep.as_bytes(), "r"),
            Err(ParseError::Malformed { .. })
        ));
    }

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
        assert_eq!(severity_word("CRITICAL"), Some(Severity::Critical));
        assert_eq!(severity_word("bogus"), None);
        assert_eq!(unbracket("[::1]"), "::1");
        assert_eq!(
            strip_ansi("\r\x1b[2K/admin \x1b[1m\x1b[34mx\x1b[0m"),
            "/admin x"
        );
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("\x1b[12"), "");
    }
}
