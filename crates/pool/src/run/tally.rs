//! The tally: what [`crate::Run::summary`] is made of (counts per outcome,
//! latency, wall time), and the `done` and `failed` counters.
//!
//! The driver counts each report locally and merges into the shared tally
//! only every [`TALLY_BATCH`] reports, at a stop and at the end, so the
//! per-job path takes no lock.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::counters::{Counters, StopReason, Summary, Tally};
use crate::outcome::Report;

/// Reports counted locally before the shared summary is updated.
const TALLY_BATCH: u32 = 16_384;

/// What the driver shares with its [`crate::Run`] handle.
pub(crate) struct Shared {
    pub(crate) counters: Arc<Counters>,
    tally: Mutex<Tally>,
    /// The run's first poll and, once it has ended, its end.
    clock: Mutex<Option<(Instant, Option<Instant>)>>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            counters: Arc::default(),
            tally: Mutex::new(Tally::new()),
            clock: Mutex::new(None),
        })
    }

    /// The summary so far (final once the run has ended).
    pub(crate) fn summary(&self) -> Summary {
        let wall = match *lock(&self.clock) {
            Some((start, Some(end))) => end - start,
            Some((start, None)) => start.elapsed(),
            None => Duration::ZERO,
        };
        let retried = self.counters.retried.load(Relaxed);
        lock(&self.tally).summary(wall, retried)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The driver's side of the tally.
pub(super) struct RunTally {
    local: Tally,
    unmerged: u32,
    shared: Arc<Shared>,
}

impl RunTally {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        RunTally {
            local: Tally::new(),
            unmerged: 0,
            shared,
        }
    }

    /// Starts the wall clock at the run's first poll: `Some(start)` then,
    /// `None` if it was started already.
    pub(super) fn start_clock(&self) -> Option<Instant> {
        let mut clock = lock(&self.shared.clock);
        if clock.is_some() {
            return None;
        }
        let now = Instant::now();
        *clock = Some((now, None));
        Some(now)
    }

    /// The run has ended: the summary becomes final.
    pub(super) fn stop_clock(&mut self) {
        self.merge();
        if let Some((_, end @ None)) = lock(&self.shared.clock).as_mut() {
            *end = Some(Instant::now());
        }
    }

    /// Counts a report handed out.
    #[inline]
    pub(super) fn record<I, T, E>(&mut self, report: &Report<I, T, E>) {
        let counters = &self.shared.counters;
        Counters::bump(&counters.done, 1);
        if !report.outcome.is_ok() {
            Counters::bump(&counters.failed, 1);
        }
        let started = (report.attempts > 0).then_some(report.elapsed);
        self.local.record(&report.outcome, started);
        self.unmerged += 1;
        if self.unmerged >= TALLY_BATCH {
            self.merge();
        }
    }

    /// The run stopped early: the summary says why, and is brought up to
    /// date.
    pub(super) fn stopped(&mut self, reason: StopReason) {
        self.merge();
        lock(&self.shared.tally).summary.stopped = Some(reason);
    }

    fn merge(&mut self) {
        self.unmerged = 0;
        lock(&self.shared.tally).absorb(&mut self.local);
    }
}
