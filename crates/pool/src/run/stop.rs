//! Stopping a run early: the cancellation token, the grace period and the
//! deadline ([`crate::PoolBuilder::cancel_token`],
//! [`crate::PoolBuilder::grace`], [`crate::PoolBuilder::deadline`]), and
//! fail-fast.
//!
//! A stop ends the intake and cancels the run's token. A cancel gives the
//! running jobs the grace period before they are aborted; the deadline and
//! fail-fast abort them at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Release};
use std::task::Context;
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::timer::Timer;
use crate::config::Config;
use crate::counters::StopReason;

/// The cancellation token, watched by a task so that the driver checks an
/// atomic instead of taking the token's locks.
#[derive(Default)]
struct CancelSignal {
    fired: AtomicBool,
    driver: AtomicWaker,
}

/// A timer of the stop that fired.
pub(super) enum Fired {
    Deadline,
    GraceOver,
}

/// Whether and why the run is stopping, and its timers.
pub(super) struct Stop {
    reason: Option<StopReason>,
    /// The run's token (a child of the caller's): cancelled at a stop, and
    /// lent to the jobs as [`crate::JobCtx::token`].
    token: Arc<CancellationToken>,
    /// Set (and the driver woken) by the watcher task when the token fires.
    cancelled: Arc<CancelSignal>,
    watcher: Option<AbortHandle>,
    grace: Duration,
    grace_timer: Timer,
    deadline: Option<Duration>,
    deadline_timer: Timer,
    /// Running jobs were aborted (once is enough).
    aborted: bool,
}

impl Stop {
    pub(super) fn new(token: Arc<CancellationToken>, config: &Config) -> Self {
        Stop {
            reason: None,
            token,
            cancelled: Arc::default(),
            watcher: None,
            grace: config.grace,
            grace_timer: Timer::default(),
            deadline: config.deadline,
            deadline_timer: Timer::default(),
            aborted: false,
        }
    }

    /// Starts watching the token, from a task that sets the signal.
    pub(super) fn watch(&mut self) {
        let (token, cancelled) = (
            CancellationToken::clone(&self.token),
            Arc::clone(&self.cancelled),
        );
        let watcher = tokio::spawn(async move {
            token.cancelled().await;
            cancelled.fired.store(true, Release);
            cancelled.driver.wake();
        });
        self.watcher = Some(watcher.abort_handle());
    }

    /// Arms the deadline, if the run has one, from the run's start.
    pub(super) fn arm_deadline(&mut self, start: Instant) {
        if let Some(deadline) = self.deadline {
            self.deadline_timer.set_at(start + deadline);
        }
    }

    #[inline]
    pub(super) fn reason(&self) -> Option<StopReason> {
        self.reason
    }

    #[inline]
    pub(super) fn is_stopping(&self) -> bool {
        self.reason.is_some()
    }

    /// The token fired and the run is not stopping yet.
    #[inline]
    pub(super) fn cancel_fired(&self) -> bool {
        self.reason.is_none() && self.cancelled.fired.load(Acquire)
    }

    /// Begins the stop: cancels the token and drops the deadline. A cancel
    /// with a grace period arms its timer; otherwise returns `true`: abort
    /// the running jobs now.
    pub(super) fn begin(&mut self, reason: StopReason) -> bool {
        self.reason = Some(reason);
        self.token.cancel();
        self.deadline_timer.clear();
        match reason {
            StopReason::Cancelled if !self.grace.is_zero() => {
                self.grace_timer.set(self.grace);
                false
            }
            _ => true,
        }
    }

    /// `true` the first time running jobs are to be aborted.
    pub(super) fn take_abort(&mut self) -> bool {
        !std::mem::replace(&mut self.aborted, true)
    }

    /// Polls the deadline, then the grace period.
    #[inline]
    pub(super) fn poll_timers(&mut self, cx: &mut Context<'_>) -> Option<Fired> {
        if self.deadline_timer.poll_fired(cx) {
            return Some(Fired::Deadline);
        }
        if self.grace_timer.poll_fired(cx) {
            return Some(Fired::GraceOver);
        }
        None
    }

    /// Until the run stops, registers the driver to be woken by the token;
    /// `true` if it has fired.
    pub(super) fn poll_cancel(&mut self, cx: &mut Context<'_>) -> bool {
        if self.reason.is_some() {
            return false;
        }
        self.cancelled.driver.register(cx.waker());
        self.cancelled.fired.load(Acquire)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
    }
}
