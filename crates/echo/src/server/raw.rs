//! Raw byte echo: read a chunk, write it all back, repeat.
//!
//! The write of a chunk finishes before the next read, so the only buffer is
//! the one chunk (bounded backpressure: a peer that stops reading stops being
//! read). The buffer is allocated when the first byte is readable, so idle
//! connections hold no buffer.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::{ConnCtx, End, Watch, wait_for_data};
use super::stats::LocalCounts;

pub(crate) async fn echo(stream: &mut TcpStream, ctx: &ConnCtx, watch: &mut Watch) -> End {
    let mut counts = LocalCounts::default();
    let end = echo_loop(stream, ctx, watch, &mut counts).await;
    counts.flush(&ctx.stats);
    end
}

async fn echo_loop(
    stream: &mut TcpStream,
    ctx: &ConnCtx,
    watch: &mut Watch,
    counts: &mut LocalCounts,
) -> End {
    // Wait for the first byte (or EOF) before allocating anything.
    if let Err(end) = wait_for_data(stream, watch).await {
        return end;
    }
    let mut buf = vec![0u8; ctx.config.buffer_size];
    loop {
        let n = match watch.run(stream.read(&mut buf), true).await {
            Ok(Ok(0)) => {
                // Peer's FIN: everything read has been written; close our side.
                return match stream.shutdown().await {
                    Ok(()) => End::PeerClosed,
                    Err(e) => End::Io(e),
                };
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return End::Io(e),
            Err(stop) => return End::Stopped(stop),
        };
        watch.activity();
        let Some(chunk) = buf.get(..n) else {
            return End::Io(std::io::Error::other("read past buffer"));
        };
        match watch.run(stream.write_all(chunk), false).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return End::Io(e),
            Err(stop) => return End::Stopped(stop),
        }
        watch.activity();
        counts.add(&ctx.stats, n as u64, n as u64);
    }
}
