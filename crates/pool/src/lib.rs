//! A bounded, lazy task pool for tokio: the one engine behind every netkit
//! tool, and the Rust form of what asyncio users reach for.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use futures::StreamExt;
//! use netkit_pool::{Outcome, Pool};
//! use std::time::Duration;
//!
//! let pool = Pool::builder().concurrency(8).timeout(Duration::from_secs(5)).build();
//! let mut run = pool.jobs(1..=100u64).run(|n, _ctx| async move { Ok::<_, String>(n * n) });
//! let mut total = 0;
//! while let Some(report) = run.next().await {
//!     if let Outcome::Ok(square) = report.outcome { total += square; }
//! }
//! assert_eq!(total, 338_350);
//! assert_eq!(run.summary().ok, 100);
//! # }
//! ```
//!
//! # Design
//!
//! - **Bounded and lazy.** Input comes from any `IntoIterator`
//!   ([`Pool::jobs`]) or `Stream` ([`Pool::jobs_stream`]) and is pulled
//!   only when a slot is free; at most `concurrency` jobs are alive. Memory
//!   is O(concurrency), so ten million jobs run in flat memory. Each job is
//!   a tokio task, so the multi-thread runtime spreads jobs over every core.
//! - **Results as they complete.** A [`Run`] is a `Stream` of [`Report`]s
//!   carrying the input, its index, the [`Outcome`], attempts and timing.
//!   [`PoolBuilder::ordered`] yields them in input order through a bounded
//!   reorder window; [`Run::collect_vec`] gathers them all.
//! - **Explicit outcomes.** `Ok`, `Err` (the job's own error), `TimedOut`,
//!   `Panicked` (message kept, the pool keeps going) or `Cancelled`. Every
//!   input taken from the source yields exactly one report.
//! - **Timeouts and deadline.** [`PoolBuilder::timeout`] bounds each
//!   attempt; [`PoolBuilder::deadline`] bounds the whole run.
//! - **Cancellation.** [`PoolBuilder::cancel_token`] takes a
//!   `CancellationToken`: on cancel the run stops taking input, running jobs
//!   get [`PoolBuilder::grace`] (they can watch [`JobCtx::token`]), then are
//!   aborted. The pool installs no signal handlers; callers wire Ctrl-C.
//! - **Failure policy.** Collect-all by default; [`PoolBuilder::fail_fast`]
//!   cancels everything on the first failure, like `asyncio.TaskGroup`.
//! - **Limits beyond N.** [`PoolBuilder::rate`] limits starts per second
//!   (governor's GCRA on tokio's clock); [`PoolBuilder::per_key`] with
//!   [`Jobs::key`] caps jobs in flight per key. A key at its limit parks its
//!   inputs aside (bounded by [`PoolBuilder::max_queued`]) and never blocks
//!   other keys.
//! - **Retries.** [`PoolBuilder::retry`] plus [`Jobs::retry_if`]: the job's
//!   classifier says [`Retry::Yes`], [`Retry::No`] or [`Retry::After`];
//!   delays are exponential with jitter (backon). **A retrying job keeps its
//!   slot** (global and per-key) while it waits, so limits hold across
//!   retries. Each attempt gets its own timeout; [`Report::attempts`]
//!   counts them.
//! - **Live counters.** [`Run::counters`] gives queued, running, done,
//!   failed and retried at any moment; [`Run::summary`] gives counts per
//!   outcome, wall time and latency p50/p99.
//!
//! The run is driven by its consumer, like `buffer_unordered`: polling the
//! stream pulls input, spawns and harvests. There is no hidden driver task,
//! and a consumer that stops reading pauses the intake. Each job task posts
//! its result to one completion queue per run. The driver takes a whole
//! batch in one swap, frees those slots so the next poll refills them
//! together, and hands the batch's reports out before it takes another;
//! so at most N jobs run and at most N finished reports wait for the
//! consumer. An aborted task posts from its drop, so a job is reported
//! exactly once and only after its future is gone.
//!
//! # Layout
//!
//! One idea per file; the folders say which side of a job they are on.
//!
//! - `run.rs`: [`Jobs`] and [`Run`], the public face of a run. Its driver
//!   is in `run/`, one part per file: `driver.rs` (the step loop tying the
//!   parts together), `intake.rs` (input, numbered and keyed),
//!   `key_queues.rs` (the per-key limit and inputs waiting to start),
//!   `start_rate.rs`, `slots.rs` (the slab of running jobs and the batch
//!   harvest), `reorder.rs` (the ordered-output buffer), `stop.rs` (cancel,
//!   grace, deadline, fail-fast), `tally.rs` (what [`Run::summary`] is made
//!   of) and `timer.rs`.
//! - `task.rs` and `task/`: what runs inside each job's tokio task:
//!   `posting.rs` (posting the result under the slot's ticket),
//!   `attempt.rs` (one attempt: timed, panics caught, the timeout) and
//!   `retry.rs` (the retry loop and its backoff).
//! - `completions.rs`: the queue job tasks post to; `config.rs`: [`Pool`]
//!   and its builder; `outcome.rs` and `counters.rs`: what a run reports.
//!
//! # From asyncio to netkit-pool
//!
//! | asyncio | netkit-pool |
//! |---|---|
//! | `Semaphore(n)` around each task | `Pool::new(n)` |
//! | `asyncio.gather(*aws)` | `.ordered(true)` + [`Run::collect_vec`] |
//! | `asyncio.as_completed(aws)` | iterate the [`Run`] stream |
//! | `asyncio.wait_for(aw, t)` | [`PoolBuilder::timeout`] → [`Outcome::TimedOut`] |
//! | `asyncio.timeout(t)` around everything | [`PoolBuilder::deadline`] |
//! | `TaskGroup` (cancel on first error) | [`PoolBuilder::fail_fast`] |
//! | `task.cancel()` on Ctrl-C | [`PoolBuilder::cancel_token`] + grace |
//! | `Queue` + N consumer tasks | [`Pool::jobs_stream`] over a channel receiver |
//!
//! `gather`, in input order, with a per-job timeout:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use netkit_pool::{Outcome, Pool};
//! use std::time::Duration;
//!
//! let pool = Pool::builder().concurrency(4).ordered(true).timeout(Duration::from_secs(1)).build();
//! let reports = pool
//!     .jobs(["a", "bb", "ccc"])
//!     .run(|word, _ctx| async move { Ok::<_, String>(word.len()) })
//!     .collect_vec()
//!     .await;
//! let lengths: Vec<_> = reports.into_iter().map(|r| r.outcome).collect();
//! assert_eq!(lengths, [Outcome::Ok(1), Outcome::Ok(2), Outcome::Ok(3)]);
//! # }
//! ```
//!
//! Producer/consumer, like `asyncio.Queue` with consumers: the producer
//! sends into a bounded channel, and the pool consumes it with N workers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use futures::StreamExt;
//! use netkit_pool::Pool;
//! use tokio_util::sync::CancellationToken;
//!
//! let (tx, rx) = tokio::sync::mpsc::channel::<u32>(16);
//! tokio::spawn(async move {
//!     for job in 0..50 {
//!         if tx.send(job).await.is_err() { break; }
//!     }
//! });
//! let input = futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|j| (j, rx)) });
//! let run = Pool::builder()
//!     .concurrency(8)
//!     .cancel_token(CancellationToken::new())
//!     .build()
//!     .jobs_stream(input)
//!     .run(|job, _ctx| async move { Ok::<_, String>(job * 2) });
//! let doubled: u32 = run.filter_map(|r| async move { r.outcome.into_result().ok() }).fold(0, |a, b| async move { a + b }).await;
//! assert_eq!(doubled, 2 * (0..50).sum::<u32>());
//! # }
//! ```
//!
//! Per-host politeness with retries (what fetch-titles does):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use netkit_pool::{Pool, Retry, RetryPolicy};
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! struct HttpError { status: u16 }
//! let pool = Pool::builder()
//!     .concurrency(50)
//!     .per_key(4)
//!     .rate(1000.0, 50)
//!     .retry(RetryPolicy::exponential(2).base(Duration::from_millis(1)))
//!     .build();
//! let urls = vec!["a.example/1".to_owned(), "a.example/2".to_owned(), "b.example/1".to_owned()];
//! let reports = pool
//!     .jobs(urls)
//!     .key(|url: &String| url.split('/').next().unwrap_or_default().to_owned())
//!     .retry_if(|e: &HttpError| if e.status == 429 || e.status >= 500 { Retry::Yes } else { Retry::No })
//!     .run(|url, ctx| {
//!         let first_try = ctx.attempt == 1;
//!         async move {
//!             if url.ends_with("/2") && first_try { Err(HttpError { status: 503 }) } else { Ok(url.len()) }
//!         }
//!     })
//!     .collect_vec()
//!     .await;
//! assert!(reports.iter().all(|r| r.outcome.is_ok()));
//! assert_eq!(reports.iter().map(|r| r.attempts).sum::<u32>(), 4);
//! # }
//! ```

mod completions;
mod config;
mod counters;
mod outcome;
mod run;
mod task;

pub use config::{Pool, PoolBuilder, RetryPolicy};
pub use counters::{Counters, CountersSnapshot, StopReason, Summary};
pub use outcome::{Failure, Outcome, Report, Retry};
pub use run::{JobCtx, Jobs, Run};
pub use tokio_util::sync::CancellationToken;
