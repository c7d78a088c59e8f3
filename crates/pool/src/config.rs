//! [`Pool`] and its builder: the limits and policies of a run, checked once.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Exponential backoff with full jitter for retryable errors.
///
/// A retrying job **keeps its slot** while it sleeps between attempts, so
/// the global and per-key limits hold across retries (a host that answers
/// 429 is not hit by a fresh job while its earlier one waits).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) retry_after_cap: Duration,
    pub(crate) jitter: bool,
}

impl RetryPolicy {
    /// Up to `max_retries` retries (so `max_retries + 1` attempts), starting
    /// at 100 ms and doubling up to 10 s, with jitter.
    pub fn exponential(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            retry_after_cap: Duration::from_secs(60),
            jitter: true,
        }
    }

    /// The first delay.
    pub fn base(mut self, base: Duration) -> RetryPolicy {
        self.base = base;
        self
    }

    /// The largest backoff delay.
    pub fn max_delay(mut self, max_delay: Duration) -> RetryPolicy {
        self.max_delay = max_delay;
        self
    }

    /// The longest a [`crate::Retry::After`] hint may make a job wait.
    pub fn retry_after_cap(mut self, cap: Duration) -> RetryPolicy {
        self.retry_after_cap = cap;
        self
    }

    /// Turns jitter off (deterministic delays, for tests).
    pub fn without_jitter(mut self) -> RetryPolicy {
        self.jitter = false;
        self
    }

    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max_delay)
            .with_max_times(usize::try_from(self.max_retries).unwrap_or(usize::MAX));
        if self.jitter {
            builder.with_jitter().build()
        } else {
            builder.build()
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) concurrency: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) grace: Duration,
    pub(crate) fail_fast: bool,
    pub(crate) rate: Option<(f64, u32)>,
    pub(crate) per_key: Option<usize>,
    pub(crate) max_queued: usize,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) ordered: bool,
    pub(crate) reorder_window: usize,
}

/// A reusable description of how to run jobs. Cheap to clone; each
/// [`Pool::jobs`] call starts an independent run with these limits.
#[derive(Debug, Clone)]
pub struct Pool {
    pub(crate) config: Arc<Config>,
}

impl Pool {
    /// A pool running at most `concurrency` jobs at once, with every other
    /// setting at its default.
    pub fn new(concurrency: usize) -> Pool {
        Pool::builder().concurrency(concurrency).build()
    }

    /// Starts configuring a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            config: Config {
                concurrency: 64,
                timeout: None,
                deadline: None,
                cancel: None,
                grace: Duration::from_secs(5),
                fail_fast: false,
                rate: None,
                per_key: None,
                max_queued: 0,
                retry: None,
                ordered: false,
                reorder_window: 0,
            },
        }
    }

    /// The global limit.
    pub fn concurrency(&self) -> usize {
        self.config.concurrency
    }
}

/// Builder for [`Pool`]; see the crate docs for an example.
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    config: Config,
}

impl PoolBuilder {
    /// At most `n` jobs alive at once (at least 1; default 64).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n.max(1);
        self
    }

    /// A per-attempt timeout; an attempt that runs longer is dropped and
    /// the job ends as [`crate::Outcome::TimedOut`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// A deadline for the whole run, counted from its first poll. When it
    /// passes, no more input is taken, running jobs are aborted and end as
    /// `TimedOut`, and jobs not yet started end as `Cancelled`.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.config.deadline = Some(deadline);
        self
    }

    /// Cancellation: when `token` fires, the run takes no more input, gives
    /// running jobs the [grace](Self::grace) period (they see the token in
    /// [`crate::JobCtx`]), then aborts them as `Cancelled`. Wire Ctrl-C and
    /// SIGTERM to this token; the pool installs no signal handlers.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.config.cancel = Some(token);
        self
    }

    /// How long running jobs may finish after cancellation (default 5 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Fail-fast (like `asyncio.TaskGroup`): the first outcome other than
    /// `Ok` cancels the rest at once, with no grace. Default: collect all.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.config.fail_fast = fail_fast;
        self
    }

    /// Starts at most `per_second` jobs per second on average, with bursts
    /// of up to `burst`.
    pub fn rate(mut self, per_second: f64, burst: u32) -> Self {
        self.config.rate = Some((per_second, burst.max(1)));
        self
    }

    /// At most `limit` jobs in flight per key (see [`crate::Jobs::key`]), on
    /// top of the global limit. Jobs whose key is at its limit wait aside
    /// without blocking jobs for other keys.
    pub fn per_key(mut self, limit: usize) -> Self {
        self.config.per_key = Some(limit.max(1));
        self
    }

    /// How many inputs may wait aside for a busy key before the run stops
    /// reading input (default: 16 times the concurrency, at least 1024).
    /// Keeps memory bounded when one key dominates the input.
    pub fn max_queued(mut self, n: usize) -> Self {
        self.config.max_queued = n.max(1);
        self
    }

    /// Retries errors that the job's classifier ([`crate::Jobs::retry_if`])
    /// calls retryable.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = Some(policy);
        self
    }

    /// Yields reports in input order, like `asyncio.gather`. Finished jobs
    /// wait in a reorder buffer of at most [`reorder_window`](Self::reorder_window)
    /// entries; the run does not start input more than that far ahead of
    /// the oldest unreported job.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.config.ordered = ordered;
        self
    }

    /// Size of the ordered mode's window (default: 4 times the concurrency).
    pub fn reorder_window(mut self, window: usize) -> Self {
        self.config.reorder_window = window.max(1);
        self
    }

    /// Checks the settings and builds the pool.
    pub fn build(mut self) -> Pool {
        let config = &mut self.config;
        if config.max_queued == 0 {
            config.max_queued = config.concurrency.saturating_mul(16).max(1024);
        }
        if config.reorder_window == 0 {
            config.reorder_window = config.concurrency.saturating_mul(4);
        }
        config.reorder_window = config.reorder_window.max(config.concurrency);
        Pool {
            config: Arc::new(self.config),
        }
    }
}
