//! picketd configuration for tests and benchmarks, built instead of hand-written: a
//! `ConfigBuilder` of `[limits]` (and other) keys and `ToolConfig` stand-in tools, rendered
//! to TOML by the `toml` crate, so paths, patterns and arguments are always quoted right.
//!
//! The shape is daemon/src/config.rs's; this must not second-guess it: an unknown key is
//! rendered as asked, and the daemon's own `deny_unknown_fields` refuses it at start.

use std::path::Path;

use toml::{Table, Value};

/// A parser pattern that finds one finding per line starting `PICKET-FINDING <word>`,
/// titled with that line's start: what the stand-in scripts print when a test wants one.
pub const MARKED_LINES: &str = r"^(?P<title>PICKET-FINDING \S+)";
/// A parser pattern no output matches: for tools whose findings do not matter.
pub const NOTHING: &str = "^(?P<title>NEVER)";

/// The whole file: top-level tables (`[limits]`, `[db]`...), `[tools.*]`, and raw TOML for
/// what the builder has no word for (a broken file, `[scope]` lists...).
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    root: Table,
    raw: String,
}

impl ConfigBuilder {
    pub fn new() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// `[table] key = value`.
    pub fn set(mut self, table: &str, key: &str, value: impl Into<Value>) -> ConfigBuilder {
        let t = self
            .root
            .entry(table)
            .or_insert_with(|| Value::Table(Table::new()));
        t.as_table_mut()
            .unwrap_or_else(|| panic!("{table} is not a table"))
            .insert(key.into(), value.into());
        self
    }

    /// `[limits] key = value` (max_concurrent_scans, max_queued_scans, per_target...).
    pub fn limit(self, key: &str, value: i64) -> ConfigBuilder {
        self.set("limits", key, value)
    }

    /// Several `[limits]` keys at once.
    pub fn limits<'a>(self, pairs: impl IntoIterator<Item = (&'a str, i64)>) -> ConfigBuilder {
        pairs
            .into_iter()
            .fold(self, |cfg, (key, value)| cfg.limit(key, value))
    }

    /// `[tools.NAME]`, replacing any tool of that name.
    pub fn tool(mut self, tool: ToolConfig) -> ConfigBuilder {
        let tools = self
            .root
            .entry("tools")
            .or_insert_with(|| Value::Table(Table::new()));
        tools
            .as_table_mut()
            .expect("tools is a table")
            .insert(tool.name, Value::Table(tool.keys));
        self
    }

    /// TOML text put before the rendered tables (so top-level keys in it stay top-level).
    pub fn raw(mut self, toml: &str) -> ConfigBuilder {
        self.raw.push_str(toml);
        if !toml.ends_with('\n') {
            self.raw.push('\n');
        }
        self
    }

    pub fn render(&self) -> String {
        let tables = toml::to_string(&self.root).expect("render config as TOML");
        format!("{}{tables}", self.raw)
    }
}

/// One `[tools.NAME]` stand-in. Unset keys keep the daemon's defaults, except the parser,
/// which the daemon requires: `never_finds` unless `finds_marked_lines` or `parser_regex`.
#[derive(Debug, Clone)]
pub struct ToolConfig {
    name: String,
    keys: Table,
}

impl ToolConfig {
    /// A tool named `name` that runs `program` on `{host}` and finds nothing.
    pub fn new(name: &str) -> ToolConfig {
        ToolConfig {
            name: name.into(),
            keys: Table::new(),
        }
        .program(name)
        .args(["{host}"])
        .never_finds()
    }

    /// Any key, for what has no method here.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> ToolConfig {
        self.keys.insert(key.into(), value.into());
        self
    }

    /// The program: a name looked up on PATH, or a script's path.
    pub fn program(self, program: impl AsRef<Path>) -> ToolConfig {
        let program = program.as_ref().to_str().expect("UTF-8 program path");
        self.set("program", program)
    }

    /// The arguments; `{host}`, `{port}`... are the daemon's placeholders.
    pub fn args<S: AsRef<str>>(self, args: impl IntoIterator<Item = S>) -> ToolConfig {
        self.set("args", strings(args))
    }

    pub fn timeout_secs(self, secs: i64) -> ToolConfig {
        self.set("timeout_secs", secs)
    }

    pub fn retries(self, retries: i64) -> ToolConfig {
        self.set("retries", retries)
    }

    pub fn concurrency(self, n: i64) -> ToolConfig {
        self.set("concurrency", n)
    }

    /// Cache lifetime of a run; 0 bypasses the cache.
    pub fn ttl_secs(self, secs: i64) -> ToolConfig {
        self.set("ttl_secs", secs)
    }

    pub fn output_cap_bytes(self, bytes: i64) -> ToolConfig {
        self.set("output_cap_bytes", bytes)
    }

    pub fn triggers<S: AsRef<str>>(self, triggers: impl IntoIterator<Item = S>) -> ToolConfig {
        self.set("triggers", strings(triggers))
    }

    /// `version_args = []`: the daemon does not run the tool to learn its version, so a
    /// counting or gated script runs only when a scan runs it.
    pub fn no_version_probe(self) -> ToolConfig {
        self.set("version_args", Value::Array(Vec::new()))
    }

    /// `parser = { kind = "regex", pattern = PATTERN }`.
    pub fn parser_regex(self, pattern: &str) -> ToolConfig {
        let mut parser = Table::new();
        parser.insert("kind".into(), "regex".into());
        parser.insert("pattern".into(), pattern.into());
        self.set("parser", parser)
    }

    /// One finding per `PICKET-FINDING <word>` line of output (`MARKED_LINES`).
    pub fn finds_marked_lines(self) -> ToolConfig {
        self.parser_regex(MARKED_LINES)
    }

    /// No finding, whatever the output (`NOTHING`).
    pub fn never_finds(self) -> ToolConfig {
        self.parser_regex(NOTHING)
    }
}

fn strings<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|s| Value::String(s.as_ref().into()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `cfg` and reads it back as the daemon does.
    fn daemon_reads(cfg: &ConfigBuilder) -> picketd::config::Config {
        toml::from_str(&cfg.render()).unwrap_or_else(|e| panic!("{e}\n{}", cfg.render()))
    }

    #[test]
    fn a_built_tool_reads_back_as_the_daemon_config_it_describes() {
        let cfg = ConfigBuilder::new()
            .raw("log_level = \"debug\"")
            .limits([("per_target", 2), ("max_concurrent_scans", 8)])
            .tool(
                ToolConfig::new("hang")
                    .program("/tmp/dir \"quoted\"/hang")
                    .args(["{host}", "-x"])
                    .timeout_secs(1)
                    .retries(1)
                    .ttl_secs(0)
                    .no_version_probe()
                    .finds_marked_lines(),
            );
        let read = daemon_reads(&cfg);
        assert_eq!(read.log_level, "debug");
        assert_eq!(
            (read.limits.per_target, read.limits.max_concurrent_scans),
            (2, 8)
        );
        let hang = &read.tools["hang"];
        assert_eq!(hang.program, "/tmp/dir \"quoted\"/hang");
        assert_eq!(hang.args, ["{host}", "-x"]);
        assert_eq!((hang.timeout_secs, hang.retries, hang.ttl_secs), (1, 1, 0));
        assert!(hang.version_args.is_empty());
        let parser = format!("{:?}", hang.parser);
        assert!(parser.contains(r"PICKET-FINDING \\S+"), "{parser}");
    }

    #[test]
    fn an_unset_key_keeps_the_daemon_default() {
        let read = daemon_reads(&ConfigBuilder::new().tool(ToolConfig::new("true")));
        let t = &read.tools["true"];
        assert_eq!(t.program, "true");
        assert_eq!(t.args, ["{host}"]);
        assert!(t.version_args.is_empty() && t.retries > 0, "{t:?}");
    }
}
