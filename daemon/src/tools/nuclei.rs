//! nuclei parser (being written).
use super::{ParseError, ParsedOutput};
pub fn parse(_o: &[u8]) -> Result<ParsedOutput, ParseError> { Err(ParseError::Malformed { tool: "nuclei", reason: "parser not written yet".into() }) }
