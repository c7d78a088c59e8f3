//! Logs: `tracing` events go to stderr, filtered by `RUST_LOG`; data goes
//! to stdout.

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` (default `warn`).
/// Safe to call more than once; later calls do nothing.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
