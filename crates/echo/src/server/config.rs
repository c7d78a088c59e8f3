//! The checked server configuration.

use std::net::SocketAddr;
use std::time::Duration;

use super::ServerError;

/// How the TCP stream is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every byte is written back as soon as it is read.
    #[default]
    Raw,
    /// Whole lines (ending in `\n`) are written back; lines are bounded.
    Line,
}

/// Everything the server needs; built from the command line by the binary,
/// or directly by tests.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TCP (and UDP) address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Raw or line echo.
    pub mode: Mode,
    /// Longest accepted line in line mode, newline excluded.
    pub max_line: usize,
    /// Also serve UDP echo on the same port.
    pub udp: bool,
    /// At most this many TCP connections at once (others wait in the backlog).
    pub max_connections: Option<usize>,
    /// Close a connection that has moved no byte for this long.
    pub idle_timeout: Option<Duration>,
    /// How long open connections may finish after shutdown starts.
    pub grace: Duration,
    /// Print a counters line this often.
    pub stats_interval: Option<Duration>,
    /// Raw mode: the most bytes read at once (one buffer per worker
    /// thread; a blocked connection keeps at most this much of its own).
    pub buffer_size: usize,
    /// Set TCP_NODELAY on accepted connections.
    pub nodelay: bool,
}

impl ServerConfig {
    /// The defaults of the command line, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            mode: Mode::Raw,
            max_line: 64 * 1024,
            udp: false,
            max_connections: None,
            idle_timeout: None,
            grace: Duration::from_secs(5),
            stats_interval: None,
            buffer_size: 16 * 1024,
            nodelay: true,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        if self.max_line == 0 {
            return Err(ServerError::Config("--max-line must be at least 1".into()));
        }
        if self.buffer_size == 0 {
            return Err(ServerError::Config(
                "--buffer-size must be at least 1".into(),
            ));
        }
        if self.max_connections == Some(0) {
            return Err(ServerError::Config(
                "--max-connections must be at least 1".into(),
            ));
        }
        if self.stats_interval.is_some_and(|d| d.is_zero()) {
            return Err(ServerError::Config(
                "--stats-interval must be positive".into(),
            ));
        }
        if self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return Err(ServerError::Config(
                "--idle-timeout must be positive".into(),
            ));
        }
        Ok(())
    }
}
