//! `catalog-server`: see `catalog-server --help`.

use clap::Parser;

#[tokio::main]
async fn main() {
    let config = catalog::config::ServerConfig::parse();
    catalog::telemetry::init(&config.log, config.log_format);
    std::process::exit(catalog::server::run(config).await);
}
