//! Live counters for progress bars, and the end-of-run [`Summary`].
//!
//! The driver is the only writer; readers (a progress thread, say) take a
//! [`CountersSnapshot`] at any time without stopping the run.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::outcome::Outcome;

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

    /// Adds from any thread (retries are counted inside job tasks).
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Adds to a counter that only the run's driver writes: a plain store,
    /// no read-modify-write, since there is a single writer.
    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Subtracts from a driver-only counter (see [`Counters::bump`]).
    pub(crate) fn drop_by(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed).wrapping_sub(n), Relaxed);
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
    ///
    /// The counts and percentiles of a [`Summary`] taken mid-run may lag
    /// the live [`Counters`] by up to 16,384 jobs; they are exact once the
    /// stream has ended or the run has stopped.
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
    pub(crate) fn new() -> Tally {
        // Two significant figures (1%) up to an hour; a failed constructor
        // only loses the percentiles.
        let latency_us = Histogram::new_with_bounds(1, 3_600_000_000, 2).ok();
        Tally {
            summary: Summary::default(),
            latency_us,
        }
    }

    pub(crate) fn record<T, E>(&mut self, outcome: &Outcome<T, E>, elapsed: Option<Duration>) {
        let summary = &mut self.summary;
        match outcome {
            Outcome::Ok(_) => summary.ok += 1,
            Outcome::Err(_) => summary.err += 1,
            Outcome::TimedOut => summary.timed_out += 1,
            Outcome::Panicked(_) => summary.panicked += 1,
            Outcome::Cancelled => summary.cancelled += 1,
        }
        if let (Some(histogram), Some(elapsed)) = (self.latency_us.as_mut(), elapsed) {
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            histogram.saturating_record(micros.max(1));
        }
    }

    /// Moves everything `local` counted into `self` and clears `local`.
    pub(crate) fn absorb(&mut self, local: &mut Tally) {
        let (into, from) = (&mut self.summary, &mut local.summary);
        into.ok += std::mem::take(&mut from.ok);
        into.err += std::mem::take(&mut from.err);
        into.timed_out += std::mem::take(&mut from.timed_out);
        into.panicked += std::mem::take(&mut from.panicked);
        into.cancelled += std::mem::take(&mut from.cancelled);
        if let (Some(into), Some(from)) = (self.latency_us.as_mut(), local.latency_us.as_mut()) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = into.add(&*from);
            from.reset();
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
