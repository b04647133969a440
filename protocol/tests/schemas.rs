//! The shipped JSON Schemas (`schemas/*.json` at the repository root) are the ones the types
//! generate: this test fails when a document type changed and the files were not
//! regenerated. Regenerate with `PICKET_WRITE_SCHEMAS=1 cargo test -p picket-protocol --test schemas`.

use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn text(schema: &schemars::Schema) -> String {
    serde_json::to_string_pretty(schema).unwrap() + "\n"
}

#[test]
fn shipped_schemas_match_the_types() {
    let write = std::env::var_os("PICKET_WRITE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    let mut index = String::from("# JSON Schemas of `picket --json`\n\nGenerated from picket-protocol's `json` module; do not edit: regenerate with\n`PICKET_WRITE_SCHEMAS=1 cargo test -p picket-protocol --test schemas`.\n\n| file | printed by |\n|---|---|\n");
    for (stem, commands, schema) in picket_protocol::json::schemas() {
        let path = dir().join(format!("{stem}.json"));
        let want = text(&schema);
        index += &format!("| `{stem}.json` | {commands} |\n");
        if write {
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    let readme = dir().join("README.md");
    if write {
        std::fs::write(&readme, &index).unwrap();
    } else if std::fs::read_to_string(&readme).ok().as_deref() != Some(index.as_str()) {
        stale.push(readme.display().to_string());
    }
    assert!(
        stale.is_empty(),
        "stale schemas (regenerate with PICKET_WRITE_SCHEMAS=1 cargo test -p picket-protocol --test schemas): {stale:?}"
    );
}
