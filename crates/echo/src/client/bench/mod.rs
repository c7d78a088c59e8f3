//! `echo-client bench`: a verifying echo load generator.
//!
//! Each connection is one job ([`jobs::run_all`]): connect (timed), wait for
//! the common start, then run a writer and a reader concurrently in the same
//! task. A window of `--pipeline` permits bounds the messages in flight; the
//! reader verifies every echoed byte against [`payload::Pattern`] and records
//! the round trip in an HdrHistogram.
//!
//! Closed loop (default): a message is sent as soon as a window slot frees.
//! Open loop (`--rate` in total, or `--message-rate` per connection; one of
//! the two): message `k` of a connection is *due* at
//! `start + offset + k / rate_per_connection`; latency is measured from the
//! due time, not from when it could actually be sent, so a stalled server
//! shows up in the percentiles (coordinated-omission correction, as in wrk2).
//!
//! Connections open as fast as they can, or at `--connect-rate` per second
//! (the pool's start-rate limiter). `--source` binds each socket to one of
//! several local addresses before it connects ([`source`]).
//!
//! Only messages that complete inside `[start + warmup, start + warmup +
//! duration]` are counted; the others are still verified.

mod jobs;
pub mod payload;
mod progress;
mod report;
mod shared;
mod source;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use report::{BenchReport, ConnectUs, LatencyUs};
use shared::{Shared, Timeline};
pub use source::{MAX_SOURCES, parse_sources};

/// The checked bench configuration.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Concurrent connections (UDP: sockets).
    pub connections: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Open loop: total messages per second over all connections.
    pub rate: Option<f64>,
    /// Open loop: messages per second on each connection (instead of
    /// `rate`; setting both is refused).
    pub message_rate: Option<f64>,
    /// New connections per second while connecting (`None`: all at once).
    pub connect_rate: Option<f64>,
    /// Local addresses to bind before connecting, used in turn (empty: the
    /// kernel picks).
    pub sources: Vec<IpAddr>,
    /// Closed loop: one write per message instead of one per batch of free
    /// window slots.
    pub write_each: bool,
    /// UDP instead of TCP.
    pub udp: bool,
    /// Connect timeout, and longest wait for any echo.
    pub timeout: Duration,
    /// Show a live progress line on stderr.
    pub progress: bool,
}

impl BenchConfig {
    /// Defaults of the command line against `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connections: 50,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            size: 64,
            pipeline: 1,
            rate: None,
            message_rate: None,
            connect_rate: None,
            sources: Vec::new(),
            write_each: false,
            udp: false,
            timeout: Duration::from_secs(5),
            progress: false,
        }
    }

    /// Rejects impossible settings with a clear message.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.size == 0 {
            return Err("--size must be at least 1".into());
        }
        if self.pipeline == 0 {
            return Err("--pipeline must be at least 1".into());
        }
        if self.duration.is_zero() {
            return Err("--duration must be positive".into());
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err("--rate must be a positive number of messages per second".into());
        }
        if self.rate.is_some() && self.message_rate.is_some() {
            return Err(
                "--rate (total) and --message-rate (per connection) set the same thing; give one"
                    .into(),
            );
        }
        if let Some(rate) = self.message_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err("--message-rate must be a positive number of messages per second".into());
        }
        if let Some(rate) = self.connect_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(
                "--connect-rate must be a positive number of connections per second".into(),
            );
        }
        if let Some(ip) = self
            .sources
            .iter()
            .find(|ip| ip.is_ipv4() != self.addr.is_ipv4())
        {
            return Err(format!(
                "--source {ip} and the server address {} are not the same IP version",
                self.addr
            ));
        }
        if self.udp && !(8..=65_507).contains(&self.size) {
            return Err("--udp needs --size between 8 and 65507 bytes".into());
        }
        Ok(())
    }

    /// Open loop: the target rate of one connection, messages per second.
    pub fn per_connection_rate(&self) -> Option<f64> {
        self.message_rate.or_else(|| {
            self.rate
                .map(|total| total / self.connections.max(1) as f64)
        })
    }

    /// Open loop: the time between two messages of one connection.
    pub fn message_interval(&self) -> Option<Duration> {
        self.per_connection_rate()
            .map(|per| Duration::from_secs_f64((1.0 / per).min(1.0e9)))
    }

    /// Open loop: the total target rate, messages per second.
    pub fn total_rate(&self) -> Option<f64> {
        self.rate
            .or_else(|| self.message_rate.map(|r| r * self.connections as f64))
    }

    /// The source address of connection `id`.
    pub(crate) fn source_for(&self, id: u64) -> Option<IpAddr> {
        if self.sources.is_empty() {
            return None;
        }
        let i = id % self.sources.len() as u64;
        self.sources.get(usize::try_from(i).ok()?).copied()
    }

    /// How long the connections take to open at `--connect-rate`, at least.
    pub fn ramp_time(&self) -> Duration {
        self.connect_rate.map_or(Duration::ZERO, |r| {
            Duration::from_secs_f64((self.connections.saturating_sub(1) as f64 / r).min(1.0e9))
        })
    }
}

/// What one connection job hands back.
#[derive(Debug, Default)]
pub(crate) struct ConnOutcome {
    pub(crate) error: Option<String>,
}

/// Runs the benchmark and returns its report. Failures inside connections
/// are counted in the report, not returned as errors.
pub async fn run(config: BenchConfig) -> Result<BenchReport, String> {
    config.validate()?;
    let config = Arc::new(config);
    let shared = Arc::new(Shared::new(&config)?);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(config.connections);
    let (start_tx, start_rx) = tokio::sync::watch::channel::<Option<Timeline>>(None);
    let ramp_start = Instant::now();

    let all = jobs::run_all(Arc::clone(&config), Arc::clone(&shared), ready_tx, start_rx);

    // Start the clock once every connection has connected (or failed).
    let coordinator = async {
        let mut reported = 0;
        let wait = async {
            while reported < config.connections && ready_rx.recv().await.is_some() {
                reported += 1;
            }
        };
        // The ramp, then one connect timeout for the last connection.
        let limit = config.ramp_time() + config.timeout + Duration::from_secs(1);
        let _ = tokio::time::timeout(limit, wait).await;
        let start = Instant::now();
        shared.set_ramp(start.saturating_duration_since(ramp_start));
        let timeline = Timeline {
            start,
            measure_from: start + config.warmup,
            end: start + config.warmup + config.duration,
        };
        let _ = start_tx.send(Some(timeline));
        let progress = config
            .progress
            .then(|| progress::spawn(Arc::clone(&shared), timeline));
        (timeline, progress)
    };
    let (outcomes, (timeline, progress)) = tokio::join!(all, coordinator);
    if let Some(p) = progress {
        p.finish().await;
    }
    Ok(report::build(&config, &shared, &timeline, &outcomes))
}
