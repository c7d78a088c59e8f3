//! The accept loop: permit first, then `accept`, with back-off on errors.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::conn;
use super::watch::ConnCtx;

const BACKOFF_START: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts until `ctx.drain` is cancelled. With a connection limit, a permit
/// is taken *before* `accept`, so surplus clients stay in the kernel backlog.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    permits: Option<Arc<Semaphore>>,
    ctx: ConnCtx,
    tracker: TaskTracker,
) {
    let mut backoff = BACKOFF_START;
    let mut next_id: u64 = 0;
    loop {
        let permit = match &permits {
            Some(sem) => tokio::select! {
                _ = ctx.drain.cancelled() => return,
                p = Arc::clone(sem).acquire_owned() => match p {
                    Ok(p) => Some(p),
                    Err(_) => return, // semaphore closed: never happens
                },
            },
            None => None,
        };
        let accepted = tokio::select! {
            _ = ctx.drain.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = BACKOFF_START;
                next_id += 1;
                let span = tracing::info_span!("conn", id = next_id, %peer);
                let ctx = ctx.clone();
                tracker.spawn(
                    async move {
                        conn::serve(stream, ctx).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!("accept: {e} (connection gone before accept)");
            }
            Err(e) => {
                ctx.stats.error();
                tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                tokio::select! {
                    _ = ctx.drain.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Errors about one pending connection, not about the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
