//! `echo-server`: RFC 862 echo over TCP (raw or line mode) and UDP.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netkit_cli::{Interrupts, Threads, init_tracing};
use netkit_echo::cli::server::ServerArgs;
use netkit_echo::server::ServerError;
use netkit_echo::{exit, limits};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    init_tracing();
    let fd_limit = limits::raise();
    if let Some(n) = args.max_connections
        && let Err(e) = limits::check(&fd_limit, "--max-connections", n)
    {
        eprintln!("echo-server: {e}");
        return ExitCode::from(exit::USAGE as u8);
    }
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo-server: {e}");
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    let runtime = match netkit_cli::runtime(Threads::Workers(args.threads)) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo-server: cannot start the runtime: {e}");
            return ExitCode::from(exit::RUNTIME as u8);
        }
    };
    let code = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        // Registered before the listening line is printed, so a signal sent
        // as soon as that line shows is never handled by the default action.
        if let Err(e) = Interrupts::watch("echo-server", shutdown.clone(), |_| {
            eprintln!("echo-server: shutting down (send the signal again to force exit)");
        }) {
            tracing::warn!("cannot listen for signals: {e}");
        }
        match netkit_echo::server::run(config, shutdown).await {
            Ok(_) => exit::OK,
            Err(e) => {
                eprintln!("echo-server: {e}");
                match e {
                    ServerError::Config(_) => exit::USAGE,
                    ServerError::Bind(..) => exit::CONNECT,
                }
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code as u8)
}
