//! Process configuration: every setting is a flag with a CATALOG_*
//! environment equivalent (a flag wins over its variable), and
//! `catalog-server --help` documents them all.

use std::net::SocketAddr;
use std::path::PathBuf;

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
}
