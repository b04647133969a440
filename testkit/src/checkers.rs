//! Outside validators run on what Picket prints: `promtool check metrics` on Prometheus
//! text, and the `--json` documents against their JSON Schemas in schemas/. Must not decide
//! pass or fail for a test: each returns what the validator said.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// `schemas/STEM.json` of the workspace.
pub fn schema(stem: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(format!("schemas/{stem}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Where `doc` breaks `schemas/STEM.json` (formats checked too), each with its path.
pub fn schema_errors(stem: &str, doc: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema(stem))
        .unwrap_or_else(|e| panic!("schemas/{stem}.json is not a valid schema: {e}"));
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `promtool check metrics` on `text`: Err with promtool's words when it objects.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let promtool = picketd::run::spec::find_program("promtool")
        .ok_or("promtool is not installed: run scripts/setup (Debian package prometheus)")?;
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start promtool: {e}"))?;
    if let Some(mut stdin) = check.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot feed promtool: {e}"))?;
    }
    let res = check
        .wait_with_output()
        .map_err(|e| format!("promtool did not end: {e}"))?;
    if res.status.success() {
        return Ok(());
    }
    Err(format!(
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    ))
}
