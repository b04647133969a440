//! A small bounded XML tree built from quick-xml events, for the XML parsers (nmap, sslscan).
//!
//! Same rules as the parsers: pure functions of their input, no I/O, never panic on
//! hostile input (depth is bounded so that building or dropping a tree cannot blow the stack).

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
}
