//! Parsers on the recorded fixtures of daemon/tests/data: every file whose name starts with
//! a built-in parser's name goes through `BuiltinParser::parse` (error fixtures included:
//! the error path is timed too); the gobuster files go through the generic regex parser
//! with the example gobuster mapping the unit tests and the fuzz harness use too
//! (`generic::examples`, the README's mapping extended to the whole line). Throughput is in
//! bytes of tool output.
//!
//! `cargo bench --bench parsers`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use picketd::parsers::generic::{self, examples};
use picketd::parsers::BuiltinParser;

fn parsers(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("daemon/tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    let gobuster = examples::gobuster();
    let mut g = c.benchmark_group("parse");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let tool = name.split('-').next().unwrap_or_default().to_string();
        let bytes = std::fs::read(&path).expect("fixture");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        if let Some(parser) = BuiltinParser::from_name(&tool) {
            let ok = if parser.parse(&bytes).is_ok() {
                ""
            } else {
                " (error)"
            };
            g.bench_function(format!("{name}{ok}"), |b| {
                b.iter(|| parser.parse(black_box(&bytes)))
            });
        } else if tool == "gobuster" {
            g.bench_function(format!("{name} (generic regex)"), |b| {
                b.iter(|| generic::parse(&gobuster, "gobuster", "127.0.0.1", black_box(&bytes)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
