//! A short tour of netkit-pool, run by `cargo xtask demo`: 10,000 jobs at
//! most 64 at once, with a timeout, a panic, a retried error and live
//! counters, then the summary.

#![allow(clippy::panic)] // the tour shows how a panicking job is reported

use std::time::Duration;

use futures::StreamExt;
use netkit_pool::{Outcome, Pool, Retry, RetryPolicy};

#[tokio::main]
async fn main() {
    // Job 7 panics on purpose: say so in one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info.payload_as_str().unwrap_or("non-string payload");
        eprintln!("  (a job panicked: {message}; the pool reports it and keeps going)");
    }));
    let pool = Pool::builder()
        .concurrency(64)
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy::exponential(2).base(Duration::from_millis(5)))
        .build();
    let mut run = pool
        .jobs(0..10_000u64)
        .retry_if(|e: &String| {
            if e.starts_with("transient") {
                Retry::Yes
            } else {
                Retry::No
            }
        })
        .run(|n, ctx| {
            let attempt = ctx.attempt;
            async move {
                match n {
                    7 => panic!("job 7 panics on purpose"),
                    42 => tokio::time::sleep(Duration::from_secs(60)).await,
                    99 if attempt == 1 => return Err(format!("transient failure of job {n}")),
                    500 => return Err("permanent failure of job 500".to_owned()),
                    _ => tokio::time::sleep(Duration::from_micros(n % 100)).await,
                }
                Ok(n * 2)
            }
        });
    let counters = run.counters();
    let mut shown = 0;
    while let Some(report) = run.next().await {
        match &report.outcome {
            Outcome::Ok(_) if report.attempts == 1 => {}
            outcome => {
                println!(
                    "  job {:>4}: {:<9} after {} attempt(s) {:?}",
                    report.index,
                    outcome.kind(),
                    report.attempts,
                    report.outcome
                );
                shown += 1;
            }
        }
        if report.index == 5_000 {
            let live = counters.snapshot();
            println!(
                "  live counters mid-run: running {} done {} failed {} retried {}",
                live.running, live.done, live.failed, live.retried
            );
        }
    }
    let summary = run.summary();
    println!(
        "  summary: {} ok, {} err, {} timed out, {} panicked, {} cancelled, {} retried; wall {:.2}s, job p50 {:?}, p99 {:?} ({} notable reports above)",
        summary.ok,
        summary.err,
        summary.timed_out,
        summary.panicked,
        summary.cancelled,
        summary.retried,
        summary.wall.as_secs_f64(),
        summary.p50,
        summary.p99,
        shown
    );
}
