//! End-to-end tests of the evidence kept with each run (issue 15, must-show 6): the real
//! picketd and picket, a stand-in tool printing known bytes (not UTF-8, and several
//! megabytes, so the answer comes in parts), an imported report compared with its file,
//! and retention removing outputs over `max_bytes` while the runs and findings stay.

use std::path::Path;
use std::time::Duration;

use picket_protocol::{ScanDetail, ScanStatus};
use picket_testkit::*;

/// Bytes no UTF-8 decoder keeps as they are (invalid sequences, NULs, a lone CR), then
/// `len` bytes of noise zstd cannot shrink, then a marked line the regex parser finds.
fn payload(len: usize) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe, 0x00, 0xc3, 0x28, b'\r', 0x80, 0xbf, b'\n'];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    out.extend((0..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    out.extend_from_slice(b"\nPICKET-FINDING evidence\nno newline at the end");
    out
}

/// A tool that prints the file `payload` to stdout, whatever its target.
fn printing_tool(dir: &Path, payload: &Path) -> ToolConfig {
    let script = tool_script(
        dir,
        "printer",
        &format!("cat '{}'", payload.to_str().unwrap()),
    );
    ToolConfig::new("printer")
        .program(script)
        .ttl_secs(0)
        .no_version_probe()
        .output_cap_bytes(64 * 1024 * 1024)
        .finds_marked_lines()
}

fn scan_done(env: &Env) -> ScanDetail {
    let s = env.scan_wait(&["127.0.0.1", "--tools", "printer"]);
    assert_eq!(s.status, ScanStatus::Done, "{s:#?}");
    s
}

/// `picket output RUN`'s stdout, which must succeed.
fn output(env: &Env, run: i64) -> Vec<u8> {
    let out = env.picket(["output", &run.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    out.stdout
}

#[test]
fn output_prints_a_runs_raw_bytes_including_a_multi_megabyte_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    // 6 MB: over the 1 MiB part budget several times, so the answer is streamed in parts.
    let want = payload(6 * 1024 * 1024);
    std::fs::write(&file, &want).unwrap();
    let env = Env::new().with_config(&ConfigBuilder::new().tool(printing_tool(dir.path(), &file)));
    let _daemon = env.start_daemon();
    let scan = scan_done(&env);
    let run = &scan.tool_runs[0];
    assert!(run.id > 0, "show gives the run's id: {run:#?}");
    assert_eq!(scan.findings.len(), 1, "the output was parsed too");
    let got = output(&env, run.id);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the bytes differ from what the tool printed");

    // A small one, and the human `show` lists the run's id.
    std::fs::write(&file, payload(10)).unwrap();
    let second = scan_done(&env);
    let id = second.tool_runs[0].id;
    assert_ne!(id, run.id);
    assert_eq!(output(&env, id), payload(10));
    let shown = stdout(&env.picket(["show", &second.id.to_string()]));
    assert!(
        shown
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{id} printer"))),
        "{shown}"
    );

    // No such run; --json is refused with the reason.
    let missing = env.picket(["output", "999999"]);
    assert_eq!(missing.status.code(), Some(5), "{}", describe(&missing));
    let json = env.picket(["--json", "output", &id.to_string()]);
    assert_eq!(json.status.code(), Some(2), "{}", describe(&json));
    // Under --json the error itself is the JSON document on stdout.
    assert!(
        stdout(&json).contains("no --json form"),
        "{}",
        describe(&json)
    );
}

#[test]
fn an_imported_report_is_its_runs_output_byte_for_byte() {
    let report =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data/nmap-http-https.xml");
    let env = Env::new();
    let _daemon = env.start_daemon();
    let imported: ScanDetail = env.picket_as(["import", "nmap", report.to_str().unwrap()]);
    let run = imported.tool_runs[0].id;
    assert!(run > 0);
    assert_eq!(output(&env, run), std::fs::read(&report).unwrap());
}

#[test]
fn retention_removes_outputs_over_max_bytes_oldest_first_and_keeps_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, payload(64 * 1024)).unwrap();
    // Room for one 64 KiB output and a half: each pass (every second) keeps the newest.
    let config = ConfigBuilder::new()
        .tool(printing_tool(dir.path(), &file))
        .set("retention", "max_bytes", 96 * 1024_i64)
        .set("retention", "interval_secs", 1_i64);
    let env = Env::new().with_config(&config);
    let _daemon = env.start_daemon();
    let first = scan_done(&env);
    let second = scan_done(&env);
    let (old, new) = (first.tool_runs[0].id, second.tool_runs[0].id);
    let refused = eventually(Duration::from_secs(20), "retention removed run 1", || {
        let out = env.picket(["output", &old.to_string()]);
        (!out.status.success()).then_some(out)
    });
    assert!(
        stderr(&refused).contains("removed by the retention policy"),
        "{}",
        describe(&refused)
    );
    // The newest output stays, and the old run and its finding are still there.
    assert_eq!(output(&env, new), payload(64 * 1024));
    let shown: ScanDetail = env.picket_as(["show", &first.id.to_string()]);
    assert!(shown.tool_runs[0].output_removed_at.is_some(), "{shown:#?}");
    assert_eq!(shown.findings.len(), 1);
    assert!(second_is_kept(&env, second.id));
    let text = stdout(&env.picket(["show", &first.id.to_string()]));
    assert!(text.contains("output removed by retention"), "{text}");
    let metrics = json(&env.picket(["metrics", "--format", "json"]));
    assert!(
        metrics["outputs_removed"].as_u64().unwrap() >= 1,
        "{metrics}"
    );
    assert!(metrics["output_bytes_stored"].as_u64().unwrap() <= 96 * 1024);
}

fn second_is_kept(env: &Env, scan: i64) -> bool {
    let shown: ScanDetail = env.picket_as(["show", &scan.to_string()]);
    shown.tool_runs[0].output_removed_at.is_none()
}
