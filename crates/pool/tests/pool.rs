//! Behaviour of netkit-pool: limits, outcomes, timeouts, cancellation,
//! ordering, laziness, retries and rate limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use futures::StreamExt;
use netkit_pool::{CancellationToken, Outcome, Pool, Retry, RetryPolicy, StopReason};
use tokio::time::Instant;
use util::{HighWater, counted};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_more_than_n_jobs_at_once() {
    let water = HighWater::default();
    let tracker = water.clone();
    let run = Pool::new(7).jobs(0..500u32).run(move |n, _| {
        let tracker = tracker.clone();
        async move {
            let _guard = tracker.enter();
            for _ in 0..(n % 5) {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(Duration::from_micros(u64::from(n % 3) * 100)).await;
            Ok::<_, ()>(n)
        }
    });
    let reports = run.collect_vec().await;
    assert_eq!(reports.len(), 500);
    assert_eq!(water.max(), 7, "the pool must fill but never exceed N");
    let mut indices: Vec<u64> = reports.iter().map(|r| r.index).collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (0..500).collect::<Vec<u64>>(),
        "exactly one report per input"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_limit_holds_and_global_limit_too() {
    let per_key: Arc<HashMap<u32, HighWater>> =
        Arc::new((0..3).map(|k| (k, HighWater::default())).collect());
    let global = HighWater::default();
    let (keys, global_job) = (Arc::clone(&per_key), global.clone());
    let reports = Pool::builder()
        .concurrency(8)
        .per_key(2)
        .build()
        .jobs(0..300u32)
        .key(|n: &u32| (n % 3).to_string())
        .run(move |n, _| {
            let keys = Arc::clone(&keys);
            let global = global_job.clone();
            async move {
                let _g = global.enter();
                let _k = keys[&(n % 3)].enter();
                tokio::time::sleep(Duration::from_micros(200)).await;
                Ok::<_, ()>(())
            }
        })
        .collect_vec()
        .await;
    assert_eq!(reports.len(), 300);
    for (key, water) in per_key.iter() {
        assert_eq!(
            water.max(),
            2,
            "key {key} must reach but not exceed its limit"
        );
    }
    assert!(
        global.max() <= 6,
        "3 keys x 2 per key caps the global count at 6"
    );
    assert!(reports.iter().all(|r| r.key.is_some()));
}

#[tokio::test(start_paused = true)]
async fn a_busy_key_does_not_block_other_keys() {
    // Five slow jobs for one host come first; fast jobs for other hosts
    // must finish long before the slow host is done.
    let inputs: Vec<(String, u64)> = (0..5)
        .map(|_| ("slow".to_owned(), 60))
        .chain((0..20).map(|i| (format!("fast{i}"), 1)))
        .collect();
    let start = Instant::now();
    let mut run = Pool::builder()
        .concurrency(10)
        .per_key(1)
        .build()
        .jobs(inputs)
        .key(|(host, _): &(String, u64)| host.clone())
        .run(|(host, secs), _| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok::<_, ()>(host)
        });
    let mut fast_done_at = Vec::new();
    let mut slow_done_at = Vec::new();
    while let Some(report) = run.next().await {
        let at = start.elapsed();
        if report.input.0 == "slow" {
            slow_done_at.push(at)
        } else {
            fast_done_at.push(at)
        }
    }
    assert_eq!(fast_done_at.len(), 20);
    assert!(
        fast_done_at.iter().all(|t| *t < Duration::from_secs(10)),
        "{fast_done_at:?}"
    );
    // per_key(1): the slow host's jobs ran one after another.
    assert_eq!(slow_done_at.last().copied().map(|t| t.as_secs()), Some(300));
}

#[tokio::test]
async fn panics_are_reported_and_the_pool_keeps_running() {
    let reports = Pool::builder()
        .concurrency(4)
        .ordered(true)
        .build()
        .jobs(0..10u32)
        .run(|n, _| {
            if n == 5 {
                panic!("job five exploded before its future existed");
            }
            async move {
                if n == 3 {
                    panic!("job three exploded");
                }
                Ok::<_, ()>(n)
            }
        })
        .collect_vec()
        .await;
    assert_eq!(reports.len(), 10);
    assert_eq!(
        reports[3].outcome,
        Outcome::Panicked("job three exploded".to_owned())
    );
    assert_eq!(
        reports[5].outcome,
        Outcome::Panicked("job five exploded before its future existed".to_owned())
    );
    for (i, report) in reports.iter().enumerate() {
        if i != 3 && i != 5 {
            assert_eq!(report.outcome, Outcome::Ok(i as u32));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn per_job_timeout() {
    let start = Instant::now();
    let reports = Pool::builder()
        .concurrency(10)
        .timeout(Duration::from_secs(5))
        .ordered(true)
        .build()
        .jobs([1u64, 10, 2, 30])
        .run(|secs, _| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok::<_, ()>(secs)
        })
        .collect_vec()
        .await;
    let outcomes: Vec<_> = reports.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Ok(1),
            Outcome::TimedOut,
            Outcome::Ok(2),
            Outcome::TimedOut
        ]
    );
    assert_eq!(start.elapsed().as_secs(), 5);
}

#[tokio::test(start_paused = true)]
async fn deadline_ends_the_whole_run() {
    let (input, pulled) = counted(0..1000u64);
    let mut run = Pool::builder()
        .concurrency(2)
        .deadline(Duration::from_secs(10))
        .build()
        .jobs(input)
        .run(|_, _| async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, ()>(())
        });
    let start = Instant::now();
    let mut outcomes = Vec::new();
    while let Some(report) = run.next().await {
        outcomes.push(report.outcome);
    }
    assert_eq!(start.elapsed().as_secs(), 10);
    let summary = run.summary();
    assert_eq!(summary.stopped, Some(StopReason::Deadline));
    // 3 rounds of 2 jobs finish by 9 s; the 2 running at 10 s time out.
    assert_eq!(summary.ok, 6);
    assert_eq!(summary.timed_out, 2);
    assert_eq!(outcomes.len() as u64, summary.total());
    assert_eq!(
        pulled.load(SeqCst),
        outcomes.len(),
        "every input taken got a report"
    );
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_intake_and_gives_running_jobs_grace() {
    let token = CancellationToken::new();
    let (input, pulled) = counted(0..u64::MAX);
    let mut run = Pool::builder()
        .concurrency(4)
        .cancel_token(token.clone())
        .grace(Duration::from_secs(2))
        .ordered(true)
        .build()
        .jobs(input)
        .run(|n, ctx| {
            let token = ctx.token.clone();
            async move {
                if n < 4 {
                    // Jobs 0-1 watch the token and wind down; 2-3 ignore it.
                    if n < 2 {
                        token.cancelled().await;
                        return Ok::<_, ()>("wound down");
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok("finished")
            }
        });
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        token.cancel();
    });
    let start = Instant::now();
    let mut reports = Vec::new();
    while let Some(report) = run.next().await {
        reports.push(report);
        assert!(reports.len() < 10_000_000, "the run must stop");
    }
    canceller.await.unwrap();
    // Cancelled at 1 s, grace of 2 s: the run ends at 3 s.
    assert_eq!(start.elapsed().as_secs(), 3);
    assert_eq!(reports[0].outcome, Outcome::Ok("wound down"));
    assert_eq!(reports[1].outcome, Outcome::Ok("wound down"));
    assert_eq!(reports[2].outcome, Outcome::Cancelled);
    assert_eq!(reports[3].outcome, Outcome::Cancelled);
    assert_eq!(
        pulled.load(SeqCst),
        reports.len(),
        "no input disappears silently"
    );
    assert_eq!(run.summary().stopped, Some(StopReason::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_rest() {
    let (input, pulled) = counted(0..100u64);
    let reports = Pool::builder()
        .concurrency(4)
        .fail_fast(true)
        .build()
        .jobs(input)
        .run(|n, _| async move {
            tokio::time::sleep(Duration::from_secs(if n == 2 { 1 } else { 100 })).await;
            if n == 2 { Err("boom") } else { Ok(n) }
        })
        .collect_vec()
        .await;
    assert_eq!(pulled.load(SeqCst), 4, "nothing is taken after the failure");
    assert_eq!(reports.len(), 4);
    assert_eq!(reports[0].outcome, Outcome::Err("boom"));
    assert!(reports[1..].iter().all(|r| r.outcome == Outcome::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn ordered_mode_yields_input_order_with_a_bounded_window() {
    let (input, pulled) = counted(0..40u64);
    let pulled_probe = Arc::clone(&pulled);
    let mut run = Pool::builder()
        .concurrency(4)
        .ordered(true)
        .reorder_window(8)
        .build()
        .jobs(input)
        .run(|n, _| async move {
            // Later jobs finish first within each group of four.
            tokio::time::sleep(Duration::from_millis(100 * (4 - n % 4))).await;
            Ok::<_, ()>(n)
        });
    let mut seen = Vec::new();
    while let Some(report) = run.next().await {
        assert!(
            pulled_probe.load(SeqCst) as u64 <= report.index + 1 + 8,
            "input never runs more than the window ahead"
        );
        seen.push(report.index);
    }
    assert_eq!(seen, (0..40).collect::<Vec<u64>>());
}

#[tokio::test]
async fn input_is_pulled_lazily() {
    let (input, pulled) = counted(0..1_000_000u64);
    let mut run = Pool::new(8)
        .jobs(input)
        .run(|n, _| async move { Ok::<_, ()>(n) });
    for taken in 1..=20 {
        assert!(run.next().await.is_some());
        let advanced = pulled.load(SeqCst);
        // 8 running, plus at most 8 finished whose reports wait for us.
        assert!(
            advanced <= taken + 2 * 8,
            "after {taken} reports the input moved {advanced}"
        );
    }
    drop(run);
    assert!(pulled.load(SeqCst) <= 20 + 2 * 8);
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_and_count_attempts() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let start = Instant::now();
    let mut run = Pool::builder()
        .concurrency(2)
        .retry(
            RetryPolicy::exponential(3)
                .base(Duration::from_secs(1))
                .max_delay(Duration::from_secs(60))
                .without_jitter(),
        )
        .build()
        .jobs(["flaky", "hopeless", "fatal", "slowdown"])
        .retry_if(|e: &&str| match *e {
            "again" => Retry::Yes,
            "slow down" => Retry::After(Duration::from_secs(20)),
            _ => Retry::No,
        })
        .run(move |name, ctx| {
            counter.fetch_add(1, SeqCst);
            let attempt = ctx.attempt;
            async move {
                match (name, attempt) {
                    ("flaky", 1 | 2) => Err("again"),
                    ("flaky", _) => Ok(attempt),
                    ("hopeless", _) => Err("again"),
                    ("slowdown", 1) => Err("slow down"),
                    ("slowdown", _) => Ok(attempt),
                    _ => Err("fatal"),
                }
            }
        });
    let mut by_name = HashMap::new();
    while let Some(report) = run.next().await {
        by_name.insert(
            report.input,
            (report.outcome, report.attempts, report.elapsed),
        );
    }
    assert_eq!(by_name["flaky"].0, Outcome::Ok(3));
    assert_eq!(by_name["flaky"].1, 3);
    // Delays 1 s then 2 s, no jitter.
    assert_eq!(by_name["flaky"].2.as_secs(), 3);
    assert_eq!(by_name["hopeless"].0, Outcome::Err("again"));
    assert_eq!(by_name["hopeless"].1, 4, "1 attempt + 3 retries");
    assert_eq!(by_name["fatal"].1, 1, "non-retryable errors are final");
    assert_eq!(by_name["slowdown"].0, Outcome::Ok(2));
    assert_eq!(
        by_name["slowdown"].2.as_secs(),
        20,
        "Retry-After hint honoured"
    );
    assert_eq!(calls.load(SeqCst), 3 + 4 + 1 + 2);
    assert_eq!(run.summary().retried, 2 + 3 + 1);
    assert!(start.elapsed() >= Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn start_rate_is_limited() {
    let start = Instant::now();
    let mut started_at = Vec::new();
    let reports = Pool::builder()
        .concurrency(100)
        .rate(5.0, 2)
        .build()
        .jobs(0..12u32)
        .run(move |_, _| async move { Ok::<_, ()>(Instant::now()) })
        .collect_vec()
        .await;
    for report in reports {
        if let Outcome::Ok(at) = report.outcome {
            started_at.push(at - start);
        }
    }
    started_at.sort();
    // Burst of 2 at once, then one every 200 ms: the 12th at 2.0 s.
    assert_eq!(started_at.len(), 12);
    assert!(started_at[1] < Duration::from_millis(10));
    let last = started_at[11];
    assert!(
        last >= Duration::from_millis(1990) && last <= Duration::from_millis(2010),
        "{last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn counters_and_summary() {
    let mut run = Pool::builder()
        .concurrency(3)
        .timeout(Duration::from_secs(10))
        .build()
        .jobs(0..9u32)
        .run(|n, _| async move {
            tokio::time::sleep(Duration::from_secs(u64::from(n % 3) * 8)).await;
            if n == 4 { Err("four") } else { Ok(n) }
        });
    let counters = run.counters();
    let first = run.next().await.unwrap();
    assert!(first.outcome.is_ok());
    let snapshot = counters.snapshot();
    assert_eq!(snapshot.done, 1);
    assert!(snapshot.running <= 3);
    while run.next().await.is_some() {}
    let snapshot = counters.snapshot();
    assert_eq!(
        (snapshot.done, snapshot.running, snapshot.queued),
        (9, 0, 0)
    );
    let summary = run.summary();
    // n % 3 == 2 sleeps 16 s > 10 s timeout: 2, 5, 8 time out; 4 errs.
    assert_eq!((summary.ok, summary.err, summary.timed_out), (5, 1, 3));
    assert_eq!(snapshot.failed, 4);
    assert!(summary.p99 >= summary.p50);
    assert!(summary.wall >= Duration::from_secs(10));
}

#[tokio::test]
async fn stream_input_for_producer_consumer() {
    let (tx, rx) = tokio::sync::mpsc::channel::<u32>(4);
    let producer = tokio::spawn(async move {
        for n in 0..100 {
            tx.send(n).await.unwrap();
        }
    });
    let input = futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|n| (n, rx)) });
    let reports = Pool::new(5)
        .jobs_stream(input)
        .run(|n, _| async move { Ok::<_, ()>(n + 1) })
        .collect_vec()
        .await;
    producer.await.unwrap();
    let total: u32 = reports
        .into_iter()
        .filter_map(|r| r.outcome.into_result().ok())
        .sum();
    assert_eq!(total, (1..=100).sum());
}

#[tokio::test(start_paused = true)]
async fn a_dominant_key_cannot_make_the_queue_grow_without_bound() {
    let (input, pulled) = counted((0..100_000u32).map(|_| "one-host".to_owned()));
    let pulled_probe = Arc::clone(&pulled);
    let mut run = Pool::builder()
        .concurrency(10)
        .per_key(1)
        .max_queued(50)
        .build()
        .jobs(input)
        .key(|host: &String| host.clone())
        .run(|_, _| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, ()>(())
        });
    for _ in 0..5 {
        run.next().await.unwrap();
        assert!(
            pulled_probe.load(SeqCst) <= 5 + 51,
            "queue bounded by max_queued"
        );
        assert!(run.counters().snapshot().queued <= 50);
    }
}

#[tokio::test(start_paused = true)]
async fn an_aborted_job_is_reported_only_once_its_future_is_gone() {
    let live = HighWater::default();
    let probe = live.clone();
    let mut run = Pool::builder()
        .concurrency(8)
        .deadline(Duration::from_secs(5))
        .build()
        .jobs(0..8u64)
        .run(move |n, _| {
            let live = live.clone();
            async move {
                let _alive = live.enter();
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, ()>(n)
            }
        });
    let mut reports = 0;
    while let Some(report) = run.next().await {
        assert_eq!(report.outcome, Outcome::TimedOut);
        reports += 1;
        // Each abort posts from the task as its future is dropped, so by
        // the time a job is reported its future (and guard) are gone.
        assert!(
            probe.now() <= 8 - reports,
            "{reports} reported, {} alive",
            probe.now()
        );
    }
    assert_eq!(reports, 8);
    assert_eq!(probe.now(), 0);
    assert_eq!(probe.max(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_aborts_its_jobs() {
    let live = HighWater::default();
    let probe = live.clone();
    let mut run = Pool::new(16).jobs(0..1000u64).run(move |n, _| {
        let live = live.clone();
        async move {
            let _alive = live.enter();
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<_, ()>(n)
        }
    });
    let first = run.next().await.map(|report| report.outcome);
    assert_eq!(first, Some(Outcome::Ok(0)));
    // Job 0's slot is refilled only on the next poll, which never comes:
    // wait (bounded) until the other 15 are running, then drop the run.
    for _ in 0..500 {
        if probe.now() == 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(probe.now(), 15);
    drop(run);
    for _ in 0..500 {
        if probe.now() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(probe.now(), 0, "every job's future was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_retry_classifier_is_reported_with_its_attempts() {
    let reports = Pool::builder()
        .concurrency(2)
        .retry(RetryPolicy::exponential(5).without_jitter())
        .build()
        .jobs(["panics on the second error", "fine"])
        .retry_if(|e: &u32| {
            assert!(*e < 2, "classifier exploded");
            Retry::Yes
        })
        .run(|name, ctx| {
            let attempt = ctx.attempt;
            async move {
                match name {
                    "fine" => Ok(name),
                    _ => Err(attempt),
                }
            }
        })
        .collect_vec()
        .await;
    let by_name: HashMap<_, _> = reports
        .into_iter()
        .map(|report| (report.input, (report.outcome, report.attempts)))
        .collect();
    assert_eq!(
        by_name["panics on the second error"],
        (Outcome::Panicked("classifier exploded".to_owned()), 2)
    );
    assert_eq!(by_name["fine"], (Outcome::Ok("fine"), 1));
}
