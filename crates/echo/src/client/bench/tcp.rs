//! One TCP bench connection: a writer and a reader running concurrently,
//! bounded by a window of `--pipeline` messages.

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::BenchConfig;
use super::payload::Pattern;
use super::shared::{Recorder, Schedule, Shared, Timeline};

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
    let schedule = Schedule::new(config, id, &timeline);
    let (rd, mut wr) = stream.split();

    let writer = async {
        let mut msg = Vec::with_capacity(config.size);
        let mut seq: u64 = 0;
        loop {
            let Some(due) = schedule.wait_for(seq).await else {
                break;
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
            pattern.fill(seq, &mut msg);
            in_flight
                .send((seq, Schedule::latency_start(due, now)))
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
