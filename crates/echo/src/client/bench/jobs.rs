//! Running every bench connection as one job of a `netkit_pool::Pool`.
//!
//! A job connects (timed), reports that it is ready, waits for the common
//! start, drives its connection and ends `Ok` or `Err(message)`. The pool
//! runs exactly `connections` jobs at once, so all connections are live
//! together.

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
    let pool = Pool::builder().concurrency(config.connections).build();
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
        udp::connect(config).await.map(Transport::Udp)
    } else {
        tcp::connect(config).await.map(Transport::Tcp)
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
