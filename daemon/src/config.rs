//! Configuration: built-in defaults, then TOML files layered in order, then flags.
//!
//! Owns the shape of `picketd.toml`, the merge order of DESIGN.md and the default paths.
//! Must not act on the config (open sockets, start tools): callers do, and SIGHUP reloads
//! go through `Config::load` again so a broken file never replaces a good config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::parsers::generic::GenericMapping;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration (after merging {files}): {message}")]
    Invalid { files: String, message: String },
    #[error("invalid configuration (after merging {files}): {problem}")]
    Rejected {
        files: String,
        #[source]
        problem: ConfigProblem,
    },
}

/// A setting that parses but can't work; each message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    #[error("max_frame_bytes = {0} is too small (at least 1024)")]
    FrameCapTooSmall(usize),
    #[error("limits.max_concurrent_scans and limits.per_target must be at least 1")]
    ZeroLimit,
    #[error(
        "limits.max_pending_frame_bytes = {budget} is below max_frame_bytes = {cap}: a request \
         at the cap could never be received; raise it to at least {cap}"
    )]
    BudgetBelowCap { budget: usize, cap: usize },
    #[error(
        "limits.handshake_timeout_secs and limits.idle_timeout_secs must be at least 1: \
         0 would close every connection at once"
    )]
    ZeroTimeout,
    #[error(
        "db.pool_size must be at least 2: the writer keeps one connection for itself, \
         reads and background checkpoints share the others"
    )]
    PoolTooSmall,
    #[error("tools.{0}.concurrency must be at least 1")]
    ZeroConcurrency(String),
    #[error("tools.{tool}.parser = \"{parser}\" is not a built-in parser (nmap, sslscan, whatweb, testssl, nuclei) nor a generic mapping table")]
    UnknownParser { tool: String, parser: String },
    #[error("tools.{tool}.parser: {source}")]
    BadMapping {
        tool: String,
        source: crate::parsers::generic::MappingError,
    },
    #[error("profiles.{profile} names tool \"{tool}\", which is not configured under [tools]")]
    UnknownProfileTool { profile: String, tool: String },
    #[error(transparent)]
    Scope(#[from] crate::scope::ScopeError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// tracing filter, e.g. "info" or "picketd=debug"; RUST_LOG wins when set.
    pub log_level: String,
    pub socket: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub max_frame_bytes: usize,
    /// Re-queue scans that were running when the daemon died.
    pub resume_interrupted: bool,
    pub access: AccessConfig,
    pub limits: Limits,
    pub scope: ScopeConfig,
    pub db: DbConfig,
    pub cache: CacheConfig,
    pub tools: BTreeMap<String, ToolConfig>,
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Extra uids allowed on the socket besides the daemon's own and root.
    pub allow_uids: Vec<u32>,
    /// A group whose members may use the socket (gid number).
    pub allow_gid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_concurrent_scans: u32,
    pub max_queued_scans: u32,
    pub per_target: u32,
    pub scan_deadline_secs: u64,
    /// How long SIGTERM waits for in-flight requests before closing.
    pub shutdown_grace_secs: u64,
    pub max_connections: u32,
    /// Bytes all partly received frames may hold together (the frame cap bounds one frame).
    /// Read at start; a reload does not change it.
    pub max_pending_frame_bytes: usize,
    /// A connection must finish the handshake within this many seconds.
    pub handshake_timeout_secs: u64,
    /// An authenticated connection with no request for this long is closed.
    pub idle_timeout_secs: u64,
    /// Largest report `picket import` may send: the daemon holds one whole report while
    /// it parses it (and what it parses into, a few times its size), so this bounds that memory.
    pub max_import_bytes: u64,
}

/// 256 MiB: well above any report seen in practice, far below a daemon's memory.
pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_scans: 4,
            max_queued_scans: 10_000,
            per_target: 4,
            scan_deadline_secs: 3600,
            shutdown_grace_secs: 10,
            max_connections: 512,
            // Four requests at the default 16 MiB cap, arriving at once.
            max_pending_frame_bytes: 64 * 1024 * 1024,
            handshake_timeout_secs: 5,
            idle_timeout_secs: 600,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopeConfig {
    /// CIDRs, hosts or `*.domain` patterns a target must match.
    pub allow: Vec<String>,
    /// Same forms; a match here refuses the target even when `allow` matches.
    pub deny: Vec<String>,
}

impl Default for ScopeConfig {
    fn default() -> Self {
        Self {
            allow: vec!["127.0.0.0/8".into(), "::1/128".into(), "localhost".into()],
            deny: vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbConfig {
    /// Connections in the pool, the writer's own included (it keeps one for good).
    pub pool_size: usize,
    pub busy_timeout_ms: u64,
    pub mmap_size: u64,
    pub slow_query_ms: u64,
    /// Largest number of queued writes committed in one transaction.
    pub write_batch: usize,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            pool_size: 8,
            busy_timeout_ms: 5000,
            mmap_size: 256 * 1024 * 1024,
            slow_query_ms: 100,
            write_batch: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// L1 (memory) capacity; entries are weighed by their output's size.
    pub capacity_bytes: u64,
    /// How often expired entries are removed from both levels.
    pub cleanup_interval_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity_bytes: 256 * 1024 * 1024,
            cleanup_interval_secs: 300,
        }
    }
}

/// Where a tool writes the output its parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputSource {
    #[default]
    Stdout,
    /// A fresh file whose path replaces `{outfile}` in the argv (testssl.sh's JSON).
    File,
}

/// `parser = "nmap"` names a built-in parser; a `[tools.X.parser]` table is a generic
/// mapping, whose pattern compiles while the file is read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParserSpec {
    Builtin(String),
    Generic(GenericMapping),
}

/// By hand rather than `untagged`: an untagged enum replaces the mapping's own error (an
/// invalid pattern, a typo'd key) with "did not match any variant", which names no fix.
impl<'de> Deserialize<'de> for ParserSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Spec;
        impl<'de> serde::de::Visitor<'de> for Spec {
            type Value = ParserSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a built-in parser name or a generic mapping table")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<ParserSpec, E> {
                Ok(ParserSpec::Builtin(name.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ParserSpec, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                GenericMapping::deserialize(d).map(ParserSpec::Generic)
            }
        }
        d.deserialize_any(Spec)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    pub program: String,
    /// argv template. What the tool connects to, always the checked address: {host}
    /// {hostport} {url} {target}; plus {port} {ports} {outfile}. The user's host name, for
    /// the tool's pinning options only (SNI, Host header): {name} (or the address),
    /// {nameport}, {vhost} (Host header value), {hostname} (argument dropped if no name).
    pub args: Vec<String>,
    /// argv that prints the tool's version (first line kept).
    #[serde(default)]
    pub version_args: Vec<String>,
    pub parser: ParserSpec,
    #[serde(default)]
    pub output: OutputSource,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
    /// Service names that trigger this tool as a follow-up ("http", "https", "ssl").
    #[serde(default)]
    pub triggers: Vec<String>,
    #[serde(default = "default_output_cap")]
    pub output_cap_bytes: usize,
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Exit codes that mean success besides 0 (testssl.sh sums its checks' codes).
    #[serde(default)]
    pub ok_exit_codes: Vec<i32>,
    /// Exit codes at or above this are failures even if listed as ok.
    #[serde(default)]
    pub fatal_exit_from: Option<i32>,
}

fn default_timeout() -> u64 {
    300
}
fn default_concurrency() -> u32 {
    2
}
fn default_ttl() -> u64 {
    600
}
fn default_output_cap() -> usize {
    8 * 1024 * 1024
}
fn default_retries() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Tools run first, against the target and the ports spec.
    pub discovery: Vec<String>,
    /// Tools triggered by services that discovery found (by their `triggers`).
    pub follow_up: Vec<String>,
    /// Tools run directly on the target (no discovery needed).
    pub direct: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            socket: None,
            data_dir: None,
            max_frame_bytes: picket_protocol::DEFAULT_MAX_FRAME,
            resume_interrupted: true,
            access: AccessConfig::default(),
            limits: Limits::default(),
            scope: ScopeConfig::default(),
            db: DbConfig::default(),
            cache: CacheConfig::default(),
            tools: builtin_tools(),
            profiles: builtin_profiles(),
        }
    }
}

fn tool(
    program: &str,
    args: &[&str],
    parser: &str,
    timeout: u64,
    concurrency: u32,
    ttl: u64,
    triggers: &[&str],
) -> ToolConfig {
    ToolConfig {
        program: program.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        version_args: vec!["--version".into()],
        parser: ParserSpec::Builtin(parser.into()),
        output: OutputSource::Stdout,
        timeout_secs: timeout,
        concurrency,
        ttl_secs: ttl,
        triggers: triggers.iter().map(|s| s.to_string()).collect(),
        output_cap_bytes: default_output_cap(),
        retries: 1,
        ok_exit_codes: vec![],
        fatal_exit_from: None,
    }
}

/// whatweb's argv. `--follow-redirect=never`: by default whatweb follows every redirect,
/// wherever it points; the redirects it reports are checked against the scope by the scan
/// supervisor instead (scan/redirects.rs).
const WHATWEB_ARGS: &[&str] = &[
    "-q",
    "--color=never",
    "--follow-redirect=never",
    "--log-json=-",
    // Address URL, name as Host header (whatweb has no SNI option).
    "--header",
    "Host:{vhost}",
    "{url}",
];

/// The tools Picket knows out of the box; see ../shared/fixtures/COMMANDS.md for why each
/// argv looks the way it does.
pub fn builtin_tools() -> BTreeMap<String, ToolConfig> {
    let mut tools = BTreeMap::new();
    // -sT: no raw sockets needed (-sS needs CAP_NET_RAW); -Pn: the host is named, don't ping.
    // The name (when there is one) reaches NSE's HTTP Host header and TLS SNI through
    // script arguments; nmap itself only ever gets the checked address.
    tools.insert(
        "nmap".into(),
        tool(
            "nmap",
            &[
                "-sT",
                "-sV",
                "-Pn",
                "-n",
                "-p{ports}",
                "--script-args=http.host={hostname},tls.servername={hostname}",
                "-oX",
                "-",
                "{host}",
            ],
            "nmap",
            600,
            4,
            600,
            &[],
        ),
    );
    // -q: without it whatweb interleaves coloured text with the JSON. The URL holds the
    // address; the name goes in the Host header (whatweb has no SNI option).
    tools.insert(
        "whatweb".into(),
        tool(
            "whatweb",
            WHATWEB_ARGS,
            "whatweb",
            120,
            2,
            600,
            &["http", "https"],
        ),
    );
    // sslscan exits 0 on failure; the parser reads <error>. It connects to the address and
    // sends the name as SNI.
    tools.insert(
        "sslscan".into(),
        tool(
            "sslscan",
            &["--xml=-", "--sni-name={name}", "{hostport}"],
            "sslscan",
            120,
            2,
            3600,
            &["https", "ssl", "tls"],
        ),
    );
    tools.insert("testssl".into(), testssl());
    tools.insert("nuclei".into(), nuclei());
    tools
}

/// testssl.sh writes its JSON to a file and sums its checks' exit codes.
fn testssl() -> ToolConfig {
    let mut testssl = tool(
        "testssl",
        &[
            "--quiet",
            "--warnings",
            "batch",
            "--color",
            "0",
            "--nodns",
            "none",
            // --ip: connect to the checked address, never to what the name resolves to;
            // the name stays the target, for SNI and the certificate's name check.
            "--ip",
            "{host}",
            "--jsonfile",
            "{outfile}",
            "{nameport}",
        ],
        "testssl",
        600,
        1,
        3600,
        &["https", "ssl", "tls"],
    );
    testssl.output = OutputSource::File;
    // The exit code is the sum of the checks' codes; 242..=255 are fatal.
    testssl.ok_exit_codes = (1..242).collect();
    testssl.fatal_exit_from = Some(242);
    testssl
}

fn nuclei() -> ToolConfig {
    let mut nuclei = tool(
        "nuclei",
        // Address URL, name as Host header and SNI (not verified here: nuclei is not
        // packaged in Debian). -dr: templates with `redirects: true` would follow a
        // redirect out of scope.
        &[
            "-jsonl",
            "-silent",
            "-disable-update-check",
            "-H",
            "Host:{vhost}",
            // One element, so it is left out whole for an address target.
            "-sni={hostname}",
            "-dr",
            "-u",
            "{url}",
        ],
        "nuclei",
        600,
        1,
        3600,
        &["http", "https"],
    );
    nuclei.version_args = vec!["-version".into()];
    nuclei
}

pub fn builtin_profiles() -> BTreeMap<String, Profile> {
    // Every built-in profile discovers with nmap; they differ in what follows up.
    let profile = |follow_up: &[&str]| Profile {
        discovery: vec!["nmap".into()],
        follow_up: follow_up.iter().map(|x| x.to_string()).collect(),
        direct: vec![],
    };
    BTreeMap::from([
        ("quick".into(), profile(&["whatweb", "sslscan"])),
        ("tls".into(), profile(&["whatweb", "sslscan", "testssl"])),
        ("web".into(), profile(&["whatweb", "nuclei"])),
        (
            "full".into(),
            profile(&["whatweb", "nuclei", "sslscan", "testssl"]),
        ),
    ])
}

/// Command-line flags that win over every file, kept so SIGHUP reloads apply them again.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub socket: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
}

impl Overrides {
    pub fn apply(&self, config: &mut Config) {
        if let Some(s) = &self.socket {
            config.socket = Some(s.clone());
        }
        if let Some(d) = &self.data_dir {
            config.data_dir = Some(d.clone());
        }
        if let Some(l) = &self.log_level {
            config.log_level = l.clone();
        }
    }
}

/// Files read, in order; later ones override earlier ones key by key.
pub fn config_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/picket/picketd.toml")];
    if let Some(dir) = xdg_dir("XDG_CONFIG_HOME", ".config") {
        files.push(dir.join("picket/picketd.toml"));
    }
    if let Some(p) = explicit {
        files.push(p.to_path_buf());
    }
    files
}

fn xdg_dir(var: &str, home_fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(home_fallback)),
    }
}

/// Merge `overlay` into `base`, table by table; other values replace.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

impl Config {
    /// Loads the layered configuration. Missing implicit files are skipped; an explicit
    /// `--config` file that is missing is an error.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let mut merged = toml::Table::new();
        let mut used = Vec::new();
        for path in config_files(explicit) {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && Some(path.as_path()) != explicit =>
                {
                    continue
                }
                Err(source) => return Err(ConfigError::Read { path, source }),
            };
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
            // Check each file alone too, from its text so the error carries its line.
            toml::from_str::<Config>(&text).map_err(|e| ConfigError::Syntax {
                path: path.clone(),
                message: with_location(&text, e),
            })?;
            merge(&mut merged, table);
            used.push(path.display().to_string());
        }
        let files = if used.is_empty() {
            "built-in defaults".to_string()
        } else {
            used.join(", ")
        };
        let mut config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    files: files.clone(),
                    message: e.to_string(),
                })?;
        // User tools and profiles add to the built-in ones rather than replacing the set.
        for (name, t) in builtin_tools() {
            config.tools.entry(name).or_insert(t);
        }
        for (name, p) in builtin_profiles() {
            config.profiles.entry(name).or_insert(p);
        }
        config
            .validate()
            .map_err(|problem| ConfigError::Rejected { files, problem })?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.max_frame_bytes < 1024 {
            return Err(ConfigProblem::FrameCapTooSmall(self.max_frame_bytes));
        }
        if self.limits.max_concurrent_scans == 0 || self.limits.per_target == 0 {
            return Err(ConfigProblem::ZeroLimit);
        }
        if self.limits.max_pending_frame_bytes < self.max_frame_bytes {
            return Err(ConfigProblem::BudgetBelowCap {
                budget: self.limits.max_pending_frame_bytes,
                cap: self.max_frame_bytes,
            });
        }
        if self.limits.handshake_timeout_secs == 0 || self.limits.idle_timeout_secs == 0 {
            return Err(ConfigProblem::ZeroTimeout);
        }
        if self.db.pool_size < 2 {
            return Err(ConfigProblem::PoolTooSmall);
        }
        for (name, t) in &self.tools {
            if t.concurrency == 0 {
                return Err(ConfigProblem::ZeroConcurrency(name.clone()));
            }
            match &t.parser {
                ParserSpec::Builtin(p) if crate::parsers::BuiltinParser::from_name(p).is_none() => {
                    return Err(ConfigProblem::UnknownParser {
                        tool: name.clone(),
                        parser: p.clone(),
                    })
                }
                ParserSpec::Generic(g) => {
                    g.validate().map_err(|source| ConfigProblem::BadMapping {
                        tool: name.clone(),
                        source,
                    })?
                }
                _ => {}
            }
        }
        for (name, p) in &self.profiles {
            if let Some(t) = p
                .discovery
                .iter()
                .chain(&p.follow_up)
                .chain(&p.direct)
                .find(|t| !self.tools.contains_key(*t))
            {
                return Err(ConfigProblem::UnknownProfileTool {
                    profile: name.clone(),
                    tool: t.clone(),
                });
            }
        }
        crate::scope::Scope::from_config(&self.scope)?;
        Ok(())
    }

    /// Socket path: PICKET_SOCKET, then the config, then $XDG_RUNTIME_DIR/picket, then /tmp/picket-$UID.
    pub fn socket_path(&self) -> PathBuf {
        if let Some(p) = std::env::var_os("PICKET_SOCKET").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = &self.socket {
            return p.clone();
        }
        default_socket_path()
    }

    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        match xdg_dir("XDG_DATA_HOME", ".local/share") {
            Some(d) => d.join("picket"),
            None => PathBuf::from(format!("/tmp/picket-{}/data", nix::unistd::getuid())),
        }
    }
}

/// Shared by daemon and (duplicated by design in) the client: the default socket location.
pub fn default_socket_path() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("picket/picketd.sock"),
        None => PathBuf::from(format!(
            "/tmp/picket-{}/picketd.sock",
            nix::unistd::getuid()
        )),
    }
}

/// toml's error already carries "line N, column M" for syntax errors; for type errors
/// found after parsing, add the line from the span when there is one.
fn with_location(text: &str, e: toml::de::Error) -> String {
    let msg = e.to_string();
    let located = match e.span() {
        Some(span) if !msg.contains("line ") => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", msg.trim())
        }
        _ => msg.trim().to_string(),
    };
    match e.span().and_then(|span| enclosing_table(text, span.start)) {
        Some(table) => format!("{located}\n(in {table})"),
        None => located,
    }
}

/// The `[table]` header above `offset`: an inline `parser = { ... }` line alone does not
/// say which tool its bad pattern belongs to.
fn enclosing_table(text: &str, offset: usize) -> Option<&str> {
    text.get(..offset)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(|l| l.split('#').next())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    /// With one connection the writer would hold it for good and every read would wait.
    #[test]
    fn a_pool_too_small_for_the_writer_and_a_reader_is_refused() {
        let mut c = Config::default();
        c.db.pool_size = 1;
        let err = c.validate().unwrap_err();
        assert!(matches!(err, ConfigProblem::PoolTooSmall), "{err}");
        c.db.pool_size = 2;
        c.validate().unwrap();
    }

    /// A budget below the cap would refuse every request at the cap; a zero timeout would
    /// close every connection at once.
    #[test]
    fn a_frame_budget_below_the_cap_and_zero_timeouts_are_refused() {
        let mut c = Config::default();
        c.limits.max_pending_frame_bytes = c.max_frame_bytes - 1;
        let err = c.validate().unwrap_err();
        assert!(matches!(err, ConfigProblem::BudgetBelowCap { .. }), "{err}");
        assert!(err.to_string().contains("max_pending_frame_bytes"), "{err}");
        c.limits.max_pending_frame_bytes = c.max_frame_bytes;
        c.validate().unwrap();
        c.limits.idle_timeout_secs = 0;
        let err = c.validate().unwrap_err();
        assert!(matches!(err, ConfigProblem::ZeroTimeout), "{err}");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.toml");
        std::fs::write(
            &f,
            "log_level = \"info\"\n[limits]\nper_target = \"many\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn later_files_override_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(&f, "[limits]\nper_target = 1\n[tools.sleeper]\nprogram = \"sleep\"\nargs = [\"1\"]\nparser = { kind = \"regex\", pattern = '(?P<title>x)' }\n").unwrap();
        std::env::set_var("XDG_CONFIG_HOME", dir.path().join("none"));
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.limits.per_target, 1);
        assert_eq!(c.limits.max_concurrent_scans, 4);
        assert!(c.tools.contains_key("nmap") && c.tools.contains_key("sleeper"));
    }

    #[test]
    fn a_bad_generic_pattern_names_the_tool_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tools.toml");
        std::fs::write(&f, "[tools.gobuster]\nprogram = \"gobuster\"\nargs = []\n[tools.gobuster.parser]\nkind = \"regex\"\npattern = '(?P<title>\\S+'\n").unwrap();
        let err = Config::load(Some(&f)).unwrap_err().to_string();
        for part in ["tools.toml", "gobuster", "invalid pattern", "fix:"] {
            assert!(err.contains(part), "{part}: {err}");
        }
        std::fs::write(&f, "[tools.gobuster]\nprogram = \"gobuster\"\nargs = []\nparser = { kind = \"regex\", pattern = '(?P<titl>x)' }\n").unwrap();
        let err = Config::load(Some(&f)).unwrap_err().to_string();
        for part in [
            "tools.toml",
            "line 4",
            "(in [tools.gobuster])",
            "unknown group",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
    }
}
