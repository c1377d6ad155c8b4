//! `catalogctl`: the command-line client. This first cut lists plugins and
//! assets; the full capabilities-driven command tree grows in its own issue.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use catalog::proto::catalog::v1alpha1 as pb;

#[derive(Parser)]
#[command(
    name = "catalogctl",
    version,
    about = "Command-line client of the AI asset catalog"
)]
struct Cli {
    /// Server address.
    #[arg(
        long,
        env = "CATALOG_ADDR",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    addr: String,
    /// Bearer token. Without one, a loopback server's development admin
    /// token is used: dev-admin.token in the data directory that
    /// CATALOG_DATABASE_URL implies (./data by default).
    #[arg(long, env = "CATALOG_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// File holding the bearer token.
    #[arg(
        long,
        env = "CATALOG_TOKEN_FILE",
        global = true,
        conflicts_with = "token"
    )]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Sends the bearer token, when there is one, with every call.
#[derive(Clone)]
struct Bearer(Option<AsciiMetadataValue>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The token to send: the flag, the file, else the local development
/// admin token when the server is on this machine's loopback.
fn resolve_token(cli: &Cli) -> Result<Option<String>, String> {
    if let Some(token) = &cli.token {
        return Ok(Some(token.trim().to_string()));
    }
    if let Some(path) = &cli.token_file {
        return std::fs::read_to_string(path)
            .map(|t| Some(t.trim().to_string()))
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()));
    }
    if !is_loopback(&cli.addr) {
        return Ok(None);
    }
    let database_url = std::env::var("CATALOG_DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://./data/catalog.db".to_string());
    let path =
        catalog::auth::dev::data_dir(&database_url).join(catalog::auth::dev::PRINCIPALS[0].file);
    Ok(std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string()))
}

fn is_loopback(addr: &str) -> bool {
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

async fn connect(
    cli: &Cli,
) -> Result<InterceptedService<Channel, Bearer>, Box<dyn std::error::Error>> {
    let bearer = match resolve_token(cli)? {
        Some(token) => Some(format!("Bearer {token}").parse()?),
        None => None,
    };
    let channel = Channel::from_shared(cli.addr.clone())?.connect().await?;
    Ok(InterceptedService::new(channel, Bearer(bearer)))
}

#[derive(Subcommand)]
enum Command {
    /// List the plugins the server hosts.
    Plugins,
    /// List the assets of a plugin.
    List {
        /// Plugin name.
        plugin: String,
        /// filterQuery expression.
        #[arg(long, default_value = "")]
        filter: String,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("catalogctl: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let channel = connect(&cli).await?;
    match cli.command {
        Command::Plugins => {
            let mut client = pb::plugin_service_client::PluginServiceClient::new(channel);
            for plugin in client
                .list_plugins(pb::ListPluginsRequest {})
                .await?
                .into_inner()
                .plugins
            {
                println!(
                    "{}\t{}\t{}",
                    plugin.name,
                    plugin.entity_kinds.join(","),
                    if plugin.healthy {
                        "healthy"
                    } else {
                        "degraded"
                    }
                );
            }
        }
        Command::List { plugin, filter } => {
            let mut client = pb::asset_service_client::AssetServiceClient::new(channel);
            let mut token = String::new();
            loop {
                let page = client
                    .list_assets(pb::ListAssetsRequest {
                        plugin: plugin.clone(),
                        filter_query: filter.clone(),
                        page_token: token,
                        page_size: 100,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                for item in &page.items {
                    let meta = item.metadata.clone().unwrap_or_default();
                    println!(
                        "{}\t{}\t{}",
                        item.kind,
                        meta.name,
                        meta.source_ref.map(|s| s.source_id).unwrap_or_default()
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
    }
    Ok(())
}
