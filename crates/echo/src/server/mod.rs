//! The echo server: TCP (raw or line mode) and optionally UDP on the same port.

mod accept;
mod config;
mod conn;
mod error;
mod line;
mod listener;
mod phase;
mod raw;
mod stats;
mod udp;
mod watch;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use phase::{Phase, Phases};

pub use config::{Mode, ServerConfig};
pub use error::ServerError;
pub use stats::{Stats, StatsSnapshot};

/// A bound, not yet serving, echo server.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    listener: TcpListener,
    udp: Option<UdpSocket>,
    local_addr: SocketAddr,
    stats: Arc<Stats>,
}

impl Server {
    /// Binds the TCP listener and, with `config.udp`, the UDP socket on
    /// the same port.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        config.validate()?;
        let listener = listener::bind_tcp(config.listen)?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| ServerError::Bind(config.listen, e))?;
        let udp = if config.udp {
            let sock = UdpSocket::bind(local_addr)
                .await
                .map_err(|e| ServerError::Bind(local_addr, e))?;
            Some(sock)
        } else {
            None
        };
        Ok(Self {
            config,
            listener,
            udp,
            local_addr,
            stats: Arc::new(Stats::default()),
        })
    }

    /// The real bound TCP address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound UDP address, when UDP is enabled.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|u| u.local_addr().ok())
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Whether this configuration deserves the UDP reflection warning.
    pub fn reflection_risk(&self) -> bool {
        self.udp.is_some() && !self.local_addr.ip().is_loopback()
    }

    /// Serves until `shutdown` is cancelled, then drains: the listener closes,
    /// connections get `grace` to finish, and the final counters are returned.
    pub async fn run(self, shutdown: CancellationToken) -> Result<StatsSnapshot, ServerError> {
        let Self {
            config,
            listener,
            udp,
            stats,
            ..
        } = self;
        let config = Arc::new(config);
        let permits = config.max_connections.map(|n| Arc::new(Semaphore::new(n)));
        let tracker = TaskTracker::new();
        let phases = Arc::new(Phases::default());
        let ctx = watch::ConnCtx {
            config: Arc::clone(&config),
            stats: Arc::clone(&stats),
            drain: shutdown.clone(),
            phases: Arc::clone(&phases),
        };

        let acceptor = tokio::spawn(accept::accept_loop(
            listener,
            permits.clone(),
            ctx.clone(),
            tracker.clone(),
        ));
        let udp_task = udp.map(|sock| {
            tokio::spawn(
                udp::serve(sock, Arc::clone(&stats), shutdown.clone())
                    .instrument(tracing::info_span!("udp")),
            )
        });
        let stats_task = config.stats_interval.map(|every| {
            tokio::spawn(stats::report_every(
                Arc::clone(&stats),
                every,
                shutdown.clone(),
            ))
        });

        shutdown.cancelled().await;
        phases.advance(Phase::Draining);
        tracing::info!(
            "shutting down: no new connections, grace {:?}",
            config.grace
        );
        // The accept loop ends on `shutdown`; a join error means a panic.
        if let Err(e) = acceptor.await {
            tracing::error!("accept task failed: {e}");
        }
        if let Some(task) = udp_task {
            let _ = task.await;
        }
        if let Some(task) = stats_task {
            let _ = task.await;
        }
        tracker.close();
        if tokio::time::timeout(config.grace, tracker.wait())
            .await
            .is_err()
        {
            let open = stats.snapshot().open;
            tracing::warn!("grace period over: closing {open} connection(s) by force");
            phases.advance(Phase::Forced);
            tracker.wait().await;
        }
        Ok(stats.snapshot())
    }
}

/// Binds, prints `listening on ADDR` (and `udp listening on ADDR`) as the
/// first stdout line(s), serves until `shutdown`, then prints the final stats
/// line.
pub async fn run(
    config: ServerConfig,
    shutdown: CancellationToken,
) -> Result<StatsSnapshot, ServerError> {
    let server = Server::bind(config).await?;
    if server.reflection_risk() {
        tracing::warn!(
            "UDP echo on the non-loopback address {}: UDP echo can be abused for reflection and \
             amplification attacks with spoofed source addresses; firewall it or bind to loopback",
            server.local_addr()
        );
        eprintln!(
            "warning: UDP echo on non-loopback address {} can be abused for reflection attacks \
             (spoofed sources); restrict it with a firewall or bind to 127.0.0.1",
            server.local_addr()
        );
    }
    let mut banner = format!("listening on {}\n", server.local_addr());
    if let Some(udp) = server.udp_addr() {
        banner.push_str(&format!("udp listening on {udp}\n"));
    }
    stats::print_line(&banner);
    let snapshot = server.run(shutdown).await?;
    stats::print_line(&format!("final stats: {}\n", snapshot));
    let _ = std::io::stdout().flush();
    Ok(snapshot)
}
