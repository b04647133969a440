//! Generic parser for user-defined tools: a mapping from the config turns each output line
//! into a finding. Pure function of the bytes: no I/O, no panics.
//!
//! Two modes, chosen by `kind`:
//!
//! ```toml
//! [tools.gobuster.parser]
//! kind = "regex"
//! pattern = '^(?P<title>\S+)\s+\(Status: (?P<detail>\d+)\)'
//! severity = "low"          # used when the pattern has no `severity` group
//! # title = "..."           # used when the pattern has no `title` group
//!
//! [tools.mytool.parser]
//! kind = "json_lines"
//! title = "/info/name"      # JSON pointers (RFC 6901) into each line's object
//! severity = "/info/severity"
//! host = "/host"
//! port = "/port"
//! detail = "/matched-at"
//! cve = "/info/classification/cve-id"
//! evidence = "/template-id"
//! default_severity = "medium"   # constants used when a pointer finds nothing
//! default_title = "mytool finding"
//! ```
//!
//! Rules:
//! * The pattern compiles when the config is read (`Pattern`): a bad one, or one naming
//!   an unknown group, is refused there with the file, line and table, never at a run.
//! * Output is read as UTF-8 (invalid bytes replaced), line by line; ANSI escape sequences
//!   and carriage returns are stripped first. A line that does not match the regex, is not
//!   a JSON object, or yields no title is ignored, so empty output is an empty result.
//! * regex groups: `host`, `port`, `title`, `severity`, `detail`, `cve`, `evidence`; all
//!   optional except that a title must come from the group or the `title` constant. In
//!   json_lines mode each of those fields is a pointer that must start with '/'.
//! * host: from the group/pointer (a URL there gives its host, and its port when no port
//!   is mapped), else the scan target. port: a number 1-65535, else none.
//! * severity words (case-insensitive): info/informational/none, low, medium/moderate,
//!   high, critical. Any other word maps to **info**. No group/pointer value -> the
//!   configured default severity, else info.
//! * cve: an array or a space/comma separated string; only valid CVE ids are kept,
//!   upper-cased. detail: the group/pointer value, else (regex mode) the whole line.
//! * The fingerprint uses tool, host, port, title and evidence (empty when not mapped), so
//!   lines with the same title on the same endpoint are one finding unless evidence is
//!   mapped; repeats within one run are merged.

use picket_protocol::{Finding, Severity};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::normalize::{clip, dedupe_findings, severity_word, strip_ansi, unbracket, unique_cves};
use super::{new_finding, ParseError, ParsedOutput};

pub mod examples;

const MAX_DETAIL: usize = 1000;
const GROUPS: &[&str] = &[
    "host", "port", "title", "severity", "detail", "cve", "evidence",
];

/// How a user-defined tool's output maps onto findings (`[tools.NAME.parser]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GenericMapping {
    /// One JSON object per line; each field is a JSON pointer into it.
    JsonLines(JsonPointers),
    /// A regex with named groups, applied to each line.
    Regex {
        pattern: Pattern,
        /// Title when the pattern has no `title` group (or it did not participate).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Severity when the pattern has no `severity` group (or it did not participate).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
    },
}

/// Where a `json_lines` mapping finds each field: JSON pointers (RFC 6901), and the
/// constants used when a pointer finds nothing.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPointers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cve: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_severity: Option<Severity>,
}

/// Why a generic mapping can't be used; the config names the tool and file around it.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("invalid pattern: {0}\nfix: `pattern` is Rust regex syntax (https://docs.rs/regex/#syntax); in TOML put it in single quotes so backslashes stay as written")]
    BadPattern(#[from] regex::Error),
    #[error("unknown group (?P<{group}>) in pattern; known groups: {}", GROUPS.join(", "))]
    UnknownGroup { group: String },
    #[error("pattern has no (?P<title>...) group and no `title` is set")]
    NoTitleGroup,
    #[error(
        "{field} = {pointer:?} is not a JSON pointer (it must start with '/', e.g. \"/info/name\")"
    )]
    NotAPointer {
        field: &'static str,
        pointer: String,
    },
    #[error("json_lines mapping needs `title` (a pointer) or `default_title`")]
    NoTitlePointer,
}

/// A `pattern` compiled once, when the config is read: a bad one is a config error (with
/// the file and line) rather than a failed run, and no run pays for compiling. Kept behind
/// `Arc` because a cloned `Regex` starts with a cold search cache, which the fuzzer's
/// profile showed rebuilt on every call; a tool spec is cloned to parse a big output off
/// the actors.
#[derive(Clone)]
pub struct Pattern(std::sync::Arc<Regex>);

impl Pattern {
    /// Compiles `text` and checks that it names only the groups the parser reads.
    pub fn new(text: &str) -> Result<Self, MappingError> {
        let re = Regex::new(text)?;
        if let Some(bad) = re.capture_names().flatten().find(|n| !GROUPS.contains(n)) {
            return Err(MappingError::UnknownGroup {
                group: bad.to_string(),
            });
        }
        Ok(Self(std::sync::Arc::new(re)))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    fn has_group(&self, name: &str) -> bool {
        self.0.capture_names().flatten().any(|n| n == name)
    }
}

impl std::str::FromStr for Pattern {
    type Err = MappingError;
    fn from_str(text: &str) -> Result<Self, MappingError> {
        Self::new(text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl GenericMapping {
    /// Checks what the types cannot: pointers start with '/', and a title can come from
    /// somewhere. (A `Pattern` has compiled and names known groups by construction.)
    pub fn validate(&self) -> Result<(), MappingError> {
        match self {
            GenericMapping::Regex { pattern, title, .. } => {
                if !pattern.has_group("title") && title.is_none() {
                    return Err(MappingError::NoTitleGroup);
                }
                Ok(())
            }
            GenericMapping::JsonLines(m) => {
                let fields = [
                    ("title", &m.title),
                    ("host", &m.host),
                    ("port", &m.port),
                    ("severity", &m.severity),
                    ("detail", &m.detail),
                    ("cve", &m.cve),
                    ("evidence", &m.evidence),
                ];
                for (name, pointer) in fields {
                    if let Some(p) = pointer.as_deref().filter(|p| !p.starts_with('/')) {
                        return Err(MappingError::NotAPointer {
                            field: name,
                            pointer: p.to_string(),
                        });
                    }
                }
                if m.title.is_none() && m.default_title.is_none() {
                    return Err(MappingError::NoTitlePointer);
                }
                Ok(())
            }
        }
    }
}

/// Values pulled out of one line, before defaults.
#[derive(Default)]
struct Fields {
    host: Option<String>,
    port: Option<String>,
    title: Option<String>,
    severity: Option<String>,
    detail: Option<String>,
    cve: Vec<String>,
    evidence: Option<String>,
}

pub fn parse(
    mapping: &GenericMapping,
    tool: &str,
    default_host: &str,
    output: &[u8],
) -> Result<ParsedOutput, ParseError> {
    let text = String::from_utf8_lossy(output);
    let lines = text.lines().map(strip_ansi);
    let findings: Vec<Finding> = match mapping {
        GenericMapping::Regex {
            pattern,
            title,
            severity,
        } => lines
            .filter_map(|line| regex_fields(pattern, title.as_deref(), &line))
            .filter_map(|fields| finding(tool, default_host, fields, *severity))
            .collect(),
        GenericMapping::JsonLines(m) => lines
            .filter_map(|line| json_fields(m, &line))
            .filter_map(|fields| finding(tool, default_host, fields, m.default_severity))
            .collect(),
    };
    Ok(ParsedOutput {
        services: Vec::new(),
        findings: dedupe_findings(findings),
        ..ParsedOutput::default()
    })
}

/// The groups of one matching line; the whole line is the detail when no group gives one.
fn regex_fields(pattern: &Pattern, title: Option<&str>, line: &str) -> Option<Fields> {
    let caps = pattern.0.captures(line)?;
    let group = |n: &str| {
        caps.name(n)
            .map(|m| m.as_str().trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Some(Fields {
        host: group("host"),
        port: group("port"),
        title: group("title").or_else(|| title.map(str::to_string)),
        severity: group("severity"),
        detail: group("detail").or_else(|| Some(line.trim().to_string())),
        cve: group("cve").map(|c| split_cves(&c)).unwrap_or_default(),
        evidence: group("evidence"),
    })
}

/// The pointed-at values of one line that is a JSON object; other lines give None.
fn json_fields(m: &JsonPointers, line: &str) -> Option<Fields> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    let obj = serde_json::from_str::<Value>(line).ok()?;
    let at = |p: &Option<String>| p.as_deref().and_then(|p| obj.pointer(p));
    let get = |p: &Option<String>| at(p).and_then(value_text);
    Some(Fields {
        host: get(&m.host),
        port: get(&m.port),
        title: get(&m.title).or_else(|| m.default_title.clone()),
        severity: get(&m.severity),
        detail: get(&m.detail),
        cve: at(&m.cve).map(value_cves).unwrap_or_default(),
        evidence: get(&m.evidence),
    })
}

fn finding(
    tool: &str,
    default_host: &str,
    f: Fields,
    default_severity: Option<Severity>,
) -> Option<Finding> {
    let title = f.title.filter(|t| !t.trim().is_empty())?;
    let (mut host, mut port) = (default_host.to_string(), None);
    if let Some(h) = f.host {
        match url::Url::parse(&h).ok().filter(|u| u.has_host()) {
            Some(u) => {
                host = unbracket(u.host_str().unwrap_or(default_host)).to_string();
                port = u.port_or_known_default();
            }
            None => host = h,
        }
    }
    if let Some(p) = f.port {
        port = p.trim().parse::<u16>().ok().filter(|&p| p != 0);
    }
    let severity = match f.severity {
        Some(word) => severity_word(&word).unwrap_or(Severity::Info),
        None => default_severity.unwrap_or(Severity::Info),
    };
    let detail = clip(f.detail.as_deref().unwrap_or_default(), MAX_DETAIL);
    Some(new_finding(
        tool,
        &host,
        port,
        severity,
        clip(&title, 200),
        detail,
        f.cve,
        f.evidence.unwrap_or_default(),
    ))
}

/// Scalar as text; arrays joined, so `/info/tags` or `/extracted-results` read naturally.
fn value_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(value_text)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null | Value::Object(_) => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn value_cves(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => split_cves(s),
        Value::Array(items) => unique_cves(
            items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(|s| s.split(cve_separator)),
        ),
        _ => Vec::new(),
    }
}

fn split_cves(s: &str) -> Vec<String> {
    unique_cves(s.split(cve_separator))
}

/// Between the ids of a CVE list written as one string.
fn cve_separator(c: char) -> bool {
    c.is_whitespace() || c == ',' || c == ';'
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{check_fingerprints, check_garbled, data, titled};
    use super::examples::{gobuster, nuclei_like, nuclei_pointers};
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        parser: GenericMapping,
    }

    #[test]
    fn reads_from_toml() {
        let regex: Wrapper = toml::from_str(
            "[parser]\nkind = \"regex\"\npattern = '^(?P<title>\\S+)'\nseverity = \"low\"\n",
        )
        .unwrap();
        assert_eq!(
            regex.parser,
            GenericMapping::Regex {
                pattern: r"^(?P<title>\S+)".parse().unwrap(),
                title: None,
                severity: Some(Severity::Low)
            }
        );
        regex.parser.validate().unwrap();

        let json: Wrapper = toml::from_str(
            "[parser]\nkind = \"json_lines\"\ntitle = \"/info/name\"\nseverity = \"/info/severity\"\nhost = \"/host\"\nport = \"/port\"\n\
             detail = \"/matched-at\"\ncve = \"/info/classification/cve-id\"\nevidence = \"/template-id\"\n",
        )
        .unwrap();
        assert_eq!(json.parser, nuclei_like());
        json.parser.validate().unwrap();

        let inline: Wrapper =
            toml::from_str("parser = { kind = \"regex\", pattern = '(?P<title>x)' }").unwrap();
        inline.parser.validate().unwrap();

        assert!(
            toml::from_str::<Wrapper>(
                "[parser]\nkind = \"regex\"\npattern = 'x'\nseverty = \"low\"\n"
            )
            .is_err(),
            "typo is rejected"
        );
        assert!(toml::from_str::<Wrapper>("[parser]\nkind = \"xml\"\n").is_err());
        assert!(toml::from_str::<Wrapper>(
            "[parser]\nkind = \"regex\"\npattern = 'x'\nseverity = \"severe\"\n"
        )
        .is_err());

        // Round trip through TOML keeps the mapping.
        let back: Wrapper = toml::from_str(
            &toml::to_string(&serde_json::json!({"parser": nuclei_like()})).unwrap(),
        )
        .unwrap();
        assert_eq!(back.parser, nuclei_like());
    }

    #[test]
    fn validation_errors() {
        let bad_re = "(?P<title>".parse::<Pattern>().unwrap_err().to_string();
        assert!(
            bad_re.contains("invalid pattern") && bad_re.contains("fix:"),
            "{bad_re}"
        );
        assert!("(?P<titel>.*)"
            .parse::<Pattern>()
            .unwrap_err()
            .to_string()
            .contains("titel"));
        // Read from a config, a bad pattern fails there, not at the first run.
        let err = toml::from_str::<Wrapper>("[parser]\nkind = \"regex\"\npattern = '('\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid pattern"), "{err}");
        let no_title = GenericMapping::Regex {
            pattern: "(?P<host>.*)".parse().unwrap(),
            title: None,
            severity: None,
        };
        assert!(no_title.validate().is_err());
        let const_title = GenericMapping::Regex {
            pattern: "(?P<host>.*)".parse().unwrap(),
            title: Some("seen".into()),
            severity: None,
        };
        const_title.validate().unwrap();

        let bare_host = GenericMapping::JsonLines(JsonPointers {
            host: Some("host".into()),
            ..nuclei_pointers()
        });
        assert!(bare_host
            .validate()
            .unwrap_err()
            .to_string()
            .contains("host"));
        let untitled = GenericMapping::JsonLines(JsonPointers {
            title: None,
            ..nuclei_pointers()
        });
        assert!(untitled.validate().is_err());
    }

    #[test]
    fn regex_on_gobuster_file_and_stdout() {
        let out = parse(
            &gobuster(),
            "gobuster",
            "127.0.0.1",
            &data("gobuster-http.txt"),
        )
        .unwrap();
        assert!(out.services.is_empty());
        assert_eq!(out.findings.len(), 5);
        let admin = titled(&out, "/admin");
        assert_eq!(
            (
                admin.tool.as_str(),
                admin.host.as_str(),
                admin.port,
                admin.severity
            ),
            ("gobuster", "127.0.0.1", None, Severity::Low)
        );
        assert_eq!(
            (admin.detail.as_str(), admin.evidence.as_str()),
            ("301", "/admin/")
        );
        let robots = titled(&out, "/robots.txt");
        assert_eq!(
            (robots.detail.as_str(), robots.evidence.as_str()),
            ("200", "")
        );

        // stdout has "\r\x1b[2K" before each line: same findings once stripped.
        let stdout = parse(
            &gobuster(),
            "gobuster",
            "127.0.0.1",
            &data("gobuster-http-stdout.txt"),
        )
        .unwrap();
        let mut a: Vec<_> = out.findings.iter().map(|f| f.fingerprint.clone()).collect();
        let mut b: Vec<_> = stdout
            .findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn regex_groups_for_everything() {
        let m = GenericMapping::Regex {
            pattern: r"^\[(?P<severity>\w+)\] (?P<host>[\w.:/\[\]]+?)(?::(?P<port>\d+))? (?P<title>[^|]+)\|(?P<cve>[^|]*)\|(?P<detail>.*)$".parse().unwrap(),
            title: None,
            severity: None,
        };
        m.validate().unwrap();
        let input =
            b"[HIGH] 10.0.0.5:8443 Old OpenSSL|CVE-2014-0160, cve-2014-0224|heartbeat answered\n\
                      [weird] 10.0.0.5 Odd thing||x\n\
                      [low] https://example.test/app Page|BID:1|y\n\
                      not a finding line\n\
                      [low] 10.0.0.6:99999 Bad port||z\n";
        let out = parse(&m, "custom", "fallback", input).unwrap();
        assert_eq!(out.findings.len(), 4);
        let f = &out.findings[0];
        assert_eq!(
            (f.host.as_str(), f.port, f.severity, f.title.as_str()),
            ("10.0.0.5", Some(8443), Severity::High, "Old OpenSSL")
        );
        assert_eq!(
            f.cve,
            vec!["CVE-2014-0160".to_string(), "CVE-2014-0224".to_string()]
        );
        assert_eq!(f.detail, "heartbeat answered");
        assert_eq!(
            out.findings[1].severity,
            Severity::Info,
            "unknown severity word maps to info"
        );
        let url = &out.findings[2];
        assert_eq!(
            (url.host.as_str(), url.port, url.cve.len()),
            ("example.test", Some(443), 0)
        );
        assert_eq!(out.findings[3].port, None, "out-of-range port is dropped");
    }

    #[test]
    fn json_lines_mapping() {
        let input = br#"{"template-id":"CVE-2021-41773","info":{"name":"Apache 2.4.49 - Path Traversal","severity":"critical","classification":{"cve-id":["cve-2021-41773"]}},"host":"10.0.0.7:8080","port":"8080","matched-at":"http://10.0.0.7:8080/cgi-bin/.%2e/.%2e/etc/passwd"}
garbage line
{"template-id":"x","info":{"name":"X-Powered-By header","severity":"unknown","classification":{"cve-id":null}},"host":"https://[::1]:8443","matched-at":"https://[::1]:8443/"}
{"template-id":"y","info":{"severity":"high"},"host":"10.0.0.7"}
{"broken json
"#;
        let out = parse(&nuclei_like(), "nuclei-custom", "target", input).unwrap();
        assert_eq!(out.findings.len(), 2, "the line without a title is skipped");
        let a = &out.findings[0];
        assert_eq!(
            (a.host.as_str(), a.port, a.severity),
            ("10.0.0.7:8080", Some(8080), Severity::Critical)
        );
        assert_eq!(a.cve, vec!["CVE-2021-41773".to_string()]);
        assert_eq!(a.evidence, "CVE-2021-41773");
        let b = &out.findings[1];
        assert_eq!(
            (b.host.as_str(), b.port, b.severity),
            ("::1", Some(8443), Severity::Info)
        );

        let with_defaults = GenericMapping::JsonLines(JsonPointers {
            port: Some("/p".into()),
            detail: Some("/d".into()),
            cve: Some("/c".into()),
            default_title: Some("Thing seen".into()),
            default_severity: Some(Severity::Medium),
            ..JsonPointers::default()
        });
        with_defaults.validate().unwrap();
        let out = parse(
            &with_defaults,
            "t",
            "host.example",
            br#"{"p": 22, "d": ["a", "b"], "c": "CVE-2020-1234 CVE-2020-1234"}"#,
        )
        .unwrap();
        let f = &out.findings[0];
        assert_eq!(
            (
                f.host.as_str(),
                f.port,
                f.severity,
                f.title.as_str(),
                f.detail.as_str()
            ),
            (
                "host.example",
                Some(22),
                Severity::Medium,
                "Thing seen",
                "a, b"
            )
        );
        assert_eq!(f.cve, vec!["CVE-2020-1234".to_string()]);
    }

    #[test]
    fn empty_and_hostile_input() {
        for m in [gobuster(), nuclei_like()] {
            assert_eq!(parse(&m, "t", "h", b"").unwrap(), ParsedOutput::default());
            let p = |b: &[u8]| parse(&m, "t", "h", b);
            for f in [
                "gobuster-http.txt",
                "gobuster-https.txt",
                "gobuster-http-stdout.txt",
                "testssl-https-flat.json",
            ] {
                check_garbled(p, &data(f));
                check_fingerprints(p, &data(f));
            }
        }
    }

    #[test]
    fn repeats_are_merged() {
        let m = GenericMapping::Regex {
            pattern: "(?P<title>dup) (?P<severity>\\w+)".parse().unwrap(),
            title: None,
            severity: None,
        };
        let out = parse(&m, "t", "h", b"dup low\ndup high\n").unwrap();
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].severity, Severity::High);
    }
}
