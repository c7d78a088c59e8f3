//! echo-server's flags (clap derive) and their translation into a
//! [`ServerConfig`].

use std::time::Duration;

use clap::{Parser, ValueEnum};
use netkit_cli::parse_duration;

use crate::server::{Mode, ServerConfig};

/// RFC 862 echo server over TCP (raw bytes or lines) and, optionally, UDP.
///
/// The first stdout line is `listening on ADDR` (then `udp listening on ADDR`
/// with --udp). SIGINT/SIGTERM start a graceful shutdown (exit 0); a second
/// signal forces exit (128 + its number: 130 or 143).
#[derive(Debug, Parser)]
#[command(name = "echo-server", version)]
pub struct ServerArgs {
    /// Address to listen on, TCP and (with --udp) UDP; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7007", value_name = "ADDR")]
    pub listen: String,
    /// Echo raw bytes as they arrive, or whole lines.
    #[arg(long, value_enum, default_value_t = ModeArg::Raw)]
    pub mode: ModeArg,
    /// Line mode: longest line in bytes (newline excluded); a longer line gets
    /// an error line and the connection is closed.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub max_line: usize,
    /// Also serve UDP echo on the same port.
    #[arg(long)]
    pub udp: bool,
    /// Serve at most N connections at once; more clients wait in the backlog.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Close connections that move no byte for this long (e.g. 30s, 500ms).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub idle_timeout: Option<Duration>,
    /// After SIGINT/SIGTERM, how long open connections may finish.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub grace: Duration,
    /// Print a `stats:` counters line to stdout this often.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub stats_interval: Option<Duration>,
    /// Raw mode: most bytes read and echoed at once (one buffer per worker
    /// thread; a connection whose client is not reading keeps at most this).
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    pub buffer_size: usize,
    /// Do not set TCP_NODELAY on accepted connections.
    #[arg(long)]
    pub no_nodelay: bool,
    /// Runtime worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Every byte is written back as soon as it is read.
    Raw,
    /// Complete lines are written back.
    Line,
}

impl ServerArgs {
    /// The server configuration these flags ask for; the error (an
    /// unresolvable `--listen`) is a usage error.
    pub fn config(&self) -> Result<ServerConfig, String> {
        Ok(ServerConfig {
            listen: super::resolve(&self.listen)?,
            mode: match self.mode {
                ModeArg::Raw => Mode::Raw,
                ModeArg::Line => Mode::Line,
            },
            max_line: self.max_line,
            udp: self.udp,
            max_connections: self.max_connections,
            idle_timeout: self.idle_timeout,
            grace: self.grace,
            stats_interval: self.stats_interval,
            buffer_size: self.buffer_size,
            nodelay: !self.no_nodelay,
        })
    }
}
