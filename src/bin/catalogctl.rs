//! `catalogctl`: the command-line client. This first cut lists plugins and
//! assets; the full capabilities-driven command tree grows in its own issue.

use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    command: Command,
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
    match cli.command {
        Command::Plugins => {
            let mut client =
                pb::plugin_service_client::PluginServiceClient::connect(cli.addr).await?;
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
            let mut client =
                pb::asset_service_client::AssetServiceClient::connect(cli.addr).await?;
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
