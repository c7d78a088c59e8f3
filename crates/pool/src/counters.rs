//! Live counters for progress bars, and the end-of-run [`Summary`].
//!
//! The driver is the only writer; readers (a progress thread, say) take a
//! [`CountersSnapshot`] at any time without stopping the run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Atomic counters of a run. Get them with [`crate::Run::counters`].
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) queued: AtomicU64,
    pub(crate) running: AtomicU64,
    pub(crate) done: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Taken from the input but not started yet: waiting for a per-key slot
    /// or for the start-rate limiter.
    pub queued: u64,
    /// Running now (including jobs sleeping between retries).
    pub running: u64,
    /// Finished, whatever the outcome.
    pub done: u64,
    /// Finished with any outcome other than `Ok`.
    pub failed: u64,
    /// Retry attempts made so far.
    pub retried: u64,
}

impl Counters {
    /// Reads every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            queued: self.queued.load(Relaxed),
            running: self.running.load(Relaxed),
            done: self.done.load(Relaxed),
            failed: self.failed.load(Relaxed),
            retried: self.retried.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }
}

/// Why a run stopped before its input ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The cancellation token fired.
    Cancelled,
    /// The run's deadline passed.
    Deadline,
    /// Fail-fast: a job failed.
    FailFast,
}

/// Counts per outcome, wall time and job latency, for the end of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Jobs that returned `Ok`.
    pub ok: u64,
    /// Jobs that returned `Err`.
    pub err: u64,
    /// Jobs that timed out.
    pub timed_out: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs cancelled, started or not.
    pub cancelled: u64,
    /// Retry attempts.
    pub retried: u64,
    /// From the first poll of the run to now (or to its end).
    pub wall: Duration,
    /// Median job latency (jobs that started).
    pub p50: Duration,
    /// 99th percentile job latency.
    pub p99: Duration,
    /// Set when the run stopped early.
    pub stopped: Option<StopReason>,
}

impl Summary {
    /// Every job that produced a report.
    pub fn total(&self) -> u64 {
        self.ok + self.err + self.timed_out + self.panicked + self.cancelled
    }
}

/// The driver's tally behind [`Summary`].
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) summary: Summary,
    latency_us: Option<Histogram<u64>>,
}

impl Tally {
    pub(crate) fn new() -> Mutex<Tally> {
        // Three significant figures up to an hour; a failed constructor
        // only loses the percentiles.
        let latency_us = Histogram::new_with_bounds(1, 3_600_000_000, 3).ok();
        Mutex::new(Tally {
            summary: Summary::default(),
            latency_us,
        })
    }

    pub(crate) fn record(&mut self, kind: &str, elapsed: Option<Duration>) {
        let summary = &mut self.summary;
        match kind {
            "ok" => summary.ok += 1,
            "err" => summary.err += 1,
            "timed_out" => summary.timed_out += 1,
            "panicked" => summary.panicked += 1,
            _ => summary.cancelled += 1,
        }
        if let (Some(histogram), Some(elapsed)) = (self.latency_us.as_mut(), elapsed) {
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            histogram.saturating_record(micros.max(1));
        }
    }

    pub(crate) fn summary(&self, wall: Duration, retried: u64) -> Summary {
        let mut summary = self.summary.clone();
        summary.wall = wall;
        summary.retried = retried;
        if let Some(histogram) = self.latency_us.as_ref().filter(|h| !h.is_empty()) {
            summary.p50 = Duration::from_micros(histogram.value_at_quantile(0.50));
            summary.p99 = Duration::from_micros(histogram.value_at_quantile(0.99));
        }
        summary
    }
}
