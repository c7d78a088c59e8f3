//! The bench report: human text and the `--json` object.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use super::shared::{Shared, Timeline};
use super::{BenchConfig, ConnOutcome};

/// Round-trip latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencyUs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// Connect-time percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ConnectUs {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// Everything a bench run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// `tcp` or `udp`.
    pub transport: &'static str,
    /// Server address.
    pub addr: String,
    pub connections: usize,
    /// Payload bytes per message.
    pub size: usize,
    pub pipeline: usize,
    /// Open-loop target rate in total (messages/s), `null` in closed loop.
    pub rate: Option<f64>,
    /// Open-loop target rate per connection (messages/s), `null` in closed
    /// loop.
    pub message_rate: Option<f64>,
    /// New connections per second while connecting, `null`: all at once.
    pub connect_rate: Option<f64>,
    /// How many `--source` addresses the connections came from (0: the
    /// kernel chose).
    pub source_addrs: usize,
    /// From the first connect to the last connection ready (the ramp),
    /// milliseconds.
    pub ramp_ms: f64,
    /// Measured seconds (warm-up excluded).
    pub duration_s: f64,
    /// Messages sent over the whole run (warm-up and measured time).
    pub sent: u64,
    /// Verified messages completed inside the measured window.
    pub msgs: u64,
    pub msgs_per_sec: f64,
    /// Echoed payload bytes per second (`msgs_per_sec * size`).
    pub bytes_per_sec: f64,
    pub connect_us: ConnectUs,
    pub latency_us: LatencyUs,
    /// Connections that failed (connect, I/O, timeout, early close).
    pub errors: u64,
    /// Echoed messages whose bytes differed from what was sent.
    pub mismatches: u64,
    /// UDP datagrams without a reply within the loss timeout (TCP: 0).
    pub lost: u64,
    /// Up to five distinct error messages.
    pub error_samples: Vec<String>,
}

impl BenchReport {
    /// Whether the run proves the server echoed correctly.
    pub fn success(&self) -> bool {
        self.errors == 0 && self.mismatches == 0
    }
}

pub(crate) fn build(
    config: &BenchConfig,
    shared: &Shared,
    timeline: &Timeline,
    outcomes: &[ConnOutcome],
) -> BenchReport {
    let measured = timeline
        .end
        .saturating_duration_since(timeline.measure_from)
        .as_secs_f64()
        .max(f64::MIN_POSITIVE);
    let msgs = shared.msgs.load(Relaxed);
    let latency_us = shared
        .latency
        .lock()
        .map(|h| {
            if h.is_empty() {
                LatencyUs::default()
            } else {
                LatencyUs {
                    p50: h.value_at_quantile(0.50),
                    p90: h.value_at_quantile(0.90),
                    p99: h.value_at_quantile(0.99),
                    p999: h.value_at_quantile(0.999),
                    max: h.max(),
                    mean: (h.mean() * 10.0).round() / 10.0,
                }
            }
        })
        .unwrap_or_default();
    let connect_us = shared
        .connect
        .lock()
        .map(|h| {
            if h.is_empty() {
                ConnectUs::default()
            } else {
                ConnectUs {
                    p50: h.value_at_quantile(0.50),
                    p99: h.value_at_quantile(0.99),
                    max: h.max(),
                }
            }
        })
        .unwrap_or_default();
    let mut error_samples: Vec<String> = Vec::new();
    for e in outcomes.iter().filter_map(|o| o.error.as_ref()) {
        if error_samples.len() < 5 && !error_samples.contains(e) {
            error_samples.push(e.clone());
        }
    }
    let msgs_per_sec = msgs as f64 / measured;
    BenchReport {
        transport: if config.udp { "udp" } else { "tcp" },
        addr: config.addr.to_string(),
        connections: config.connections,
        size: config.size,
        pipeline: config.pipeline,
        rate: config.total_rate(),
        message_rate: config.per_connection_rate().map(round3),
        connect_rate: config.connect_rate,
        source_addrs: config.sources.len(),
        ramp_ms: shared.ramp_us.load(Relaxed) as f64 / 1000.0,
        sent: shared.sent.load(Relaxed),
        duration_s: (measured * 1000.0).round() / 1000.0,
        msgs,
        msgs_per_sec: msgs_per_sec.round(),
        bytes_per_sec: (msgs_per_sec * config.size as f64).round(),
        connect_us,
        latency_us,
        errors: shared.errors.load(Relaxed),
        mismatches: shared.mismatches.load(Relaxed),
        lost: shared.lost.load(Relaxed),
        error_samples,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match (self.rate, self.message_rate) {
            (Some(r), Some(per)) => format!("open loop at {r} msgs/s ({per} per connection)"),
            _ => "closed loop".to_string(),
        };
        writeln!(
            f,
            "echo bench {} {}: {} connections, {} B messages, pipeline {}, {}, {:.1} s measured",
            self.transport,
            self.addr,
            self.connections,
            self.size,
            self.pipeline,
            mode,
            self.duration_s
        )?;
        writeln!(
            f,
            "  throughput  {:.0} msgs/s  {:.2} MB/s  ({} messages measured, {} sent in all)",
            self.msgs_per_sec,
            self.bytes_per_sec / 1e6,
            self.msgs,
            self.sent
        )?;
        write!(
            f,
            "  connect     p50 {} us  p99 {} us  max {} us  all ready in {:.1} ms",
            self.connect_us.p50, self.connect_us.p99, self.connect_us.max, self.ramp_ms
        )?;
        if let Some(r) = self.connect_rate {
            write!(f, " (at {r} connections/s)")?;
        }
        if self.source_addrs > 0 {
            write!(f, "  from {} source addresses", self.source_addrs)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  latency     p50 {} us  p90 {} us  p99 {} us  p99.9 {} us  max {} us",
            self.latency_us.p50,
            self.latency_us.p90,
            self.latency_us.p99,
            self.latency_us.p999,
            self.latency_us.max
        )?;
        write!(
            f,
            "  errors {}  mismatches {}",
            self.errors, self.mismatches
        )?;
        if self.transport == "udp" {
            write!(f, "  lost {}", self.lost)?;
        }
        writeln!(f)?;
        for e in &self.error_samples {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}
