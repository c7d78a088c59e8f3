//! One attempt of a job: timed, a panic caught as `Panicked`, and under the
//! optional per-attempt timeout.
//!
//! Two shapes do this. [`Timed`] is written by hand for the case with
//! neither timeout nor retries, the one `cargo xtask bench pool` measures;
//! [`run_attempt`] is an `async fn` for everything else (a timeout, and
//! each attempt of the retry loop). `Timed` stays separate because it pays
//! for itself: with the no-timeout case run through `run_attempt` instead,
//! the pool took 1.19x (N=64) and 1.28x (N=1024) as long per job (per-round
//! medians of 15 interleaved fresh-process runs; see crates/pool/README.md).
//! The timeout and retry cases are not benchmarked, so they keep the
//! `async fn`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::FutureExt;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::Finished;
use crate::outcome::Outcome;

pin_project! {
    /// One attempt with neither timeout nor retries, timed from its first
    /// poll to its end; a panic in it becomes `Panicked`.
    pub(super) struct Timed<Fut> {
        #[pin]
        attempt: Fut,
        start: Option<Instant>,
    }
}

impl<Fut> Timed<Fut> {
    pub(super) fn new(attempt: Fut) -> Self {
        Timed {
            attempt,
            start: None,
        }
    }
}

impl<Fut, T, E> Future for Timed<Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Finished<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Finished<T, E>> {
        let this = self.project();
        let start = *this.start.get_or_insert_with(Instant::now);
        let attempt = this.attempt;
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| attempt.poll(cx))) {
            Ok(result) => Outcome::from_result(ready!(result)),
            Err(payload) => Outcome::Panicked(panic_message(payload)),
        };
        Poll::Ready(Finished {
            outcome,
            attempts: 1,
            elapsed: start.elapsed(),
        })
    }
}

/// A single attempt under a timeout, timed from its start to its end.
pub(super) async fn timed_with_timeout<T, E>(
    attempt: impl Future<Output = Result<T, E>>,
    limit: Duration,
) -> Finished<T, E> {
    let start = Instant::now();
    let outcome = run_attempt(attempt, Some(limit)).await;
    Finished {
        outcome,
        attempts: 1,
        elapsed: start.elapsed(),
    }
}

/// One attempt under the optional timeout; a panic becomes `Panicked`.
pub(super) async fn run_attempt<T, E>(
    job: impl Future<Output = Result<T, E>>,
    timeout: Option<Duration>,
) -> Outcome<T, E> {
    let guarded = AssertUnwindSafe(job).catch_unwind();
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, guarded).await {
            Ok(result) => result,
            Err(_) => return Outcome::TimedOut,
        },
        None => guarded.await,
    };
    match result {
        Ok(result) => Outcome::from_result(result),
        Err(payload) => Outcome::Panicked(panic_message(payload)),
    }
}

/// The text of a panic payload.
pub(super) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
