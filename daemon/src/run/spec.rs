//! The configured tools as runnable specs: where each program is, its version, and how
//! its argv template expands for one run target.
//!
//! Template values come only from validated targets (an IP, a ports spec of digits, a URL
//! serialized by the url crate, a host name of letters, digits, dots and dashes), each
//! substituted inside one argv element: nothing a user types can add an argument or start
//! with '-'. Every placeholder a tool connects to holds the checked address; the user's host
//! name reaches a tool only through `{name}`, `{hostname}`, `{nameport}` and `{vhost}`, for
//! the tool's own pinning option (SNI, Host header), so the tool never looks it up again.
//! Must not run scans (run/tool_actor.rs does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ParserSpec, ToolConfig};
use crate::parsers::normalize::{clip, strip_ansi};
use crate::parsers::{BuiltinParser, ParseError, ParsedOutput};
use crate::run::versions::{Fingerprint, VersionCache};

/// One tool, resolved.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub config: ToolConfig,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
}

/// What a single run is pointed at (sent as it is to a cluster's workers: cluster/runs.rs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RunTarget {
    /// Checked address (or CIDR) given to the tool.
    pub host: String,
    pub port: Option<u16>,
    /// A URL whose host is the checked address, never a name.
    pub url: Option<String>,
    pub ports: Option<String>,
    /// The host name the user gave for this address, if any: for SNI and Host headers only.
    pub name: Option<String>,
    /// How the run is named in reports: the host, host:port, or the URL (all with the
    /// address), followed by ` (name)` when the user gave a name.
    pub label: String,
    /// The scan profile's arguments for this tool (`[profiles.X.args]`), taken as they are,
    /// for the template's `{profile_args}` element. Trusted: they come from the config.
    pub profile_args: Vec<String>,
}

impl RunTarget {
    pub fn host(host: &str, ports: Option<String>) -> Self {
        Self {
            host: host.into(),
            port: None,
            url: None,
            ports,
            name: None,
            label: host.into(),
            profile_args: Vec::new(),
        }
    }

    pub fn service(host: &str, port: u16, scheme: Option<&str>) -> Self {
        let hostport = host_port(host, port);
        let url = scheme.map(|s| format!("{s}://{hostport}/"));
        Self {
            host: host.into(),
            port: Some(port),
            label: url.clone().unwrap_or_else(|| hostport.clone()),
            url,
            ports: Some(port.to_string()),
            name: None,
            profile_args: Vec::new(),
        }
    }

    /// The same run with the profile's arguments for its tool (none when `args` is None).
    pub fn with_profile_args(mut self, args: Option<&Vec<String>>) -> Self {
        self.profile_args = args.cloned().unwrap_or_default();
        self
    }

    /// The same run for the name the user gave (if any). Called last, once the label is
    /// final: the name joins the label, so two names on one address stay two runs (two
    /// virtual hosts) instead of one.
    pub fn named(mut self, name: Option<&str>) -> Self {
        if let Some(n) = name {
            self.label = format!("{} ({n})", self.label);
            self.name = Some(n.to_string());
        }
        self
    }

    /// The label as it was before `named`: what the tool is pointed at, address only.
    fn connect_label(&self) -> &str {
        let suffix = self.name.as_ref().map(|n| format!(" ({n})"));
        suffix
            .and_then(|s| self.label.strip_suffix(&s))
            .unwrap_or(&self.label)
    }

    /// The name, or else the address: what certificate and virtual-host checks expect.
    fn name_or_host(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.host)
    }

    /// The value of an HTTP Host header: the name (or the address, bracketed if IPv6),
    /// with `:port` unless the port is the URL scheme's default.
    fn vhost(&self) -> String {
        let default_port = match self.url.as_deref() {
            Some(u) if u.starts_with("https:") => Some(443),
            Some(u) if u.starts_with("http:") => Some(80),
            _ => None,
        };
        match self.port {
            Some(p) if Some(p) != default_port => host_port(self.name_or_host(), p),
            _ if self.name_or_host().contains(':') => format!("[{}]", self.name_or_host()),
            _ => self.name_or_host().to_string(),
        }
    }
}

/// `host:port`, with IPv6 addresses bracketed so tools can split it.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("tool {tool} needs {{{placeholder}}} but run target {target} has none; give a URL target or --ports")]
    Missing {
        tool: String,
        placeholder: &'static str,
        target: String,
    },
}

impl ToolSpec {
    pub fn installed(&self) -> bool {
        self.path.is_some()
    }

    /// Expands the argv template. An argument whose placeholder has no value is left out
    /// (so `-p{ports}` disappears when no ports were given, `--sni={hostname}` when the
    /// target has no name); `{host}`, `{url}`, `{hostport}`, `{nameport}` and `{outfile}`
    /// are required where they appear. The element `{profile_args}` becomes the profile's
    /// arguments for this tool, as they are (zero or more elements).
    pub fn argv(
        &self,
        target: &RunTarget,
        outfile: Option<&Path>,
    ) -> Result<Vec<String>, TemplateError> {
        let hostport = target.port.map(|p| host_port(&target.host, p));
        let nameport = target.port.map(|p| host_port(target.name_or_host(), p));
        let port = target.port.map(|p| p.to_string());
        let out = outfile.map(|p| p.display().to_string());
        let vhost = target.vhost();
        // `{target}` is the label without the name: the URL, host:port or address.
        let connect = target.connect_label();
        let values: [(&'static str, Option<&str>, bool); 11] = [
            ("host", Some(target.host.as_str()), true),
            ("target", Some(connect), true),
            ("url", target.url.as_deref(), true),
            ("hostport", hostport.as_deref(), true),
            ("port", port.as_deref(), true),
            ("outfile", out.as_deref(), true),
            ("ports", target.ports.as_deref(), false),
            ("name", Some(target.name_or_host()), true),
            ("hostname", target.name.as_deref(), false),
            ("nameport", nameport.as_deref(), true),
            ("vhost", Some(vhost.as_str()), true),
        ];
        let mut argv = Vec::with_capacity(self.config.args.len() + target.profile_args.len());
        for arg in &self.config.args {
            if arg == crate::config::PROFILE_ARGS {
                argv.extend(target.profile_args.iter().cloned());
            } else if let Some(expanded) = self.expand(arg, &values, target)? {
                argv.push(expanded);
            }
        }
        Ok(argv)
    }

    /// One template element with its placeholders replaced; None when an optional one has
    /// no value (the element is left out).
    fn expand(
        &self,
        arg: &str,
        values: &[(&'static str, Option<&str>, bool)],
        target: &RunTarget,
    ) -> Result<Option<String>, TemplateError> {
        let mut expanded = arg.to_string();
        for (name, value, required) in values {
            let key = format!("{{{name}}}");
            if !expanded.contains(&key) {
                continue;
            }
            match value {
                Some(v) => expanded = expanded.replace(&key, v),
                None if *required => {
                    return Err(TemplateError::Missing {
                        tool: self.name.clone(),
                        placeholder: name,
                        target: target.label.clone(),
                    })
                }
                None => return Ok(None),
            }
        }
        Ok(Some(expanded))
    }

    pub fn needs_service(&self) -> bool {
        self.config.args.iter().any(|a| {
            ["{url}", "{port}", "{hostport}", "{nameport}"]
                .iter()
                .any(|p| a.contains(p))
        })
    }

    pub fn uses_url(&self) -> bool {
        self.config.args.iter().any(|a| a.contains("{url}"))
    }

    pub fn wants_file_output(&self) -> bool {
        self.config.output == crate::config::OutputSource::File
    }

    pub fn exit_ok(&self, code: Option<i32>) -> bool {
        match code {
            Some(0) => true,
            Some(c) => {
                self.config.ok_exit_codes.contains(&c)
                    && self.config.fatal_exit_from.is_none_or(|f| c < f)
            }
            None => false,
        }
    }

    pub fn parse(&self, output: &[u8], default_host: &str) -> Result<ParsedOutput, ParseError> {
        match &self.config.parser {
            ParserSpec::Builtin(name) => match BuiltinParser::from_name(name) {
                Some(p) => p.parse_on(output, default_host),
                None => Err(ParseError::Malformed {
                    tool: "config",
                    reason: format!("unknown parser {name}"),
                }),
            },
            ParserSpec::Generic(mapping) => {
                crate::parsers::generic::parse(mapping, &self.name, default_host, output)
            }
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }
}

/// A parser that panicked on the blocking pool (a bug: the parsers are meant never to).
#[derive(Debug, thiserror::Error)]
#[error("the {tool} parser crashed: {source}; report this with the tool's output")]
pub struct ParserCrashed {
    pub tool: String,
    pub source: tokio::task::JoinError,
}

/// Parses a tool's output. Almost all outputs are small and parse inline, which costs less
/// than a hand-off; a big one (a large nmap XML) goes to the blocking pool so it doesn't
/// stall the actors. The outer error is a parser that panicked.
pub async fn parse_output(
    spec: &ToolSpec,
    output: Arc<[u8]>,
    host: &str,
) -> Result<Result<ParsedOutput, ParseError>, ParserCrashed> {
    const INLINE_LIMIT: usize = 64 * 1024;
    if output.len() <= INLINE_LIMIT {
        return Ok(spec.parse(&output, host));
    }
    let (spec, host) = (spec.clone(), host.to_string());
    let tool = spec.name.clone();
    tokio::task::spawn_blocking(move || spec.parse(&output, &host))
        .await
        .map_err(|source| ParserCrashed { tool, source })
}

/// Finds a program the way execvp would: a path with a slash is taken as it is (relative
/// to the current directory), else PATH is searched (execvp's default list when PATH is
/// unset). The `which` crate does the search, as it does for the client's autostart: one
/// PATH lookup for the workspace.
pub fn find_program(program: &str) -> Option<PathBuf> {
    const EXECVP_DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    let paths = std::env::var_os("PATH").unwrap_or_else(|| EXECVP_DEFAULT_PATH.into());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in(program, Some(paths), cwd).ok()
}

/// First meaningful line of `program --version`, bounded in time.
async fn probe_version(path: &Path, args: &[String]) -> Option<String> {
    if args.is_empty() {
        return None;
    }
    let never = tokio_util::sync::CancellationToken::new();
    let out =
        crate::run::process::run(path, args, Duration::from_secs(10), 64 * 1024, &never, None)
            .await;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .into_owned();
    version_line(&text)
}

/// The first line that carries a dotted version number, without colour codes and with
/// runs of spaces folded (testssl.sh prints a coloured banner before its version).
fn version_line(text: &str) -> Option<String> {
    let dotted = regex::Regex::new(r"\d+\.\d+").ok()?;
    let clean = strip_ansi(text);
    let line = clean.lines().find(|l| dotted.is_match(l))?;
    let folded = line.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(clip(&folded, 120))
}

pub type ToolSet = Arc<BTreeMap<String, Arc<ToolSpec>>>;

/// Resolves one configured tool: where its program is and which version it reports,
/// from `versions` when this state of the program was probed before.
pub async fn resolve_one(name: &str, config: &ToolConfig, versions: &VersionCache) -> ToolSpec {
    let path = find_program(&config.program);
    let version = match &path {
        Some(p) => version_of(p, &config.version_args, versions).await,
        None => None,
    };
    ToolSpec {
        name: name.to_string(),
        config: config.clone(),
        path,
        version,
    }
}

/// The program's version: remembered for this very file, else probed (and remembered).
/// The file is looked at before the probe, so a change during the probe is seen next time.
async fn version_of(program: &Path, args: &[String], versions: &VersionCache) -> Option<String> {
    if args.is_empty() {
        return None;
    }
    let file = Fingerprint::of(program);
    if let Some((path, fp)) = &file {
        if let Some(v) = versions.get(path, args, fp) {
            return Some(v);
        }
    }
    let version = probe_version(program, args).await;
    if let (Some((path, fp)), Some(v)) = (file, &version) {
        versions.remember(&path, args, fp, v).await;
    }
    version
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_lines() {
        let testssl = "\n\x1b[0;35mNo engine or GOST support\x1b[m\n\x1b[1m\n###\n    testssl       3.0.8 from \x1b[m\x1b[1mhttps://testssl.sh/\x1b[m\n";
        assert_eq!(
            super::version_line(testssl).as_deref(),
            Some("testssl 3.0.8 from https://testssl.sh/")
        );
        assert_eq!(
            super::version_line("Nmap version 7.93 ( https://nmap.org )\n").as_deref(),
            Some("Nmap version 7.93 ( https://nmap.org )")
        );
        assert_eq!(super::version_line("no digits here\n"), None);
    }

    fn builtin(name: &str) -> super::ToolSpec {
        super::ToolSpec {
            name: name.into(),
            config: crate::config::builtin_tools()[name].clone(),
            path: None,
            version: None,
        }
    }

    /// The built-in tools connect to the checked address and get the name only through
    /// their pinning options; with no name, nmap's script arguments are left out.
    #[test]
    fn builtin_tools_connect_to_the_address_and_carry_the_name_for_sni_and_host() {
        use super::RunTarget;
        let named = |rt: RunTarget| rt.named(Some("myname.lan"));
        let argv = |tool: &str, rt: &RunTarget| {
            let out = std::path::Path::new("/tmp/out");
            builtin(tool).argv(rt, Some(out)).unwrap().join(" ")
        };
        let host = named(RunTarget::host("127.0.0.1", Some("80".into())));
        assert_eq!(
            argv("nmap", &host),
            "-sT -sV -Pn -n -p80 --script-args=http.host=myname.lan,tls.servername=myname.lan -oX - 127.0.0.1"
        );
        let web = named(RunTarget::service("127.0.0.1", 8080, Some("http")));
        assert_eq!(web.label, "http://127.0.0.1:8080/ (myname.lan)");
        assert_eq!(
            argv("whatweb", &web),
            "-q --color=never --follow-redirect=never --log-json=- --header Host:myname.lan:8080 http://127.0.0.1:8080/"
        );
        assert_eq!(
            argv("nuclei", &web),
            "-jsonl -silent -disable-update-check -H Host:myname.lan:8080 -sni=myname.lan -dr -u http://127.0.0.1:8080/"
        );
        let unnamed = RunTarget::service("127.0.0.1", 8080, Some("http"));
        assert!(!argv("nuclei", &unnamed).contains("-sni"));
        let tls = named(RunTarget::service("127.0.0.1", 443, Some("https")));
        assert!(argv("whatweb", &tls).ends_with("Host:myname.lan https://127.0.0.1:443/"));
        assert_eq!(
            argv("sslscan", &tls),
            "--xml=- --sni-name=myname.lan 127.0.0.1:443"
        );
        assert!(
            argv("testssl", &tls).ends_with("--ip 127.0.0.1 --jsonfile /tmp/out myname.lan:443"),
            "{}",
            argv("testssl", &tls)
        );
        let bare = RunTarget::host("127.0.0.1", None);
        assert_eq!(argv("nmap", &bare), "-sT -sV -Pn -n -oX - 127.0.0.1");
        let v6 = RunTarget::service("::1", 8443, Some("https"));
        assert_eq!(argv("sslscan", &v6), "--xml=- --sni-name=::1 [::1]:8443");
        assert!(argv("testssl", &v6).ends_with("--ip ::1 --jsonfile /tmp/out [::1]:8443"));
        assert!(argv("whatweb", &v6).ends_with("Host:[::1]:8443 https://[::1]:8443/"));
    }

    /// `{target}` stays what the tool connects to, whatever name the label shows.
    #[test]
    fn the_target_placeholder_is_the_address_even_for_a_named_run() {
        let mut spec = builtin("nmap");
        spec.config.args = vec!["{target}".into(), "{name}".into(), "{vhost}".into()];
        let rt = super::RunTarget::service("127.0.0.1", 80, Some("http")).named(Some("a.lan"));
        assert_eq!(
            spec.argv(&rt, None).unwrap(),
            ["http://127.0.0.1:80/", "a.lan", "a.lan"]
        );
    }

    #[test]
    fn programs_are_found_as_execvp_finds_them() {
        use super::find_program;
        assert!(find_program("sh").is_some());
        assert_eq!(
            find_program("/bin/sh").as_deref(),
            Some(std::path::Path::new("/bin/sh"))
        );
        assert_eq!(find_program("picket-no-such-program"), None);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("data.txt");
        std::fs::write(&plain, "not a program").unwrap();
        assert_eq!(
            find_program(plain.to_str().unwrap()),
            None,
            "not executable"
        );
        assert_eq!(
            find_program(dir.path().to_str().unwrap()),
            None,
            "a directory"
        );
    }

    /// `{profile_args}` becomes the profile's arguments, zero or more, as they are; the
    /// argv of the built-in profiles says how hard nmap works.
    #[test]
    fn profile_args_expand_to_zero_or_more_elements() {
        let profiles = crate::config::builtin_profiles();
        let argv = |profile: &str| {
            let rt = super::RunTarget::host("127.0.0.1", Some("80,443".into()))
                .with_profile_args(profiles[profile].args.get("nmap"));
            builtin("nmap").argv(&rt, None).unwrap().join(" ")
        };
        assert_eq!(
            argv("quick"),
            "-sT -sV --version-light -Pn -n -p80,443 -oX - 127.0.0.1"
        );
        assert_eq!(
            argv("thorough"),
            "-sT -sV -sC -Pn -n -p80,443 -oX - 127.0.0.1"
        );
        assert_eq!(argv("tls"), "-sT -sV -Pn -n -p80,443 -oX - 127.0.0.1");

        let mut spec = builtin("nmap");
        spec.config.args = vec!["a".into(), "{profile_args}".into(), "{host}".into()];
        let many = vec!["--x={host}".to_string(), String::new(), "-y".into()];
        let rt = super::RunTarget::host("127.0.0.1", None).with_profile_args(Some(&many));
        assert_eq!(
            spec.argv(&rt, None).unwrap(),
            ["a", "--x={host}", "", "-y", "127.0.0.1"],
            "taken as they are, no placeholder expanded"
        );
        let none = super::RunTarget::host("127.0.0.1", None).with_profile_args(None);
        assert_eq!(spec.argv(&none, None).unwrap(), ["a", "127.0.0.1"]);
    }

    /// Two profiles' nmap runs on one host are two cache keys, never one shared result.
    #[test]
    fn profile_args_reach_the_cache_key() {
        let spec = builtin("nmap");
        let rt = super::RunTarget::host("127.0.0.1", None);
        let light = rt
            .clone()
            .with_profile_args(Some(&vec!["--version-light".into()]));
        assert_ne!(
            crate::cache::cached_run::cache_key(&spec, &rt),
            crate::cache::cached_run::cache_key(&spec, &light)
        );
    }
}
