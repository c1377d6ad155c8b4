//! `catalogctl`: the command-line client of the catalog. Everything lives
//! in [`catalog::cli`]; this binary only runs it and exits with its code.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let code = catalog::cli::run(std::env::args_os().collect()).await;
    std::process::exit(code);
}
