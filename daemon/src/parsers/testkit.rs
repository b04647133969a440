//! Parser test kit: truncation, garbling, fingerprint stability checks, error-class checks,
//! fixture loading and finding lookup, shared by every parser's tests. Test-only: nothing
//! here may be used by the parsers themselves.
use super::{ParseError, ParsedOutput};
use std::collections::HashSet;

/// (title, severity) of every finding, sorted: what a fixture test compares.
pub fn titles(out: &ParsedOutput) -> Vec<(&str, picket_protocol::Severity)> {
    let mut t: Vec<_> = out
        .findings
        .iter()
        .map(|f| (f.title.as_str(), f.severity))
        .collect();
    t.sort();
    t
}

/// (evidence, severity) of every finding, sorted: for tools whose evidence is their own
/// check id (testssl), which the tests name rather than the worded title.
pub fn evidences(out: &ParsedOutput) -> Vec<(&str, picket_protocol::Severity)> {
    let mut t: Vec<_> = out
        .findings
        .iter()
        .map(|f| (f.evidence.as_str(), f.severity))
        .collect();
    t.sort();
    t
}

/// The finding whose evidence is `evidence` (a testssl id).
pub fn with_evidence<'a>(out: &'a ParsedOutput, evidence: &str) -> &'a picket_protocol::Finding {
    out.findings
        .iter()
        .find(|f| f.evidence == evidence)
        .unwrap_or_else(|| panic!("no finding with evidence {evidence:?}: {:#?}", out.findings))
}

/// The finding titled `title`; a missing one fails the test with every finding shown.
pub fn titled<'a>(out: &'a ParsedOutput, title: &str) -> &'a picket_protocol::Finding {
    out.findings
        .iter()
        .find(|f| f.title == title)
        .unwrap_or_else(|| panic!("no finding titled {title:?}: {:#?}", out.findings))
}

/// Each input is refused as `Malformed`.
pub fn check_malformed(
    parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>,
    inputs: &[&[u8]],
) {
    check_refused(parse, inputs, |e| matches!(e, ParseError::Malformed { .. }));
}

/// Each input is refused as `Truncated`.
pub fn check_truncated(
    parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>,
    inputs: &[&[u8]],
) {
    check_refused(parse, inputs, |e| matches!(e, ParseError::Truncated { .. }));
}

fn check_refused(
    parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>,
    inputs: &[&[u8]],
    expected: fn(&ParseError) -> bool,
) {
    for input in inputs {
        let res = parse(input);
        assert!(
            res.as_ref().err().is_some_and(expected),
            "{} bytes, starting {:?}: {res:?}",
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(60)])
        );
    }
}

/// Every prefix that `must_fail` names fails, and garbled copies never panic.
pub fn check_hostile(
    parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError> + Copy,
    input: &[u8],
    must_fail: impl Fn(&[u8]) -> bool,
) {
    check_prefixes(parse, input, must_fail);
    check_garbled(parse, input);
}

/// For XML: a prefix without the closing root tag must fail.
pub fn lacks(end_tag: &'static [u8]) -> impl Fn(&[u8]) -> bool {
    move |prefix| !prefix.windows(end_tag.len()).any(|w| w == end_tag)
}

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
pub fn check_fingerprints(parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>, input: &[u8]) {
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

/// Every file of `../shared/real-reports/<tool>/` (reports other projects keep as test
/// data: read in place, never copied into the repository), sorted by name; None, with a
/// note printed, when that folder is absent.
pub fn real_reports(tool: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/real-reports")
        .join(tool);
    let Ok(read) = std::fs::read_dir(&dir) else {
        println!("skipped: no real-world {tool} reports at {}", dir.display());
        return None;
    };
    let mut files: Vec<(String, Vec<u8>)> = read
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).unwrap_or_else(|err| panic!("{name}: {err}"));
            (name, bytes)
        })
        .collect();
    files.sort();
    Some(files)
}

/// Parses every real-world report of `tool`: only the files `refused` lists (name, why)
/// may fail; every CVE id `cves_written` finds in a file must be on some finding, but for
/// the (file, CVE, why) in `cve_exceptions`. Prints a summary line per file.
pub fn check_real_reports(
    tool: &str,
    parse: impl Fn(&[u8]) -> Result<ParsedOutput, ParseError>,
    refused: &[(&str, &str)],
    cves_written: impl Fn(&[u8]) -> Vec<String>,
    cve_exceptions: &[(&str, &str, &str)],
) {
    let Some(files) = real_reports(tool) else {
        return;
    };
    println!("{tool}: file | services | findings | CVEs | warnings | partial");
    for (name, bytes) in &files {
        let out = match (parse(bytes), refused.iter().find(|(n, _)| n == name)) {
            (Err(e), Some((_, why))) => {
                println!("{name} | refused as expected ({why}): {e}");
                continue;
            }
            (Ok(_), Some((_, why))) => panic!("{name} was expected to be refused ({why})"),
            (Err(e), None) => panic!("{name} refused: {e}"),
            (Ok(out), None) => out,
        };
        let kept: HashSet<&str> = out
            .findings
            .iter()
            .flat_map(|f| f.cve.iter().map(String::as_str))
            .collect();
        for cve in cves_written(bytes) {
            let excused = cve_exceptions
                .iter()
                .any(|(n, c, _)| n == name && *c == cve);
            assert!(
                excused || kept.contains(cve.as_str()),
                "{name}: {cve} is written in the file but on no finding"
            );
        }
        println!(
            "{name} | {} | {} | {} | {} | {}",
            out.services.len(),
            out.findings.len(),
            kept.len(),
            out.warnings.len(),
            out.partial.is_some()
        );
    }
}
