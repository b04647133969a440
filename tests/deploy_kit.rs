//! The operations kit (issue 16, must-show 6): `deploy/prometheus/alerts.yml` passes
//! `promtool check rules` and its unit tests (`promtool test rules`), and every metric the
//! alerts and the Grafana dashboard (`deploy/grafana/picket.json`) name is one picketd
//! really exports, so a renamed metric cannot silently blind them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str], dir: &Path) {
    let promtool = picketd::run::spec::find_program("promtool")
        .expect("promtool is not installed: run scripts/setup (Debian package prometheus)");
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = root().join("deploy/prometheus");
    promtool(&["check", "rules", "alerts.yml"], &dir);
    promtool(&["test", "rules", "alerts.test.yml"], &dir);
}

/// Every series name picketd's exposition can hold: each `# TYPE` name, and for
/// histograms its `_bucket`, `_sum` and `_count`.
fn exported() -> BTreeSet<String> {
    let text = picket_protocol::prometheus::render(&picket_protocol::MetricsReport::default());
    let mut names = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The `picket_…` names a file mentions.
fn mentioned(text: &str) -> BTreeSet<String> {
    text.match_indices("picket_")
        .map(|(at, _)| {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            name.trim_end_matches('_').to_string()
        })
        .collect()
}

#[test]
fn alerts_and_dashboard_name_only_exported_metrics() {
    let exported = exported();
    assert!(
        exported.contains("picket_request_duration_seconds_bucket"),
        "{exported:?}"
    );
    for file in ["deploy/prometheus/alerts.yml", "deploy/grafana/picket.json"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let names = mentioned(&text);
        assert!(names.len() >= 8, "{file} names too few metrics: {names:?}");
        let unknown: Vec<_> = names.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics picketd does not export: {unknown:?}"
        );
    }
}

#[test]
fn the_dashboard_is_grafana_json_with_a_query_per_panel() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/picket.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dash["uid"], "picket");
    let panels = dash["panels"].as_array().unwrap();
    for wanted in [
        "latency",
        "Cache hit rate",
        "DB pool",
        "Queue depth",
        "memory",
        "Tool runs",
    ] {
        assert!(
            panels
                .iter()
                .any(|p| p["title"].as_str().unwrap().contains(wanted)),
            "no panel about {wanted}"
        );
    }
    for p in panels {
        let expr = p["targets"][0]["expr"].as_str().unwrap_or_default();
        assert!(
            expr.contains("picket_"),
            "panel {} has no picket query",
            p["title"]
        );
    }
}
