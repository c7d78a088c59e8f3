//! Running every bench connection as one job of a `netkit_pool::Pool`.
//!
//! A job connects (timed), reports that it is ready, waits for the common
//! start, drives its connection and ends `Ok` or `Err(message)`. The pool
//! runs exactly `connections` jobs at once, so all connections are live
//! together. `--connect-rate` is the pool's start-rate limiter: a job
//! starts (and connects) only when the limiter allows.

use std::sync::Arc;

use futures::StreamExt;
use netkit_pool::{Outcome, Pool};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::shared::Timeline;
use super::{BenchConfig, ConnOutcome, Shared, tcp, udp};

/// Runs `config.connections` jobs concurrently and collects their outcomes.
pub(crate) async fn run_all(
    config: Arc<BenchConfig>,
    shared: Arc<Shared>,
    ready: mpsc::Sender<()>,
    start: watch::Receiver<Option<Timeline>>,
) -> Vec<ConnOutcome> {
    let pool = pool_for(&config);
    let job_shared = Arc::clone(&shared);
    let job_config = Arc::clone(&config);
    let mut run = pool
        .jobs(0..config.connections as u64)
        .run(move |id, _ctx| {
            let config = Arc::clone(&job_config);
            let shared = Arc::clone(&job_shared);
            let ready = ready.clone();
            let start = start.clone();
            async move { connection_job(id, &config, &shared, ready, start).await }
        });
    let mut outcomes = Vec::with_capacity(config.connections);
    while let Some(report) = run.next().await {
        let error = match report.outcome {
            Outcome::Ok(()) => None,
            Outcome::Err(e) => Some(e),
            other => {
                // Not expected (no timeout, no cancellation): still a failure.
                shared
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(format!("connection job ended: {}", describe(&other)))
            }
        };
        outcomes.push(ConnOutcome { error });
    }
    outcomes
}

/// The pool of connection jobs: all at once, or `--connect-rate` starts
/// per second.
fn pool_for(config: &BenchConfig) -> Pool {
    let builder = Pool::builder().concurrency(config.connections);
    match config.connect_rate {
        // Tokio's timers tick once a millisecond: a burst of two ticks'
        // worth keeps rates above 1,000/s from being capped by the tick.
        Some(rate) => builder.rate(rate, (rate / 500.0).ceil().clamp(1.0, 1e6) as u32),
        None => builder,
    }
    .build()
}

fn describe(outcome: &Outcome<(), String>) -> String {
    match outcome {
        Outcome::Ok(()) => "ok".into(),
        Outcome::Err(e) => e.clone(),
        Outcome::TimedOut => "timed out".into(),
        Outcome::Panicked(m) => format!("panicked: {m}"),
        Outcome::Cancelled => "cancelled".into(),
    }
}

/// One connection, start to end.
pub(crate) async fn connection_job(
    id: u64,
    config: &BenchConfig,
    shared: &Shared,
    ready: mpsc::Sender<()>,
    mut start: watch::Receiver<Option<Timeline>>,
) -> Result<(), String> {
    let t0 = Instant::now();
    let connected = if config.udp {
        udp::connect(config, id).await.map(Transport::Udp)
    } else {
        tcp::connect(config, id).await.map(Transport::Tcp)
    };
    let connect_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    let _ = ready.send(()).await;
    drop(ready);
    let transport = connected.map_err(|e| failed(shared, e))?;
    if let Ok(mut h) = shared.connect.lock() {
        h.saturating_record(connect_us.max(1));
    }
    let timeline = match start.wait_for(Option::is_some).await {
        Ok(t) => (*t).ok_or_else(|| failed(shared, "no start".into()))?,
        Err(_) => return Err(failed(shared, "bench aborted".into())),
    };
    let result = match transport {
        Transport::Tcp(s) => tcp::drive(s, id, config, shared, timeline).await,
        Transport::Udp(s) => udp::drive(s, id, config, shared, timeline).await,
    };
    result.map_err(|e| failed(shared, e))
}

enum Transport {
    Tcp(tokio::net::TcpStream),
    Udp(tokio::net::UdpSocket),
}

fn failed(shared: &Shared, error: String) -> String {
    shared
        .errors
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::time::Duration;

    /// When each of `config.connections` jobs of the bench pool starts,
    /// relative to the first, in paused time.
    async fn start_times(config: BenchConfig) -> Vec<Duration> {
        let t0 = Instant::now();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&starts);
        let mut run = pool_for(&config)
            .jobs(0..config.connections as u64)
            .run(move |_, _ctx| {
                let starts = Arc::clone(&recorded);
                async move {
                    starts.lock().unwrap().push(t0.elapsed());
                    // Stay connected: every job holds its slot to the end.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<(), String>(())
                }
            });
        while run.next().await.is_some() {}
        let mut v = starts.lock().unwrap().clone();
        v.sort();
        v
    }

    fn config(connections: usize, connect_rate: Option<f64>) -> BenchConfig {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        BenchConfig {
            connections,
            connect_rate,
            ..BenchConfig::new(addr)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn connect_rate_ramps_the_connection_starts() {
        let starts = start_times(config(50, Some(10.0))).await;
        assert_eq!(starts.len(), 50);
        // 10 per second: 10 in the first second, the 50th at 4.9 s.
        let first_second = starts
            .iter()
            .filter(|t| **t < Duration::from_secs(1))
            .count();
        assert_eq!(first_second, 10, "{starts:?}");
        assert_eq!(starts.last(), Some(&Duration::from_millis(4900)));
        for pair in starts.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_millis(100), "{starts:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn connect_rates_above_the_timer_tick_are_reached() {
        // 4,000/s is 0.25 ms apart, finer than tokio's 1 ms timer: the small
        // burst keeps the ramp at the asked rate (1,000 starts in 0.25 s).
        let starts = start_times(config(1000, Some(4000.0))).await;
        assert_eq!(starts.len(), 1000);
        let last = *starts.last().unwrap();
        assert!(
            last >= Duration::from_millis(240) && last <= Duration::from_millis(260),
            "1,000 starts at 4,000/s took {last:?}"
        );
        let first_100ms = starts
            .iter()
            .filter(|t| **t < Duration::from_millis(100))
            .count();
        assert!(
            (395..=410).contains(&first_100ms),
            "{first_100ms} in 100 ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_connect_rate_every_connection_starts_at_once() {
        let starts = start_times(config(200, None)).await;
        assert_eq!(starts.len(), 200);
        assert!(starts.iter().all(|t| t.is_zero()), "{starts:?}");
    }
}
