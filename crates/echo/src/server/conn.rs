//! One TCP connection: set-up, then the mode's echo loop (`raw.rs` or
//! `line.rs`) under the connection's [`Watch`](super::watch::Watch).

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::watch::{ConnCtx, End, Stop, Watch};
use super::{Mode, line, raw};

/// Serves one accepted connection to the end.
pub(crate) async fn serve(mut stream: TcpStream, ctx: ConnCtx) {
    ctx.stats.opened();
    if ctx.config.nodelay {
        let _ = stream.set_nodelay(true);
    }
    tracing::debug!("accepted");
    let mut watch = Watch::new(&ctx);
    let end = match ctx.config.mode {
        Mode::Raw => raw::echo(&mut stream, &ctx, &mut watch).await,
        Mode::Line => line::echo(&mut stream, &ctx, &mut watch).await,
    };
    match end {
        End::PeerClosed => tracing::debug!("peer closed; all echoed"),
        End::Stopped(Stop::Idle) => {
            tracing::info!("idle timeout; closing");
            let _ = tokio::time::timeout(Duration::from_millis(100), stream.shutdown()).await;
        }
        End::Stopped(Stop::Drained) => {
            tracing::debug!("shutdown: peer quiet, closing");
            let _ = tokio::time::timeout(Duration::from_millis(100), stream.shutdown()).await;
        }
        End::Stopped(Stop::Forced) => {
            ctx.stats.error();
            tracing::warn!("closed by force at the end of the grace period");
        }
        End::LineTooLong => {
            ctx.stats.error();
            tracing::info!("line longer than {} bytes; closed", ctx.config.max_line);
        }
        End::Io(e) => {
            ctx.stats.error();
            tracing::debug!("connection error: {e}");
        }
    }
    ctx.stats.closed();
}
