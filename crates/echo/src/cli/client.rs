//! echo-client's flags (clap derive) and the two ways it runs: one message
//! or stdin ([`run_direct`]) and `bench` ([`run_bench`]), each returning
//! its exit code ([`crate::exit`]).

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use netkit_cli::{FdLimit, UiArgs, parse_duration};

use crate::client::ClientError;
use crate::client::bench::{self, BenchConfig};
use crate::{exit, limits};

/// Echo client: `echo-client ADDR MESSAGE...` sends the message and prints the
/// verified echo; `echo-client ADDR` echoes stdin line by line;
/// `echo-client bench ADDR` load-tests an echo server.
#[derive(Debug, Parser)]
#[command(
    name = "echo-client",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub direct: Direct,
}

#[derive(Debug, Args)]
pub struct Direct {
    /// Server address, HOST:PORT.
    #[arg(required = true, value_name = "ADDR")]
    pub addr: Option<String>,
    /// Message to send (words are joined with spaces, a newline is added).
    /// Without one, stdin is echoed line by line.
    #[arg(value_name = "MESSAGE")]
    pub message: Vec<String>,
    /// Longest wait for the whole reply (and for connecting).
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// Send the message as one UDP datagram instead of over TCP.
    #[arg(long)]
    pub udp: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load-test an echo server, verifying every echoed byte.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server address, HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Concurrent connections (UDP: sockets).
    #[arg(short = 'c', long, default_value_t = 50, value_name = "C")]
    pub connections: usize,
    /// Measured time.
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "10s", value_name = "D")]
    pub duration: Duration,
    /// Unmeasured warm-up before the measured time.
    #[arg(short = 'w', long, value_parser = parse_duration, default_value = "1s", value_name = "W")]
    pub warmup: Duration,
    /// Payload bytes per message.
    #[arg(short = 's', long, default_value_t = 64, value_name = "S")]
    pub size: usize,
    /// Messages in flight per connection.
    #[arg(short = 'p', long, default_value_t = 1, value_name = "P")]
    pub pipeline: usize,
    /// Open loop: total messages per second over all connections, with
    /// latency measured from each message's scheduled time.
    #[arg(short = 'r', long, value_name = "R", conflicts_with = "message_rate")]
    pub rate: Option<f64>,
    /// Open loop: messages per second on each connection (R × C in total);
    /// the per-connection form of --rate, which it excludes.
    #[arg(long, value_name = "R")]
    pub message_rate: Option<f64>,
    /// Open at most R new connections per second (a ramp); default: all at
    /// once.
    #[arg(long, value_name = "R")]
    pub connect_rate: Option<f64>,
    /// Local addresses to connect from, used in turn: a list and/or ranges,
    /// e.g. 127.0.0.2-127.0.0.9 or 10.0.0.5,10.0.0.7 (each socket is bound
    /// before it connects).
    #[arg(long, value_name = "ADDRS", value_parser = parse_sources)]
    pub source: Option<Sources>,
    /// Closed loop: write each message with its own system call, instead of
    /// all the messages the window has room for in one write.
    #[arg(long)]
    pub write_each: bool,
    /// Use UDP datagrams instead of TCP (size 8..=65507).
    #[arg(long)]
    pub udp: bool,
    /// Connect timeout and longest wait for any echo.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// The parsed `--source` list (a newtype, so clap takes it as one value).
#[derive(Debug, Clone)]
pub struct Sources(pub Vec<std::net::IpAddr>);

fn parse_sources(spec: &str) -> Result<Sources, String> {
    bench::parse_sources(spec).map(Sources)
}

/// `echo-client ADDR [MESSAGE...]`: the exit code.
pub async fn run_direct(args: Direct) -> i32 {
    let Some(addr) = args.addr else {
        eprintln!("echo-client: missing ADDR");
        return exit::USAGE;
    };
    let addr = match super::resolve(&addr) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo-client: {e}");
            return exit::USAGE;
        }
    };
    let result = if args.message.is_empty() {
        if args.udp {
            eprintln!("echo-client: --udp needs a MESSAGE");
            return exit::USAGE;
        }
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        crate::client::interactive(addr, stdin, std::io::stdout(), args.timeout)
            .await
            .map(|_| ())
    } else {
        let mut message = args.message.join(" ").into_bytes();
        message.push(b'\n');
        let reply = if args.udp {
            crate::client::one_shot_udp(addr, &message, args.timeout).await
        } else {
            crate::client::one_shot(addr, &message, args.timeout).await
        };
        reply.and_then(|r| write_stdout(&r).map_err(ClientError::Output))
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) if e.is_closed_stdout() => exit::OK,
        Err(e) => {
            eprintln!("echo-client: {e}");
            e.exit_code()
        }
    }
}

/// `echo-client bench ADDR`: the exit code.
pub async fn run_bench(args: BenchArgs, fd_limit: &FdLimit) -> i32 {
    let addr = match super::resolve(&args.addr) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo-client: {e}");
            return exit::USAGE;
        }
    };
    let config = BenchConfig {
        addr,
        connections: args.connections,
        duration: args.duration,
        warmup: args.warmup,
        size: args.size,
        pipeline: args.pipeline,
        rate: args.rate,
        message_rate: args.message_rate,
        connect_rate: args.connect_rate,
        sources: args.source.map(|s| s.0).unwrap_or_default(),
        write_each: args.write_each,
        udp: args.udp,
        timeout: args.timeout,
        progress: args.ui.progress_enabled(),
    };
    if let Err(e) = config.validate() {
        eprintln!("echo-client bench: {e}");
        return exit::USAGE;
    }
    // Refused before anything connects: never EMFILE halfway through.
    if let Err(e) = limits::check(fd_limit, "--connections", config.connections) {
        eprintln!("echo-client bench: {e}");
        return exit::USAGE;
    }
    let report = match bench::run(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("echo-client bench: {e}");
            return exit::RUNTIME;
        }
    };
    let text = if args.json {
        match serde_json::to_string(&report) {
            Ok(j) => j + "\n",
            Err(e) => {
                eprintln!("echo-client bench: {e}");
                return exit::RUNTIME;
            }
        }
    } else {
        report.to_string()
    };
    match write_stdout(text.as_bytes()) {
        Ok(()) => {}
        // Nobody reads the report: say nothing, but the verdict below still
        // decides the exit code.
        Err(e) if netkit_cli::exit::is_closed_pipe(&e) => {}
        Err(e) => {
            eprintln!("echo-client bench: writing the report: {e}");
            return exit::RUNTIME;
        }
    }
    if report.mismatches > 0 {
        eprintln!(
            "echo-client bench: {} echoed message(s) differed from what was sent",
            report.mismatches
        );
        exit::MISMATCH
    } else if report.errors > 0 {
        eprintln!("echo-client bench: {} connection(s) failed", report.errors);
        exit::CONN_FAILED
    } else {
        exit::OK
    }
}

/// Writes `bytes` to stdout and flushes.
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
