//! `catalog-server`: see `catalog-server --help`.

use clap::Parser;

// mimalloc hands freed memory back to the system where glibc's allocator
// keeps it in per-thread arenas: after loading a large catalog the server
// would otherwise hold the peak of the load for good.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config = catalog::config::ServerConfig::parse();
    catalog::telemetry::init(&config.log, config.log_format);
    std::process::exit(catalog::server::run(config).await);
}
