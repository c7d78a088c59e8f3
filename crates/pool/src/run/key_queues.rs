//! Inputs taken but not started: parked under a key at its limit
//! ([`crate::PoolBuilder::per_key`]), or ready to start and waiting for a
//! global slot or the start rate.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::intake::Pending;
use crate::counters::Counters;

/// Per-key bookkeeping: jobs in flight and inputs waiting for this key.
struct KeyState<I> {
    in_flight: usize,
    parked: VecDeque<Pending<I>>,
}

impl<I> Default for KeyState<I> {
    fn default() -> Self {
        KeyState {
            in_flight: 0,
            parked: VecDeque::new(),
        }
    }
}

/// The queues of inputs taken from the source and not started yet, and the
/// per-key counts of jobs in flight. A key at its limit parks its inputs
/// and never blocks inputs of other keys. Keeps the `queued` counter.
pub(super) struct KeyQueues<I> {
    /// The per-key limit; `None` when the run has none.
    limit: Option<usize>,
    /// Keys with a job in flight (entries go when their last job ends).
    keys: HashMap<String, KeyState<I>>,
    /// Inputs whose key has a free slot, waiting for a global slot or the
    /// start-rate limiter.
    ready: VecDeque<Pending<I>>,
    /// Inputs in `ready` plus those parked under busy keys.
    queued: usize,
    counters: Arc<Counters>,
}

impl<I> KeyQueues<I> {
    pub(super) fn new(limit: Option<usize>, counters: Arc<Counters>) -> Self {
        KeyQueues {
            limit,
            keys: HashMap::new(),
            ready: VecDeque::new(),
            queued: 0,
            counters,
        }
    }

    /// Inputs taken and not started, ready or parked.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.queued
    }

    /// Inputs ready to start.
    #[inline]
    pub(super) fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Takes a slot of `pending`'s key and gives the input back, or parks
    /// it (queued) if the key is at its limit.
    #[inline]
    pub(super) fn admit(&mut self, pending: Pending<I>) -> Option<Pending<I>> {
        if let (Some(key), Some(limit)) = (&pending.key, self.limit) {
            let state = self.keys.entry(key.clone()).or_default();
            if state.in_flight >= limit {
                state.parked.push_back(pending);
                self.count_queued();
                return None;
            }
            state.in_flight += 1;
        }
        Some(pending)
    }

    /// Queues an admitted input until a global slot and the rate allow.
    pub(super) fn push_ready(&mut self, pending: Pending<I>) {
        self.ready.push_back(pending);
        self.count_queued();
    }

    /// The oldest input ready to start, no longer queued.
    #[inline]
    pub(super) fn pop_ready(&mut self) -> Option<Pending<I>> {
        let pending = self.ready.pop_front()?;
        self.uncount_queued();
        Some(pending)
    }

    /// A job of `key` ended: its key slot passes straight to the next input
    /// parked under it, or is freed.
    #[inline]
    pub(super) fn release(&mut self, key: Option<&str>) {
        let (Some(key), Some(_)) = (key, self.limit) else {
            return;
        };
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        match state.parked.pop_front() {
            Some(next) => self.ready.push_back(next),
            None => {
                state.in_flight = state.in_flight.saturating_sub(1);
                if state.in_flight == 0 {
                    self.keys.remove(key);
                }
            }
        }
    }

    /// After a stop: one queued input, ready ones first, to be reported
    /// `Cancelled`.
    pub(super) fn drain_one(&mut self) -> Option<Pending<I>> {
        let pending = match self.ready.pop_front() {
            Some(pending) => pending,
            None => {
                let key = self
                    .keys
                    .iter()
                    .find(|(_, state)| !state.parked.is_empty())?
                    .0
                    .clone();
                self.keys.get_mut(&key)?.parked.pop_front()?
            }
        };
        self.uncount_queued();
        Some(pending)
    }

    fn count_queued(&mut self) {
        self.queued += 1;
        Counters::bump(&self.counters.queued, 1);
    }

    fn uncount_queued(&mut self) {
        self.queued -= 1;
        Counters::drop_by(&self.counters.queued, 1);
    }
}
