//! `catalog-conformance`: see the library documentation. Exit status: 0
//! all checks passed, 1 a check failed, 2 the run could not start.

use catalog_conformance::{run, Args};
use clap::Parser;

#[tokio::main]
async fn main() {
    let code = match run(Args::parse()).await {
        Ok(report) if report.failures() == 0 => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("catalog-conformance: {e}");
            2
        }
    };
    std::process::exit(code);
}
