//! Configuration: built-in defaults, then TOML files layered in order, then flags.
//!
//! Owns the shape of `picketd.toml`, the merge order of DESIGN.md and the default paths,
//! and the checks that name the valid words of a typo (keys, placeholders, triggers, log
//! levels) for the daemon's start, SIGHUP and `picketd --check-config`.
//! Must not act on the config (open sockets, start tools): callers do, and SIGHUP reloads
//! go through `Config::load` again so a broken file never replaces a good config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::parsers::generic::GenericMapping;

pub mod origins;

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
    #[error(
        "profiles.{profile}.args has a key \"{tool}\", which is not one of the profile's \
         tools; valid keys: {valid}"
    )]
    UnknownProfileArgsKey {
        profile: String,
        tool: String,
        valid: String,
    },
    #[error(
        "profiles.{profile}.args.{tool} would be ignored: tools.{tool}.args has no \
         \"{{profile_args}}\" element; add one where the profile's arguments belong"
    )]
    ProfileArgsUnused { profile: String, tool: String },
    #[error(
        "tools.{0}.args: \"{{profile_args}}\" must be a whole element (it expands to zero or \
         more arguments), not part of one"
    )]
    ProfileArgsInsideElement(String),
    #[error(
        "tools.{tool}.args: unknown placeholder {{{given}}}; valid placeholders: {}",
        PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
    )]
    UnknownPlaceholder { tool: String, given: String },
    #[error(
        "tools.{tool}.triggers: \"{given}\" is not a service name a discovery tool reports{}; \
         use nmap's names (as in /usr/share/nmap/nmap-services) or one of: {}",
        nearest(given, KNOWN_TRIGGERS).map(|n| format!(" (did you mean \"{n}\"?)")).unwrap_or_default(),
        KNOWN_TRIGGERS.join(", ")
    )]
    UnknownTrigger { tool: String, given: String },
    #[error(
        "log_level \"{given}\" is not a log level; valid levels: {} (or a filter such as \
         \"info,picketd=debug\")",
        LOG_LEVELS.join(", ")
    )]
    UnknownLogLevel { given: String },
    #[error(transparent)]
    Scope(#[from] crate::scope::ScopeError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyConfigError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterConfigError),
    #[error(transparent)]
    Http(#[from] crate::http::config::HttpConfigError),
}

/// Every `{placeholder}` an argv template may hold (run/spec.rs expands them).
pub const PLACEHOLDERS: &[&str] = &[
    "host",
    "target",
    "url",
    "hostport",
    "port",
    "outfile",
    "ports",
    "name",
    "hostname",
    "nameport",
    "vhost",
    "profile_args",
];

/// Service names triggers usually match: nmap's common ones plus the labels
/// `service_labels` adds (ssl, tls, https for TLS-wrapped http). Any name nmap's own
/// service list holds is accepted too.
pub const KNOWN_TRIGGERS: &[&str] = &[
    "http",
    "https",
    "http-alt",
    "http-proxy",
    "ssl",
    "tls",
    "ssh",
    "ftp",
    "ftps",
    "smtp",
    "smtps",
    "submission",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "ldap",
    "ldaps",
    "mysql",
    "postgresql",
    "ms-sql-s",
    "ms-wbt-server",
    "vnc",
    "telnet",
    "domain",
    "snmp",
    "microsoft-ds",
    "netbios-ssn",
    "redis",
    "mongodb",
    "rtsp",
    "sip",
];

/// The levels `log_level` and `--log-level` take (each a tracing filter level).
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];

/// A log filter: a level, or comma-separated `target=level` directives. A bare word that
/// is no level would be read by tracing as a target name and silence everything.
pub fn check_log_level(filter: &str) -> Result<(), ConfigProblem> {
    let ok = !filter.trim().is_empty()
        && filter.split(',').all(|part| {
            let level = part.rsplit_once('=').map_or(part, |(_, l)| l).trim();
            LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str())
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigProblem::UnknownLogLevel {
            given: filter.to_string(),
        })
    }
}

/// The valid word closest to `given` (at most two edits away), for "did you mean".
pub fn nearest<'a>(given: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::levenshtein(given, v), *v))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Whether nmap's service list (when installed) names `service`.
fn nmap_knows(service: &str) -> bool {
    static NAMES: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            std::fs::read_to_string("/usr/share/nmap/nmap-services")
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect()
        })
        .contains(service)
}

/// Each `{word}` of an argv element that is no placeholder.
fn unknown_placeholders(arg: &str) -> impl Iterator<Item = &str> {
    arg.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(w, _)| w))
        .filter(|w| !PLACEHOLDERS.contains(w))
}

impl ToolConfig {
    /// Placeholders and triggers name things that exist: a typo would leave `{hots}` in
    /// the argv or never trigger the tool, silently.
    fn check_words(&self, name: &str) -> Result<(), ConfigProblem> {
        if let Some(given) = self
            .args
            .iter()
            .flat_map(|a| unknown_placeholders(a))
            .next()
        {
            return Err(ConfigProblem::UnknownPlaceholder {
                tool: name.to_string(),
                given: given.to_string(),
            });
        }
        match self
            .triggers
            .iter()
            .find(|t| !KNOWN_TRIGGERS.contains(&t.as_str()) && !nmap_knows(t))
        {
            Some(t) => Err(ConfigProblem::UnknownTrigger {
                tool: name.to_string(),
                given: t.clone(),
            }),
            None => Ok(()),
        }
    }
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
    /// `[notify]`: hooks called at each scan's end, and the hosts webhooks may reach.
    pub notify: crate::notify::NotifyConfig,
    pub retention: RetentionConfig,
    /// `[http]`: the opt-in TCP door of the JSON API and dashboard (`api.sock` is always on).
    pub http: crate::http::HttpConfig,
    /// `[cluster]`: absent, this node works alone, exactly as without it.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// How long raw tool outputs (the evidence kept with each run) stay: removed when older
/// than `days`, or oldest first while they take more than `max_bytes` (compressed). Runs
/// and findings themselves are never removed by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// 0 keeps outputs whatever their age.
    pub days: u64,
    /// 0 sets no size bound.
    pub max_bytes: u64,
    /// How often the cleanup runs (it also runs once at start).
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: 90,
            max_bytes: 1024 * 1024 * 1024,
            interval_secs: 3600,
        }
    }
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
    /// The whole element {profile_args}: the scan profile's arguments for this tool.
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
    /// Extra arguments per tool of this profile, spliced (as they are: no placeholders)
    /// where the tool's argv template has the element `{profile_args}`; a tool not named
    /// here gets none. This is how `quick` asks nmap for `--version-light`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Vec<String>>,
}

/// The argv element a profile's arguments for the tool replace (zero or more of them).
pub const PROFILE_ARGS: &str = "{profile_args}";

impl ToolConfig {
    /// Whether the argv template has a place for a profile's arguments.
    pub fn takes_profile_args(&self) -> bool {
        self.args.iter().any(|a| a == PROFILE_ARGS)
    }
}

impl Profile {
    /// Every tool the profile may run, discovery first.
    pub fn tools(&self) -> impl Iterator<Item = &String> {
        self.discovery
            .iter()
            .chain(&self.follow_up)
            .chain(&self.direct)
    }
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
            notify: crate::notify::NotifyConfig::default(),
            retention: RetentionConfig::default(),
            http: crate::http::HttpConfig::default(),
            cluster: None,
        }
    }
}

/// Cores this process may run on (affinity and cgroup quota aware), 1 when unknown.
pub fn available_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(1024) as u32)
}

/// Default concurrency of a tool that mostly waits on the network: nmap's service probes
/// spend almost all of a run waiting on probe timeouts (about 35 s of wall for well under a
/// second of CPU per host on loopback), so cores are not what bounds it; per-target
/// politeness (`limits.per_target`) still bounds what one host gets.
pub fn network_bound_concurrency(cores: u32) -> u32 {
    (4 * cores).max(16)
}

/// Default concurrency of a tool that works a core for about half of its run (whatweb is
/// Ruby, sslscan and nuclei do handshakes and matching, and each waits on the server for
/// the rest: whatweb on https, 1.3 s of CPU in 2.05 s): two runs per core keep the cores
/// busy, where one per core left 32 whatweb runs draining two at a time on an idle machine
/// (BENCHMARKS.md, "Real tools"). At least 2, at most 128.
pub fn cpu_bound_concurrency(cores: u32) -> u32 {
    (2 * cores).clamp(2, 128)
}

/// testssl.sh forks openssl hundreds of times per run and keeps more than one core busy
/// on its own: one run per two cores.
pub fn heavy_cpu_concurrency(cores: u32) -> u32 {
    (cores / 2).clamp(1, 32)
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

/// The tools Picket knows out of the box, their concurrency fitted to this machine's cores.
pub fn builtin_tools() -> BTreeMap<String, ToolConfig> {
    builtin_tools_for(available_cores())
}

/// The built-in tools for a machine of `cores` cores; see ../shared/fixtures/COMMANDS.md
/// for why each argv looks the way it does.
pub fn builtin_tools_for(cores: u32) -> BTreeMap<String, ToolConfig> {
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
                // The profile's nmap arguments: `--version-light` (quick), `-sC` (thorough).
                PROFILE_ARGS,
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
            network_bound_concurrency(cores),
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
            cpu_bound_concurrency(cores),
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
            cpu_bound_concurrency(cores),
            3600,
            &["https", "ssl", "tls"],
        ),
    );
    tools.insert("testssl".into(), testssl(cores));
    tools.insert("nuclei".into(), nuclei(cores));
    tools
}

/// testssl.sh writes its JSON to a file and sums its checks' exit codes.
fn testssl(cores: u32) -> ToolConfig {
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
        heavy_cpu_concurrency(cores),
        3600,
        &["https", "ssl", "tls"],
    );
    testssl.output = OutputSource::File;
    // The exit code is the sum of the checks' codes; 242..=255 are fatal.
    testssl.ok_exit_codes = (1..242).collect();
    testssl.fatal_exit_from = Some(242);
    testssl
}

fn nuclei(cores: u32) -> ToolConfig {
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
        cpu_bound_concurrency(cores),
        3600,
        &["http", "https"],
    );
    nuclei.version_args = vec!["-version".into()];
    nuclei
}

/// The built-in profiles. Every one discovers with nmap; they differ in how hard nmap
/// works and in what follows up.
pub fn builtin_profiles() -> BTreeMap<String, Profile> {
    let profile = |follow_up: &[&str], nmap_args: &[&str]| Profile {
        discovery: vec!["nmap".into()],
        follow_up: follow_up.iter().map(|x| x.to_string()).collect(),
        direct: vec![],
        args: if nmap_args.is_empty() {
            BTreeMap::new()
        } else {
            let args = nmap_args.iter().map(|x| x.to_string()).collect();
            BTreeMap::from([("nmap".to_string(), args)])
        },
    };
    let all = ["whatweb", "nuclei", "sslscan", "testssl"];
    BTreeMap::from([
        // --version-light: nmap's probes of rarity 2 or less, which named the HTTP and TLS
        // services of the loopback test hosts exactly as full intensity did, in a third of
        // the time (most of a -sV run waits on the timeouts of rarer probes).
        (
            "quick".into(),
            profile(&["whatweb", "sslscan"], &["--version-light"]),
        ),
        (
            "tls".into(),
            profile(&["whatweb", "sslscan", "testssl"], &[]),
        ),
        ("web".into(), profile(&["whatweb", "nuclei"], &[])),
        ("full".into(), profile(&all, &[])),
        // Full version intensity plus nmap's default scripts (-sC), then every follow-up.
        ("thorough".into(), profile(&all, &["-sC"])),
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
        Config::load_traced(explicit).map(|(config, _)| config)
    }

    /// `load`, also answering which file set each key (for `--print-config`).
    pub fn load_traced(explicit: Option<&Path>) -> Result<(Config, origins::Origins), ConfigError> {
        let mut origins = origins::Origins::default();
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
            origins.record_file(&table, &path);
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
            let profile = config.profiles.entry(name).or_insert_with(|| p.clone());
            // A built-in profile's arguments only fit the built-in argv: a tool the user
            // redefined without a "{profile_args}" element runs as the user wrote it.
            if *profile == p {
                let tools = &config.tools;
                profile
                    .args
                    .retain(|t, _| tools.get(t).is_some_and(ToolConfig::takes_profile_args));
            }
        }
        config
            .validate()
            .map_err(|problem| ConfigError::Rejected { files, problem })?;
        Ok((config, origins))
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
        check_log_level(&self.log_level)?;
        for (name, t) in &self.tools {
            if t.concurrency == 0 {
                return Err(ConfigProblem::ZeroConcurrency(name.clone()));
            }
            t.check_words(name)?;
            if t.args
                .iter()
                .any(|a| a != PROFILE_ARGS && a.contains(PROFILE_ARGS))
            {
                return Err(ConfigProblem::ProfileArgsInsideElement(name.clone()));
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
            self.validate_profile(name, p)?;
        }
        crate::scope::Scope::from_config(&self.scope)?;
        self.notify.validate()?;
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        self.http.validate()?;
        Ok(())
    }

    /// A profile names configured tools, and gives arguments only to its own tools that
    /// have a place for them.
    fn validate_profile(&self, name: &str, p: &Profile) -> Result<(), ConfigProblem> {
        if let Some(t) = p.tools().find(|t| !self.tools.contains_key(*t)) {
            return Err(ConfigProblem::UnknownProfileTool {
                profile: name.to_string(),
                tool: t.clone(),
            });
        }
        for tool in p.args.keys() {
            if !p.tools().any(|t| t == tool) {
                let mut valid: Vec<&str> = p.tools().map(String::as_str).collect();
                valid.sort_unstable();
                valid.dedup();
                return Err(ConfigProblem::UnknownProfileArgsKey {
                    profile: name.to_string(),
                    tool: tool.clone(),
                    valid: valid.join(", "),
                });
            }
            if !self.tools[tool].takes_profile_args() {
                return Err(ConfigProblem::ProfileArgsUnused {
                    profile: name.to_string(),
                    tool: tool.clone(),
                });
            }
        }
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

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("profiles.toml");
        std::fs::write(&f, text).unwrap();
        std::env::set_var("XDG_CONFIG_HOME", dir.path().join("none"));
        Config::load(Some(&f))
    }

    #[test]
    fn unknown_placeholders_triggers_and_log_levels_name_the_valid_ones() {
        let tool = |args: &str, triggers: &str| {
            format!("[tools.x]\nprogram = \"x\"\nparser = \"nmap\"\nargs = {args}\ntriggers = {triggers}\n")
        };
        let err = load_text(&tool(r#"["-p{ports}", "{hots}"]"#, "[]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tools.x.args: unknown placeholder {hots}"),
            "{err}"
        );
        assert!(err.contains("{host}, {target}, {url}"), "{err}");
        let err = load_text(&tool("[\"{host}\"]", r#"["htp"]"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tools.x.triggers: \"htp\""), "{err}");
        assert!(
            err.contains("did you mean \"http\"") && err.contains("https, http-alt"),
            "{err}"
        );
        load_text(&tool(
            "[\"{host}\", \"{profile_args}\"]",
            r#"["https", "ssl"]"#,
        ))
        .unwrap();

        let err = load_text("log_level = \"verbose\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"verbose\" is not a log level"), "{err}");
        assert!(
            err.contains("error, warn, info, debug, trace, off"),
            "{err}"
        );
        for ok in ["debug", "INFO", "info,picketd=debug", "off"] {
            check_log_level(ok).unwrap();
        }
        for bad in ["verbose", "", "picketd=loud", "info,"] {
            assert!(check_log_level(bad).is_err(), "{bad}");
        }
    }

    /// quick trades rare probes for time, thorough adds the default scripts; the others
    /// run nmap as before.
    #[test]
    fn builtin_profiles_say_how_hard_nmap_works() {
        let p = builtin_profiles();
        let nmap = |name: &str| p[name].args.get("nmap").cloned().unwrap_or_default();
        assert_eq!(nmap("quick"), ["--version-light"]);
        assert_eq!(nmap("thorough"), ["-sC"]);
        for name in ["tls", "web", "full"] {
            assert!(nmap(name).is_empty(), "{name}");
        }
        assert_eq!(p["thorough"].follow_up, p["full"].follow_up);
        assert!(builtin_tools()["nmap"].takes_profile_args());
    }

    #[test]
    fn a_user_profile_gives_arguments_to_its_own_tools_only() {
        let ok = "[profiles.deep]\ndiscovery = [\"nmap\"]\nfollow_up = [\"whatweb\"]\nargs = { nmap = [\"--version-all\", \"-T4\"] }\n";
        let c = load_text(ok).unwrap();
        assert_eq!(c.profiles["deep"].args["nmap"], ["--version-all", "-T4"]);
        assert_eq!(c.profiles["quick"].args["nmap"], ["--version-light"]);

        let typo = ok.replace("args = { nmap", "args = { nmapp");
        let err = load_text(&typo).unwrap_err().to_string();
        for part in [
            "profiles.deep.args",
            "\"nmapp\"",
            "valid keys: nmap, whatweb",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
        // whatweb's template has no place for them: refused rather than silently dropped.
        let unused = ok.replace("args = { nmap", "args = { whatweb");
        let err = load_text(&unused).unwrap_err().to_string();
        for part in [
            "profiles.deep.args.whatweb",
            "tools.whatweb.args",
            "{profile_args}",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
        let bad_key = ok.replace("args = {", "arg = {");
        let err = load_text(&bad_key).unwrap_err().to_string();
        assert!(err.contains("args"), "the valid fields are named: {err}");
    }

    #[test]
    fn profile_args_must_be_a_whole_element() {
        let text = "[tools.t]\nprogram = \"t\"\nargs = [\"-x{profile_args}\", \"{host}\"]\nparser = { kind = \"regex\", pattern = '(?P<title>x)' }\n";
        let err = load_text(text).unwrap_err().to_string();
        assert!(
            err.contains("tools.t.args") && err.contains("whole element"),
            "{err}"
        );
        load_text(&text.replace("-x{profile_args}", "{profile_args}")).unwrap();
    }

    /// A user's own nmap argv without the element keeps working: the built-in profiles'
    /// nmap arguments are dropped for it instead of refusing the file.
    #[test]
    fn a_redefined_tool_without_the_element_drops_the_builtin_profile_args() {
        let text =
            "[tools.nmap]\nprogram = \"nmap\"\nargs = [\"-sT\", \"{host}\"]\nparser = \"nmap\"\n";
        let c = load_text(text).unwrap();
        assert!(
            c.profiles["quick"].args.is_empty(),
            "{:?}",
            c.profiles["quick"]
        );
        assert!(c.profiles["thorough"].args.is_empty());
    }

    /// nmap waits on the network, the others on the CPU: nmap's default does not shrink
    /// with the cores, the CPU-heavy ones follow them.
    #[test]
    fn concurrency_defaults_follow_the_kind_of_work() {
        let at = |cores: u32, tool: &str| builtin_tools_for(cores)[tool].concurrency;
        assert_eq!(at(1, "nmap"), 16);
        assert_eq!(at(2, "nmap"), 16);
        assert_eq!(at(8, "nmap"), 32);
        for tool in ["whatweb", "sslscan", "nuclei"] {
            assert_eq!(at(1, tool), 2, "{tool}: two at least");
            assert_eq!(at(2, tool), 4, "{tool}");
            assert_eq!(at(8, tool), 16, "{tool}");
            assert_eq!(at(512, tool), 128, "{tool}: capped");
        }
        assert_eq!(at(1, "testssl"), 1);
        assert_eq!(at(2, "testssl"), 1);
        assert_eq!(at(8, "testssl"), 4);
        for cores in [1, 2, 3, 8, 1024] {
            assert!(at(cores, "nmap") > at(cores, "whatweb") || cores >= 16);
        }
        let here = available_cores();
        assert_eq!(
            builtin_tools()["whatweb"].concurrency,
            cpu_bound_concurrency(here)
        );
        assert_eq!(Limits::default().per_target, 4, "politeness unchanged");
    }
}
