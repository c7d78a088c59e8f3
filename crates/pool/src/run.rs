//! A run: [`Jobs`] (input plus job function) turned into a [`Run`], the
//! stream of [`Report`]s.
//!
//! The run is driven by its consumer, like `buffer_unordered`: each poll of
//! the stream pulls input while slots are free, spawns jobs as tokio tasks
//! and harvests finished ones from a `JoinSet`. No extra driver task and no
//! channel sit between the jobs and the caller, and a consumer that stops
//! polling stops the intake too (backpressure). Everything the driver keeps
//! is bounded by the concurrency, the per-key queue limit and the reorder
//! window, never by the length of the input.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::stream::{BoxStream, FuturesUnordered, Stream, StreamExt};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::{Config, Pool};
use crate::counters::{Counters, StopReason, Summary, Tally};
use crate::outcome::{Outcome, Report, Retry};
use crate::rate::StartRate;

/// What a job sees of the run.
#[derive(Debug, Clone)]
pub struct JobCtx {
    /// Position of the input, from 0.
    pub index: u64,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Cancelled when the run is cancelled (token, deadline or fail-fast).
    /// Jobs that watch it (`ctx.token.cancelled().await`) can wind down
    /// cleanly within the grace period. Shared through an `Arc`: cloning a
    /// `CancellationToken` takes a lock, which would cost every job.
    pub token: Arc<CancellationToken>,
}

type KeyFn<I> = Arc<dyn Fn(&I) -> String + Send + Sync>;
type RetryFn<E> = Arc<dyn Fn(&E) -> Retry + Send + Sync>;

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
        F: Fn(I, JobCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::new(Shared {
            counters: Arc::default(),
            tally: Tally::new(),
            started: Mutex::new(None),
        });
        let token = match &self.config.cancel {
            Some(parent) => parent.child_token(),
            None => CancellationToken::new(),
        };
        let rate = self
            .config
            .rate
            .map(|(per_second, burst)| StartRate::new(per_second, burst));
        let driver = Driver {
            stop_watch: Box::pin(token.clone().cancelled_owned()),
            config: self.config,
            input: Some(self.input),
            key: self.key,
            retry_if: self.retry_if,
            job: Arc::new(job),
            token: Arc::new(token),
            running: FuturesUnordered::new(),
            marked_start: false,
            next_index: 0,
            keys: HashMap::new(),
            waiting: VecDeque::new(),
            queued: 0,
            rate,
            rate_wait: None,
            stopping: None,
            grace_timer: None,
            deadline_timer: None,
            aborted: false,
            reorder: BTreeMap::new(),
            next_to_yield: 0,
            shared: Arc::clone(&shared),
        };
        let stream = futures::stream::unfold(Box::new(driver), |mut driver| async move {
            driver.next_report().await.map(|report| (report, driver))
        });
        Run {
            stream: stream.boxed(),
            shared,
        }
    }
}

struct Shared {
    counters: Arc<Counters>,
    tally: Mutex<Tally>,
    started: Mutex<Option<(Instant, Option<Instant>)>>,
}

/// The stream of reports of one run, in completion order (or input order
/// with [`crate::PoolBuilder::ordered`]). Dropping it aborts the jobs still
/// running.
pub struct Run<I, T, E> {
    stream: BoxStream<'static, Report<I, T, E>>,
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
        summary_of(&self.shared)
    }

    /// Collects every report, in the order the stream yields them.
    pub async fn collect_vec(mut self) -> Vec<Report<I, T, E>> {
        let mut reports = Vec::new();
        while let Some(report) = self.stream.next().await {
            reports.push(report);
        }
        reports
    }
}

fn summary_of(shared: &Shared) -> Summary {
    let wall = match *shared
        .started
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some((start, Some(end))) => end - start,
        Some((start, None)) => start.elapsed(),
        None => Duration::ZERO,
    };
    let retried = shared.counters.retried.load(Relaxed);
    let tally = shared.tally.lock().unwrap_or_else(PoisonError::into_inner);
    tally.summary(wall, retried)
}

impl<I, T, E> Stream for Run<I, T, E> {
    type Item = Report<I, T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}

/// An input taken from the source but not started yet.
struct Pending<I> {
    index: u64,
    input: I,
    key: Option<String>,
}

/// What the driver remembers of a running job, to report it even if it is
/// aborted or panics.
struct Slot<I> {
    index: u64,
    input: I,
    key: Option<String>,
    started: Instant,
    attempts: Option<Arc<AtomicU32>>,
}

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

/// A job task's end, with the driver's record of it.
type Joined<I, T, E> = Option<(Slot<I>, Result<Finished<T, E>, JoinError>)>;

/// A spawned job and what the driver needs to report it. Dropping it (with
/// the run) aborts the task.
struct Running<I, T, E> {
    slot: Option<Slot<I>>,
    handle: JoinHandle<Finished<T, E>>,
}

impl<I, T, E> Future for Running<I, T, E> {
    type Output = Joined<I, T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Neither field is structurally pinned (`Running` is `Unpin`).
        let this = Pin::into_inner(self);
        match Pin::new(&mut this.handle).poll(cx) {
            Poll::Ready(result) => Poll::Ready(this.slot.take().map(|slot| (slot, result))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I, T, E> Drop for Running<I, T, E> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl<I, T, E> Unpin for Running<I, T, E> {}

/// What a job task hands back.
struct Finished<T, E> {
    outcome: Outcome<T, E>,
    attempts: u32,
}

struct Driver<I, T, E, F> {
    config: Arc<Config>,
    input: Option<BoxStream<'static, I>>,
    key: Option<KeyFn<I>>,
    retry_if: Option<RetryFn<E>>,
    job: Arc<F>,
    token: Arc<CancellationToken>,
    stop_watch: Pin<Box<WaitForCancellationFutureOwned>>,
    running: FuturesUnordered<Running<I, T, E>>,
    marked_start: bool,
    next_index: u64,
    keys: HashMap<String, KeyState<I>>,
    /// Inputs whose key has a free slot, waiting for a global slot or the
    /// start-rate limiter.
    waiting: VecDeque<Pending<I>>,
    /// Inputs in `waiting` plus those parked under busy keys.
    queued: usize,
    rate: Option<StartRate>,
    rate_wait: Option<Pin<Box<Sleep>>>,
    stopping: Option<StopReason>,
    grace_timer: Option<Pin<Box<Sleep>>>,
    deadline_timer: Option<Pin<Box<Sleep>>>,
    aborted: bool,
    reorder: BTreeMap<u64, Report<I, T, E>>,
    next_to_yield: u64,
    shared: Arc<Shared>,
}

enum Event<I, T, E> {
    Stop(StopReason),
    GraceOver,
    RateReady,
    Input(Option<I>),
    Joined(Joined<I, T, E>),
}

impl<I, T, E, F, Fut> Driver<I, T, E, F>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: Fn(I, JobCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    async fn next_report(&mut self) -> Option<Report<I, T, E>> {
        self.mark_started();
        loop {
            if let Some(report) = self.pop_in_order() {
                return Some(report);
            }
            if self.stopping.is_none() && self.token.is_cancelled() {
                self.stop(StopReason::Cancelled);
            }
            if self.stopping.is_some() {
                if let Some(report) = self.drain_queued() {
                    if let Some(report) = self.deliver(report) {
                        return Some(report);
                    }
                    continue;
                }
            } else {
                self.fill();
            }
            if self.is_finished() {
                self.mark_finished();
                return None;
            }
            let event = self.next_event().await;
            if let Some(report) = self.handle(event) {
                return Some(report);
            }
        }
    }

    /// Starts jobs and pulls input without waiting, while slots are free
    /// and the input is ready (an iterator always is).
    fn fill(&mut self) {
        loop {
            self.start_ready_jobs();
            if !self.can_pull() {
                return;
            }
            let Some(input) = self.input.as_mut() else {
                return;
            };
            match input.next().now_or_never() {
                Some(Some(item)) => self.accept(item),
                Some(None) => {
                    self.input = None;
                    return;
                }
                None => return,
            }
        }
    }

    fn mark_started(&mut self) {
        if self.marked_start {
            return;
        }
        self.marked_start = true;
        let mut started = self
            .shared
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if started.is_none() {
            let now = Instant::now();
            *started = Some((now, None));
            if let Some(deadline) = self.config.deadline {
                self.deadline_timer = Some(Box::pin(tokio::time::sleep_until(now + deadline)));
            }
        }
    }

    fn mark_finished(&self) {
        let mut started = self
            .shared
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, end @ None)) = started.as_mut() {
            *end = Some(Instant::now());
        }
    }

    fn is_finished(&self) -> bool {
        let intake_over = self.input.is_none() || self.stopping.is_some();
        intake_over && self.running.is_empty() && self.queued == 0 && self.reorder.is_empty()
    }

    fn can_pull(&self) -> bool {
        let config = &self.config;
        self.input.is_some()
            && self.stopping.is_none()
            && self.rate_wait.is_none()
            && self.running.len() + self.waiting.len() < config.concurrency
            && self.queued < config.max_queued
            && (!config.ordered
                || self.next_index < self.next_to_yield + config.reorder_window as u64)
    }

    async fn next_event(&mut self) -> Event<I, T, E> {
        let can_pull = self.can_pull();
        let has_running = !self.running.is_empty();
        let watching_stop = self.stopping.is_none();
        // Finished jobs and input first: the hot path polls nothing else.
        // Cancellation is also checked synchronously at the top of every
        // step, so it cannot be starved.
        tokio::select! {
            biased;
            joined = self.running.next(), if has_running => Event::Joined(joined.flatten()),
            item = next_input(&mut self.input), if can_pull => Event::Input(item),
            () = optional_sleep(&mut self.deadline_timer), if self.deadline_timer.is_some() => {
                self.deadline_timer = None;
                Event::Stop(StopReason::Deadline)
            }
            () = optional_sleep(&mut self.grace_timer), if self.grace_timer.is_some() => {
                self.grace_timer = None;
                Event::GraceOver
            }
            () = optional_sleep(&mut self.rate_wait), if self.rate_wait.is_some() => {
                self.rate_wait = None;
                Event::RateReady
            }
            () = &mut self.stop_watch, if watching_stop => Event::Stop(StopReason::Cancelled),
        }
    }

    fn handle(&mut self, event: Event<I, T, E>) -> Option<Report<I, T, E>> {
        match event {
            Event::Stop(reason) => self.stop(reason),
            Event::GraceOver => self.abort_running(),
            Event::RateReady => {}
            Event::Input(None) => self.input = None,
            Event::Input(Some(input)) => self.accept(input),
            Event::Joined(joined) => {
                let report = self.finish(joined)?;
                if self.config.fail_fast && !report.outcome.is_ok() && self.stopping.is_none() {
                    self.stop(StopReason::FailFast);
                }
                return self.deliver(report);
            }
        }
        None
    }

    /// Takes one input: straight to `waiting` if its key has room,
    /// otherwise parked under its key.
    fn accept(&mut self, input: I) {
        let index = self.next_index;
        self.next_index += 1;
        let key = self.key.as_ref().map(|key_of| key_of(&input));
        let pending = Pending { index, input, key };
        if let (Some(key), Some(limit)) = (&pending.key, self.config.per_key) {
            let state = self.keys.entry(key.clone()).or_default();
            if state.in_flight >= limit {
                state.parked.push_back(pending);
                self.count_queued();
                return;
            }
            state.in_flight += 1;
        }
        // The common case starts at once, without a trip through the queue.
        if self.waiting.is_empty()
            && self.rate_wait.is_none()
            && self.running.len() < self.config.concurrency
        {
            match self.rate.as_ref().and_then(StartRate::try_start) {
                None => return self.spawn(pending),
                Some(wait) => self.rate_wait = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
        self.waiting.push_back(pending);
        self.count_queued();
    }

    fn count_queued(&mut self) {
        self.queued += 1;
        Counters::add(&self.shared.counters.queued, 1);
    }

    /// Starts waiting jobs while global slots and the start rate allow.
    fn start_ready_jobs(&mut self) {
        while self.rate_wait.is_none() && self.running.len() < self.config.concurrency {
            let Some(pending) = self.waiting.pop_front() else {
                break;
            };
            if let Some(wait) = self.rate.as_ref().and_then(StartRate::try_start) {
                self.waiting.push_front(pending);
                self.rate_wait = Some(Box::pin(tokio::time::sleep(wait)));
                break;
            }
            self.queued -= 1;
            Counters::sub(&self.shared.counters.queued, 1);
            self.spawn(pending);
        }
    }

    fn spawn(&mut self, pending: Pending<I>) {
        let Pending { index, input, key } = pending;
        let job = Arc::clone(&self.job);
        let token = Arc::clone(&self.token);
        let (handle, attempts) = match (self.retry_if.clone(), self.config.retry.clone()) {
            // Each shape gets its own task type, so the common case (no
            // retries, no timeout) spawns a future barely bigger than the
            // job's own.
            (Some(classify), Some(policy)) => {
                let attempts = Arc::new(AtomicU32::new(1));
                let attempt_loop = AttemptLoop {
                    job,
                    input: input.clone(),
                    index,
                    token,
                    timeout: self.config.timeout,
                    classify,
                    policy,
                    attempts: Arc::clone(&attempts),
                    counters: Arc::clone(&self.shared.counters),
                };
                (tokio::spawn(attempt_loop.run()), Some(attempts))
            }
            _ => {
                let ctx = JobCtx {
                    index,
                    attempt: 1,
                    token,
                };
                let input = input.clone();
                // The job function is called inside the task, so even a
                // panic before its first `.await` is caught and reported.
                let handle = match self.config.timeout {
                    Some(limit) => tokio::spawn(async move {
                        let outcome = match tokio::time::timeout(limit, job(input, ctx)).await {
                            Ok(result) => Outcome::from_result(result),
                            Err(_) => Outcome::TimedOut,
                        };
                        Finished {
                            outcome,
                            attempts: 1,
                        }
                    }),
                    None => tokio::spawn(async move {
                        let outcome = Outcome::from_result(job(input, ctx).await);
                        Finished {
                            outcome,
                            attempts: 1,
                        }
                    }),
                };
                (handle, None)
            }
        };
        Counters::add(&self.shared.counters.running, 1);
        let slot = Slot {
            index,
            input,
            key,
            started: Instant::now(),
            attempts,
        };
        self.running.push(Running {
            slot: Some(slot),
            handle,
        });
    }

    /// Turns a joined task into a report and frees its slots.
    fn finish(&mut self, joined: Joined<I, T, E>) -> Option<Report<I, T, E>> {
        let (slot, result) = joined?;
        let (outcome, attempts) = match result {
            Ok(finished) => (finished.outcome, Some(finished.attempts)),
            Err(error) => {
                let outcome = if error.is_panic() {
                    Outcome::Panicked(panic_message(error.into_panic()))
                } else if self.stopping == Some(StopReason::Deadline) {
                    Outcome::TimedOut
                } else {
                    Outcome::Cancelled
                };
                (outcome, None)
            }
        };
        Counters::sub(&self.shared.counters.running, 1);
        self.release_key(slot.key.as_deref());
        let attempts = attempts
            .or_else(|| slot.attempts.as_ref().map(|count| count.load(Relaxed)))
            .unwrap_or(1);
        Some(Report {
            index: slot.index,
            input: slot.input,
            key: slot.key,
            outcome,
            attempts,
            elapsed: slot.started.elapsed(),
        })
    }

    fn release_key(&mut self, key: Option<&str>) {
        let (Some(key), Some(_)) = (key, self.config.per_key) else {
            return;
        };
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        match state.parked.pop_front() {
            // The freed key slot passes straight to the next parked input.
            Some(next) => self.waiting.push_back(next),
            None => {
                state.in_flight = state.in_flight.saturating_sub(1);
                if state.in_flight == 0 {
                    self.keys.remove(key);
                }
            }
        }
    }

    /// Counts a finished report and hands it out, through the reorder
    /// buffer in ordered mode.
    fn deliver(&mut self, report: Report<I, T, E>) -> Option<Report<I, T, E>> {
        let counters = &self.shared.counters;
        Counters::add(&counters.done, 1);
        if !report.outcome.is_ok() {
            Counters::add(&counters.failed, 1);
        }
        let started = (report.attempts > 0).then_some(report.elapsed);
        self.shared
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(report.outcome.kind(), started);
        if !self.config.ordered {
            return Some(report);
        }
        self.reorder.insert(report.index, report);
        self.pop_in_order()
    }

    fn pop_in_order(&mut self) -> Option<Report<I, T, E>> {
        let report = self.reorder.remove(&self.next_to_yield)?;
        self.next_to_yield += 1;
        Some(report)
    }

    /// Stops the intake. Cancellation gives running jobs the grace period;
    /// deadline and fail-fast abort them at once.
    fn stop(&mut self, reason: StopReason) {
        if self.stopping.is_some() {
            return;
        }
        tracing::debug!(?reason, running = self.running.len(), "pool run stopping");
        self.stopping = Some(reason);
        self.token.cancel();
        self.input = None;
        self.rate_wait = None;
        self.deadline_timer = None;
        self.shared
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .summary
            .stopped = Some(reason);
        match reason {
            StopReason::Cancelled if !self.config.grace.is_zero() => {
                self.grace_timer = Some(Box::pin(tokio::time::sleep(self.config.grace)));
            }
            _ => self.abort_running(),
        }
    }

    fn abort_running(&mut self) {
        if !self.aborted {
            self.aborted = true;
            for job in self.running.iter() {
                job.handle.abort();
            }
        }
    }

    /// After a stop, inputs taken but never started end as `Cancelled`.
    fn drain_queued(&mut self) -> Option<Report<I, T, E>> {
        let pending = match self.waiting.pop_front() {
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
        self.queued -= 1;
        Counters::sub(&self.shared.counters.queued, 1);
        Some(Report {
            index: pending.index,
            input: pending.input,
            key: pending.key,
            outcome: Outcome::Cancelled,
            attempts: 0,
            elapsed: Duration::ZERO,
        })
    }
}

async fn optional_sleep(sleep: &mut Option<Pin<Box<Sleep>>>) {
    match sleep {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn next_input<I>(input: &mut Option<BoxStream<'static, I>>) -> Option<I> {
    match input {
        Some(stream) => stream.next().await,
        None => None,
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// One job's attempts with retries, run inside its tokio task.
struct AttemptLoop<I, E, F> {
    job: Arc<F>,
    input: I,
    index: u64,
    token: Arc<CancellationToken>,
    timeout: Option<Duration>,
    classify: RetryFn<E>,
    policy: crate::RetryPolicy,
    attempts: Arc<AtomicU32>,
    counters: Arc<Counters>,
}

impl<I, E, F> AttemptLoop<I, E, F>
where
    I: Clone + Send + 'static,
    E: Send + 'static,
{
    async fn run<T, Fut>(self) -> Finished<T, E>
    where
        F: Fn(I, JobCtx) -> Fut + Send + Sync + 'static,
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
        let mut delays = policy.delays();
        let mut attempt_no = 1;
        loop {
            let ctx = JobCtx {
                index,
                attempt: attempt_no,
                token: Arc::clone(&token),
            };
            let outcome = attempt(job(input.clone(), ctx), timeout).await;
            let Outcome::Err(error) = outcome else {
                return Finished {
                    outcome,
                    attempts: attempt_no,
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
                };
            };
            tracing::debug!(index, attempt = attempt_no, ?delay, "retrying job");
            Counters::add(&counters.retried, 1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = token.cancelled() => {
                    return Finished { outcome: Outcome::Err(error), attempts: attempt_no };
                }
            }
            attempt_no += 1;
            attempts.store(attempt_no, Relaxed);
        }
    }
}

async fn attempt<T, E>(
    job: impl Future<Output = Result<T, E>>,
    timeout: Option<Duration>,
) -> Outcome<T, E> {
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, job).await {
            Ok(result) => result,
            Err(_) => return Outcome::TimedOut,
        },
        None => job.await,
    };
    Outcome::from_result(result)
}
