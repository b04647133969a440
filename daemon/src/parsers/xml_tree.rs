//! A small bounded XML tree built from quick-xml events, for the XML parsers (nmap, sslscan).
//!
//! Same rules as the parsers: pure functions of their input, no I/O, never panic on
//! hostile input (depth is bounded so that building or dropping a tree cannot blow the stack).
//!
//! Why not roxmltree (measured for issue 9, `cargo bench --bench parsers`, shared 2-core
//! machine): sslscan-https 142 -> 53 µs, but nmap-syn-http-https 14.5 -> 25.4 µs,
//! nmap-nse 134 -> 171 µs, nmap-vuln-synthetic 38 -> 55 µs, in a run where untouched
//! parsers also slowed 1.3-2x, so no clear speed win either way. And it would change answers:
//! nmap's `<!DOCTYPE nmaprun>` needs `allow_dtd`, which then expands declared entities (we
//! refuse them); it refuses text after the root element, undeclared namespace prefixes
//! and any non-UTF-8 byte (even in a comment); an unclosed deep nest becomes `Truncated`.
//! The adapter to keep today's answers was as long as this module.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::normalize::reject_empty;
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
/// Everything after the root's end tag is ignored. Input that is not UTF-8 is decoded as
/// `decode_input` says.
pub(crate) fn parse_xml(
    tool: &'static str,
    input: &[u8],
    root: &str,
) -> Result<XmlNode, ParseError> {
    let doc = parse_xml_streaming(tool, input, root, "", |_| {})?;
    match doc.cut {
        Some(cut) => Err(cut.error),
        None => Ok(doc.root),
    }
}

/// A document read by `parse_xml_streaming`.
#[derive(Debug)]
pub(crate) struct StreamedDoc {
    /// The root element without its streamed children. When the input was cut, the part
    /// of it that was complete: children closed before the cut, nothing of the open ones.
    pub root: XmlNode,
    /// Set when the input ends after the root element opened but before it closed.
    pub cut: Option<Cut>,
    /// What the reader had to repair to read the input at all (bytes that are not UTF-8).
    pub notes: Vec<String>,
}

/// Where a document was cut.
#[derive(Debug)]
pub(crate) struct Cut {
    /// What `parse_xml` returns for this input (always `Truncated`).
    pub error: ParseError,
    /// The elements open at the cut, the root first: the innermost is incomplete.
    pub open: Vec<String>,
}

/// `parse_xml`, except that each child of the root named `streamed` is handed to `visit`
/// as soon as it is closed, and not kept in the root: a report of many hosts is then held
/// one host at a time, not as one tree of the whole document (about 1 KB per nmap
/// `<port>`, 2.3 GiB of daemon memory for a 100 MB report). Input cut after the root
/// opened is not an error here: the complete part comes back with `cut` set, so that a
/// caller can keep what an interrupted tool finished. Other errors are `parse_xml`'s;
/// children visited before an error are not undone.
pub(crate) fn parse_xml_streaming(
    tool: &'static str,
    input: &[u8],
    root: &str,
    streamed: &str,
    mut visit: impl FnMut(XmlNode),
) -> Result<StreamedDoc, ParseError> {
    reject_empty(tool, input)?;
    let (text, note) = decode_input(input);
    let mut reader = Reader::from_str(&text);
    let mut tree = TreeBuilder {
        tool,
        root,
        stack: Vec::new(),
        saw_prolog: false,
        streamed,
        visit: &mut visit,
    };
    let notes: Vec<String> = note.into_iter().collect();
    loop {
        let step = match reader.read_event() {
            Ok(event) => tree.step(&reader, event),
            Err(e) => Err(tree.read_error(&reader, e)),
        };
        match step {
            Ok(Some(root)) => {
                return Ok(StreamedDoc {
                    root,
                    cut: None,
                    notes,
                })
            }
            Ok(None) => {}
            Err(error @ ParseError::Truncated { .. }) if !tree.stack.is_empty() => {
                let open = tree.stack.iter().map(|n| n.name.clone()).collect();
                tree.stack.truncate(1);
                return Ok(StreamedDoc {
                    root: tree.stack.pop().unwrap_or_default(),
                    cut: Some(Cut { error, open }),
                    notes,
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// The input as text. Tools write UTF-8, but not always: an old nmap declares
/// `encoding="iso-8859-1"` and writes Latin-1 host names, and any tool may copy a raw
/// banner byte into its report. Such input is decoded rather than refused (the markup is
/// ASCII either way): Latin-1 when the XML declaration says so, else with U+FFFD for each
/// bad sequence. The note says what was done, for the run's warnings.
pub(crate) fn decode_input(input: &[u8]) -> (std::borrow::Cow<'_, str>, Option<String>) {
    if let Ok(text) = std::str::from_utf8(input) {
        return (std::borrow::Cow::Borrowed(text), None);
    }
    let bad = input.iter().filter(|b| !b.is_ascii()).count();
    if declares_latin1(input) {
        let text: String = input.iter().map(|&b| char::from(b)).collect();
        let note = format!(
            "input is not UTF-8: decoded as the ISO-8859-1 it declares ({bad} non-ASCII bytes)"
        );
        return (std::borrow::Cow::Owned(text), Some(note));
    }
    let text = String::from_utf8_lossy(input).into_owned();
    let note = format!(
        "input is not UTF-8: byte sequences that are not were replaced by U+FFFD ({bad} non-ASCII bytes)"
    );
    (std::borrow::Cow::Owned(text), Some(note))
}

/// Whether the XML declaration (looked for in the first KiB: a licence comment may come
/// before it) names ISO-8859-1 or a superset that we read as it.
fn declares_latin1(input: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&input[..input.len().min(1024)]).to_ascii_lowercase();
    let Some(decl) = head
        .find("<?xml ")
        .and_then(|at| head.get(at..))
        .and_then(|d| d.split("?>").next())
    else {
        return false;
    };
    [
        "iso-8859-1",
        "iso8859-1",
        "latin1",
        "latin-1",
        "windows-1252",
        "us-ascii",
    ]
    .iter()
    .any(|enc| {
        decl.contains(&format!("encoding=\"{enc}\"")) || decl.contains(&format!("encoding='{enc}'"))
    })
}

/// The open elements while the events come in; the root is done when its end comes.
struct TreeBuilder<'r> {
    tool: &'static str,
    root: &'r str,
    stack: Vec<XmlNode>,
    saw_prolog: bool,
    /// Children of the root by this name go to `visit`, not into the tree.
    streamed: &'r str,
    visit: &'r mut dyn FnMut(XmlNode),
}

impl TreeBuilder<'_> {
    fn malformed(&self, reason: String) -> ParseError {
        ParseError::Malformed {
            tool: self.tool,
            reason,
        }
    }

    fn truncated(&self, reason: String) -> ParseError {
        ParseError::Truncated {
            tool: self.tool,
            reason,
        }
    }

    /// quick-xml's syntax errors are markup left open at the end of the input.
    fn read_error(&self, reader: &Reader<&[u8]>, e: quick_xml::Error) -> ParseError {
        let at = reader.error_position();
        match e {
            quick_xml::Error::Syntax(e) => self.truncated(format!("{e} at byte {at}")),
            e => self.malformed(format!("{e} at byte {at}")),
        }
    }

    /// Takes one event; the finished root element once it is closed.
    fn step(
        &mut self,
        reader: &Reader<&[u8]>,
        event: Event<'_>,
    ) -> Result<Option<XmlNode>, ParseError> {
        match event {
            Event::Decl(_) | Event::DocType(_) | Event::PI(_) => self.saw_prolog = true,
            Event::Comment(_) => {}
            Event::Start(e) => {
                if self.stack.is_empty() {
                    check_root(self.tool, &e, self.root)?;
                }
                if self.stack.len() >= MAX_XML_DEPTH {
                    return Err(
                        self.malformed(format!("elements nested deeper than {MAX_XML_DEPTH}"))
                    );
                }
                self.stack.push(element(self.tool, reader, &e)?);
            }
            Event::Empty(e) => {
                let node = element(self.tool, reader, &e)?;
                if self.stack.is_empty() {
                    check_root(self.tool, &e, self.root)?;
                }
                return Ok(self.close(node));
            }
            Event::End(_) => {
                // quick-xml already checked that the name matches the open element.
                let Some(node) = self.stack.pop() else {
                    return Err(self.malformed("end tag without a start tag".into()));
                };
                return Ok(self.close(node));
            }
            Event::Text(t) if self.stack.is_empty() => {
                if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(self.outside_root());
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| self.malformed(e.to_string()))?;
                self.push_text(&text);
            }
            Event::CData(_) if self.stack.is_empty() => {}
            Event::CData(t) => {
                let text = t.decode().map_err(|e| self.malformed(e.to_string()))?;
                self.push_text(&text);
            }
            Event::GeneralRef(r) => {
                if self.stack.is_empty() {
                    return Err(self.outside_root());
                }
                let text = self.reference(&r)?;
                self.push_text(&text);
            }
            Event::Eof => return Err(self.eof()),
        }
        Ok(None)
    }

    /// A finished element goes into its parent; with no parent it is the root, and done.
    fn close(&mut self, node: XmlNode) -> Option<XmlNode> {
        if self.stack.len() == 1 && node.name == self.streamed {
            (self.visit)(node);
            return None;
        }
        match self.stack.last_mut() {
            Some(parent) => {
                parent.children.push(node);
                None
            }
            None => Some(node),
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some(node) = self.stack.last_mut() {
            node.text.push_str(text);
        }
    }

    fn outside_root(&self) -> ParseError {
        self.malformed(format!("text outside the <{}> element", self.root))
    }

    /// A character reference or one of the five predefined entities; nmap and sslscan
    /// declare no others, and expanding declared ones is not worth the risk.
    fn reference(&self, r: &quick_xml::events::BytesRef<'_>) -> Result<String, ParseError> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(c.to_string()),
                _ => Err(self.malformed("invalid character reference".into())),
            };
        }
        let name = r.decode().map_err(|e| self.malformed(e.to_string()))?;
        match quick_xml::escape::resolve_predefined_entity(&name) {
            Some(s) => Ok(s.to_string()),
            None => Err(self.malformed(format!("unknown entity &{name};"))),
        }
    }

    fn eof(&self) -> ParseError {
        let root = self.root;
        if !self.stack.is_empty() {
            self.truncated(format!("input ends before </{root}>"))
        } else if self.saw_prolog {
            self.truncated(format!("input ends before the <{root}> element"))
        } else {
            self.malformed("no XML element found".into())
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

#[cfg(test)]
mod tests {
    use super::super::testkit::{check_malformed, check_truncated};
    use super::super::ParsedOutput;
    use super::*;

    #[test]
    fn xml_tree_and_errors() {
        let doc =
            br#"<?xml version="1.0"?><r a="x&amp;y&#xa;"><c>t&lt;1<![CDATA[<z>]]></c><c/></r>"#;
        let root = parse_xml("t", doc, "r").unwrap();
        assert_eq!(root.attr("a"), Some("x&y\n"));
        assert_eq!(root.children_named("c").count(), 2);
        assert_eq!(root.child("c").unwrap().text, "t<1<z>");
        let parse = |b: &[u8]| parse_xml("t", b, "r").map(|_| ParsedOutput::default());
        check_truncated(
            parse,
            &[
                b"<?xml version=\"1.0\"?><r><c>",
                b"<?xml version=\"1.0\"?>\n",
                b"<r><c",
            ],
        );
        let deep = "<r>".repeat(100_000);
        check_malformed(
            parse,
            &[b"QUITTING!", b"<x/>", b"<r></x>", b"", deep.as_bytes()],
        );
    }

    #[test]
    fn input_that_is_not_utf8_is_decoded_with_a_note() {
        let (text, note) = decode_input("<r>café</r>".as_bytes());
        assert!(matches!(text, std::borrow::Cow::Borrowed("<r>café</r>")) && note.is_none());
        // Latin-1 as declared, even after a licence comment.
        let latin =
            b"<!-- licence --><?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\xe9</r>";
        let (text, note) = decode_input(latin);
        assert!(text.ends_with("<r>caf\u{e9}</r>"), "{text}");
        assert!(note.unwrap().contains("ISO-8859-1"));
        let (text, note) = decode_input(b"<r>caf\xe9</r>");
        assert_eq!(text, "<r>caf\u{fffd}</r>");
        assert!(note.unwrap().contains("U+FFFD"));
        assert_eq!(parse_xml("t", latin, "r").unwrap().text, "caf\u{e9}");
    }

    #[test]
    fn streamed_children_are_visited_in_order_and_not_kept() {
        let doc = br#"<r><h n="1"><p/></h><s/><h n="2"/><x><h n="nested"/></x></r>"#;
        let mut seen = Vec::new();
        let root = parse_xml_streaming("t", doc, "r", "h", |h| {
            seen.push(h.attr("n").unwrap().to_string());
        })
        .unwrap()
        .root;
        // Only the root's own <h> children are streamed; a deeper <h> stays in its parent.
        assert_eq!(seen, ["1", "2"]);
        let kept: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(kept, ["s", "x"]);
        assert_eq!(root.child("x").unwrap().children_named("h").count(), 1);
        // A cut document comes back with the cut marked, after the complete children were
        // visited; the open ones are neither visited nor kept.
        let mut seen = Vec::new();
        let doc = parse_xml_streaming("t", b"<r><s/><h n=\"1\"/><h><p>", "r", "h", |h| {
            seen.push(h.attr("n").map(str::to_string));
        })
        .unwrap();
        assert_eq!(seen, [Some("1".to_string())]);
        let cut = doc.cut.expect("cut");
        assert!(matches!(cut.error, ParseError::Truncated { .. }), "{cut:?}");
        assert_eq!(cut.open, ["r", "h", "p"]);
        let kept: Vec<&str> = doc.root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(kept, ["s"]);
        // Cut before the root opened: nothing to keep, an error.
        let early = parse_xml_streaming("t", b"<?xml version=\"1.0\"?>", "r", "h", |_| {});
        assert!(
            matches!(early, Err(ParseError::Truncated { .. })),
            "{early:?}"
        );
    }
}
