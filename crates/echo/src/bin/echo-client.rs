//! `echo-client`: one-shot and interactive echo, and `bench`, a verifying
//! load generator.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netkit_cli::init_tracing;
use netkit_echo::cli::client::{Cli, Command, run_bench, run_direct};
use netkit_echo::{exit, limits};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let fd_limit = limits::raise();
    let runtime = match netkit_cli::runtime(netkit_cli::Threads::Workers(None)) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo-client: cannot start the runtime: {e}");
            return ExitCode::from(exit::RUNTIME as u8);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Some(Command::Bench(args)) => run_bench(args, &fd_limit).await,
            None => run_direct(cli.direct).await,
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code as u8)
}
