//! `fetch-titles`: flags ([`netkit_fetch::cli`]) -> [`netkit_fetch::Config`]
//! -> `run` on a single-threaded runtime (the fetch threads of `--threads`
//! have their own, see [`netkit_fetch::threads`]) -> [`netkit_fetch::Exit`].

use std::process::ExitCode;

use clap::Parser;
use netkit_cli::{Interrupts, Threads, init_tracing};
use netkit_fetch::Exit;
use netkit_fetch::cli::{Args, config_from};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let config = match config_from(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fetch-titles: {e:#}");
            return ExitCode::from(Exit::Usage.code());
        }
    };
    let runtime = netkit_cli::runtime(Threads::Current);
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fetch-titles: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failed.code());
        }
    };
    let token = CancellationToken::new();
    let result = runtime.block_on(async {
        let interrupts = Interrupts::watch("fetch-titles", token.clone(), |_| {
            eprintln!(
                "fetch-titles: interrupted, finishing in-flight requests (press Ctrl-C again to quit now)"
            );
        })
        .map_err(|e| format!("cannot watch for signals: {e}"))?;
        // As a task, not the `block_on` future itself: waking that one costs
        // a system call every time, a task's wake-ups on its own thread none.
        let result = match tokio::spawn(netkit_fetch::run(config, token)).await {
            Ok(result) => result,
            Err(e) => match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => return Err(format!("the run was aborted: {e}")),
            },
        };
        Ok::<_, String>((result, interrupts.signal()))
    });
    let (result, signal) = match result {
        Ok(done) => done,
        Err(e) => {
            eprintln!("fetch-titles: {e}");
            return ExitCode::from(Exit::Failed.code());
        }
    };
    let exit = Exit::of_run(&result, signal);
    if let Err(e) = &result
        && exit != Exit::Success
    {
        eprintln!("fetch-titles: {e}");
    }
    ExitCode::from(exit.code())
}
