//! One UDP bench socket: datagrams carry their sequence number; replies are
//! matched to the messages in flight, verified, and those not answered
//! within the loss timeout are counted as lost (and free their window slot).

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::BenchConfig;
use super::payload::Pattern;
use super::shared::{Recorder, Schedule, Shared, Timeline};

/// A datagram without an answer after this long is lost.
const MAX_LOSS_TIMEOUT: Duration = Duration::from_millis(500);

/// Binds an ephemeral socket (on socket `id`'s `--source` address, if any)
/// and connects it to the server.
pub(crate) async fn connect(config: &BenchConfig, id: u64) -> Result<UdpSocket, String> {
    let local: SocketAddr = match config.source_for(id) {
        Some(ip) => (ip, 0).into(),
        None if config.addr.is_ipv4() => ([0, 0, 0, 0], 0).into(),
        None => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp bind to {local}: {e}"))?;
    sock.connect(config.addr)
        .await
        .map_err(|e| format!("udp connect to {}: {e}", config.addr))?;
    Ok(sock)
}

pub(crate) async fn drive(
    sock: UdpSocket,
    id: u64,
    config: &BenchConfig,
    shared: &Shared,
    timeline: Timeline,
) -> Result<(), String> {
    let pattern = Pattern::new(id, config.size);
    let window = Semaphore::new(config.pipeline);
    let in_flight: Mutex<VecDeque<(u64, Instant)>> = Mutex::new(VecDeque::new());
    let writer_done = AtomicBool::new(false);
    let loss_after = config.timeout.min(MAX_LOSS_TIMEOUT);
    let schedule = Schedule::new(config, id, &timeline);

    let writer = async {
        let mut msg = Vec::with_capacity(config.size);
        let mut seq: u64 = 0;
        let result = loop {
            let Some(due) = schedule.wait_for(seq).await else {
                break Ok(());
            };
            match window.acquire().await {
                Ok(p) => p.forget(),
                Err(_) => break Ok(()),
            }
            let now = Instant::now();
            if now >= timeline.end {
                break Ok(());
            }
            pattern.fill(seq, &mut msg);
            if let Ok(mut q) = in_flight.lock() {
                q.push_back((seq, Schedule::latency_start(due, now)));
            }
            if let Err(e) = sock.send(&msg).await {
                break Err(format!("udp send: {e}"));
            }
            seq += 1;
        };
        shared.sent(seq);
        writer_done.store(true, Ordering::Release);
        result
    };

    let reader = async {
        let mut buf = vec![0u8; 65_536];
        let mut recorder = Recorder::new(shared, config.connections);
        let mut tick = tokio::time::interval(loss_after / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                r = sock.recv(&mut buf) => {
                    let n = r.map_err(|e| format!("udp receive: {e}"))?;
                    let got = buf.get(..n).unwrap_or_default();
                    let done = Instant::now();
                    let seq = Pattern::seq_of(got);
                    let entry = seq.and_then(|seq| {
                        let mut q = in_flight.lock().ok()?;
                        let pos = q.iter().position(|(s, _)| *s == seq)?;
                        q.remove(pos)
                    });
                    match (seq, entry) {
                        (Some(seq), Some((_, due))) => {
                            if pattern.verify(seq, got) {
                                recorder.message(&timeline, due, done);
                            } else {
                                recorder.mismatch();
                            }
                            window.add_permits(1);
                        }
                        // A late reply to a datagram already counted lost.
                        (Some(seq), None) if pattern.verify(seq, got) => {}
                        _ => recorder.mismatch(),
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let mut expired = 0;
                    let empty = match in_flight.lock() {
                        Ok(mut q) => {
                            while q.front().is_some_and(|(_, sent)| now >= *sent + loss_after) {
                                q.pop_front();
                                expired += 1;
                            }
                            q.is_empty()
                        }
                        Err(_) => true,
                    };
                    if expired > 0 {
                        recorder.lost(expired as u64);
                        window.add_permits(expired);
                    }
                    if empty && writer_done.load(Ordering::Acquire) {
                        return Ok::<(), String>(());
                    }
                }
            }
        }
    };

    tokio::try_join!(writer, reader)?;
    Ok(())
}
