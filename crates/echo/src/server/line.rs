//! Line echo: complete lines (ending in `\n`) are written back; an
//! unfinished line is kept, but never more than `--max-line` bytes of it.

use bytes::BufMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stats::LocalCounts;
use super::watch::{ConnCtx, End, Watch, wait_for_data};

/// Most bytes asked for in one read.
const CHUNK: usize = 16 * 1024;

pub(crate) async fn echo(stream: &mut TcpStream, ctx: &ConnCtx, watch: &mut Watch) -> End {
    let mut counts = LocalCounts::default();
    let end = echo_loop(stream, ctx, watch, &mut counts).await;
    counts.flush(&ctx.stats);
    end
}

/// The error line sent before closing on an over-long line.
pub(crate) fn too_long_message(max_line: usize) -> String {
    format!("error: line longer than {max_line} bytes\n")
}

async fn echo_loop(
    stream: &mut TcpStream,
    ctx: &ConnCtx,
    watch: &mut Watch,
    counts: &mut LocalCounts,
) -> End {
    let max_line = ctx.config.max_line;
    // A line of max_line bytes plus its newline must fit.
    let limit = max_line.saturating_add(1);
    // Allocate nothing until the first byte arrives.
    if let Err(end) = wait_for_data(stream, watch).await {
        return end;
    }
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let start = buf.len();
        let want = CHUNK.min(limit - start);
        buf.reserve(want);
        let read = {
            let mut space = (&mut buf).limit(want);
            watch.run(stream.read_buf(&mut space), true).await
        };
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return End::Io(e),
            Err(stop) => return End::Stopped(stop),
        };
        watch.activity();
        if n == 0 {
            // EOF: echo an unfinished last line as it is, then close our side.
            if !buf.is_empty() {
                if let Err(e) = write(stream, watch, &buf).await {
                    return e;
                }
                counts.add(&ctx.stats, buf.len() as u64, buf.len() as u64);
            }
            return match stream.shutdown().await {
                Ok(()) => End::PeerClosed,
                Err(e) => End::Io(e),
            };
        }
        counts.add(&ctx.stats, n as u64, 0);
        // Echo every complete line at once.
        let new = buf.get(start..).unwrap_or_default();
        if let Some(pos) = new.iter().rposition(|&b| b == b'\n') {
            let cut = start + pos + 1;
            let lines = buf.get(..cut).unwrap_or_default();
            if let Err(e) = write(stream, watch, lines).await {
                return e;
            }
            counts.add(&ctx.stats, 0, cut as u64);
            buf.drain(..cut);
        }
        if buf.len() > max_line {
            let msg = too_long_message(max_line);
            let _ = write(stream, watch, msg.as_bytes()).await;
            let _ = stream.shutdown().await;
            return End::LineTooLong;
        }
    }
}

async fn write(stream: &mut TcpStream, watch: &mut Watch, data: &[u8]) -> Result<(), End> {
    match watch.run(stream.write_all(data), false).await {
        Ok(Ok(())) => {
            watch.activity();
            Ok(())
        }
        Ok(Err(e)) => Err(End::Io(e)),
        Err(stop) => Err(End::Stopped(stop)),
    }
}
