//! Server counters, the periodic stats line and the final one.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Live counters shared by every connection.
#[derive(Debug, Default)]
pub struct Stats {
    open: AtomicU64,
    total: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    errors: AtomicU64,
    udp_datagrams: AtomicU64,
}

/// A consistent-enough copy of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// TCP connections open now.
    pub open: u64,
    /// TCP connections accepted since start.
    pub total: u64,
    /// Bytes received (TCP and UDP).
    pub bytes_in: u64,
    /// Bytes echoed back (TCP and UDP).
    pub bytes_out: u64,
    /// Accept errors, connection errors, idle timeouts, over-long lines and
    /// connections closed by force.
    pub errors: u64,
    /// UDP datagrams echoed.
    pub udp_datagrams: u64,
}

impl fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "open={} total={} bytes_in={} bytes_out={} errors={} udp_datagrams={}",
            self.open, self.total, self.bytes_in, self.bytes_out, self.errors, self.udp_datagrams
        )
    }
}

impl Stats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            open: self.open.load(Relaxed),
            total: self.total.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            errors: self.errors.load(Relaxed),
            udp_datagrams: self.udp_datagrams.load(Relaxed),
        }
    }

    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.open.fetch_sub(1, Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_bytes(&self, bytes_in: u64, bytes_out: u64) {
        if bytes_in > 0 {
            self.bytes_in.fetch_add(bytes_in, Relaxed);
        }
        if bytes_out > 0 {
            self.bytes_out.fetch_add(bytes_out, Relaxed);
        }
    }

    pub(crate) fn udp_echoed(&self, bytes: u64) {
        self.udp_datagrams.fetch_add(1, Relaxed);
        self.add_bytes(bytes, bytes);
    }
}

/// Per-connection byte counts, published to [`Stats`] in batches so the hot
/// path does not touch shared cache lines on every message.
#[derive(Debug, Default)]
pub(crate) struct LocalCounts {
    bytes_in: u64,
    bytes_out: u64,
}

/// Publish once this many bytes have accumulated.
const FLUSH_EVERY: u64 = 64 * 1024;

impl LocalCounts {
    pub(crate) fn add(&mut self, stats: &Stats, bytes_in: u64, bytes_out: u64) {
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        if self.bytes_in + self.bytes_out >= FLUSH_EVERY {
            self.flush(stats);
        }
    }

    pub(crate) fn flush(&mut self, stats: &Stats) {
        stats.add_bytes(self.bytes_in, self.bytes_out);
        self.bytes_in = 0;
        self.bytes_out = 0;
    }
}

/// Writes `text` (whole lines) to stdout with one write, then flushes.
pub(crate) fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Prints `stats: ...` every `every` until `stop`.
pub(crate) async fn report_every(stats: Arc<Stats>, every: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => print_line(&format!("stats: {}\n", stats.snapshot())),
        }
    }
}
