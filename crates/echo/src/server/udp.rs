//! UDP echo: every datagram is sent back to its source.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::stats::Stats;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

pub(crate) async fn serve(sock: UdpSocket, stats: Arc<Stats>, stop: CancellationToken) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            r = sock.recv_from(&mut buf) => r,
        };
        match received {
            Ok((n, peer)) => {
                let data = buf.get(..n).unwrap_or_default();
                match sock.send_to(data, peer).await {
                    Ok(_) => stats.udp_echoed(n as u64),
                    Err(e) => {
                        stats.error();
                        tracing::debug!(%peer, "udp send failed: {e}");
                    }
                }
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here; keep serving.
                tracing::debug!("udp receive error: {e}");
            }
        }
    }
}
