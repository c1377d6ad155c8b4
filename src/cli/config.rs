//! Where catalogctl connects and as whom: global flags, the CATALOG_*
//! environment and a config file with named contexts, resolved in that
//! order (flag > environment > context > built-in default). Owns no network
//! code; [`super::client`] takes the resolved [`Settings`].
//!
//! The config file (`--config`, else `CATALOGCTL_CONFIG`, else
//! `$XDG_CONFIG_HOME/catalogctl/config.yaml`, else
//! `~/.config/catalogctl/config.yaml`) looks like:
//!
//! ```yaml
//! currentContext: local
//! contexts:
//!   local: {server: "http://127.0.0.1:8080"}
//!   prod:  {server: "http://catalog.internal:8080", tokenFile: "~/.catalog/prod.token", output: json}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;

use super::errors::CliError;

/// The server address used when nothing else names one (spec 10 §2).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Output forms of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Columns for people (the default).
    #[default]
    Table,
    /// The proto3 JSON form of the response, stable for scripts.
    Json,
    /// The same document as YAML (keys identical to JSON).
    Yaml,
}

/// Flags accepted by every command, before or after the command name.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Server address [env: CATALOG_ADDR] (default http://127.0.0.1:8080).
    #[arg(long, visible_alias = "addr", global = true, value_name = "ADDR")]
    pub server: Option<String>,
    /// Speak plaintext HTTP/2 (the only transport of this build).
    #[arg(long, global = true)]
    pub plaintext: bool,
    /// Bearer token [env: CATALOG_TOKEN]. Without one, a loopback server's
    /// development admin token is used (dev-admin.token in the data
    /// directory that CATALOG_DATABASE_URL implies, ./data by default).
    #[arg(long, global = true, value_name = "JWT")]
    pub token: Option<String>,
    /// File holding the bearer token [env: CATALOG_TOKEN_FILE].
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Named context of the config file [env: CATALOG_CONTEXT].
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Config file [env: CATALOGCTL_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output form.
    #[arg(short = 'o', long, value_enum, global = true)]
    pub output: Option<Format>,
    /// Correlation id sent with every call (x-correlation-id).
    #[arg(long, global = true, value_name = "ID")]
    pub correlation_id: Option<String>,
    /// Evaluate only: report the plan and change nothing (where supported).
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Why: recorded on the action and in the audit trail.
    #[arg(long, global = true, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Page size of list commands.
    #[arg(long, global = true, value_name = "N")]
    pub page_size: Option<i32>,
    /// Token of the page to read (from a previous list).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// Follow every page.
    #[arg(long, global = true)]
    pub all: bool,
    /// Include archived assets in lists.
    #[arg(long, global = true)]
    pub include_archived: bool,
}

impl GlobalArgs {
    /// `self` with every flag `later` set taking precedence (flags given
    /// after a plugin name come on top of those given before it).
    pub fn merged(self, later: GlobalArgs) -> GlobalArgs {
        GlobalArgs {
            server: later.server.or(self.server),
            plaintext: later.plaintext || self.plaintext,
            token: later.token.or(self.token),
            token_file: later.token_file.or(self.token_file),
            context: later.context.or(self.context),
            config: later.config.or(self.config),
            output: later.output.or(self.output),
            correlation_id: later.correlation_id.or(self.correlation_id),
            dry_run: later.dry_run || self.dry_run,
            reason: later.reason.or(self.reason),
            page_size: later.page_size.or(self.page_size),
            page_token: later.page_token.or(self.page_token),
            all: later.all || self.all,
            include_archived: later.include_archived || self.include_archived,
        }
    }
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// Context used when no `--context` is given.
    #[serde(default)]
    pub current_context: Option<String>,
    /// Named contexts.
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

/// One named context.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Context {
    /// Server address.
    pub server: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// File holding the bearer token (`~/` expands).
    pub token_file: Option<PathBuf>,
    /// Default output form.
    pub output: Option<Format>,
}

/// Everything a command needs to know about the connection and output.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http://host:port`.
    pub server: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// Output form.
    pub output: Format,
    /// Correlation id to send.
    pub correlation_id: Option<String>,
}

/// Reads an environment variable, treating an empty value as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), env("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Where the config file is looked for.
pub fn config_path(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(expand_home(path));
    }
    if let Some(path) = env("CATALOGCTL_CONFIG") {
        return Some(expand_home(Path::new(&path)));
    }
    if let Some(dir) = env("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(dir).join("catalogctl/config.yaml"));
    }
    env("HOME").map(|home| PathBuf::from(home).join(".config/catalogctl/config.yaml"))
}

/// Loads the config file; a missing file is an empty one unless it was
/// named explicitly.
pub fn load_config(flag: Option<&Path>) -> Result<ConfigFile, CliError> {
    let Some(path) = config_path(flag) else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_norway::from_str(&text).map_err(|e| {
            CliError::usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && flag.is_none() => {
            Ok(ConfigFile::default())
        }
        Err(e) => Err(CliError::usage(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))),
    }
}

fn read_token_file(path: &Path) -> Result<String, CliError> {
    let path = expand_home(path);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .map_err(|e| {
            CliError::usage(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })
}

/// Adds `http://` to a bare `host:port`.
pub fn normalize_server(server: &str) -> String {
    let server = server.trim();
    if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    }
}

/// Whether `addr` names this machine's loopback interface.
pub fn is_loopback(addr: &str) -> bool {
    let Ok(uri) = addr.parse::<http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The data directory a server with `database_url` keeps its development
/// credentials in: the folder of the SQLite file, else `./data`.
pub fn dev_data_dir(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite:")
        .map(|rest| rest.strip_prefix("//").unwrap_or(rest))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|f| !f.is_empty() && *f != ":memory:");
    match file.and_then(|f| Path::new(f).parent().map(Path::to_path_buf)) {
        Some(dir) if dir.as_os_str().is_empty() => PathBuf::from("."),
        Some(dir) => dir,
        None => PathBuf::from("./data"),
    }
}

/// Resolves flags, environment, the config file and defaults.
pub fn resolve(global: &GlobalArgs) -> Result<Settings, CliError> {
    let file = load_config(global.config.as_deref())?;
    let context_name = global
        .context
        .clone()
        .or_else(|| env("CATALOG_CONTEXT"))
        .or(file.current_context.clone());
    let context = match &context_name {
        Some(name) => match file.contexts.get(name) {
            Some(context) => context.clone(),
            None => {
                let names: Vec<&str> = file.contexts.keys().map(String::as_str).collect();
                return Err(CliError::usage(format!("unknown context {name:?}"))
                    .with_hint(super::suggest::hint(name, names)));
            }
        },
        None => Context::default(),
    };
    let server = normalize_server(
        &global
            .server
            .clone()
            .or_else(|| env("CATALOG_ADDR"))
            .or(context.server.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_string()),
    );
    let token = if let Some(token) = &global.token {
        Some(token.trim().to_string())
    } else if let Some(path) = &global.token_file {
        Some(read_token_file(path)?)
    } else if let Some(token) = env("CATALOG_TOKEN") {
        Some(token.trim().to_string())
    } else if let Some(path) = env("CATALOG_TOKEN_FILE") {
        Some(read_token_file(Path::new(&path))?)
    } else if let Some(token) = &context.token {
        Some(token.trim().to_string())
    } else if let Some(path) = &context.token_file {
        Some(read_token_file(path)?)
    } else if is_loopback(&server) {
        let url =
            env("CATALOG_DATABASE_URL").unwrap_or_else(|| "sqlite://./data/catalog.db".to_string());
        std::fs::read_to_string(dev_data_dir(&url).join("dev-admin.token"))
            .ok()
            .map(|t| t.trim().to_string())
    } else {
        None
    };
    Ok(Settings {
        server,
        token,
        output: global.output.or(context.output).unwrap_or_default(),
        correlation_id: global.correlation_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_dir_follows_the_sqlite_file() {
        assert_eq!(
            dev_data_dir("sqlite://./data/catalog.db"),
            PathBuf::from("./data")
        );
        assert_eq!(
            dev_data_dir("sqlite:///tmp/x/c.db?mode=rwc"),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(dev_data_dir("sqlite://c.db"), PathBuf::from("."));
        assert_eq!(dev_data_dir("postgres://h/db"), PathBuf::from("./data"));
        assert_eq!(dev_data_dir("sqlite::memory:"), PathBuf::from("./data"));
        assert_eq!(dev_data_dir("sqlite:d/c.db"), PathBuf::from("d"));
    }

    #[test]
    fn loopback_and_bare_addresses() {
        assert!(is_loopback(&normalize_server("127.0.0.1:8080")));
        assert!(is_loopback("http://localhost:1"));
        assert!(is_loopback("http://[::1]:1"));
        assert!(!is_loopback("http://catalog.example:8080"));
    }

    #[test]
    fn later_flags_win() {
        let before = GlobalArgs {
            server: Some("a".into()),
            all: true,
            ..Default::default()
        };
        let after = GlobalArgs {
            server: Some("b".into()),
            ..Default::default()
        };
        let merged = before.merged(after);
        assert_eq!(merged.server.as_deref(), Some("b"));
        assert!(merged.all);
    }

    #[test]
    fn the_config_file_refuses_unknown_keys() {
        let ok: ConfigFile = serde_norway::from_str(
            "currentContext: a\ncontexts:\n  a: {server: x, output: json}\n",
        )
        .unwrap();
        assert_eq!(ok.contexts["a"].output, Some(Format::Json));
        assert!(serde_norway::from_str::<ConfigFile>("contexts:\n  a: {srever: x}\n").is_err());
    }
}
