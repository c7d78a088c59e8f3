//! A run: [`Jobs`] (input plus job function) turned into a [`Run`], the
//! stream of [`Report`]s.
//!
//! The run is driven by its consumer, like `buffer_unordered`: each poll of
//! the stream pulls input while slots are free, spawns jobs as tokio tasks
//! and takes finished ones from the run's completion queue, where each job
//! task posts its result. No extra driver task sits between the jobs and
//! the caller, and a consumer that stops polling stops the intake too
//! (backpressure). Everything the driver keeps is bounded by the
//! concurrency, the per-key queue limit and the reorder window, never by
//! the length of the input.
//!
//! The driver is made of one part per idea, each in its own file here:
//!
//! - `driver.rs`: the step loop that ties the parts together;
//! - `intake.rs`: the input source, numbering and keying each input;
//! - `key_queues.rs`: inputs taken but not started, and the per-key limit;
//! - `start_rate.rs`: the start-rate limiter and its wait;
//! - `slots.rs`: the slab of running jobs and the batch harvest of finished
//!   ones;
//! - `reorder.rs`: the ordered-output buffer;
//! - `stop.rs`: cancellation, grace period, deadline and fail-fast;
//! - `tally.rs`: the summary's counts, latency and wall clock;
//! - `timer.rs`: the optional timer the other parts use.
//!
//! What runs inside each job task lives in `src/task/`.

mod driver;
mod intake;
mod key_queues;
mod reorder;
mod slots;
mod start_rate;
mod stop;
mod tally;
mod timer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Pool};
use crate::counters::{Counters, Summary};
use crate::outcome::{Report, Retry};
use driver::Driver;
use tally::Shared;

/// What a job sees of the run, lent to the job function for the call that
/// makes the job's future. Copy out what the future needs (`ctx.attempt`,
/// or `ctx.token.clone()` to watch for cancellation): keeping the context
/// borrowed, rather than handing each job owned handles, is what lets the
/// pool start a job without touching any shared reference count.
#[derive(Debug, Clone, Copy)]
pub struct JobCtx<'run> {
    /// Position of the input, from 0.
    pub index: u64,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Cancelled when the run is cancelled (token, deadline or fail-fast).
    /// A job that clones it and awaits `token.cancelled()` can wind down
    /// cleanly within the grace period.
    pub token: &'run CancellationToken,
}

pub(crate) type KeyFn<I> = Arc<dyn Fn(&I) -> String + Send + Sync>;
pub(crate) type RetryFn<E> = Arc<dyn Fn(&E) -> Retry + Send + Sync>;

/// Input bound to a pool, waiting for its job function. Made by
/// [`Pool::jobs`] or [`Pool::jobs_stream`].
pub struct Jobs<I, E> {
    config: Arc<Config>,
    input: BoxStream<'static, I>,
    key: Option<KeyFn<I>>,
    retry_if: Option<RetryFn<E>>,
}

impl Pool {
    /// Binds lazy input from any iterator. Items are pulled only when a
    /// slot is free, so the iterator may be endless.
    pub fn jobs<It, E>(&self, input: It) -> Jobs<It::Item, E>
    where
        It: IntoIterator,
        It::IntoIter: Send + 'static,
        It::Item: Send + 'static,
    {
        self.jobs_stream(futures::stream::iter(input))
    }

    /// Binds lazy input from a stream (a channel receiver for the
    /// producer/consumer pattern, say).
    pub fn jobs_stream<S, E>(&self, input: S) -> Jobs<S::Item, E>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        Jobs {
            config: Arc::clone(&self.config),
            input: input.boxed(),
            key: None,
            retry_if: None,
        }
    }
}

impl<I, E> Jobs<I, E>
where
    I: Clone + Send + 'static,
    E: Send + 'static,
{
    /// Gives each input a key for the per-key limit ([`crate::PoolBuilder::per_key`]).
    pub fn key(mut self, key: impl Fn(&I) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// Decides which errors are retried under the pool's
    /// [`crate::RetryPolicy`]. Without a classifier, errors are final.
    pub fn retry_if(mut self, classify: impl Fn(&E) -> Retry + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Arc::new(classify));
        self
    }

    /// Starts the run: `job` is called with a clone of the input for each
    /// attempt. Nothing happens until the returned stream is polled.
    pub fn run<F, Fut, T>(self, job: F) -> Run<I, T, E>
    where
        F: for<'run> Fn(I, JobCtx<'run>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Shared::new();
        let driver = Driver::new(
            &self.config,
            self.input,
            self.key,
            self.retry_if,
            job,
            &shared,
        );
        Run {
            driver: Box::new(driver),
            shared,
        }
    }
}

/// The stream of reports of one run, in completion order (or input order
/// with [`crate::PoolBuilder::ordered`]). Dropping it aborts the jobs still
/// running.
pub struct Run<I, T, E> {
    driver: Box<dyn Step<I, T, E>>,
    shared: Arc<Shared>,
}

impl<I, T, E> Run<I, T, E> {
    /// Live counters, readable from anywhere at any time.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.shared.counters)
    }

    /// Counts per outcome, wall time and latency so far (final once the
    /// stream has ended).
    pub fn summary(&self) -> Summary {
        self.shared.summary()
    }

    /// Collects every report, in the order the stream yields them.
    pub async fn collect_vec(mut self) -> Vec<Report<I, T, E>> {
        let mut reports = Vec::new();
        while let Some(report) = self.next().await {
            reports.push(report);
        }
        reports
    }
}

impl<I, T, E> Stream for Run<I, T, E> {
    type Item = Report<I, T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.driver.poll_step(cx)
    }
}

/// The driver behind a [`Run`], with its job function's type erased.
trait Step<I, T, E>: Send {
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Report<I, T, E>>>;
}
