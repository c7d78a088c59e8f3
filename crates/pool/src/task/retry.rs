//! The retry loop: one job's attempts, run inside its tokio task, with the
//! backoff between them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Finished;
use super::attempt::run_attempt;
use crate::config::RetryPolicy;
use crate::counters::Counters;
use crate::outcome::{Outcome, Retry};
use crate::run::{JobCtx, RetryFn};

/// One job's attempts with retries. The task keeps its slot (global and
/// per key) while it sleeps between attempts, so limits hold across
/// retries.
pub(super) struct AttemptLoop<I, E, F> {
    pub(super) job: Arc<F>,
    pub(super) input: I,
    pub(super) index: u64,
    pub(super) token: Arc<CancellationToken>,
    pub(super) timeout: Option<Duration>,
    pub(super) classify: RetryFn<E>,
    pub(super) policy: RetryPolicy,
    /// The attempt under way, read by the driver if the task is aborted or
    /// panics outside an attempt and cannot report its own count.
    pub(super) attempts: Arc<AtomicU32>,
    pub(super) counters: Arc<Counters>,
}

impl<I, E, F> AttemptLoop<I, E, F>
where
    I: Clone + Send + 'static,
    E: Send + 'static,
{
    pub(super) async fn run<T, Fut>(self) -> Finished<T, E>
    where
        F: for<'run> Fn(I, JobCtx<'run>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let AttemptLoop {
            job,
            input,
            index,
            token,
            timeout,
            classify,
            policy,
            attempts,
            counters,
        } = self;
        let start = Instant::now();
        let mut delays = policy.delays();
        let mut attempt_no = 1;
        loop {
            let ctx = JobCtx {
                index,
                attempt: attempt_no,
                token: &token,
            };
            let outcome = run_attempt(job(input.clone(), ctx), timeout).await;
            let Outcome::Err(error) = outcome else {
                return Finished {
                    outcome,
                    attempts: attempt_no,
                    elapsed: start.elapsed(),
                };
            };
            let delay = match classify(&error) {
                Retry::No => None,
                Retry::Yes => delays.next(),
                Retry::After(hint) => delays
                    .next()
                    .map(|backoff| hint.min(policy.retry_after_cap).max(backoff)),
            };
            let Some(delay) = delay.filter(|_| !token.is_cancelled()) else {
                return Finished {
                    outcome: Outcome::Err(error),
                    attempts: attempt_no,
                    elapsed: start.elapsed(),
                };
            };
            tracing::debug!(index, attempt = attempt_no, ?delay, "retrying job");
            Counters::add(&counters.retried, 1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = token.cancelled() => {
                    return Finished { outcome: Outcome::Err(error), attempts: attempt_no, elapsed: start.elapsed() };
                }
            }
            attempt_no += 1;
            attempts.store(attempt_no, Relaxed);
        }
    }
}
