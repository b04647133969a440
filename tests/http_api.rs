//! The HTTP API on `api.sock` end to end (issue 16, must-show 1 and 3): `curl
//! --unix-socket` lists scans, starts one of a stand-in tool on a loopback target, follows
//! its Server-Sent Events to the end, and gets the same JSON as `picket --json`, valid
//! against the same schemas; `/v1/events` streams every scan; the OpenAPI document passes
//! openapi-spec-validator and lists exactly the routes the server answers. Runs in a
//! network namespace with only lo up.

use std::path::{Path, PathBuf};

use picket_testkit::api::{api_socket, curl, Answer, EventStream};
use picket_testkit::*;
use serde_json::Value;

const GRADED: &str =
    r"^(?P<severity>\w+) (?P<title>PICKET-FINDING \S+) (?P<detail>.*?(?P<cve>CVE-\d+-\d+).*)$";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `doc` is valid against `schemas/STEM.json`.
fn valid(stem: &str, doc: &Value) {
    let errors = picket_testkit::checkers::schema_errors(stem, doc);
    assert!(errors.is_empty(), "{stem}: {errors:#?}\n{doc:#}");
}

struct World {
    env: Env,
    daemon: Daemon,
    api: PathBuf,
    target: picket_testkit::targets::Target,
    gate: PathBuf,
    dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    // Each run waits for the gate file (the test opens it once it follows the scan).
    let gate = dir.path().join("gate");
    let finder = tool_script(
        dir.path(),
        "finder",
        &format!(
            "{}\necho 'high PICKET-FINDING weak-cipher the server accepts RC4-MD5, see CVE-2013-2566'",
            picket_testkit::scripts::until_exists(&gate)
        ),
    );
    let cfg = ConfigBuilder::new().tool(
        ToolConfig::new("finder")
            .program(&finder)
            .no_version_probe()
            .parser_regex(GRADED)
            .ttl_secs(0),
    );
    let env = Env::new().with_config(&cfg);
    let daemon = env.start_daemon();
    let api = api_socket(env.socket());
    let target = picket_testkit::targets::http(dir.path());
    World {
        env,
        daemon,
        api,
        target,
        gate,
        dir,
    }
}

impl World {
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        curl(&self.api, method, path, body)
    }

    /// GET `path` answers 200 with exactly what `picket --json ARGS` prints, valid as `stem`.
    fn same_as_cli(&self, path: &str, args: &[&str], stem: &str) -> Value {
        let answer = self.call("GET", path, None);
        assert_eq!(
            answer.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.content_type, "application/json", "{path}");
        let doc = answer.json();
        valid(stem, &doc);
        assert_eq!(
            doc,
            self.env.picket_json(args),
            "GET {path} vs picket --json {args:?}"
        );
        doc
    }

    fn submit(&self) -> i64 {
        let body = format!(
            r#"{{"targets":["127.0.0.1"],"tools":["finder"],"ports":"{}"}}"#,
            self.target.port
        );
        let answer = self.call("POST", "/v1/scans", Some(&body));
        assert_eq!(
            answer.status,
            201,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let doc = answer.json();
        valid("submitted", &doc);
        doc["id"].as_i64().expect("the scan's id")
    }
}

/// Reads events until `scan`'s `finished`; each valid, its name its `kind`.
fn until_finished(events: &mut EventStream, scan: i64) -> Vec<Value> {
    until_kind(events, scan, "finished")
}

fn until_kind(events: &mut EventStream, scan: i64, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    for e in events.by_ref() {
        let doc: Value = serde_json::from_str(&e.data).unwrap();
        valid("event", &doc);
        assert_eq!(doc["kind"], e.name.as_str(), "{e:?}");
        let done = e.name == kind && doc["scan"] == scan;
        if doc["scan"] == scan {
            seen.push(doc);
        }
        if done {
            return seen;
        }
    }
    panic!("the stream ended before scan {scan}'s {kind}: {seen:#?}");
}

#[test]
fn curl_on_api_sock_lists_starts_follows_and_shows_what_picket_json_does() {
    let w = world();
    let empty = w.same_as_cli("/v1/scans", &["list"], "list");
    assert_eq!(empty["scans"], serde_json::json!([]));
    let mut all = EventStream::open(&w.api, "/v1/events");
    let id = w.submit();
    let mut one = EventStream::open(&w.api, &format!("/v1/scans/{id}/events"));
    // Both streams follow the scan (its run held at the gate) before it may end.
    let mut events = until_kind(&mut one, id, "started");
    let mut everything = until_kind(&mut all, id, "started");
    std::fs::write(&w.gate, "").unwrap();
    events.extend(until_finished(&mut one, id));
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{events:#?}");
    assert!(kinds.contains(&"tool_finished"), "{events:#?}");
    assert_eq!(events.last().unwrap()["status"], "done", "{events:#?}");
    assert!(
        one.next_event().is_none(),
        "one scan's stream ends at its end"
    );
    everything.extend(until_finished(&mut all, id));
    assert_eq!(everything, events, "/v1/events carries the same events");

    let show = w.same_as_cli(
        &format!("/v1/scans/{id}"),
        &["show", &id.to_string()],
        "scan",
    );
    assert_eq!(show["status"], "done");
    w.same_as_cli("/v1/scans", &["list"], "list");
    w.same_as_cli(
        "/v1/scans?status=done&limit=1",
        &["list", "--status", "done", "--limit", "1"],
        "list",
    );
    let findings = w.same_as_cli("/v1/findings", &["findings"], "findings");
    let finding = findings["findings"][0]["id"].to_string();
    w.same_as_cli(
        &format!("/v1/findings/{finding}"),
        &["finding", &finding],
        "finding",
    );
    w.same_as_cli(
        "/v1/findings?state=all&min_severity=high",
        &["findings", "--state", "all", "--min-severity", "high"],
        "findings",
    );
    w.same_as_cli("/v1/status", &["status"], "status");
    w.same_as_cli("/v1/tools", &["tools"], "tools");
    w.same_as_cli("/v1/schedules", &["schedule", "list"], "schedules");
    valid("health", &w.call("GET", "/v1/health", None).json());
    valid("metrics", &w.call("GET", "/v1/stats", None).json());
    valid("cache-stats", &w.call("GET", "/v1/cache", None).json());

    // A run's raw output, byte for byte as `picket output` writes it.
    let run = show["tool_runs"][0]["id"].to_string();
    let raw = w.call("GET", &format!("/v1/runs/{run}/output"), None);
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body, w.env.picket(["output", &run]).stdout);
    assert!(String::from_utf8_lossy(&raw.body).contains("PICKET-FINDING"));

    // A finished scan's stream is just its end.
    let mut late = EventStream::open(&w.api, &format!("/v1/scans/{id}/events"));
    let end = late.next_event().expect("the finished event");
    assert_eq!(end.name, "finished");
    assert!(late.next_event().is_none());
}

#[test]
fn errors_are_the_cli_error_document_with_the_status_of_their_kind() {
    let w = world();
    std::fs::write(&w.gate, "").unwrap();
    let missing = w.call("GET", "/v1/scans/4242", None);
    assert_eq!(missing.status, 404);
    let doc = missing.json();
    valid("error", &doc);
    let cli = w.env.picket(["--json", "show", "4242"]);
    assert_eq!(doc, json(&cli), "the same error as picket --json show");
    assert_eq!(
        w.call("GET", "/v1/scans/4242/events", None).status,
        404,
        "no stream for a scan that does not exist"
    );
    let bad = w.call("GET", "/v1/scans?status=fnished", None);
    assert_eq!(bad.status, 400);
    valid("error", &bad.json());
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fnished"));
    let refused = w.call("POST", "/v1/scans", Some(r#"{"targets":["192.0.2.1"]}"#));
    assert_eq!(
        refused.status,
        403,
        "out of scope: {}",
        String::from_utf8_lossy(&refused.body)
    );
    valid("error", &refused.json());
    let garbled = w.call("POST", "/v1/scans", Some(r#"{"targets":"x","bogus":1}"#));
    assert_eq!(garbled.status, 400);
    let nothing = w.call("POST", "/v1/cache/invalidate", Some("{}"));
    assert_eq!(nothing.status, 400);
    let _ = &w.dir;
}

#[test]
fn schedules_and_cache_change_through_the_api_as_through_picket() {
    let w = world();
    let added = w.call(
        "POST",
        "/v1/schedules",
        Some(r#"{"name":"nightly","targets":["127.0.0.1"],"every_secs":86400,"tools":["finder"]}"#),
    );
    assert_eq!(
        added.status,
        201,
        "{}",
        String::from_utf8_lossy(&added.body)
    );
    valid("schedules", &added.json());
    let id = added.json()["schedules"][0]["id"].to_string();
    let paused = w
        .call("POST", &format!("/v1/schedules/{id}/pause"), None)
        .json();
    assert_eq!(paused["schedules"][0]["paused"], true);
    w.same_as_cli("/v1/schedules", &["schedule", "list"], "schedules");
    let resumed = w
        .call("POST", &format!("/v1/schedules/{id}/resume"), None)
        .json();
    assert_eq!(resumed["schedules"][0]["paused"], false);
    let removed = w.call("DELETE", &format!("/v1/schedules/{id}"), None);
    assert_eq!(removed.status, 200);
    assert_eq!(
        w.call("GET", "/v1/schedules", None).json()["schedules"],
        serde_json::json!([])
    );
    let cleared = w.call("POST", "/v1/cache/clear", None);
    assert_eq!(cleared.status, 200);
    valid("cache-changed", &cleared.json());
    let inv = w.call("POST", "/v1/cache/invalidate", Some(r#"{"tool":"finder"}"#));
    assert_eq!(inv.status, 200);
    valid("cache-changed", &inv.json());
}

/// Must-show 3: the document validates and its routes are exactly the server's.
#[test]
fn the_openapi_document_validates_and_lists_exactly_the_routes_served() {
    let w = world();
    let answer = w.call("GET", "/v1/openapi.json", None);
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let file = w.dir.path().join("openapi.json");
    std::fs::write(&file, &answer.body).unwrap();
    let validator = root().join(".venv-checks/bin/openapi-spec-validator");
    assert!(
        validator.exists(),
        "{validator:?}: run scripts/setup (or link .venv-checks)"
    );
    let out = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        describe(&out)
    );

    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{:?}", paths.keys());
    for (path, item) in paths {
        let url = path.replace("{id}", "4242");
        for method in methods {
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            let answer = route_probe(&w, method, &url);
            let routed = !no_route(&answer);
            assert_eq!(
                routed,
                documented,
                "{method} {path}: served {routed}, documented {documented}: {}",
                String::from_utf8_lossy(&answer.body)
            );
        }
    }
    assert!(no_route(&w.call("GET", "/v1/nowhere", None)));
    assert_only_the_registrar_routes(&root().join("daemon/src/http/v1"));
}

/// Calls a route; `/v1/events`, which never ends, is read for a moment (its status and
/// content type come first).
fn route_probe(w: &World, method: &str, url: &str) -> Answer {
    if method == "GET" && url == "/v1/events" {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-m",
                "2",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{content_type}",
            ])
            .arg("--unix-socket")
            .arg(&w.api)
            .arg(format!("http://picket{url}"))
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(head, "200 text/event-stream", "GET {url}");
        return Answer {
            status: 200,
            content_type: head,
            body: Vec::new(),
        };
    }
    let body = (method != "GET" && method != "DELETE").then_some("{}");
    w.call(method, url, body)
}

/// The default service's answer: the router matched nothing.
fn no_route(a: &Answer) -> bool {
    a.status == 404
        && serde_json::from_slice::<Value>(&a.body)
            .map(|d| {
                d["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no route ")
            })
            .unwrap_or(false)
}

/// No route is registered but through `Routes::add` (which lists it in the document).
fn assert_only_the_registrar_routes(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        for needle in [
            ".route(",
            "web::resource(",
            ".service(",
            "web::get()",
            "web::post()",
        ] {
            let allowed = name == "mod.rs" && (needle == ".route(" || needle == ".service(");
            assert!(
                allowed || !text.contains(needle),
                "{name} registers a route with {needle}: use Routes::add, so the OpenAPI \
                 document lists it"
            );
        }
    }
}

#[test]
fn event_streams_end_when_the_daemon_stops() {
    let mut w = world();
    let mut all = EventStream::open(&w.api, "/v1/events");
    let id = w.submit();
    // Followed (its run held at the gate): the stream is open on the daemon's side.
    until_kind(&mut all, id, "started");
    w.daemon.signal(Signal::SIGTERM);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rest: Vec<_> = all.by_ref().collect();
        let _ = tx.send(rest);
    });
    // Within actix's 30 s graceful stop the server would close it anyway: the stream ends
    // because it watches the daemon's shutdown, or the daemon's exit would wait for it.
    let rest = rx
        .recv_timeout(EVENTUALLY)
        .expect("/v1/events still open after the daemon was told to stop");
    assert!(rest.iter().all(|e| e.name != "started"), "{rest:?}");
    assert!(w.daemon.wait_exit().success());
}
