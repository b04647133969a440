//! Example generic mappings, shared by the generic parser's unit tests, the `parse_generic`
//! fuzz harness (fuzz/src/lib.rs) and the parser bench (benches/parsers.rs), so that all
//! three exercise the same mappings. Only builds values: nothing here is read by the
//! daemon's config loading or any run.

use picket_protocol::Severity;

use super::{GenericMapping, JsonPointers};

/// The README's gobuster mapping, extended to the whole line gobuster writes: the status
/// becomes the detail and a redirect target (`[--> /admin/]`) the evidence.
pub const GOBUSTER_PATTERN: &str =
    r"^(?P<title>\S+)\s+\(Status: (?P<detail>\d+)\) \[Size: \d+\](?: \[--> (?P<evidence>.*)\])?$";

/// gobuster `dir` output: one low-severity finding per path found.
///
/// # Panics
/// Never: the pattern is a constant that compiles.
#[must_use]
pub fn gobuster() -> GenericMapping {
    GenericMapping::Regex {
        pattern: GOBUSTER_PATTERN.parse().expect("gobuster pattern"),
        title: None,
        severity: Some(Severity::Low),
    }
}

/// A regex naming every group, with a constant title for lines whose title group is empty.
///
/// # Panics
/// Never: the pattern is a constant that compiles.
#[must_use]
pub fn all_groups() -> GenericMapping {
    GenericMapping::Regex {
        pattern: r"^\[(?P<severity>\w+)\]\s+(?P<host>\S+?)(?::(?P<port>\d+))?\s+(?P<title>[^|]+?)\s*(?:\|\s*(?P<cve>[^|]*?)\s*)?(?:\|\s*(?P<evidence>[^|]*?)\s*)?(?:\|\s*(?P<detail>.*))?$".parse().expect("all-groups pattern"),
        title: Some("generic finding".into()),
        severity: None,
    }
}

/// Pointers into nuclei's JSON lines, as a user would map nuclei without the built-in parser.
#[must_use]
pub fn nuclei_pointers() -> JsonPointers {
    JsonPointers {
        title: Some("/info/name".into()),
        host: Some("/host".into()),
        port: Some("/port".into()),
        severity: Some("/info/severity".into()),
        detail: Some("/matched-at".into()),
        cve: Some("/info/classification/cve-id".into()),
        evidence: Some("/template-id".into()),
        ..JsonPointers::default()
    }
}

/// The `json_lines` mapping of [`nuclei_pointers`].
#[must_use]
pub fn nuclei_like() -> GenericMapping {
    GenericMapping::JsonLines(nuclei_pointers())
}

/// A `json_lines` mapping that relies on its default title and severity, with pointers to
/// the root and through escaped keys (`~1`, `~0`) and an array index.
#[must_use]
pub fn json_defaults() -> GenericMapping {
    GenericMapping::JsonLines(JsonPointers {
        title: Some("/title".into()),
        host: Some("/url".into()),
        detail: Some("/".into()),
        cve: Some("/cve".into()),
        evidence: Some("/a~1b/~0c/0".into()),
        default_title: Some("json finding".into()),
        default_severity: Some(Severity::Medium),
        ..JsonPointers::default()
    })
}

/// Every example above, in the order they are declared.
#[must_use]
pub fn all() -> Vec<GenericMapping> {
    vec![gobuster(), all_groups(), nuclei_like(), json_defaults()]
}
