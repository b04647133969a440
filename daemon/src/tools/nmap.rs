//! nmap parser (being written).
use super::{ParseError, ParsedOutput};
pub fn parse(_o: &[u8]) -> Result<ParsedOutput, ParseError> { Err(ParseError::Malformed { tool: "nmap", reason: "parser not written yet".into() }) }
