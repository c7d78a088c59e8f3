//! `echo-server`: RFC 862 echo over TCP (raw or line mode) and UDP.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use netkit_cli::{Interrupts, Threads, init_tracing, parse_duration};
use netkit_echo::server::{Mode, ServerConfig, ServerError};
use netkit_echo::{cli, exit, limits};
use tokio_util::sync::CancellationToken;

/// RFC 862 echo server over TCP (raw bytes or lines) and, optionally, UDP.
///
/// The first stdout line is `listening on ADDR` (then `udp listening on ADDR`
/// with --udp). SIGINT/SIGTERM start a graceful shutdown (exit 0); a second
/// signal forces exit (128 + its number: 130 or 143).
#[derive(Debug, Parser)]
#[command(name = "echo-server", version)]
struct Args {
    /// Address to listen on, TCP and (with --udp) UDP; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7007", value_name = "ADDR")]
    listen: String,
    /// Echo raw bytes as they arrive, or whole lines.
    #[arg(long, value_enum, default_value_t = ModeArg::Raw)]
    mode: ModeArg,
    /// Line mode: longest line in bytes (newline excluded); a longer line gets
    /// an error line and the connection is closed.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    max_line: usize,
    /// Also serve UDP echo on the same port.
    #[arg(long)]
    udp: bool,
    /// Serve at most N connections at once; more clients wait in the backlog.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Close connections that move no byte for this long (e.g. 30s, 500ms).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    idle_timeout: Option<Duration>,
    /// After SIGINT/SIGTERM, how long open connections may finish.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    grace: Duration,
    /// Print a `stats:` counters line to stdout this often.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    stats_interval: Option<Duration>,
    /// Raw mode: most bytes read and echoed at once (one buffer per worker
    /// thread; a connection whose client is not reading keeps at most this).
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    buffer_size: usize,
    /// Do not set TCP_NODELAY on accepted connections.
    #[arg(long)]
    no_nodelay: bool,
    /// Runtime worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Every byte is written back as soon as it is read.
    Raw,
    /// Complete lines are written back.
    Line,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let fd_limit = limits::raise();
    if let Some(n) = args.max_connections
        && let Err(e) = limits::check(&fd_limit, "--max-connections", n)
    {
        eprintln!("echo-server: {e}");
        return ExitCode::from(exit::USAGE as u8);
    }
    let listen = match cli::resolve(&args.listen) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo-server: {e}");
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    let config = ServerConfig {
        listen,
        mode: match args.mode {
            ModeArg::Raw => Mode::Raw,
            ModeArg::Line => Mode::Line,
        },
        max_line: args.max_line,
        udp: args.udp,
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
        grace: args.grace,
        stats_interval: args.stats_interval,
        buffer_size: args.buffer_size,
        nodelay: !args.no_nodelay,
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
