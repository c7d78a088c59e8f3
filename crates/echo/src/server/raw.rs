//! Raw byte echo: read a chunk, write it all back, repeat.
//!
//! A connection owns no buffer. It reads into its worker thread's scratch
//! buffer (`--buffer-size` bytes, one per thread) and writes the chunk back
//! in the same poll, while the bytes are still there. Only when the peer's
//! receive window is full does the unwritten rest move into a buffer of the
//! connection's own, which it writes out before it reads again: a peer that
//! stops reading stops being read (bounded backpressure), and a connection
//! holds memory only while it is blocked that way. So 19,000 busy
//! connections cost their sockets and tasks, not 19,000 buffers.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::stats::LocalCounts;
use super::watch::{ConnCtx, End, Watch};

thread_local! {
    /// The read buffer shared by every connection polled on this thread.
    /// It is borrowed only inside one synchronous poll, never across an
    /// `.await`.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What one read-and-echo step did.
enum Step {
    /// The peer sent FIN.
    Eof,
    /// `n` bytes were read and written back.
    Echoed(usize),
    /// `read` bytes were read; `rest` could not be written yet.
    Blocked { read: usize, rest: Vec<u8> },
}

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
    let size = ctx.config.buffer_size;
    loop {
        let step = poll_fn(|cx| {
            SCRATCH.with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => {
                    if scratch.len() < size {
                        scratch.resize(size, 0);
                    }
                    match scratch.get_mut(..size) {
                        Some(buf) => poll_step(stream, cx, buf),
                        None => Poll::Ready(Err(io::Error::other("scratch buffer too small"))),
                    }
                }
                // Not reachable (no poll nests another), but never panic.
                Err(_) => poll_step(stream, cx, &mut vec![0u8; size]),
            })
        });
        let (n, rest) = match watch.run(step, true).await {
            Ok(Ok(Step::Eof)) => {
                // Peer's FIN: everything read has been written; close our side.
                return match stream.shutdown().await {
                    Ok(()) => End::PeerClosed,
                    Err(e) => End::Io(e),
                };
            }
            Ok(Ok(Step::Echoed(n))) => (n, None),
            Ok(Ok(Step::Blocked { read, rest })) => (read, Some(rest)),
            Ok(Err(e)) => return End::Io(e),
            Err(stop) => return End::Stopped(stop),
        };
        watch.activity();
        if let Some(rest) = rest {
            match watch.run(stream.write_all(&rest), false).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return End::Io(e),
                Err(stop) => return End::Stopped(stop),
            }
            watch.activity();
        }
        counts.add(&ctx.stats, n as u64, n as u64);
    }
}

/// Reads one chunk into `buf` and writes as much of it back as the socket
/// takes now. Pending only while nothing is readable.
fn poll_step(
    stream: &mut TcpStream,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<Step>> {
    let mut read = ReadBuf::new(buf);
    // tokio's poll_read clears the readiness after a short read, so the
    // next step waits for epoll instead of making a read that would fail.
    ready!(Pin::new(&mut *stream).poll_read(cx, &mut read))?;
    let chunk = read.filled();
    let n = chunk.len();
    if n == 0 {
        return Poll::Ready(Ok(Step::Eof));
    }
    let mut written = 0;
    while let Some(unwritten) = chunk.get(written..).filter(|rest| !rest.is_empty()) {
        match Pin::new(&mut *stream).poll_write(cx, unwritten) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(w)) => written += w,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                return Poll::Ready(Ok(Step::Blocked {
                    read: n,
                    rest: unwritten.to_vec(),
                }));
            }
        }
    }
    Poll::Ready(Ok(Step::Echoed(n)))
}
