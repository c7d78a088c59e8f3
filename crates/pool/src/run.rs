//! A run: [`Jobs`] (input plus job function) turned into a [`Run`], the
//! stream of [`Report`]s.
//!
//! The run is driven by its consumer, like `buffer_unordered`: each poll of
//! the stream pulls input while slots are free, spawns jobs as tokio tasks
//! and takes finished ones from the run's [`Completions`] queue, where each
//! job task posts its result. No extra driver task sits between the jobs
//! and the caller, and a consumer that stops polling stops the intake too
//! (backpressure). Finished jobs are taken from the queue a batch at a time
//! and free their slots at once; the next batch is taken only when this
//! one's reports are handed out, so at most `concurrency` reports wait.
//! Everything the driver keeps is bounded by the concurrency, the per-key
//! queue limit and the reorder window, never by the length of the input.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicBool, AtomicU32, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::stream::{BoxStream, Stream, StreamExt};
use futures::task::AtomicWaker;
use tokio::task::AbortHandle;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::completions::{Completions, Posted, Ticket};
use crate::config::{Config, Pool};
use crate::counters::{Counters, StopReason, Summary, Tally};
use crate::outcome::{Outcome, Report, Retry};
use crate::rate::StartRate;
use crate::task::{Finished, Posting, Timed, panic_message};

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
        F: for<'run> Fn(I, JobCtx<'run>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::new(Shared {
            counters: Arc::default(),
            tally: Mutex::new(Tally::new()),
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
            config: self.config,
            input: Some(self.input),
            key: self.key,
            retry_if: self.retry_if,
            job: Arc::new(job),
            token: Arc::new(token),
            completions: Completions::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            taken: VecDeque::new(),
            done: VecDeque::new(),
            marked_start: false,
            cancelled: Arc::new(CancelSignal::default()),
            watcher: None,
            tally: Tally::new(),
            unmerged: 0,
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
        Run {
            driver: Box::new(driver),
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
        summary_of(&self.shared)
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
        self.driver.poll_step(cx)
    }
}

/// The driver behind a [`Run`], with its job function's type erased.
trait Step<I, T, E>: Send {
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Report<I, T, E>>>;
}

impl<I, T, E, F, Fut> Step<I, T, E> for Driver<I, T, E, F>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: for<'run> Fn(I, JobCtx<'run>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Report<I, T, E>>> {
        self.poll_report(cx)
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

/// A spawned job and what the driver needs to report it, in its slot.
struct Running<I> {
    slot: Slot<I>,
    handle: JoinHandle<()>,
}

/// A finished job taken from the queue, its slot already free: what its
/// task posted (`None` if the task was dropped before it finished).
struct Done<I, T, E> {
    slot: Slot<I>,
    /// Dropped with the report rather than in a burst at harvest, when the
    /// worker may still hold the task: see `Driver::finish`.
    handle: JoinHandle<()>,
    finished: Option<Finished<T, E>>,
}

struct Driver<I, T, E, F> {
    config: Arc<Config>,
    input: Option<BoxStream<'static, I>>,
    key: Option<KeyFn<I>>,
    retry_if: Option<RetryFn<E>>,
    job: Arc<F>,
    token: Arc<CancellationToken>,
    /// Where job tasks post their results.
    completions: Arc<Completions<Finished<T, E>>>,
    /// Running jobs by slot number; a slot is free again as soon as its
    /// job's result is taken from `completions`. Grows up to the
    /// concurrency, never beyond.
    slots: Vec<Option<Running<I>>>,
    free_slots: Vec<usize>,
    /// The buffer `completions` swaps its posts into (kept for its
    /// allocation).
    taken: VecDeque<Posted<Finished<T, E>>>,
    /// Finished jobs not reported yet, at most one batch (≤ concurrency):
    /// the next batch is taken only once these are handed out.
    done: VecDeque<Done<I, T, E>>,
    marked_start: bool,
    /// Set (and the driver woken) by a watcher task when the token fires:
    /// an atomic load per step instead of the token's locks.
    cancelled: Arc<CancelSignal>,
    watcher: Option<AbortHandle>,
    /// Counted here and merged into the shared tally every
    /// [`TALLY_BATCH`] reports, at a stop and at the end.
    tally: Tally,
    unmerged: u32,
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

/// The cancellation token, watched by a task so that the driver checks an
/// atomic instead of taking the token's locks.
#[derive(Default)]
struct CancelSignal {
    fired: AtomicBool,
    driver: AtomicWaker,
}

/// Reports counted locally before the shared summary is updated.
const TALLY_BATCH: u32 = 16_384;

impl<I, T, E, F> Drop for Driver<I, T, E, F> {
    fn drop(&mut self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        // Jobs still running when the run is dropped are aborted.
        self.abort_all();
    }
}

impl<I, T, E, F> Driver<I, T, E, F> {
    /// Jobs running now: the slots in use.
    fn in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    fn abort_all(&self) {
        for running in self.slots.iter().flatten() {
            running.handle.abort();
        }
    }
}

enum Event<I, T, E> {
    Stop(StopReason),
    GraceOver,
    RateReady,
    Input(Option<I>),
    Done(Done<I, T, E>),
}

impl<I, T, E, F, Fut> Driver<I, T, E, F>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: for<'run> Fn(I, JobCtx<'run>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    /// One step of the run: the next report, `None` at the end, or
    /// `Pending` with every source that could wake us registered.
    fn poll_report(&mut self, cx: &mut Context<'_>) -> Poll<Option<Report<I, T, E>>> {
        self.mark_started();
        loop {
            if let Some(report) = self.pop_in_order() {
                return Poll::Ready(Some(report));
            }
            if self.stopping.is_none() && self.cancelled.fired.load(Acquire) {
                self.stop(StopReason::Cancelled);
            }
            if self.stopping.is_some() {
                if let Some(report) = self.drain_queued() {
                    if let Some(report) = self.deliver(report) {
                        return Poll::Ready(Some(report));
                    }
                    continue;
                }
            } else {
                self.fill();
            }
            if self.is_finished() {
                self.mark_finished();
                return Poll::Ready(None);
            }
            let Poll::Ready(event) = self.poll_event(cx) else {
                return Poll::Pending;
            };
            if let Some(report) = self.handle(event) {
                return Poll::Ready(Some(report));
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

    fn mark_finished(&mut self) {
        self.merge_tally();
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
        intake_over
            && self.in_flight() == 0
            && self.done.is_empty()
            && self.queued == 0
            && self.reorder.is_empty()
    }

    fn can_pull(&self) -> bool {
        let config = &self.config;
        self.input.is_some()
            && self.stopping.is_none()
            && self.rate_wait.is_none()
            && self.in_flight() + self.waiting.len() < config.concurrency
            && self.queued < config.max_queued
            && (!config.ordered
                || self.next_index < self.next_to_yield + config.reorder_window as u64)
    }

    /// Polls the event sources in priority order. Finished jobs and input
    /// come first, so the hot path polls nothing else; cancellation is also
    /// checked at the top of every step, so it cannot be starved.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event<I, T, E>> {
        if self.done.is_empty() && self.in_flight() > 0 {
            self.harvest(cx);
        }
        if let Some(done) = self.done.pop_front() {
            return Poll::Ready(Event::Done(done));
        }
        if self.can_pull()
            && let Some(input) = self.input.as_mut()
            && let Poll::Ready(item) = input.poll_next_unpin(cx)
        {
            return Poll::Ready(Event::Input(item));
        }
        if poll_timer(&mut self.deadline_timer, cx) {
            return Poll::Ready(Event::Stop(StopReason::Deadline));
        }
        if poll_timer(&mut self.grace_timer, cx) {
            return Poll::Ready(Event::GraceOver);
        }
        if poll_timer(&mut self.rate_wait, cx) {
            return Poll::Ready(Event::RateReady);
        }
        if self.stopping.is_none() {
            self.cancelled.driver.register(cx.waker());
            if self.cancelled.fired.load(Acquire) {
                return Poll::Ready(Event::Stop(StopReason::Cancelled));
            }
        }
        Poll::Pending
    }

    fn handle(&mut self, event: Event<I, T, E>) -> Option<Report<I, T, E>> {
        match event {
            Event::Stop(reason) => self.stop(reason),
            Event::GraceOver => self.abort_running(),
            Event::RateReady => {}
            Event::Input(None) => self.input = None,
            Event::Input(Some(input)) => self.accept(input),
            Event::Done(done) => {
                let report = self.finish(done);
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
            && self.in_flight() < self.config.concurrency
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
        Counters::bump(&self.shared.counters.queued, 1);
    }

    /// Starts waiting jobs while global slots and the start rate allow.
    fn start_ready_jobs(&mut self) {
        while self.rate_wait.is_none() && self.in_flight() < self.config.concurrency {
            let Some(pending) = self.waiting.pop_front() else {
                break;
            };
            if let Some(wait) = self.rate.as_ref().and_then(StartRate::try_start) {
                self.waiting.push_front(pending);
                self.rate_wait = Some(Box::pin(tokio::time::sleep(wait)));
                break;
            }
            self.queued -= 1;
            Counters::drop_by(&self.shared.counters.queued, 1);
            self.spawn(pending);
        }
    }

    fn spawn(&mut self, pending: Pending<I>) {
        let Pending { index, input, key } = pending;
        let slot_no = match self.free_slots.pop() {
            Some(slot_no) => slot_no,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let ticket = self.completions.ticket(slot_no);
        let (handle, attempts) = match (&self.retry_if, &self.config.retry) {
            (Some(classify), Some(policy)) => {
                let attempts = Arc::new(AtomicU32::new(1));
                let attempt_loop = AttemptLoop {
                    job: Arc::clone(&self.job),
                    input: input.clone(),
                    index,
                    token: Arc::clone(&self.token),
                    timeout: self.config.timeout,
                    classify: Arc::clone(classify),
                    policy: policy.clone(),
                    attempts: Arc::clone(&attempts),
                    counters: Arc::clone(&self.shared.counters),
                };
                (spawn_posting(attempt_loop.run(), ticket), Some(attempts))
            }
            _ => {
                // Like `buffer_unordered`'s map, the job function is called
                // here and only its future moves into the task, so starting
                // a job clones no `Arc` but the ticket's. A panic in the
                // call itself is caught and reported like a panic in the
                // future.
                let ctx = JobCtx {
                    index,
                    attempt: 1,
                    token: &self.token,
                };
                let job = &self.job;
                let made = std::panic::catch_unwind(AssertUnwindSafe(|| job(input.clone(), ctx)));
                let handle = match (made, self.config.timeout) {
                    (Err(payload), _) => {
                        let outcome = Outcome::Panicked(panic_message(payload));
                        let finished = Finished {
                            outcome,
                            attempts: 1,
                            elapsed: Duration::ZERO,
                        };
                        spawn_posting(std::future::ready(finished), ticket)
                    }
                    (Ok(attempt), Some(limit)) => spawn_posting(
                        async move {
                            let start = Instant::now();
                            let outcome = run_attempt(attempt, Some(limit)).await;
                            Finished {
                                outcome,
                                attempts: 1,
                                elapsed: start.elapsed(),
                            }
                        },
                        ticket,
                    ),
                    (Ok(attempt), None) => spawn_posting(Timed::new(attempt), ticket),
                };
                (handle, None)
            }
        };
        Counters::bump(&self.shared.counters.running, 1);
        let slot = Slot {
            index,
            input,
            key,
            attempts,
        };
        if let Some(free) = self.slots.get_mut(slot_no) {
            *free = Some(Running { slot, handle });
        }
    }

    /// Takes every result posted so far and frees those jobs' slots, global
    /// and per key, at once: the next `fill` refills them as one batch while
    /// the reports are handed out.
    fn harvest(&mut self, cx: &mut Context<'_>) {
        if self.completions.poll_take(&mut self.taken, cx).is_pending() {
            return;
        }
        while let Some((slot_no, finished)) = self.taken.pop_front() {
            let Some(Running { slot, handle }) = self.slots.get_mut(slot_no).and_then(Option::take)
            else {
                continue;
            };
            self.free_slots.push(slot_no);
            Counters::drop_by(&self.shared.counters.running, 1);
            self.release_key(slot.key.as_deref());
            self.done.push_back(Done {
                slot,
                handle,
                finished,
            });
        }
    }

    /// Turns a finished job into its report. An empty post is a task
    /// dropped before it finished: aborted.
    fn finish(&self, done: Done<I, T, E>) -> Report<I, T, E> {
        let Done {
            slot,
            handle,
            finished,
        } = done;
        // By now the worker has usually let go of the task, so this drop
        // frees the task's memory here, on the thread that allocated it.
        drop(handle);
        // Counted by the driver when the task could not count itself.
        let counted = || {
            slot.attempts
                .as_ref()
                .map_or(1, |count| count.load(Relaxed))
        };
        let (outcome, attempts, elapsed) = match finished {
            Some(finished) if finished.attempts == 0 => {
                (finished.outcome, counted(), finished.elapsed)
            }
            Some(finished) => (finished.outcome, finished.attempts, finished.elapsed),
            None => {
                let outcome = if self.stopping == Some(StopReason::Deadline) {
                    Outcome::TimedOut
                } else {
                    Outcome::Cancelled
                };
                (outcome, counted(), Duration::ZERO)
            }
        };
        Report {
            index: slot.index,
            input: slot.input,
            key: slot.key,
            outcome,
            attempts,
            elapsed,
        }
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
        Counters::bump(&counters.done, 1);
        if !report.outcome.is_ok() {
            Counters::bump(&counters.failed, 1);
        }
        let started = (report.attempts > 0).then_some(report.elapsed);
        self.tally.record(&report.outcome, started);
        self.unmerged += 1;
        if self.unmerged >= TALLY_BATCH {
            self.merge_tally();
        }
        if !self.config.ordered {
            return Some(report);
        }
        self.reorder.insert(report.index, report);
        self.pop_in_order()
    }

    fn merge_tally(&mut self) {
        self.unmerged = 0;
        let mut shared = self
            .shared
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shared.absorb(&mut self.tally);
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
        tracing::debug!(?reason, running = self.in_flight(), "pool run stopping");
        self.stopping = Some(reason);
        self.token.cancel();
        self.input = None;
        self.rate_wait = None;
        self.deadline_timer = None;
        self.merge_tally();
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
            self.abort_all();
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
        Counters::drop_by(&self.shared.counters.queued, 1);
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

/// Spawns a job task that runs `work` and posts its result with `ticket`.
fn spawn_posting<W, T, E>(work: W, ticket: Ticket<Finished<T, E>>) -> JoinHandle<()>
where
    W: Future<Output = Finished<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    tokio::spawn(Posting::new(work, ticket))
}

/// Polls an optional timer; a timer that fires is cleared.
fn poll_timer(timer: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> bool {
    let fired = timer
        .as_mut()
        .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
    if fired {
        *timer = None;
    }
    fired
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

/// One attempt under the optional timeout; a panic becomes `Panicked`.
async fn run_attempt<T, E>(
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
