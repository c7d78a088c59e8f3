//! The driver: one step of the run per poll of the [`crate::Run`] stream.
//!
//! Each step hands out a report if one is ready, starts jobs and pulls
//! input while slots are free, and otherwise polls its event sources
//! (finished jobs, input, the stop's timers, the start-rate wait, the
//! token), all registered with the consumer's waker. The parts it drives
//! each live in their own file of `src/run/`.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use super::intake::{Intake, Pending};
use super::key_queues::KeyQueues;
use super::reorder::Reorder;
use super::slots::{Done, Slots};
use super::start_rate::StartRate;
use super::stop::{Fired, Stop};
use super::tally::{RunTally, Shared};
use super::{JobCtx, KeyFn, RetryFn, Step};
use crate::config::Config;
use crate::counters::StopReason;
use crate::outcome::{Outcome, Report};
use crate::task::Launcher;

/// The state of one run, by idea.
pub(super) struct Driver<I, T, E, F> {
    concurrency: usize,
    max_queued: usize,
    fail_fast: bool,
    /// The input source, numbering and keying each input.
    intake: Intake<I>,
    /// Inputs taken but not started, and the per-key limit.
    queues: KeyQueues<I>,
    rate: StartRate,
    /// The job function and the shape of its tasks.
    launcher: Launcher<F, E>,
    /// Running jobs, and finished ones not reported yet.
    slots: Slots<I, T, E>,
    reorder: Reorder<I, T, E>,
    stop: Stop,
    tally: RunTally,
    marked_start: bool,
}

enum Event<I, T, E> {
    Stop(StopReason),
    GraceOver,
    RateReady,
    Input(Option<I>),
    Done(Done<I, T, E>),
}

impl<I, T, E, F> Driver<I, T, E, F> {
    pub(super) fn new(
        config: &Config,
        input: BoxStream<'static, I>,
        key: Option<KeyFn<I>>,
        retry_if: Option<RetryFn<E>>,
        job: F,
        shared: &Arc<Shared>,
    ) -> Self {
        let token = Arc::new(match &config.cancel {
            Some(parent) => parent.child_token(),
            None => CancellationToken::new(),
        });
        let counters = &shared.counters;
        Driver {
            concurrency: config.concurrency,
            max_queued: config.max_queued,
            fail_fast: config.fail_fast,
            intake: Intake::new(input, key),
            queues: KeyQueues::new(config.per_key, Arc::clone(counters)),
            rate: StartRate::new(config.rate),
            launcher: Launcher::new(
                job,
                Arc::clone(&token),
                config,
                retry_if,
                Arc::clone(counters),
            ),
            slots: Slots::new(Arc::clone(counters)),
            reorder: Reorder::new(config.ordered, config.reorder_window),
            stop: Stop::new(token, config),
            tally: RunTally::new(Arc::clone(shared)),
            marked_start: false,
        }
    }
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
            if let Some(report) = self.reorder.pop() {
                return Poll::Ready(Some(report));
            }
            if self.stop.cancel_fired() {
                self.stop(StopReason::Cancelled);
            }
            if self.stop.is_stopping() {
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
                self.tally.stop_clock();
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
            match self.intake.next_now() {
                Some(item) => self.accept(item),
                None => return,
            }
        }
    }

    /// At the first poll: watch the token, start the wall clock and the
    /// deadline.
    fn mark_started(&mut self) {
        if self.marked_start {
            return;
        }
        self.marked_start = true;
        self.stop.watch();
        if let Some(start) = self.tally.start_clock() {
            self.stop.arm_deadline(start);
        }
    }

    fn is_finished(&self) -> bool {
        let intake_over = !self.intake.is_open() || self.stop.is_stopping();
        intake_over && self.slots.is_idle() && self.queues.len() == 0 && self.reorder.is_empty()
    }

    #[inline]
    fn can_pull(&self) -> bool {
        self.intake.is_open()
            && !self.stop.is_stopping()
            && !self.rate.is_waiting()
            && self.slots.in_flight() + self.queues.ready_len() < self.concurrency
            && self.queues.len() < self.max_queued
            && self.reorder.admits(self.intake.next_index())
    }

    /// Polls the event sources in priority order. Finished jobs and input
    /// come first, so the hot path polls nothing else; cancellation is also
    /// checked at the top of every step, so it cannot be starved.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event<I, T, E>> {
        let queues = &mut self.queues;
        if let Some(done) = self.slots.poll_done(cx, |key| queues.release(key)) {
            return Poll::Ready(Event::Done(done));
        }
        if self.can_pull()
            && let Poll::Ready(item) = self.intake.poll_next(cx)
        {
            return Poll::Ready(Event::Input(item));
        }
        match self.stop.poll_timers(cx) {
            Some(Fired::Deadline) => return Poll::Ready(Event::Stop(StopReason::Deadline)),
            Some(Fired::GraceOver) => return Poll::Ready(Event::GraceOver),
            None => {}
        }
        if self.rate.poll_ready(cx) {
            return Poll::Ready(Event::RateReady);
        }
        if self.stop.poll_cancel(cx) {
            return Poll::Ready(Event::Stop(StopReason::Cancelled));
        }
        Poll::Pending
    }

    fn handle(&mut self, event: Event<I, T, E>) -> Option<Report<I, T, E>> {
        match event {
            Event::Stop(reason) => self.stop(reason),
            Event::GraceOver => self.abort_running(),
            Event::RateReady => {}
            Event::Input(None) => self.intake.close(),
            Event::Input(Some(input)) => self.accept(input),
            Event::Done(done) => {
                let report = done.into_report(self.stop.reason());
                if self.fail_fast && !report.outcome.is_ok() && !self.stop.is_stopping() {
                    self.stop(StopReason::FailFast);
                }
                return self.deliver(report);
            }
        }
        None
    }

    /// Takes one input: parked under its key if the key is at its limit;
    /// otherwise started at once if it can be, else queued ready.
    fn accept(&mut self, item: I) {
        let pending = self.intake.pending(item);
        let Some(pending) = self.queues.admit(pending) else {
            return;
        };
        // The common case starts at once, without a trip through the queue.
        if self.queues.ready_len() == 0
            && !self.rate.is_waiting()
            && self.slots.in_flight() < self.concurrency
            && self.rate.try_start()
        {
            return self.start(pending);
        }
        self.queues.push_ready(pending);
    }

    /// Starts ready jobs while global slots and the start rate allow.
    fn start_ready_jobs(&mut self) {
        while !self.rate.is_waiting()
            && self.slots.in_flight() < self.concurrency
            && self.queues.ready_len() > 0
            && self.rate.try_start()
        {
            let Some(pending) = self.queues.pop_ready() else {
                break;
            };
            self.start(pending);
        }
    }

    #[inline]
    fn start(&mut self, pending: Pending<I>) {
        let launcher = &self.launcher;
        self.slots.start(pending, |index, input, ticket| {
            launcher.spawn(index, input, ticket)
        });
    }

    /// Counts a finished report and hands it out, through the reorder
    /// buffer in ordered mode.
    fn deliver(&mut self, report: Report<I, T, E>) -> Option<Report<I, T, E>> {
        self.tally.record(&report);
        self.reorder.pass(report)
    }

    /// Stops the intake. Cancellation gives running jobs the grace period;
    /// deadline and fail-fast abort them at once.
    fn stop(&mut self, reason: StopReason) {
        if self.stop.is_stopping() {
            return;
        }
        tracing::debug!(
            ?reason,
            running = self.slots.in_flight(),
            "pool run stopping"
        );
        let abort_now = self.stop.begin(reason);
        self.intake.close();
        self.rate.stop();
        self.tally.stopped(reason);
        if abort_now {
            self.abort_running();
        }
    }

    fn abort_running(&mut self) {
        if self.stop.take_abort() {
            self.slots.abort_all();
        }
    }

    /// After a stop, inputs taken but never started end as `Cancelled`.
    fn drain_queued(&mut self) -> Option<Report<I, T, E>> {
        let pending = self.queues.drain_one()?;
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
