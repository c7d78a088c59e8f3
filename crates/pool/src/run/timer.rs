//! A one-shot timer that may be unset: the deadline, the grace period and
//! the start-rate wait.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// An optional tokio sleep, cleared when it fires.
#[derive(Default)]
pub(super) struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    /// Fires `after` from now.
    pub(super) fn set(&mut self, after: Duration) {
        self.0 = Some(Box::pin(tokio::time::sleep(after)));
    }

    /// Fires at `at`.
    pub(super) fn set_at(&mut self, at: Instant) {
        self.0 = Some(Box::pin(tokio::time::sleep_until(at)));
    }

    pub(super) fn clear(&mut self) {
        self.0 = None;
    }

    #[inline]
    pub(super) fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Polls the timer, if set; a timer that fires is cleared.
    #[inline]
    pub(super) fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        let fired = self
            .0
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
        if fired {
            self.0 = None;
        }
        fired
    }
}
