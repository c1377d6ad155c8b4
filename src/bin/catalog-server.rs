//! `catalog-server`: see `catalog-server --help`.

use clap::Parser;

// mimalloc hands freed memory back to the system where glibc's allocator
// keeps it in per-thread arenas: after loading a large catalog the server
// would otherwise hold the peak of the load for good.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in `mimalloc.h` (v3, what libmimalloc-sys builds), which
/// libmimalloc-sys does not name (the test below pins it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages go back to the system at once rather than after mimalloc's
/// one-second delay. A sync frees the parse of a whole source at once, and
/// with two sources in flight the delay kept that garbage resident on top
/// of the next parse: at 100k assets the first load peaked at 491 MB
/// against 356 MB without it, with no change in read throughput
/// (bench/README.md). An operator's own `MIMALLOC_PURGE_DELAY` wins.
#[allow(unsafe_code)]
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it on each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

#[tokio::main]
async fn main() {
    return_freed_memory_promptly();
    let config = catalog::config::ServerConfig::parse();
    catalog::telemetry::init(&config.log, config.log_format);
    std::process::exit(catalog::server::run(config).await);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn purge_delay() -> std::os::raw::c_long {
        // SAFETY: reads a plain integer option.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn the_purge_delay_option_number_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        assert_eq!(purge_delay(), 1000, "mimalloc's default purge delay");
        return_freed_memory_promptly();
        assert_eq!(purge_delay(), 0);
    }
}
