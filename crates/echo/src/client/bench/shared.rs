//! State shared by all connection jobs of one bench run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::BenchConfig;

/// When the run starts, when measuring starts, when sending stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    pub(crate) start: Instant,
    pub(crate) measure_from: Instant,
    pub(crate) end: Instant,
}

impl Timeline {
    pub(crate) fn measured(&self, t: Instant) -> bool {
        t >= self.measure_from && t <= self.end
    }
}

/// Open loop: how early a message may be sent (timer granularity).
const EARLY: std::time::Duration = std::time::Duration::from_millis(1);

/// When one connection sends: in a closed loop, as soon as its window
/// allows; with `--rate`, on a fixed open-loop schedule, the connections'
/// schedules spread evenly over one interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    every: Option<std::time::Duration>,
    offset: std::time::Duration,
    start: Instant,
    end: Instant,
}

impl Schedule {
    pub(crate) fn new(config: &BenchConfig, id: u64, timeline: &Timeline) -> Self {
        let every = config
            .rate
            .map(|rate| std::time::Duration::from_secs_f64(config.connections as f64 / rate));
        let offset = every
            .map(|i| i.mul_f64(id as f64 / config.connections as f64))
            .unwrap_or_default();
        Self {
            every,
            offset,
            start: timeline.start,
            end: timeline.end,
        }
    }

    /// Waits until message `seq` is due. `None`: the schedule ends before
    /// it. `Some(None)`: closed loop, send now. `Some(Some(due))`: open
    /// loop, scheduled for `due`.
    pub(crate) async fn wait_for(&self, seq: u64) -> Option<Option<Instant>> {
        let Some(every) = self.every else {
            return Some(None);
        };
        let due = self.start + self.offset + every.mul_f64(seq as f64);
        if due >= self.end {
            return None;
        }
        // Timers tick in whole milliseconds: wake up to 1 ms early and send
        // then rather than up to 1 ms late.
        tokio::time::sleep_until(due.checked_sub(EARLY).unwrap_or(due)).await;
        Some(Some(due))
    }

    /// Where a message's latency starts: its scheduled time when sending is
    /// late (no coordinated omission), the real send when early or in a
    /// closed loop.
    pub(crate) fn latency_start(due: Option<Instant>, now: Instant) -> Instant {
        due.map_or(now, |d| d.min(now))
    }
}

/// Highest recordable latency: one hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

pub(crate) fn new_histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_US, 3).map_err(|e| format!("histogram: {e}"))
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) latency: Mutex<Histogram<u64>>,
    pub(crate) connect: Mutex<Histogram<u64>>,
    /// Measured messages (completed inside the window).
    pub(crate) msgs: AtomicU64,
    /// Every verified message, warm-up and drain included (for progress).
    pub(crate) live_msgs: AtomicU64,
    pub(crate) mismatches: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) lost: AtomicU64,
}

impl Shared {
    pub(crate) fn new(_config: &BenchConfig) -> Result<Self, String> {
        Ok(Self {
            latency: Mutex::new(new_histogram()?),
            connect: Mutex::new(new_histogram()?),
            msgs: AtomicU64::new(0),
            live_msgs: AtomicU64::new(0),
            mismatches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        })
    }
}

/// A connection's latency samples, merged into [`Shared`] in batches.
#[derive(Debug)]
pub(crate) struct Recorder<'a> {
    shared: &'a Shared,
    samples: Vec<u64>,
    live: u64,
}

const BATCH: usize = 512;

impl<'a> Recorder<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            samples: Vec::new(),
            live: 0,
        }
    }

    /// One verified message that completed at `done`, due at `due`.
    pub(crate) fn message(&mut self, timeline: &Timeline, due: Instant, done: Instant) {
        self.live += 1;
        if timeline.measured(done) {
            let us = done.saturating_duration_since(due).as_micros();
            self.samples
                .push(u64::try_from(us).unwrap_or(u64::MAX).max(1));
        }
        if self.live >= 64 {
            self.shared.live_msgs.fetch_add(self.live, Relaxed);
            self.live = 0;
        }
        if self.samples.len() >= BATCH {
            self.flush();
        }
    }

    pub(crate) fn mismatch(&self) {
        self.shared.mismatches.fetch_add(1, Relaxed);
    }

    pub(crate) fn lost(&self, n: u64) {
        self.shared.lost.fetch_add(n, Relaxed);
    }

    pub(crate) fn flush(&mut self) {
        self.shared.live_msgs.fetch_add(self.live, Relaxed);
        self.live = 0;
        if self.samples.is_empty() {
            return;
        }
        self.shared
            .msgs
            .fetch_add(self.samples.len() as u64, Relaxed);
        if let Ok(mut h) = self.shared.latency.lock() {
            for &s in &self.samples {
                h.saturating_record(s);
            }
        }
        self.samples.clear();
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
