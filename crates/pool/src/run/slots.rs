//! The slab of running jobs, and the harvest of finished ones from the
//! run's completion queue.
//!
//! Running jobs sit in at most `concurrency` slots, their `JoinHandle`s
//! kept only to abort them. Each job task posts its result under its slot
//! number on the [`Completions`] queue; the harvest takes everything posted
//! in one swap and frees those slots at once, so the next fill starts a
//! whole batch of jobs while this batch's reports are handed out. The next
//! batch is taken only once these are, so at most `concurrency` finished
//! reports wait for the consumer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::task::Context;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::intake::Pending;
use crate::completions::{Completions, Posted, Ticket};
use crate::counters::{Counters, StopReason};
use crate::outcome::{Outcome, Report};
use crate::task::{Finished, Spawned};

/// What the driver remembers of a running job, to report it even if it is
/// aborted or panics.
struct Slot<I> {
    index: u64,
    input: I,
    key: Option<String>,
    /// The retry loop's attempt counter (`None` without retries: 1).
    attempts: Option<Arc<AtomicU32>>,
}

/// A spawned job and what the driver needs to report it, in its slot.
struct Running<I> {
    slot: Slot<I>,
    handle: JoinHandle<()>,
}

/// A finished job taken from the queue, its slot already free: what its
/// task posted (`None` if the task was dropped before it finished).
pub(super) struct Done<I, T, E> {
    slot: Slot<I>,
    /// Dropped with the report rather than in a burst at harvest, when the
    /// worker may still hold the task: see [`Done::into_report`].
    handle: JoinHandle<()>,
    finished: Option<Finished<T, E>>,
}

/// Running jobs by slot number, and finished ones not reported yet. Keeps
/// the `running` counter. Dropping it aborts the jobs still running.
pub(super) struct Slots<I, T, E> {
    /// Where job tasks post their results.
    completions: Arc<Completions<Finished<T, E>>>,
    /// A slot is free again as soon as its job's result is taken from
    /// `completions`. Grows up to the concurrency, never beyond.
    running: Vec<Option<Running<I>>>,
    free: Vec<usize>,
    /// The buffer `completions` swaps its posts into (kept for its
    /// allocation).
    taken: VecDeque<Posted<Finished<T, E>>>,
    /// Finished jobs not reported yet, at most one batch (≤ concurrency).
    done: VecDeque<Done<I, T, E>>,
    counters: Arc<Counters>,
}

impl<I, T, E> Slots<I, T, E> {
    pub(super) fn new(counters: Arc<Counters>) -> Self {
        Slots {
            completions: Completions::new(),
            running: Vec::new(),
            free: Vec::new(),
            taken: VecDeque::new(),
            done: VecDeque::new(),
            counters,
        }
    }

    /// Jobs running now: the slots in use.
    #[inline]
    pub(super) fn in_flight(&self) -> usize {
        self.running.len() - self.free.len()
    }

    /// Nothing running and nothing left to report.
    #[inline]
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight() == 0 && self.done.is_empty()
    }

    pub(super) fn abort_all(&self) {
        for running in self.running.iter().flatten() {
            running.handle.abort();
        }
    }
}

impl<I: Clone, T, E> Slots<I, T, E> {
    /// Starts `pending` in a free slot; `launch` spawns its task, given the
    /// index, a clone of the input and the slot's ticket.
    #[inline]
    pub(super) fn start(
        &mut self,
        pending: Pending<I>,
        launch: impl FnOnce(u64, I, Ticket<Finished<T, E>>) -> Spawned,
    ) {
        let Pending { index, input, key } = pending;
        let slot_no = match self.free.pop() {
            Some(slot_no) => slot_no,
            None => {
                self.running.push(None);
                self.running.len() - 1
            }
        };
        let ticket = self.completions.ticket(slot_no);
        let (handle, attempts) = launch(index, input.clone(), ticket);
        Counters::bump(&self.counters.running, 1);
        let slot = Slot {
            index,
            input,
            key,
            attempts,
        };
        if let Some(free) = self.running.get_mut(slot_no) {
            *free = Some(Running { slot, handle });
        }
    }
}

impl<I, T, E> Slots<I, T, E> {
    /// The next finished job, harvesting a new batch when the last one is
    /// handed out; `release` gets each harvested job's key as its slot is
    /// freed. `Pending` registers the driver's waker with the queue.
    #[inline]
    pub(super) fn poll_done(
        &mut self,
        cx: &mut Context<'_>,
        release: impl FnMut(Option<&str>),
    ) -> Option<Done<I, T, E>> {
        if self.done.is_empty() && self.in_flight() > 0 {
            self.harvest(cx, release);
        }
        self.done.pop_front()
    }

    /// Takes every result posted so far and frees those jobs' slots, global
    /// and per key, at once.
    fn harvest(&mut self, cx: &mut Context<'_>, mut release: impl FnMut(Option<&str>)) {
        if self.completions.poll_take(&mut self.taken, cx).is_pending() {
            return;
        }
        while let Some((slot_no, finished)) = self.taken.pop_front() {
            let Some(Running { slot, handle }) =
                self.running.get_mut(slot_no).and_then(Option::take)
            else {
                continue;
            };
            self.free.push(slot_no);
            Counters::drop_by(&self.counters.running, 1);
            release(slot.key.as_deref());
            self.done.push_back(Done {
                slot,
                handle,
                finished,
            });
        }
    }
}

impl<I, T, E> Drop for Slots<I, T, E> {
    fn drop(&mut self) {
        // Jobs still running when the run is dropped are aborted.
        self.abort_all();
    }
}

impl<I, T, E> Done<I, T, E> {
    /// The job's report. An empty post is a task dropped before it
    /// finished: aborted, so `TimedOut` if the run's deadline stopped it
    /// and `Cancelled` otherwise.
    pub(super) fn into_report(self, stopped: Option<StopReason>) -> Report<I, T, E> {
        let Done {
            slot,
            handle,
            finished,
        } = self;
        // By now the worker has usually let go of the task, so this drop
        // frees the task's memory here, on the thread that allocated it.
        drop(handle);
        // Counted by the driver when the task could not count itself.
        let counted = || {
            slot.attempts
                .as_ref()
                .map_or(1, |count| count.load(Relaxed))
        };
        let (outcome, attempts, elapsed) = match finished {
            Some(finished) if finished.attempts == 0 => {
                (finished.outcome, counted(), finished.elapsed)
            }
            Some(finished) => (finished.outcome, finished.attempts, finished.elapsed),
            None => {
                let outcome = if stopped == Some(StopReason::Deadline) {
                    Outcome::TimedOut
                } else {
                    Outcome::Cancelled
                };
                (outcome, counted(), Duration::ZERO)
            }
        };
        Report {
            index: slot.index,
            input: slot.input,
            key: slot.key,
            outcome,
            attempts,
            elapsed,
        }
    }
}
