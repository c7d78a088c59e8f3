//! How job tasks hand their results to the run's driver: one queue per run.
//!
//! Each job task holds a [`Ticket`] for its slot. When the job ends, the
//! task posts its result on the queue and wakes the driver; if the task is
//! aborted instead (its future dropped), the ticket's `Drop` posts an empty
//! entry, so the driver hears about every job exactly once and only after
//! the job's future is gone. The driver takes everything posted so far in
//! one swap under the lock.
//!
//! This replaces polling each task's `JoinHandle` through a
//! `FuturesUnordered`, which per job allocated a node, registered a waker
//! in the task and copied the output out of the task cell. Here a job costs
//! one reference count on the queue and one short, mostly uncontended lock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

/// What a slot's task posted: its result, or `None` if it was dropped
/// before it finished (aborted).
pub(crate) type Posted<T> = (usize, Option<T>);

/// The queue shared by a run's driver and its job tasks.
pub(crate) struct Completions<T> {
    posted: Mutex<VecDeque<Posted<T>>>,
    driver: AtomicWaker,
}

impl<T> Completions<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Completions {
            posted: Mutex::new(VecDeque::new()),
            driver: AtomicWaker::new(),
        })
    }

    /// A ticket for the task that will run in `slot`.
    pub(crate) fn ticket(self: &Arc<Self>, slot: usize) -> Ticket<T> {
        Ticket {
            completions: Arc::clone(self),
            slot,
            posted: false,
        }
    }

    /// Moves everything posted so far into `taken`, which must be empty
    /// (its allocation is swapped in, so neither side reallocates).
    /// `Pending`, with the driver's waker registered, if nothing was posted.
    pub(crate) fn poll_take(
        &self,
        taken: &mut VecDeque<Posted<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if self.try_take(taken) {
            return Poll::Ready(());
        }
        self.driver.register(cx.waker());
        // A post between the first look and the registration woke nobody:
        // look again now that the waker is in place.
        if self.try_take(taken) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn try_take(&self, taken: &mut VecDeque<Posted<T>>) -> bool {
        let mut posted = self.lock();
        if posted.is_empty() {
            return false;
        }
        std::mem::swap(&mut *posted, taken);
        true
    }

    fn post(&self, slot: usize, result: Option<T>) {
        self.lock().push_back((slot, result));
        self.driver.wake();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Posted<T>>> {
        self.posted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A job task's promise to report on its slot exactly once.
pub(crate) struct Ticket<T> {
    completions: Arc<Completions<T>>,
    slot: usize,
    posted: bool,
}

impl<T> Ticket<T> {
    /// Posts the job's result.
    pub(crate) fn post(mut self, result: T) {
        self.posted = true;
        self.completions.post(self.slot, Some(result));
    }
}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        if !self.posted {
            self.completions.post(self.slot, None);
        }
    }
}
