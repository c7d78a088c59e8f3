//! Job tasks: what runs inside each tokio task, and which shape it takes.
//!
//! - `posting.rs`: the outer shape of every task, [`Posting`], which runs
//!   the work and posts its [`Finished`] result with the slot's ticket.
//! - `attempt.rs`: one attempt, timed, with panics caught and the optional
//!   timeout: the hand-written `Timed`, and `run_attempt`.
//! - `retry.rs`: the retry loop, `AttemptLoop`, with its backoff.
//!
//! The futures of the hot path are written by hand, not as `async` blocks:
//! an `async` block keeps its captures and its suspended locals in separate
//! fields, which made the pool's task future 144 bytes around a 16-byte
//! job. Every byte of it is allocated, moved and freed once per job, so the
//! task of a job with neither retries nor a timeout, [`Posting`] around
//! `Timed`, adds only a clock reading and a ticket to the job's own future.
//! [`Launcher::spawn`] picks the shape, so the common case pays nothing for
//! retries and timeouts.

mod attempt;
mod posting;
mod retry;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::completions::Ticket;
use crate::config::{Config, RetryPolicy};
use crate::counters::Counters;
use crate::outcome::Outcome;
use crate::run::{JobCtx, RetryFn};
use attempt::{Timed, panic_message, timed_with_timeout};
use posting::Posting;
use retry::AttemptLoop;

/// What a job task hands back; the task times itself, off the driver.
pub(crate) struct Finished<T, E> {
    pub(crate) outcome: Outcome<T, E>,
    /// 0 when the task panicked outside an attempt and could not count.
    pub(crate) attempts: u32,
    pub(crate) elapsed: Duration,
}

/// A spawned job task's handle and, with retries, the attempt counter the
/// task keeps up to date.
pub(crate) type Spawned = (JoinHandle<()>, Option<Arc<AtomicU32>>);

/// Everything needed to start a job task: the job function, the run's
/// token, and the timeout and retry settings that pick the task's shape.
pub(crate) struct Launcher<F, E> {
    job: Arc<F>,
    token: Arc<CancellationToken>,
    timeout: Option<Duration>,
    /// Set only when the run has both a policy and a classifier: without
    /// either, errors are final.
    retry: Option<(RetryFn<E>, RetryPolicy)>,
    counters: Arc<Counters>,
}

impl<F, E> Launcher<F, E> {
    pub(crate) fn new(
        job: F,
        token: Arc<CancellationToken>,
        config: &Config,
        retry_if: Option<RetryFn<E>>,
        counters: Arc<Counters>,
    ) -> Self {
        let retry = match (retry_if, &config.retry) {
            (Some(classify), Some(policy)) => Some((classify, policy.clone())),
            _ => None,
        };
        Launcher {
            job: Arc::new(job),
            token,
            timeout: config.timeout,
            retry,
            counters,
        }
    }

    /// Spawns the task of the job on `input`, posting with `ticket`.
    pub(crate) fn spawn<I, T, Fut>(
        &self,
        index: u64,
        input: I,
        ticket: Ticket<Finished<T, E>>,
    ) -> Spawned
    where
        I: Clone + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        F: for<'run> Fn(I, JobCtx<'run>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        if let Some((classify, policy)) = &self.retry {
            let attempts = Arc::new(AtomicU32::new(1));
            let attempt_loop = AttemptLoop {
                job: Arc::clone(&self.job),
                input,
                index,
                token: Arc::clone(&self.token),
                timeout: self.timeout,
                classify: Arc::clone(classify),
                policy: policy.clone(),
                attempts: Arc::clone(&attempts),
                counters: Arc::clone(&self.counters),
            };
            return (spawn_posting(attempt_loop.run(), ticket), Some(attempts));
        }
        // Like `buffer_unordered`'s map, the job function is called here and
        // only its future moves into the task, so starting a job clones no
        // `Arc` but the ticket's. A panic in the call itself is caught and
        // reported like a panic in the future.
        let ctx = JobCtx {
            index,
            attempt: 1,
            token: &self.token,
        };
        let job = &self.job;
        let made = std::panic::catch_unwind(AssertUnwindSafe(|| job(input, ctx)));
        let handle = match (made, self.timeout) {
            (Err(payload), _) => {
                let finished = Finished {
                    outcome: Outcome::Panicked(panic_message(payload)),
                    attempts: 1,
                    elapsed: Duration::ZERO,
                };
                spawn_posting(std::future::ready(finished), ticket)
            }
            (Ok(attempt), Some(limit)) => spawn_posting(timed_with_timeout(attempt, limit), ticket),
            (Ok(attempt), None) => spawn_posting(Timed::new(attempt), ticket),
        };
        (handle, None)
    }
}

/// Spawns a job task that runs `work` and posts its result with `ticket`.
fn spawn_posting<W, T, E>(work: W, ticket: Ticket<Finished<T, E>>) -> JoinHandle<()>
where
    W: Future<Output = Finished<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    tokio::spawn(Posting::new(work, ticket))
}
