//! Where each setting of the effective configuration came from (a built-in default, a
//! file, the environment or a flag), for `picketd --print-config`.
//!
//! Owns the bookkeeping and the printed form (dotted TOML keys, each with a `# from`
//! comment, so the output is itself a config file). Must not decide values: `Config::load`
//! and `Overrides` do, and this only records which layer set each key.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Config, Overrides};

/// Dotted key (as printed) → where it was set; absent keys are built-in defaults.
#[derive(Debug, Default, Clone)]
pub struct Origins(BTreeMap<String, String>);

impl Origins {
    /// Records every value `table` (one file's contents) sets as coming from `path`.
    pub fn record_file(&mut self, table: &toml::Table, path: &Path) {
        let from = path.display().to_string();
        walk(table, "", &mut |key, _| {
            self.0.insert(key, from.clone());
        });
    }

    fn of(&self, key: &str) -> &str {
        self.0.get(key).map_or("default", String::as_str)
    }
}

/// Calls `f` with each leaf's dotted key and value (tables are walked, arrays are leaves).
fn walk(table: &toml::Table, prefix: &str, f: &mut dyn FnMut(String, &toml::Value)) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            key_part(k)
        } else {
            format!("{prefix}.{}", key_part(k))
        };
        match v {
            toml::Value::Table(t) => walk(t, &key, f),
            other => f(key, other),
        }
    }
}

/// A key as TOML writes it: bare when it can be, quoted otherwise (a tool named "a.b").
fn key_part(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

fn env_set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

/// The effective configuration as dotted TOML lines, each ending with where it came from.
/// `socket` and `data_dir` are the paths the daemon would use, whichever layer chose them.
pub fn render(config: &Config, origins: &Origins, flags: &Overrides) -> String {
    let mut out = String::from(
        "# picketd effective configuration: each line says where its value came from\n\
         # (default, a config file, the environment or a flag).\n",
    );
    let socket_from = if env_set("PICKET_SOCKET") {
        "env PICKET_SOCKET".to_string()
    } else if flags.socket.is_some() {
        "flag --socket".into()
    } else if config.socket.is_some() {
        origins.of("socket").to_string()
    } else if env_set("XDG_RUNTIME_DIR") {
        "default (from XDG_RUNTIME_DIR)".into()
    } else {
        "default".into()
    };
    let data_from = if flags.data_dir.is_some() {
        "flag --data-dir".to_string()
    } else if config.data_dir.is_some() {
        origins.of("data_dir").to_string()
    } else if env_set("XDG_DATA_HOME") {
        "default (from XDG_DATA_HOME)".into()
    } else {
        "default".into()
    };
    let path_line = |key: &str, p: &Path, from: &str| {
        format!(
            "{key} = {}  # from {from}\n",
            toml::Value::String(p.display().to_string())
        )
    };
    out += &path_line("socket", &config.socket_path(), &socket_from);
    out += &path_line("data_dir", &config.data_dir(), &data_from);
    let mut table = match toml::Table::try_from(config) {
        Ok(t) => t,
        Err(e) => return format!("{out}# cannot show the rest: {e}\n"),
    };
    redact_secrets(&mut table);
    walk(&table, "", &mut |key, value| {
        if key == "socket" || key == "data_dir" {
            return;
        }
        let from = match key.as_str() {
            "log_level" if env_set("RUST_LOG") => "env RUST_LOG (wins over this value)",
            "log_level" if flags.log_level.is_some() => "flag --log-level",
            k => origins.of(k),
        };
        out += &format!("{key} = {value}  # from {from}\n");
    });
    out
}

/// Webhook secrets are shown as set or not, never printed: `--print-config` output ends up in
/// tickets and terminals' scrollback.
fn redact_secrets(table: &mut toml::Table) {
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::String(s) if key == "secret" && !s.is_empty() => {
                *s = "<set, not shown>".into();
            }
            toml::Value::Table(t) => redact_secrets(t),
            toml::Value::Array(items) => items.iter_mut().for_each(|v| {
                if let toml::Value::Table(t) = v {
                    redact_secrets(t);
                }
            }),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let mut table: toml::Table =
            "[notify]\n[[notify.hooks]]\nkind = \"webhook\"\nsecret = \"hunter2\"\n"
                .parse()
                .unwrap();
        redact_secrets(&mut table);
        let text = table.to_string();
        assert!(
            !text.contains("hunter2") && text.contains("<set, not shown>"),
            "{text}"
        );
    }

    #[test]
    fn a_key_a_file_set_names_the_file_and_the_others_say_default() {
        let mut origins = Origins::default();
        let table: toml::Table = "[limits]\nper_target = 3\n".parse().unwrap();
        origins.record_file(&table, Path::new("/etc/x.toml"));
        let mut config = Config::default();
        config.limits.per_target = 3;
        let flags = Overrides {
            log_level: Some("debug".into()),
            ..Overrides::default()
        };
        let text = render(&config, &origins, &flags);
        assert!(
            text.contains("limits.per_target = 3  # from /etc/x.toml"),
            "{text}"
        );
        assert!(
            text.contains("limits.max_concurrent_scans = ") && text.contains("# from default"),
            "{text}"
        );
        assert!(text.contains("# from flag --log-level"), "{text}");
        // The printed form is a config file itself.
        text.parse::<toml::Table>().unwrap();
    }
}
