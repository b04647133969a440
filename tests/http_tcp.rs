//! End-to-end tests of the HTTP API's TCP door (issue 16, must-show 2): the real picketd
//! with `[http] listen` on a loopback port, driven by curl as scripts and browsers would.
//! No token → 401 (pages → /login), a foreign Host → 421, a cookie change without the CSRF
//! token → 403, the token (or a session with its CSRF token) → everything works, /metrics
//! passes `promtool check metrics`; a non-loopback listen is refused without allow_remote
//! and TLS, and served over HTTPS with them.

use std::os::unix::fs::PermissionsExt;

use picket_testkit::http::{curl, free_port, Answer};
use picket_testkit::*;

/// The CSP every TCP answer must carry.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' \
data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

struct Door {
    env: Env,
    _daemon: Daemon,
    base: String,
    token: String,
}

impl Door {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }
}

/// A daemon whose `[http]` section is `http` (`{port}` replaced by a free port).
fn door(http: &str) -> Door {
    let port = free_port();
    let env = Env::new().with_config(&ConfigBuilder::new().raw(&format!(
        "[http]\n{}",
        http.replace("{port}", &port.to_string())
    )));
    let daemon = env.start_daemon();
    let path = env.data_dir().join("http-token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token file must be private");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "256 random bits as hex");
    let scheme = if http.contains("tls_cert") {
        "https"
    } else {
        "http"
    };
    Door {
        env,
        _daemon: daemon,
        base: format!("{scheme}://127.0.0.1:{port}"),
        token,
    }
}

fn loopback_door() -> Door {
    door("listen = \"127.0.0.1:{port}\"")
}

/// The headers every answer of the door carries, whatever its status.
fn assert_hardened(a: &Answer) {
    assert_eq!(a.header("content-security-policy"), Some(CSP), "{a:#?}");
    assert_eq!(
        a.header("x-content-type-options"),
        Some("nosniff"),
        "{a:#?}"
    );
    assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{a:#?}");
    assert!(
        !a.headers
            .iter()
            .any(|(k, _)| k.starts_with("access-control-")),
        "no CORS header ever: {a:#?}"
    );
}

#[test]
fn no_token_is_401_and_pages_go_to_login() {
    let d = loopback_door();
    let api = curl(&[&d.url("/v1/scans")]);
    assert_eq!(api.status, 401, "{api:#?}");
    assert_eq!(api.json()["error"]["kind"], "refused");
    assert!(api
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    assert_hardened(&api);
    let wrong = curl(&["-H", "Authorization: Bearer 0000", &d.url("/v1/scans")]);
    assert_eq!(wrong.status, 401, "{wrong:#?}");
    let metrics = curl(&[&d.url("/metrics")]);
    assert_eq!(metrics.status, 401, "/metrics on TCP needs the token");
    // A cross-origin preflight gets no CORS grant.
    let preflight = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://evil.example",
        "-H",
        "Access-Control-Request-Method: POST",
        &d.url("/v1/scans"),
    ]);
    assert_hardened(&preflight);
    assert_ne!(preflight.status / 100, 2, "{preflight:#?}");
    let page = curl(&["-H", "Accept: text/html", &d.url("/")]);
    assert_eq!(page.status, 303, "{page:#?}");
    assert_eq!(page.header("location"), Some("/login"));
    let login = curl(&[&d.url("/login")]);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("<label for=\"token\">") && login.body.contains("name=\"token\""));
    assert!(!login.body.contains("<script") && !login.body.contains("style="));
    assert_hardened(&login);
}

#[test]
fn a_foreign_host_is_refused_even_with_the_token() {
    let d = loopback_door();
    let port = d.base.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1".into(),
        format!("localhost:{port}0"),
    ] {
        let a = curl(&[
            "-H",
            &format!("Host: {host}"),
            "-H",
            &d.bearer(),
            &d.url("/v1/scans"),
        ]);
        assert_eq!(a.status, 421, "Host {host}: {a:#?}");
        assert_hardened(&a);
    }
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let a = curl(&[
            "-H",
            &format!("Host: {host}"),
            "-H",
            &d.bearer(),
            &d.url("/v1/scans"),
        ]);
        assert_eq!(a.status, 200, "Host {host}: {a:#?}");
    }
}

#[test]
fn with_the_token_everything_works() {
    let d = loopback_door();
    let scans = curl(&["-H", &d.bearer(), &d.url("/v1/scans")]);
    assert_eq!(scans.status, 200, "{scans:#?}");
    assert_hardened(&scans);
    assert_eq!(
        scans.json(),
        d.env.picket_json(["list"]),
        "the same document as picket --json list"
    );
    let health = curl(&["-H", &d.bearer(), &d.url("/v1/health")]);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["ok"], true);
    // Bearer requests are not ambient: no CSRF token needed for a change.
    let logout = curl(&["-X", "POST", "-H", &d.bearer(), &d.url("/logout")]);
    assert_eq!(logout.status, 303, "{logout:#?}");
    let session = curl(&["-H", &d.bearer(), &d.url("/session")]);
    assert_eq!(session.json()["authenticated_by"], "bearer");
    assert!(session.json()["csrf_token"].is_null());
}

fn promtool_check_metrics(text: &str) {
    if let Err(e) = picket_testkit::checkers::promtool_check_metrics(text) {
        panic!("{e}");
    }
}

/// The `# TYPE` lines: which metrics there are, whatever their values.
fn metric_types(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("# TYPE ")).collect()
}

#[test]
fn metrics_on_every_door_pass_promtool() {
    let d = door("listen = \"127.0.0.1:{port}\"\nmetrics_listen = \"127.0.0.1:0\"");
    let tcp = curl(&["-H", &d.bearer(), &d.url("/metrics")]);
    assert_eq!(tcp.status, 200, "{tcp:#?}");
    assert!(tcp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    promtool_check_metrics(&tcp.body);
    let cli = d.env.picket(["metrics"]);
    assert_eq!(
        metric_types(&tcp.body),
        metric_types(&stdout(&cli)),
        "the same metrics as picket metrics"
    );
    let api_sock = d.env.socket().with_file_name("api.sock");
    let sock = curl(&[
        "--unix-socket",
        api_sock.to_str().unwrap(),
        "http://picket/metrics",
    ]);
    assert_eq!(sock.status, 200, "api.sock needs no token: {sock:#?}");
    promtool_check_metrics(&sock.body);
    // Port 0: `picket web` names the port the kernel picked.
    let web = d.env.picket_json(["web"]);
    let metrics_url = web["metrics_url"].as_str().expect("metrics_listen is open");
    let addr = metrics_url
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap();
    assert!(!addr.ends_with(":0"), "{metrics_url}");
    let plain = curl(&[&format!("http://{addr}/metrics")]);
    assert_eq!(
        plain.status, 200,
        "metrics_listen needs no token: {plain:#?}"
    );
    promtool_check_metrics(&plain.body);
    let other = curl(&[&format!("http://{addr}/v1/scans")]);
    assert_eq!(other.status, 404, "metrics_listen serves /metrics only");
}

/// Logs in with the token; the session cookie's value.
fn log_in(d: &Door) -> String {
    let wrong = curl(&["-d", "token=not-the-token", &d.url("/login")]);
    assert_eq!(wrong.status, 401, "{wrong:#?}");
    assert!(wrong.body.contains("role=\"alert\""));
    let ok = curl(&["-d", &format!("token={}", d.token), &d.url("/login")]);
    assert_eq!(ok.status, 303, "{ok:#?}");
    assert_eq!(ok.header("location"), Some("/"));
    let cookie = ok.header("set-cookie").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    let secure = cookie.contains("Secure");
    assert_eq!(
        secure,
        d.base.starts_with("https"),
        "Secure exactly under TLS: {cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

fn csrf_of(d: &Door, cookie: &str) -> String {
    let s = curl(&["-b", cookie, &d.url("/session")]);
    assert_eq!(s.status, 200, "{s:#?}");
    assert_eq!(s.json()["authenticated_by"], "session");
    s.json()["csrf_token"].as_str().unwrap().to_string()
}

#[test]
fn a_cookie_change_needs_the_csrf_token() {
    let d = loopback_door();
    let cookie = log_in(&d);
    let read = curl(&["-b", &cookie, &d.url("/v1/scans")]);
    assert_eq!(read.status, 200, "a cookie reads without CSRF: {read:#?}");
    let csrf = csrf_of(&d, &cookie);
    for refused in [
        vec!["-X", "POST", "-b", &cookie, &d.url("/logout")],
        vec![
            "-X",
            "POST",
            "-b",
            &cookie,
            "-H",
            "X-CSRF-Token: forged",
            &d.url("/logout"),
        ],
        vec!["-b", &cookie, "-d", "csrf_token=forged", &d.url("/logout")],
        vec!["-X", "DELETE", "-b", &cookie, &d.url("/v1/scans/1")],
        vec![
            "-b",
            &cookie,
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            &d.url("/v1/scans"),
        ],
    ] {
        let a = curl(&refused);
        assert_eq!(a.status, 403, "{refused:?}: {a:#?}");
        assert_hardened(&a);
        assert!(a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CSRF"));
    }
    // Refused changes left the session alone.
    assert_eq!(curl(&["-b", &cookie, &d.url("/v1/scans")]).status, 200);
    // With the token the change reaches its route (whatever that route then says).
    let header = format!("X-CSRF-Token: {csrf}");
    let passed = curl(&[
        "-b",
        &cookie,
        "-H",
        &header,
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        &d.url("/v1/scans"),
    ]);
    assert!(![401, 403].contains(&passed.status), "{passed:#?}");
    let out = curl(&[
        "-X",
        "POST",
        "-b",
        &cookie,
        "-H",
        &header,
        &d.url("/logout"),
    ]);
    assert_eq!(out.status, 303, "{out:#?}");
    assert_eq!(out.header("location"), Some("/login"));
    assert_eq!(
        curl(&["-b", &cookie, &d.url("/v1/scans")]).status,
        401,
        "logged out"
    );
    // The form field works as the header does, and one session's token is not another's.
    let (a, b) = (log_in(&d), log_in(&d));
    let other = format!("csrf_token={}", csrf_of(&d, &b));
    assert_eq!(
        curl(&["-b", &a, "-d", &other, &d.url("/logout")]).status,
        403
    );
    let own = format!("csrf_token={}", csrf_of(&d, &a));
    assert_eq!(curl(&["-b", &a, "-d", &own, &d.url("/logout")]).status, 303);
    assert_eq!(
        curl(&["-b", &b, &d.url("/v1/scans")]).status,
        200,
        "b is still in"
    );
}

#[test]
fn a_non_loopback_listen_needs_allow_remote_and_tls() {
    // 0.0.0.0 is the refused input under test (a listen beyond loopback); picketd must stop
    // before binding it.
    for http in [
        "listen = \"0.0.0.0:{port}\"",
        "listen = \"0.0.0.0:{port}\"\nallow_remote = true",
    ] {
        let port = free_port().to_string();
        let env = Env::new().with_config(
            &ConfigBuilder::new().raw(&format!("[http]\n{}", http.replace("{port}", &port))),
        );
        let mut daemon = env.spawn_daemon(std::iter::empty::<&str>());
        let status = daemon.wait_exit();
        assert!(!status.success(), "{http}: picketd must refuse to start");
        let log = daemon.log();
        assert!(
            log.contains("not a loopback address")
                && log.contains("allow_remote = true with tls_cert and tls_key"),
            "{http}: {log}"
        );
    }
}

/// A self-signed certificate for 127.0.0.1 made by openssl.
fn self_signed(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is not installed: apt-get install openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn allow_remote_with_tls_serves_https_only() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    // The non-loopback listen allowed with TLS: bound inside this test's loopback-only
    // namespace (no other interface is up), and every request below goes to 127.0.0.1.
    let d = door(&format!(
        "listen = \"0.0.0.0:{{port}}\"\nallow_remote = true\ntls_cert = \"{cert}\"\ntls_key = \"{key}\""
    ));
    let health = curl(&["--cacert", &cert, "-H", &d.bearer(), &d.url("/v1/health")]);
    assert_eq!(health.status, 200, "{health:#?}");
    assert_hardened(&health);
    assert_eq!(curl(&["--cacert", &cert, &d.url("/v1/health")]).status, 401);
    let cookie = {
        let ok = curl(&[
            "--cacert",
            &cert,
            "-d",
            &format!("token={}", d.token),
            &d.url("/login"),
        ]);
        ok.header("set-cookie").unwrap().to_string()
    };
    assert!(cookie.contains("Secure"), "{cookie}");
    let plain = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            &d.url("/v1/health").replacen("https", "http", 1),
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("\"ok\""),
        "plain HTTP must not be answered on the TLS door"
    );
}

/// `out`'s stdout validates against `schemas/web.json`.
fn valid_web_doc(out: &std::process::Output) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = picket_testkit::checkers::schema_errors("web", &doc);
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
    assert_eq!(doc["schema_version"], 1);
    doc
}

#[test]
fn picket_web_prints_the_url_and_where_the_token_is_and_opens_a_browser() {
    let port = free_port();
    let d = door(&format!(
        "listen = \"127.0.0.1:{{port}}\"\nmetrics_listen = \"127.0.0.1:{port}\""
    ));
    let out = d.env.picket(["web"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    let token_file = d.env.data_dir().join("http-token").display().to_string();
    assert!(text.contains(&format!("{}/", d.base)), "{text}");
    assert!(text.contains(&token_file), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/metrics")),
        "{text}"
    );
    assert!(
        !text.contains(&d.token),
        "the token itself is never printed"
    );
    let doc = valid_web_doc(&d.env.picket(["--json", "web"]));
    assert_eq!(doc["url"], format!("{}/", d.base));
    assert_eq!(doc["token_file"], token_file.as_str());
    // --open hands the URL, as one argument, to $BROWSER.
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let browser = tool_script(
        dir.path(),
        "browser",
        &format!("printf '%s\\n' \"$@\" > {}", seen.display()),
    );
    let out = output_with_deadline(
        d.env.picket_cmd(["web", "--open"]).env("BROWSER", &browser),
        CLIENT_DEADLINE,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("{}/\n", d.base)
    );
}

#[test]
fn picket_web_without_a_tcp_door_says_how_to_open_one() {
    let env = Env::new();
    let _daemon = env.start_daemon();
    let out = env.picket(["web"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = picket_testkit::stderr(&out);
    assert!(err.contains("[http] listen = \"127.0.0.1:8080\""), "{err}");
    assert!(
        !env.data_dir().join("http-token").exists(),
        "no door, no token"
    );
}
