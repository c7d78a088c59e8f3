//! The server's shutdown phase as every connection sees it.
//!
//! A connection checks the phase each time its I/O would block, i.e. about
//! once per message. Polling a shared `CancellationToken` there costs two
//! locks on mutexes that every connection shares (the token's node and its
//! `Notify`), which the worker threads then fight over. Here the hot path is
//! one load of a shared atomic that only changes twice in a server's life,
//! plus a waker registration in the connection's own `AtomicWaker`. The
//! shared map of wakers is locked only when a connection opens or closes and
//! when the phase advances.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Context;

use futures::task::AtomicWaker;

/// Where the server is in its life. Phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Accepting and echoing.
    Serving = 0,
    /// Shutdown started: finish what was read, close quiet peers.
    Draining = 1,
    /// The grace period is over: close now.
    Forced = 2,
}

/// The phase plus the wakers of every open connection.
#[derive(Debug, Default)]
pub(crate) struct Phases {
    phase: AtomicU8,
    next_id: AtomicU64,
    wakers: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
}

impl Phases {
    /// The current phase.
    pub(crate) fn current(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Serving,
            1 => Phase::Draining,
            _ => Phase::Forced,
        }
    }

    /// Moves to `to` (never backwards) and wakes every connection.
    pub(crate) fn advance(&self, to: Phase) {
        // The store comes before the wake-ups; a listener registers its
        // waker before it loads the phase, so none misses the change.
        self.phase.fetch_max(to as u8, Ordering::AcqRel);
        let wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        for waker in wakers.values() {
            waker.wake();
        }
    }

    /// Registers a connection; dropping the listener unregisters it.
    pub(crate) fn listen(self: &Arc<Self>) -> PhaseListener {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&waker));
        PhaseListener {
            id,
            waker,
            phases: Arc::clone(self),
        }
    }
}

/// One connection's view of the phase.
#[derive(Debug)]
pub(crate) struct PhaseListener {
    id: u64,
    waker: Arc<AtomicWaker>,
    phases: Arc<Phases>,
}

impl PhaseListener {
    /// The current phase, with `cx` woken when it changes.
    pub(crate) fn poll_phase(&self, cx: &Context<'_>) -> Phase {
        self.waker.register(cx.waker());
        self.phases.current()
    }

    /// The current phase, without registering.
    pub(crate) fn current(&self) -> Phase {
        self.phases.current()
    }
}

impl Drop for PhaseListener {
    fn drop(&mut self) {
        self.phases
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Poll;

    #[tokio::test]
    async fn a_waiting_listener_wakes_on_each_advance() {
        let phases = Arc::new(Phases::default());
        let listener = phases.listen();
        let waiter = tokio::spawn(async move {
            let mut seen = Vec::new();
            for want in [Phase::Draining, Phase::Forced] {
                poll_fn(|cx| {
                    let phase = listener.poll_phase(cx);
                    if phase >= want {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                seen.push(listener.current());
            }
            seen
        });
        tokio::task::yield_now().await;
        phases.advance(Phase::Draining);
        tokio::task::yield_now().await;
        phases.advance(Phase::Forced);
        let seen = waiter.await.unwrap();
        assert_eq!(seen.last(), Some(&Phase::Forced));
        assert!(seen[0] >= Phase::Draining);
        // Phases never go back.
        phases.advance(Phase::Serving);
        assert_eq!(phases.current(), Phase::Forced);
        assert!(phases.wakers.lock().unwrap().is_empty());
    }
}
