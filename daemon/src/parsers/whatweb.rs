//! whatweb parser: turns `whatweb -q --log-json=-` (or `--log-json-verbose`) output into
//! HTTP services and findings. Pure function of the bytes: no I/O, no panics; bad output
//! is a `ParseError`.
//!
//! Mapping rules:
//! * `--log-json` is a JSON array of objects, one per target (and per redirect hop). `[\n]`
//!   (every target unreachable: whatweb says so only on stderr) is a valid empty result.
//! * `--log-json-verbose` is one `[url, status, [[plugin, [match, ...]], ...]]` array per
//!   line; each becomes the `--log-json` object it stands for (a plugin's `string`,
//!   `version`, ... of all its matches gathered into lists), so both give the same
//!   findings. A cut last line keeps the lines before it and sets `partial`; a bad line
//!   among good ones is a warning.
//! * An entry without an http(s) target URL is a warning, not a service.
//! * Without `-q`, whatweb interleaves its coloured one-line summary with the JSON. Such
//!   output is accepted: when the whole text is not JSON, only the lines that begin with
//!   `[`, `]`, `,` or `{` are kept and parsed again.
//! * Each object with a parseable `target` URL gives a Service: host and port from the URL
//!   (default 80/443), name http/https, `tls` for https. product/version come from the
//!   `HTTPServer` string ("nginx/1.22.1" -> nginx 1.22.1); when that has no version, from
//!   the plugin of the same name, or else from a known server plugin (Apache, nginx,
//!   Microsoft-IIS, lighttpd, ...) carrying a version.
//! * Info "Technology: WordPress 5.8.1" for every plugin that carries a version, and for a
//!   few notable ones (CMSs, servers, PHP) even without one; evidence = plugin name.
//! * Low "Missing security header: X-Frame-Options" (also Content-Security-Policy,
//!   X-Content-Type-Options, and Strict-Transport-Security on https) for responses with a
//!   2xx status. whatweb does not log raw headers; a header counts as present when the
//!   plugin of that name is there or the `UncommonHeaders` plugin lists it. Redirects
//!   and errors are not judged. Evidence = the header name in lower case.
//! * Redirects: whatweb runs with `--follow-redirect=never`, so a redirect shows as the
//!   `RedirectLocation` plugin (a 3xx `Location`) or `Meta-Refresh-Redirect`. Each one to
//!   another http(s) endpoint (scheme, host or port differ; a relative location is resolved
//!   against the entry's URL) is reported in `redirects`, not followed and not judged here.
//! * Output that ends early -> `Truncated`; anything else that is not such a JSON array
//!   (including empty output) -> `Malformed`.

use picket_protocol::{Finding, Service, Severity};
use serde_json::{Map, Value};

use super::normalize::{clip, dedupe_findings, json_error, reject_empty, unbracket, ServiceSet};
use super::{new_finding, ParseError, ParsedOutput, Redirect};

const TOOL: &str = "whatweb";

/// Reported even without a version: their mere presence shapes the attack surface.
const NOTABLE: &[&str] = &[
    "WordPress",
    "Drupal",
    "Joomla",
    "Magento",
    "Apache",
    "nginx",
    "Microsoft-IIS",
    "lighttpd",
    "Apache-Tomcat",
    "Tomcat",
    "JBoss",
    "Jenkins",
    "phpMyAdmin",
    "PHP",
    "ASP_NET",
];

/// Plugins whose "version" is not a software version (Open-Graph-Protocol says "website").
const NOT_TECHNOLOGY: &[&str] = &[
    "Open-Graph-Protocol",
    "X-UA-Compatible",
    "HTML5",
    "Country",
    "IP",
    "Title",
    "HTTPServer",
];

/// Server plugins used for the service product when the Server header has no version.
const SERVERS: &[&str] = &[
    "Apache",
    "nginx",
    "Microsoft-IIS",
    "lighttpd",
    "Apache-Tomcat",
    "Jetty",
    "OpenResty",
    "LiteSpeed",
    "Caddy",
];

/// (header, https only)
const SECURITY_HEADERS: &[(&str, bool)] = &[
    ("X-Frame-Options", false),
    ("Content-Security-Policy", false),
    ("X-Content-Type-Options", false),
    ("Strict-Transport-Security", true),
];

pub fn parse(output: &[u8]) -> Result<ParsedOutput, ParseError> {
    let mut out = ParsedOutput::default();
    let entries = if is_verbose(output) {
        read_verbose(output, &mut out)?
    } else {
        read_array(output)?
    };
    let mut services = ServiceSet::default();
    let mut findings = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let target = entry.get("target").and_then(Value::as_str).unwrap_or("");
        let url = url::Url::parse(target.trim()).ok();
        let Some((url, host, port)) = url
            .as_ref()
            .and_then(|u| Some((u, u.host_str()?, u.port_or_known_default()?)))
        else {
            out.warnings.push(format!(
                "entry {}: no http(s) target URL ({:?}), not stored",
                i + 1,
                clip(target, 100)
            ));
            continue;
        };
        let Some(obj) = entry.as_object() else {
            continue;
        };
        let host = unbracket(host);
        let https = url.scheme().eq_ignore_ascii_case("https");
        let empty = Map::new();
        let plugins = obj
            .get("plugins")
            .and_then(Value::as_object)
            .unwrap_or(&empty);

        let (product, version) = server_product(plugins);
        services.push(Service {
            host: host.to_string(),
            port,
            proto: "tcp".into(),
            name: if https { "https" } else { "http" }.into(),
            product,
            version,
            tls: https,
        });
        technologies(&mut findings, host, port, plugins);
        redirects(&mut out.redirects, url, plugins);

        let status = obj.get("http_status").and_then(Value::as_u64);
        if status.is_some_and(|s| (200..300).contains(&s)) {
            missing_headers(&mut findings, host, port, https, plugins);
        }
    }
    out.services = services.into_vec();
    out.findings = dedupe_findings(findings);
    Ok(out)
}

/// `--log-json-verbose` writes one `[url, status, [[plugin, [match...]]...]]` per line.
fn is_verbose(output: &[u8]) -> bool {
    let mut bytes = output.iter().filter(|b| !b.is_ascii_whitespace());
    bytes.next() == Some(&b'[') && bytes.next() == Some(&b'"')
}

/// The verbose lines as `--log-json` entries. A cut last line sets `partial`, a bad line
/// among good ones is a warning; with no good line the first bad one is the error.
fn read_verbose(output: &[u8], out: &mut ParsedOutput) -> Result<Vec<Value>, ParseError> {
    let text = String::from_utf8_lossy(output);
    let ends_cleanly = output.last().is_some_and(|&b| b == b'\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    let mut first_error: Option<ParseError> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if !line.starts_with('[') {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => match verbose_entry(&v) {
                Some(entry) => entries.push(entry),
                None => out.warnings.push(format!(
                    "line {}: not a [url, status, plugins] array",
                    i + 1
                )),
            },
            Err(e) if i + 1 == lines.len() && !ends_cleanly && e.is_eof() => {
                if entries.is_empty() {
                    return Err(json_error(TOOL, &e));
                }
                out.partial = Some(format!(
                    "last line is incomplete JSON: {e}; the {} lines before it kept",
                    entries.len()
                ));
            }
            Err(e) => {
                out.warnings.push(format!("line {}: {e}, skipped", i + 1));
                first_error.get_or_insert(json_error(TOOL, &e));
            }
        }
    }
    match first_error {
        Some(e) if entries.is_empty() => Err(e),
        _ => Ok(entries),
    }
}

/// `[url, status, [[name, [{"string": ..., "version": ...}, ...]], ...]]` as the
/// `--log-json` object `{target, http_status, plugins: {name: {field: [values]}}}`.
fn verbose_entry(line: &Value) -> Option<Value> {
    let [url, status, plugins] = line.as_array()?.as_slice() else {
        return None;
    };
    let mut named = Map::new();
    for plugin in plugins.as_array().into_iter().flatten() {
        let Some([name, matches]) = plugin.as_array().map(Vec::as_slice) else {
            continue;
        };
        let Some(name) = name.as_str() else {
            continue;
        };
        let mut fields: Map<String, Value> = Map::new();
        for m in matches
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            for field in DETAIL_FIELDS {
                let values: Vec<Value> = match m.get(*field) {
                    Some(Value::Array(a)) => a.iter().filter_map(scalar).collect(),
                    Some(v) => scalar(v).into_iter().collect(),
                    None => continue,
                };
                if let Value::Array(kept) = fields
                    .entry(field.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    for v in values {
                        if !kept.contains(&v) {
                            kept.push(v);
                        }
                    }
                }
            }
        }
        named.insert(name.to_string(), Value::Object(fields));
    }
    let mut obj = Map::new();
    obj.insert("target".into(), url.clone());
    obj.insert("http_status".into(), status.clone());
    obj.insert("plugins".into(), Value::Object(named));
    Some(Value::Object(obj))
}

/// A string or number as a JSON string, the way `--log-json` lists plugin values.
fn scalar(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => Some(Value::String(s.clone())),
        Value::Number(n) => Some(Value::String(n.to_string())),
        _ => None,
    }
}

/// The plugin fields that carry what was found (the rest is how: regexp, certainty).
const DETAIL_FIELDS: &[&str] = &[
    "version", "string", "os", "module", "model", "firmware", "account", "filepath",
];

fn read_array(output: &[u8]) -> Result<Vec<Value>, ParseError> {
    reject_empty(TOOL, output)?;
    let value = match serde_json::from_slice::<Value>(output) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return Err(json_error(TOOL, &e)),
        Err(first) => {
            let text = String::from_utf8_lossy(output);
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| {
                    matches!(
                        l.trim_start().as_bytes().first(),
                        Some(b'[' | b']' | b',' | b'{')
                    )
                })
                .collect();
            if kept.is_empty() {
                return Err(json_error(TOOL, &first));
            }
            serde_json::from_str::<Value>(&kept.join("\n")).map_err(|e| json_error(TOOL, &e))?
        }
    };
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(ParseError::Malformed {
            tool: TOOL,
            reason: "expected a JSON array of results".into(),
        }),
    }
}

/// First string of a plugin field (`string`, `version`, ...).
fn first<'a>(plugin: &'a Value, field: &str) -> Option<&'a str> {
    plugin.get(field).and_then(Value::as_array).and_then(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .find(|s| !s.is_empty())
    })
}

fn plugin_ci<'a>(plugins: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    plugins
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn server_product(plugins: &Map<String, Value>) -> (Option<String>, Option<String>) {
    if let Some(server) = plugins.get("HTTPServer").and_then(|p| first(p, "string")) {
        let token = server.split_whitespace().next().unwrap_or(server);
        let (product, version) = match token.split_once('/') {
            Some((p, v)) => (p.trim(), Some(v.trim()).filter(|v| !v.is_empty())),
            None => (server, None),
        };
        let version =
            version.or_else(|| plugin_ci(plugins, product).and_then(|p| first(p, "version")));
        return (Some(product.to_string()), version.map(str::to_string));
    }
    SERVERS
        .iter()
        .find_map(|name| {
            plugins
                .get(*name)
                .and_then(|p| first(p, "version"))
                .map(|v| (name, v))
        })
        .map_or((None, None), |(name, v)| {
            (Some(name.to_string()), Some(v.to_string()))
        })
}

fn technologies(findings: &mut Vec<Finding>, host: &str, port: u16, plugins: &Map<String, Value>) {
    for (name, plugin) in plugins {
        if NOT_TECHNOLOGY.contains(&name.as_str()) {
            continue;
        }
        let version = first(plugin, "version");
        if version.is_none() && !NOTABLE.contains(&name.as_str()) {
            continue;
        }
        let title = match version {
            Some(v) => format!("Technology: {name} {v}"),
            None => format!("Technology: {name}"),
        };
        let mut detail = Vec::new();
        for field in DETAIL_FIELDS {
            if let Some(values) = plugin.get(field).and_then(Value::as_array) {
                let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                if !values.is_empty() {
                    detail.push(format!("{field}: {}", values.join(", ")));
                }
            }
        }
        findings.push(new_finding(
            TOOL,
            host,
            Some(port),
            Severity::Info,
            title,
            detail.join("; "),
            Vec::new(),
            name.as_str(),
        ));
    }
}

/// Plugins whose `string` is a location whatweb would have gone to next.
const REDIRECT_PLUGINS: &[&str] = &["RedirectLocation", "Meta-Refresh-Redirect"];

/// Longest location kept: enough for any real redirect, and a hostile one stays small.
const MAX_LOCATION: usize = 500;

/// The redirects of one entry that leave its endpoint (see the module's mapping rules).
fn redirects(out: &mut Vec<Redirect>, from: &url::Url, plugins: &Map<String, Value>) {
    let (Some(from_host), Some(from_port)) = (from.host_str(), from.port_or_known_default()) else {
        return;
    };
    for name in REDIRECT_PLUGINS {
        let Some(location) = plugin_ci(plugins, name).and_then(|p| first(p, "string")) else {
            continue;
        };
        let Ok(to) = from.join(location) else {
            continue;
        };
        let (Some(host), Some(port)) = (to.host_str(), to.port_or_known_default()) else {
            continue;
        };
        let scheme = to.scheme().to_ascii_lowercase();
        let same_endpoint =
            scheme.eq_ignore_ascii_case(from.scheme()) && host == from_host && port == from_port;
        if !matches!(scheme.as_str(), "http" | "https") || same_endpoint {
            continue;
        }
        let redirect = Redirect {
            from_url: clip(from.as_str(), MAX_LOCATION),
            from_host: unbracket(from_host).to_string(),
            from_port,
            location: clip(to.as_str(), MAX_LOCATION),
            scheme,
            host: unbracket(host).to_string(),
            port,
        };
        if !out.contains(&redirect) {
            out.push(redirect);
        }
    }
}

fn missing_headers(
    findings: &mut Vec<Finding>,
    host: &str,
    port: u16,
    https: bool,
    plugins: &Map<String, Value>,
) {
    let uncommon: Vec<String> = plugins
        .get("UncommonHeaders")
        .and_then(|p| p.get("string"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .flat_map(|s| s.split(','))
                .map(|h| h.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    for &(header, https_only) in SECURITY_HEADERS {
        if https_only && !https {
            continue;
        }
        let lower = header.to_ascii_lowercase();
        if plugin_ci(plugins, header).is_some() || uncommon.contains(&lower) {
            continue;
        }
        findings.push(new_finding(
            TOOL,
            host,
            Some(port),
            Severity::Low,
            format!("Missing security header: {header}"),
            format!("The response does not set {header}."),
            Vec::new(),
            lower,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{
        check_fingerprints, check_hostile, check_malformed, check_truncated, data, titled, titles,
    };
    use super::*;

    const FIXTURES: &[&str] = &[
        "whatweb-http.json",
        "whatweb-https.json",
        "whatweb-fakeapache.json",
        "whatweb-closed.json",
        "whatweb-https-mixed-stdout.txt",
        "whatweb-redirect.json",
    ];

    fn service(
        host: &str,
        port: u16,
        name: &str,
        product: &str,
        version: &str,
        tls: bool,
    ) -> Service {
        Service {
            host: host.into(),
            port,
            proto: "tcp".into(),
            name: name.into(),
            product: Some(product.into()),
            version: Some(version.into()),
            tls,
        }
    }

    #[test]
    fn http_fixture() {
        let out = parse(&data("whatweb-http.json")).unwrap();
        assert_eq!(
            out.services,
            vec![service(
                "127.0.0.1",
                18080,
                "http",
                "SimpleHTTP",
                "0.6",
                false
            )]
        );
        assert_eq!(
            titles(&out),
            vec![
                (
                    "Missing security header: Content-Security-Policy",
                    Severity::Low
                ),
                (
                    "Missing security header: X-Content-Type-Options",
                    Severity::Low
                ),
                ("Missing security header: X-Frame-Options", Severity::Low),
                ("Technology: Python 3.11.7", Severity::Info),
                ("Technology: WordPress 5.8.1", Severity::Info),
            ]
        );
        let wp = titled(&out, "Technology: WordPress 5.8.1");
        assert_eq!(
            (wp.host.as_str(), wp.port, wp.evidence.as_str()),
            ("127.0.0.1", Some(18080), "WordPress")
        );
        assert_eq!(wp.detail, "version: 5.8.1");
    }

    #[test]
    fn https_fixture_and_mixed_stdout() {
        let out = parse(&data("whatweb-https.json")).unwrap();
        assert_eq!(
            out.services,
            vec![service(
                "127.0.0.1",
                18443,
                "https",
                "nginx",
                "1.22.1",
                true
            )]
        );
        assert_eq!(
            titles(&out),
            vec![
                (
                    "Missing security header: Content-Security-Policy",
                    Severity::Low
                ),
                (
                    "Missing security header: Strict-Transport-Security",
                    Severity::Low
                ),
                (
                    "Missing security header: X-Content-Type-Options",
                    Severity::Low
                ),
                ("Missing security header: X-Frame-Options", Severity::Low),
                ("Technology: WordPress 5.8.1", Severity::Info),
                ("Technology: nginx 1.22.1", Severity::Info),
            ]
        );
        // The brief coloured line between the JSON lines is skipped, giving the same result.
        assert_eq!(parse(&data("whatweb-https-mixed-stdout.txt")).unwrap(), out);
    }

    #[test]
    fn fake_apache_and_closed() {
        let out = parse(&data("whatweb-fakeapache.json")).unwrap();
        assert_eq!(
            out.services,
            vec![service(
                "127.0.0.1",
                18081,
                "http",
                "Apache",
                "2.2.3",
                false
            )]
        );
        let apache = titled(&out, "Technology: Apache 2.2.3");
        assert_eq!(apache.severity, Severity::Info);
        assert_eq!(
            parse(&data("whatweb-closed.json")).unwrap(),
            ParsedOutput::default()
        );
    }

    #[test]
    fn redirects_headers_and_defaults() {
        let json = br#"[
{"target":"http://[::1]/admin","http_status":301,"plugins":{"HTTPServer":{"string":["Apache"]},"RedirectLocation":{"string":["http://[::1]/admin/"]}}}
,
{"target":"http://[::1]/admin/","http_status":200,"plugins":{"Apache":{"version":["2.4.57"]},"HTTPServer":{"string":["Apache"]},"X-Frame-Options":{"string":["DENY"]},"UncommonHeaders":{"string":["x-content-type-options,content-security-policy"]},"PHP":{},"Open-Graph-Protocol":{"version":["website"]}}}
,
{"target":"https://example.test","http_status":200,"plugins":{"Strict-Transport-Security":{"string":["max-age=31536000"]},"X-Frame-Options":{},"UncommonHeaders":{"string":["X-Content-Type-Options","Content-Security-Policy"]}}}
,
{"target":"not a url"},
{"no_target":true},
7
]"#;
        let out = parse(json).unwrap();
        assert_eq!(out.services.len(), 2);
        assert_eq!(
            out.services[0],
            service("::1", 80, "http", "Apache", "2.4.57", false)
        );
        let tls = &out.services[1];
        assert_eq!(
            (
                tls.host.as_str(),
                tls.port,
                tls.name.as_str(),
                tls.product.as_deref(),
                tls.tls
            ),
            ("example.test", 443, "https", None, true)
        );
        assert_eq!(
            out.redirects,
            vec![],
            "/admin -> /admin/ stays on its endpoint"
        );
        assert_eq!(
            titles(&out),
            vec![
                ("Technology: Apache 2.4.57", Severity::Info),
                ("Technology: PHP", Severity::Info)
            ]
        );
    }

    #[test]
    fn a_redirect_to_another_endpoint_is_reported_not_followed() {
        let out = parse(&data("whatweb-redirect.json")).unwrap();
        assert_eq!(
            out.redirects,
            vec![Redirect {
                from_url: "http://127.0.0.1:41977/".into(),
                from_host: "127.0.0.1".into(),
                from_port: 41977,
                location: "http://10.77.9.1/".into(),
                scheme: "http".into(),
                host: "10.77.9.1".into(),
                port: 80,
            }]
        );
        // The redirecting server is still a service; the target is not (nothing reached it).
        assert_eq!(out.services.len(), 1);
        assert_eq!(out.services[0].port, 41977);
    }

    #[test]
    fn redirects_resolve_relative_locations_and_skip_the_same_endpoint() {
        let json = br#"[
{"target":"http://127.0.0.1:8080/a","http_status":301,"plugins":{"RedirectLocation":{"string":["/a/"]}}},
{"target":"http://127.0.0.1:8080/b","http_status":302,"plugins":{"RedirectLocation":{"string":["https://127.0.0.1:8080/b"]}}},
{"target":"http://127.0.0.1:8080/c","http_status":302,"plugins":{"RedirectLocation":{"string":["//[::1]:8443/c?x=1&y=2"]}}},
{"target":"http://127.0.0.1:8080/d","http_status":200,"plugins":{"Meta-Refresh-Redirect":{"string":["http://localhost:9000/"]}}},
{"target":"http://127.0.0.1:8080/e","http_status":302,"plugins":{"RedirectLocation":{"string":["ftp://10.0.0.1/"]}}},
{"target":"http://127.0.0.1:8080/f","http_status":302,"plugins":{"RedirectLocation":{"string":["http://["]}}}
]"#;
        let out = parse(json).unwrap();
        let to: Vec<(&str, &str, u16)> = out
            .redirects
            .iter()
            .map(|r| (r.scheme.as_str(), r.host.as_str(), r.port))
            .collect();
        // http -> https on the same port is another endpoint; ftp and garbage are dropped.
        assert_eq!(
            to,
            vec![
                ("https", "127.0.0.1", 8080),
                ("http", "::1", 8443),
                ("http", "localhost", 9000)
            ]
        );
        assert_eq!(out.redirects[1].location, "http://[::1]:8443/c?x=1&y=2");
        assert_eq!(out.redirects[1].from_url, "http://127.0.0.1:8080/c");
    }

    #[test]
    fn error_classes() {
        check_malformed(
            parse,
            &[
                b"",
                b"{\"target\":\"http://x\"}",
                b"ERROR Opening: http://127.0.0.1:18999 - Connection refused",
            ],
        );
        let full = data("whatweb-http.json");
        let mixed = data("whatweb-https-mixed-stdout.txt");
        check_truncated(parse, &[&full[..full.len() / 2], &mixed[..mixed.len() - 3]]);
    }

    #[test]
    fn truncation_and_garbling_never_panic() {
        for name in FIXTURES {
            let input = data(name);
            let last = input.iter().rposition(|&b| b == b']').unwrap();
            check_hostile(parse, &input, |p| p.len() <= last);
        }
    }

    #[test]
    fn fingerprints_stable_and_unique() {
        for name in FIXTURES {
            check_fingerprints(parse, &data(name));
        }
    }

    #[test]
    fn verbose_one_line() {
        let out = parse(&data("whatweb-verbose-one.json")).unwrap();
        assert_eq!(out.services.len(), 1);
        let svc = &out.services[0];
        assert_eq!(
            (
                svc.host.as_str(),
                svc.port,
                svc.product.as_deref(),
                svc.version.as_deref()
            ),
            ("127.0.0.1", 18731, Some("SimpleHTTP"), Some("0.6"))
        );
        let wp = titled(&out, "Technology: WordPress 5.8.1");
        assert_eq!(wp.severity, Severity::Info);
        assert!(titled(&out, "Missing security header: X-Frame-Options").port == Some(18731));
        assert!(out.warnings.is_empty() && out.partial.is_none());
    }

    #[test]
    fn verbose_lines_give_what_log_json_gives() {
        let verbose = parse(&data("whatweb-verbose-two.json")).unwrap();
        let plain = parse(&data("whatweb-verbose-two-as-log-json.json")).unwrap();
        assert_eq!(verbose.services.len(), 2, "{:?}", verbose.services);
        assert_eq!(verbose, plain, "the same run logged both ways");

        // A cut last line keeps the first; a bad line among good ones is a warning.
        let full = data("whatweb-verbose-two.json");
        let cut = parse(&full[..full.len() - 40]).unwrap();
        assert_eq!(cut.services.len(), 1);
        assert!(cut.partial.is_some());
        let first_end = full.iter().position(|&b| b == b'\n').unwrap();
        check_truncated(parse, &[&full[..first_end - 40]]);
        let garbled = [&full[..=first_end], b"[\"http://x/\",200,[oops]]\n"].concat();
        let out = parse(&garbled).unwrap();
        assert_eq!(
            (out.services.len(), out.warnings.len()),
            (1, 1),
            "{:?}",
            out.warnings
        );
        check_malformed(parse, &[b"[\"http://x/\",200,[oops]]\n"]);
        let odd =
            parse(b"[\"not a url\",200,[]]\n[\"http://h:81/\",null,[[\"X\",[{\"version\":7}]]]]\n")
                .unwrap();
        assert_eq!(odd.warnings.len(), 1, "{:?}", odd.warnings);
        assert_eq!(odd.services[0].port, 81);
        assert_eq!(titled(&odd, "Technology: X 7").evidence, "X");
    }

    #[test]
    fn real_reports() {
        use super::super::testkit::check_real_reports;
        // whatweb writes no CVE ids; every target of a file must become a service.
        check_real_reports(
            TOOL,
            |bytes| {
                let out = parse(bytes)?;
                let text = String::from_utf8_lossy(bytes);
                let targets = text.matches("\"target\"").count()
                    + text.lines().filter(|l| l.starts_with("[\"")).count();
                assert!(out.services.len() <= targets && (targets == 0) == out.services.is_empty());
                assert!(out.warnings.is_empty(), "{:?}", out.warnings);
                Ok(out)
            },
            &[],
            |bytes| crate::parsers::normalize::cves_in_text(&String::from_utf8_lossy(bytes)),
            &[],
        );
    }
}
