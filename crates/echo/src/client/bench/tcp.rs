//! One TCP bench connection: a writer and a reader running concurrently,
//! bounded by a window of `--pipeline` messages.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::BenchConfig;
use super::payload::Pattern;
use super::shared::EARLY;
use super::shared::{Recorder, Shared, Timeline};

/// Connects with `timeout` and sets TCP_NODELAY.
pub(crate) async fn connect(config: &BenchConfig) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(config.timeout, TcpStream::connect(config.addr))
        .await
        .map_err(|_| format!("connect to {} timed out", config.addr))?
        .map_err(|e| format!("connect to {}: {e}", config.addr))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    Ok(stream)
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
    let interval = config
        .rate
        .map(|rate| Duration::from_secs_f64(config.connections as f64 / rate));
    let (rd, mut wr) = stream.split();

    let writer = async {
        let mut msg = Vec::with_capacity(config.size);
        let mut seq: u64 = 0;
        // Spread the connections' open-loop schedules over one interval.
        let offset = interval
            .map(|i| i.mul_f64(id as f64 / config.connections as f64))
            .unwrap_or_default();
        loop {
            let due = match interval {
                Some(every) => {
                    let due = timeline.start + offset + every.mul_f64(seq as f64);
                    if due >= timeline.end {
                        break;
                    }
                    // Timers tick in whole milliseconds: wake up to 1 ms early and
                    // send then rather than up to 1 ms late.
                    tokio::time::sleep_until(due.checked_sub(EARLY).unwrap_or(due)).await;
                    due
                }
                None => Instant::now(),
            };
            let permit = window
                .acquire()
                .await
                .map_err(|_| "window closed".to_string())?;
            permit.forget();
            let now = Instant::now();
            if now >= timeline.end {
                break;
            }
            // Latency counts from the scheduled time when sending is late
            // (coordinated omission), from the real send when early.
            let due = if interval.is_some() {
                due.min(now)
            } else {
                now
            };
            pattern.fill(seq, &mut msg);
            in_flight
                .send((seq, due))
                .map_err(|_| "reader gone".to_string())?;
            wr.write_all(&msg)
                .await
                .map_err(|e| format!("write: {e}"))?;
            seq += 1;
        }
        drop(in_flight);
        Ok::<u64, String>(seq)
    };

    let reader = async {
        let mut rd = BufReader::with_capacity(64 * 1024, rd);
        let mut got = vec![0u8; config.size];
        let mut recorder = Recorder::new(shared);
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
