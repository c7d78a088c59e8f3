//! One TCP bench connection: a writer and a reader running concurrently,
//! bounded by a window of `--pipeline` messages. In a closed loop the
//! writer sends all the messages the window has room for in one write.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::BenchConfig;
use super::payload::Pattern;
use super::shared::{Recorder, Schedule, Shared, Timeline};

/// Connects connection `id` with `timeout` (from its `--source` address,
/// bound first, if any) and sets TCP_NODELAY.
pub(crate) async fn connect(config: &BenchConfig, id: u64) -> Result<TcpStream, String> {
    let addr = config.addr;
    let source = config.source_for(id);
    let from = source.map(|ip| format!(" from {ip}")).unwrap_or_default();
    let connecting = async {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| format!("socket: {e}"))?;
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind to source {ip}: {e}"))?;
        }
        socket
            .connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}{from}: {e}"))
    };
    let stream = tokio::time::timeout(config.timeout, connecting)
        .await
        .map_err(|_| format!("connect to {addr}{from} timed out"))??;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    Ok(stream)
}

/// The reader's buffer: room for the whole window (every reply in flight
/// fits one read), at least 256 B, at most 64 KiB. The kernel writes from
/// the start of it, so its touched pages are its memory: a fixed 4 KiB was
/// half of a connection's memory at 19,000 connections with 64 B messages.
fn read_buffer(config: &BenchConfig) -> usize {
    config
        .size
        .saturating_mul(config.pipeline)
        .clamp(256, 64 * 1024)
}

/// Drives one connection from `timeline.start` until `timeline.end`, then
/// waits for the replies still in flight.
pub(crate) async fn drive(
    mut stream: TcpStream,
    id: u64,
    config: &BenchConfig,
    shared: &Shared,
    timeline: Timeline,
) -> Result<(), String> {
    let pattern = Pattern::new(id, config.size);
    let window = Semaphore::new(config.pipeline);
    // (seq, due time) of the messages in flight, oldest first. The window
    // semaphore bounds it; dropping the sender tells the reader to finish.
    let (in_flight, mut in_flight_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let schedule = Schedule::new(config, id, &timeline);
    let (rd, mut wr) = stream.split();

    let writer = async {
        let mut batch = Vec::with_capacity(config.size);
        let mut seq: u64 = 0;
        let result = loop {
            let Some(due) = schedule.wait_for(seq).await else {
                break Ok(());
            };
            let Ok(permit) = window.acquire().await else {
                break Err("window closed".to_string());
            };
            permit.forget();
            // Closed loop: every slot the window has free goes out in one
            // write, as pipelining clients do (redis-benchmark -P, memtier):
            // one system call for the batch, not one per message.
            let mut count: u64 = 1;
            if due.is_none() && !config.write_each {
                while let Ok(more) = window.try_acquire() {
                    more.forget();
                    count += 1;
                }
            }
            let now = Instant::now();
            if now >= timeline.end {
                break Ok(());
            }
            batch.clear();
            let start = Schedule::latency_start(due, now);
            let mut queued = true;
            for s in seq..seq + count {
                pattern.append(s, &mut batch);
                queued &= in_flight.send((s, start)).is_ok();
            }
            if !queued {
                break Err("reader gone".to_string());
            }
            if let Err(e) = wr.write_all(&batch).await {
                break Err(format!("write: {e}"));
            }
            seq += count;
        };
        shared.sent(seq);
        drop(in_flight);
        result
    };

    let reader = async {
        let mut rd = BufReader::with_capacity(read_buffer(config), rd);
        let mut got = vec![0u8; config.size];
        let mut recorder = Recorder::new(shared, config.connections);
        // One timer per connection, re-armed only when it fires.
        let mut last_progress = Instant::now();
        let timer = tokio::time::sleep(config.timeout);
        tokio::pin!(timer);
        while let Some((seq, due)) = in_flight_rx.recv().await {
            let read = rd.read_exact(&mut got);
            tokio::pin!(read);
            let result = loop {
                tokio::select! {
                    biased;
                    r = &mut read => break r,
                    _ = &mut timer => {
                        let now = Instant::now();
                        if now >= last_progress.max(due) + config.timeout {
                            return Err(format!(
                                "no echo of message {seq} within {:?}",
                                config.timeout
                            ));
                        }
                        timer.as_mut().reset(last_progress.max(due) + config.timeout);
                    }
                }
            };
            match result {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(format!("server closed the connection (message {seq})"));
                }
                Err(e) => return Err(format!("read: {e}")),
            }
            let done = Instant::now();
            last_progress = done;
            if pattern.verify(seq, &got) {
                recorder.message(&timeline, due, done);
            } else {
                recorder.mismatch();
            }
            window.add_permits(1);
        }
        Ok::<(), String>(())
    };

    // The first error ends both halves (a stuck writer cannot hang the job).
    tokio::try_join!(writer, reader)?;
    Ok(())
}
