//! Reading what `picket` printed: stdout as JSON (untyped, or as the protocol's own types,
//! since `--json` is those types serialized), and the whole output for failure messages.
//!
//! Must not judge the output: a parse failure panics with the output, nothing more.

use std::process::Output;

use serde::de::DeserializeOwned;

/// stdout parsed as one JSON document; panics with the whole output otherwise.
pub fn json(out: &Output) -> serde_json::Value {
    parse(out)
}

/// stdout parsed as `T` (e.g. `picket_protocol::ScanDetail` for `scan --wait --json`);
/// panics with the whole output otherwise.
pub fn parse<T: DeserializeOwned>(out: &Output) -> T {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document of {} ({e}):\n{}",
            std::any::type_name::<T>(),
            describe(out)
        )
    })
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}
