//! Process configuration: every setting is a flag with a CATALOG_*
//! environment equivalent (a flag wins over its variable), and
//! `catalog-server --help` documents them all.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Parser;

use crate::telemetry::LogFormat;

/// The catalog server.
#[derive(Debug, Clone, Parser)]
#[command(name = "catalog-server", version, about = "Governed catalog of AI assets: gRPC management plane", long_about = None)]
pub struct ServerConfig {
    /// Address to listen on (gRPC, health and reflection). Binding beyond
    /// loopback must be asked for explicitly.
    #[arg(long, env = "CATALOG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// CatalogSources file(s) to load (repeatable; comma-separated in the
    /// variable). Defaults to the project's sample catalogs.
    #[arg(
        long = "sources",
        env = "CATALOG_SOURCES",
        value_delimiter = ',',
        default_value = "samples/catalog-sources.yaml"
    )]
    pub sources: Vec<PathBuf>,

    /// Database URL: sqlite://path (embedded default) or postgres://...
    #[arg(
        long,
        env = "CATALOG_DATABASE_URL",
        default_value = "sqlite://./data/catalog.db"
    )]
    pub database_url: String,

    /// Maximum database connections in the pool.
    #[arg(long, env = "CATALOG_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// Memory, in MiB, for GetAsset answers kept between catalog changes
    /// (encoded responses of about 1-3 KB, held compressed in a few hundred
    /// bytes once their kind has trained its dictionary; 0 turns the cache
    /// off). bench/README.md has the measured trade-off.
    #[arg(long, env = "CATALOG_ASSET_CACHE_MB", default_value_t = 64)]
    pub asset_cache_mb: usize,

    /// Folder of extra plugin manifests (*.yaml), added to the built-in plugins.
    #[arg(long, env = "CATALOG_PLUGINS_DIR")]
    pub plugins_dir: Option<PathBuf>,

    /// Folders that file paths of sources created over the API may point
    /// into (comma-separated). Default: the folders of the sources files.
    #[arg(long, env = "CATALOG_SOURCE_ROOTS", value_delimiter = ',')]
    pub source_roots: Vec<PathBuf>,

    /// Log filter in tracing env-filter syntax (e.g. info, catalog=debug).
    #[arg(long, env = "CATALOG_LOG", default_value = "info")]
    pub log: String,

    /// Log format.
    #[arg(long, env = "CATALOG_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Seconds between reconciliations of the source configuration with
    /// the database (other replicas' changes) and file polls.
    #[arg(long, env = "CATALOG_RECONCILE_SECONDS", default_value_t = 5)]
    pub reconcile_seconds: u64,

    /// Governance settings file (environments, vocabularies, lifecycle
    /// table changes, trusted sources, versioning; spec 12 §2). Default:
    /// built-in settings.
    #[arg(long, env = "CATALOG_GOVERNANCE_CONFIG")]
    pub governance_config: Option<PathBuf>,

    /// ApprovalPolicies file (spec 07), reloaded when it changes; an invalid
    /// new version is refused and the previous policy stays in force.
    /// `builtin` means the built-in default policy (approval gates on the
    /// default transitions only). Defaults to the project's sample policies.
    #[arg(
        long,
        env = "CATALOG_APPROVAL_POLICIES",
        default_value = "samples/approval-policies.yaml"
    )]
    pub approval_policies: String,

    /// Seconds to keep retrying an unreachable database at start-up.
    #[arg(long, env = "CATALOG_DB_CONNECT_TIMEOUT_SECONDS", default_value_t = 60)]
    pub db_connect_timeout_seconds: u64,

    /// Shared secret for HS256 bearer tokens. Prefer the variable or
    /// CATALOG_JWT_SECRET_FILE: command lines are visible to other users.
    /// With no secret and no key, a loopback server generates local
    /// development credentials in the data directory and any other
    /// listener refuses to start.
    #[arg(
        long,
        env = "CATALOG_JWT_SECRET",
        hide_env_values = true,
        help_heading = "Authentication"
    )]
    pub jwt_secret: Option<Secret>,

    /// File holding the HS256 secret (surrounding whitespace ignored).
    #[arg(long, env = "CATALOG_JWT_SECRET_FILE", help_heading = "Authentication")]
    pub jwt_secret_file: Option<PathBuf>,

    /// PEM public key for RS256 tokens, or ES256 when the key is EC (P-256).
    #[arg(
        long,
        env = "CATALOG_JWT_PUBLIC_KEY_PATH",
        help_heading = "Authentication"
    )]
    pub jwt_public_key_path: Option<PathBuf>,

    /// When set, tokens must carry this `iss`.
    #[arg(long, env = "CATALOG_JWT_ISSUER", help_heading = "Authentication")]
    pub jwt_issuer: Option<String>,

    /// When set, tokens must list this in `aud`.
    #[arg(long, env = "CATALOG_JWT_AUDIENCE", help_heading = "Authentication")]
    pub jwt_audience: Option<String>,

    /// Dot-path of the claim naming the principal; a token without it is
    /// refused (no fallback to other claims).
    #[arg(
        long,
        env = "CATALOG_JWT_PRINCIPAL_CLAIM",
        default_value = "sub",
        help_heading = "Authentication"
    )]
    pub jwt_principal_claim: String,

    /// Dot-path of the roles claim (e.g. realm_access.roles); an array or a
    /// space- or comma-separated string.
    #[arg(
        long,
        env = "CATALOG_JWT_ROLE_CLAIM",
        default_value = "roles",
        help_heading = "Authentication"
    )]
    pub jwt_role_claim: String,

    /// Role claim values to roles: claimValue=role,... (case-insensitive;
    /// e.g. catalog-operator=operator). Unmapped values are kept as they are.
    #[arg(long, env = "CATALOG_JWT_ROLE_MAP", help_heading = "Authentication")]
    pub jwt_role_map: Option<String>,

    /// Legacy shortcut for CATALOG_JWT_ROLE_MAP=<value>=operator.
    #[arg(
        long,
        env = "CATALOG_JWT_OPERATOR_VALUE",
        help_heading = "Authentication"
    )]
    pub jwt_operator_value: Option<String>,

    /// Calls without a token run as principal `anonymous` with role viewer
    /// instead of being refused. A token that is present but invalid is
    /// still refused.
    #[arg(
        long,
        env = "CATALOG_ALLOW_ANONYMOUS_READ",
        value_parser = clap::builder::BoolishValueParser::new(),
        help_heading = "Authentication"
    )]
    pub allow_anonymous_read: bool,

    /// HTTP/JSON API: refuse unknown JSON body fields and unknown query
    /// parameters with 400 instead of ignoring them (grpc-gateway's
    /// default is to ignore them).
    #[arg(
        long,
        env = "CATALOG_HTTP_STRICT",
        value_parser = clap::builder::BoolishValueParser::new(),
        help_heading = "HTTP/JSON API"
    )]
    pub http_strict: bool,

    /// HTTP/JSON API: largest accepted request body in bytes; a larger
    /// body is refused with 400.
    #[arg(
        long,
        env = "CATALOG_HTTP_MAX_BODY_BYTES",
        default_value_t = 4 * 1024 * 1024,
        help_heading = "HTTP/JSON API"
    )]
    pub http_max_body_bytes: usize,
}

/// A configuration value that must not appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.trim().is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Secret(value.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let config =
            ServerConfig::parse_from(["catalog-server", "--jwt-secret", "hunter2-but-longer"]);
        assert_eq!(
            config.jwt_secret.as_ref().map(Secret::expose),
            Some("hunter2-but-longer")
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(ServerConfig::try_parse_from(["catalog-server", "--jwt-secret", " "]).is_err());
    }

    #[test]
    fn auth_defaults() {
        let config = ServerConfig::parse_from(["catalog-server"]);
        assert_eq!(config.jwt_principal_claim, "sub");
        assert_eq!(config.jwt_role_claim, "roles");
        assert!(!config.allow_anonymous_read);
        let open = ServerConfig::parse_from(["catalog-server", "--allow-anonymous-read"]);
        assert!(open.allow_anonymous_read);
    }
}
