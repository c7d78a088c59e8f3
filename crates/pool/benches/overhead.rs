//! The pool's benchmark (`cargo xtask bench pool`).
//!
//! `overhead [JOBS] [RUNS]`: per-job overhead of 1,000,000 trivial jobs at
//! N=64 and N=1024, netkit-pool against (a) `JoinSet` with
//! `Semaphore::acquire_owned()` before each spawn and (b)
//! `stream::iter(..).map(tokio::spawn).buffer_unordered(N)`, all in this one
//! process on the multi-thread runtime, contenders interleaved with the
//! starting contender rotated each run, medians of RUNS runs (default 7).
//!
//! `rss JOBS N`: runs JOBS trivial jobs at concurrency N and prints this
//! process's peak RSS (VmHWM), to show memory is flat in the job count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use netkit_pool::{Outcome, Pool};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot build runtime: {error}");
            std::process::exit(1);
        }
    };
    match args.first().map(String::as_str) {
        Some("rss") => {
            let jobs = arg(&args, 1, 10_000_000);
            let concurrency = arg(&args, 2, 1000) as usize;
            runtime.block_on(rss(jobs, concurrency));
        }
        _ => {
            let jobs = arg(&args, 1, 1_000_000);
            let runs = arg(&args, 2, 7) as usize;
            match args.get(3).map(String::as_str) {
                // One contender alone, for profiling.
                Some(only) => {
                    let concurrency = args.get(4).and_then(|n| n.parse().ok());
                    runtime.block_on(alone(only, jobs, runs, concurrency))
                }
                None => runtime.block_on(overhead(jobs, runs)),
            }
        }
    }
}

fn arg(args: &[String], at: usize, default: u64) -> u64 {
    args.get(at).and_then(|a| a.parse().ok()).unwrap_or(default)
}

async fn overhead(jobs: u64, runs: usize) {
    println!("per-job cost of {jobs} trivial jobs, median of {runs} runs (2-core VM)\n");
    println!(
        "| N | netkit-pool ns/job | JoinSet+Semaphore ns/job | buffer_unordered(spawn) ns/job | pool / faster baseline |"
    );
    println!("|---|---|---|---|---|");
    for concurrency in [64usize, 1024] {
        let mut pool_t = Vec::new();
        let mut joinset_t = Vec::new();
        let mut buffered_t = Vec::new();
        // Interleave contenders, rotating who goes first, so that machine
        // noise and warm-up effects hit all alike.
        for run in 0..runs {
            for slot in 0..3 {
                match (run + slot) % 3 {
                    0 => pool_t.push(time(netkit(jobs, concurrency)).await),
                    1 => joinset_t.push(time(joinset_semaphore(jobs, concurrency)).await),
                    _ => buffered_t.push(time(buffer_unordered(jobs, concurrency)).await),
                }
            }
        }
        let per_job = |times: &mut Vec<Duration>| median(times).as_nanos() as f64 / jobs as f64;
        let (p, j, b) = (
            per_job(&mut pool_t),
            per_job(&mut joinset_t),
            per_job(&mut buffered_t),
        );
        println!(
            "| {concurrency} | {p:.0} | {j:.0} | {b:.0} | {:.2} |",
            p / j.min(b)
        );
    }
}

async fn alone(contender: &str, jobs: u64, runs: usize, only_n: Option<usize>) {
    for concurrency in only_n.map_or(vec![64usize, 1024], |n| vec![n]) {
        let mut times = Vec::new();
        for _ in 0..runs {
            times.push(match contender {
                "joinset" => time(joinset_semaphore(jobs, concurrency)).await,
                "buffered" => time(buffer_unordered(jobs, concurrency)).await,
                _ => time(netkit(jobs, concurrency)).await,
            });
        }
        let ns = median(&mut times).as_nanos() as f64 / jobs as f64;
        println!("{contender} N={concurrency}: {ns:.0} ns/job");
    }
}

async fn time(work: impl std::future::Future<Output = u64>) -> Duration {
    let start = Instant::now();
    let sum = work.await;
    std::hint::black_box(sum);
    start.elapsed()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn netkit(jobs: u64, concurrency: usize) -> u64 {
    let mut run = Pool::new(concurrency)
        .jobs(0..jobs)
        .run(|n, _| async move { Ok::<_, ()>(n) });
    let mut sum = 0u64;
    while let Some(report) = run.next().await {
        if let Outcome::Ok(n) = report.outcome {
            sum = sum.wrapping_add(n);
        }
    }
    sum
}

async fn joinset_semaphore(jobs: u64, concurrency: usize) -> u64 {
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut set = JoinSet::new();
    let mut sum = 0u64;
    for n in 0..jobs {
        let Ok(permit) = Arc::clone(&semaphore).acquire_owned().await else {
            break;
        };
        set.spawn(async move {
            let _permit = permit;
            n
        });
        // Reap finished tasks as we go so the set stays O(N).
        while let Some(Ok(n)) = set.try_join_next() {
            sum = sum.wrapping_add(n);
        }
    }
    while let Some(Ok(n)) = set.join_next().await {
        sum = sum.wrapping_add(n);
    }
    sum
}

async fn buffer_unordered(jobs: u64, concurrency: usize) -> u64 {
    futures::stream::iter(0..jobs)
        .map(|n| tokio::spawn(async move { n }))
        .buffer_unordered(concurrency)
        .fold(
            0u64,
            |sum, n| async move { sum.wrapping_add(n.unwrap_or(0)) },
        )
        .await
}

async fn rss(jobs: u64, concurrency: usize) {
    let start = Instant::now();
    let sum = netkit(jobs, concurrency).await;
    let expected = (0..jobs).fold(0u64, u64::wrapping_add);
    let ok = if sum == expected {
        "all results correct"
    } else {
        "WRONG SUM"
    };
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!(
        "{jobs} jobs at N={concurrency}: peak RSS {hwm}, {:.2}s, {ok}",
        start.elapsed().as_secs_f64()
    );
}
