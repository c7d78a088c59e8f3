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
    /// Open-loop target rate (messages/s), `null` in closed loop.
    pub rate: Option<f64>,
    /// Measured seconds (warm-up excluded).
    pub duration_s: f64,
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
        rate: config.rate,
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

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.rate {
            Some(r) => format!("open loop at {r} msgs/s"),
            None => "closed loop".to_string(),
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
            "  throughput  {:.0} msgs/s  {:.2} MB/s  ({} messages)",
            self.msgs_per_sec,
            self.bytes_per_sec / 1e6,
            self.msgs
        )?;
        writeln!(
            f,
            "  connect     p50 {} us  p99 {} us  max {} us",
            self.connect_us.p50, self.connect_us.p99, self.connect_us.max
        )?;
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
