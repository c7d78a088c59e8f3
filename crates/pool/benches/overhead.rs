//! The pool's benchmark (`cargo xtask bench pool`).
//!
//! `overhead [JOBS] [RUNS]`: per-job overhead of 1,000,000 trivial jobs at
//! N=64 and N=1024, netkit-pool against (a) `JoinSet` with
//! `Semaphore::acquire_owned()` before each spawn and (b)
//! `stream::iter(..).map(tokio::spawn).buffer_unordered(N)`. Every
//! measurement is a fresh process (`one CONTENDER N JOBS`, below), so no
//! contender inherits another's heap or runtime state; the contenders take
//! turns, the first one rotating each round, for RUNS rounds (default 15).
//! It prints each contender's median and, per round, the pool's time over
//! the faster baseline's, with the median and range of those ratios.
//!
//! `one CONTENDER N JOBS`: one measurement in this process: a warm-up of
//! JOBS/10 jobs, then JOBS jobs timed; prints nanoseconds per job. The
//! consumer runs in `block_on` on the main thread, as in the netkit tools
//! (`#[tokio::main]`), on the default multi-thread runtime.
//!
//! `rss JOBS N`: runs JOBS trivial jobs at concurrency N and prints this
//! process's peak RSS (VmHWM), to show memory is flat in the job count.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use netkit_pool::{Outcome, Pool};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const CONTENDERS: [&str; 3] = ["netkit", "joinset", "buffered"];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("rss") => {
            let jobs = arg(&args, 1, 10_000_000);
            let concurrency = arg(&args, 2, 1000) as usize;
            runtime().block_on(rss(jobs, concurrency));
        }
        Some("one") => {
            let contender = args.get(1).map_or("netkit", String::as_str);
            let concurrency = arg(&args, 2, 64) as usize;
            let jobs = arg(&args, 3, 1_000_000);
            let ns = runtime().block_on(one(contender, concurrency, jobs));
            println!("{ns:.1}");
        }
        _ => {
            let jobs = arg(&args, 1, 1_000_000);
            let runs = arg(&args, 2, 15) as usize;
            overhead(jobs, runs);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot build runtime: {error}");
            std::process::exit(1);
        }
    }
}

fn arg(args: &[String], at: usize, default: u64) -> u64 {
    args.get(at).and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// Runs `one` in a child process and returns its ns/job.
fn measure(contender: &str, concurrency: usize, jobs: u64) -> f64 {
    let exe = std::env::current_exe().unwrap_or_else(|_| "overhead".into());
    let output = Command::new(exe)
        .args([
            "one",
            contender,
            &concurrency.to_string(),
            &jobs.to_string(),
        ])
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(f64::NAN),
        _ => {
            eprintln!("measurement of {contender} at N={concurrency} failed");
            std::process::exit(1);
        }
    }
}

fn overhead(jobs: u64, runs: usize) {
    println!(
        "per-job cost of {jobs} trivial jobs, one fresh process per measurement, {runs} rounds\n"
    );
    println!(
        "| N | netkit-pool ns/job | JoinSet+Semaphore ns/job | buffer_unordered(spawn) ns/job | pool / faster baseline (medians) | per-round ratio median (range) |"
    );
    println!("|---|---|---|---|---|---|");
    for concurrency in [64usize, 1024] {
        let mut times: [Vec<f64>; 3] = Default::default();
        let mut ratios = Vec::new();
        for run in 0..runs {
            let mut round = [0.0f64; 3];
            // Rotate who goes first, so drift on the machine hits all alike.
            for slot in 0..3 {
                let which = (run + slot) % 3;
                round[which] = measure(CONTENDERS[which], concurrency, jobs);
                times[which].push(round[which]);
            }
            ratios.push(round[0] / round[1].min(round[2]));
        }
        let [p, j, b] = times.map(|mut t| median(&mut t));
        let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let high = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "| {concurrency} | {p:.0} | {j:.0} | {b:.0} | {:.2} | {:.2} ({low:.2}-{high:.2}) |",
            p / j.min(b),
            median(&mut ratios)
        );
    }
}

async fn one(contender: &str, concurrency: usize, jobs: u64) -> f64 {
    let run = |jobs| async move {
        match contender {
            "joinset" => time(joinset_semaphore(jobs, concurrency)).await,
            "buffered" => time(buffer_unordered(jobs, concurrency)).await,
            _ => time(netkit(jobs, concurrency)).await,
        }
    };
    run(jobs / 10).await;
    run(jobs).await.as_nanos() as f64 / jobs as f64
}

async fn time(work: impl std::future::Future<Output = u64>) -> Duration {
    let start = Instant::now();
    let sum = work.await;
    std::hint::black_box(sum);
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
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
