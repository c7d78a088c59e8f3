//! End-to-end tests: netkit's pieces against real peers on loopback.

// Tests may unwrap: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use netkit_pool::{Outcome, Pool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 300 real TCP round trips through the pool at N=16: every job reports,
/// every echo is byte-exact, and never more than 16 sockets are open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_drives_real_tcp_round_trips() {
    let addr = util::loopback_echo_peer().await;
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (open_job, peak_job) = (Arc::clone(&open), Arc::clone(&peak));
    let reports = Pool::builder()
        .concurrency(16)
        .timeout(Duration::from_secs(10))
        .build()
        .jobs(0..300u32)
        .run(move |n, _| {
            let (open, peak) = (Arc::clone(&open_job), Arc::clone(&peak_job));
            async move {
                let mut socket = TcpStream::connect(addr).await?;
                let now = open.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                let message = format!("job {n} says hello");
                socket.write_all(message.as_bytes()).await?;
                let mut reply = vec![0u8; message.len()];
                let read = socket.read_exact(&mut reply).await;
                open.fetch_sub(1, SeqCst);
                read?;
                Ok::<_, std::io::Error>(reply == message.as_bytes())
            }
        })
        .collect_vec()
        .await;
    assert_eq!(reports.len(), 300);
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Ok(true))),
        "every echo byte-exact"
    );
    assert!(peak.load(SeqCst) <= 16);
    assert!(peak.load(SeqCst) > 1, "jobs ran concurrently");
}
