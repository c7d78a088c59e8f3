//! The client's TCP stream to a host: `TCP_NODELAY`, a small read buffer,
//! and, for OpenSSH servers, an immediate ACK after every socket read
//! (`TCP_QUICKACK`).
//!
//! **Why the immediate ACK.** OpenSSH's sshd sets `TCP_NODELAY` only for
//! interactive sessions, so Nagle holds any small packet it writes while an
//! earlier one is unacknowledged. Right after authentication sshd writes
//! several small packets one `write` at a time (the `hostkeys-00` global
//! request, one `SSH_MSG_DEBUG` per authorized_keys match, then the channel
//! open confirmation). The client is waiting for that confirmation and has
//! nothing to send, so Linux delays its ACK by the 40 ms minimum and the
//! confirmation waits for it: every connection to a local sshd lost 40-48 ms
//! of its ~100 ms there. `TCP_QUICKACK` is not sticky in Linux, so it is set
//! again after each read that returned data, which also sends any delayed
//! ACK at once. Servers that set `TCP_NODELAY` themselves (russh, the
//! simulated hosts) do not need it, and each forced ACK is one more packet
//! for both sides, so it is only enabled when the server's version line
//! names OpenSSH.
//!
//! **Why the buffer.** russh reads each packet's 4-byte length and then its
//! body with two reads; a buffer turns a burst of packets into one
//! `recvfrom`. Reads of a whole buffer or more bypass it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::net::TcpStream;

/// Read buffer size: a burst of handshake packets fits; bulk channel data
/// (32 KiB packets) is read straight into russh's buffer.
const READ_BUFFER: usize = 8 * 1024;

/// The server version lines that turn `TCP_QUICKACK` on.
const NAGLE_SERVERS: &[&[u8]] = &[b"OpenSSH"];

/// A connected client socket, ready for `russh::client::connect_stream`.
pub type HostStream = BufReader<QuickAck>;

/// Sets `TCP_NODELAY` on a connected socket and wraps it for russh.
pub fn host_stream(tcp: TcpStream) -> HostStream {
    let _ = tcp.set_nodelay(true);
    BufReader::with_capacity(
        READ_BUFFER,
        QuickAck {
            tcp,
            mode: Mode::Sniff,
        },
    )
}

/// Whether reads re-arm `TCP_QUICKACK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Until the server's version line has been seen.
    Sniff,
    /// OpenSSH (leaves Nagle on): ACK every read at once.
    On,
    /// Anything else: leave ACKs to the kernel.
    Off,
}

/// A `TcpStream` that re-arms `TCP_QUICKACK` after every read that returned
/// data, when the server needs it (see the module docs).
#[derive(Debug)]
pub struct QuickAck {
    tcp: TcpStream,
    mode: Mode,
}

impl QuickAck {
    /// Decides the mode from the first bytes the server sent: its version
    /// line (RFC 4253 allows other lines before it; those keep sniffing).
    fn sniff(&mut self, data: &[u8]) {
        for line in data.split(|&b| b == b'\n') {
            if line.starts_with(b"SSH-") {
                let nagle = NAGLE_SERVERS
                    .iter()
                    .any(|name| line.windows(name.len()).any(|w| w == *name));
                self.mode = if nagle { Mode::On } else { Mode::Off };
                return;
            }
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            if self.mode == Mode::Sniff {
                self.sniff(&buf.filled()[before..]);
            }
            if self.mode == Mode::On {
                // Best effort: a failure only means a delayed ACK.
                let _ = socket2::SockRef::from(&self.tcp).set_tcp_quickack(true);
            }
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (HostStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (host_stream(client.unwrap()), server.unwrap().0)
    }

    #[tokio::test]
    async fn quick_ack_only_for_openssh_and_bytes_pass_through() {
        for (banner, expected) in [
            (&b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"[..], Mode::On),
            (&b"SSH-2.0-russh_0.65.1\r\n"[..], Mode::Off),
            (&b"hello first\r\nSSH-2.0-OpenSSH_8.9\r\n"[..], Mode::On),
        ] {
            let (mut client, mut server) = pair().await;
            assert!(client.get_ref().tcp.nodelay().unwrap());
            server.write_all(banner).await.unwrap();
            server.write_all(b"rest").await.unwrap();
            let mut got = vec![0u8; banner.len() + 4];
            client.read_exact(&mut got).await.unwrap();
            assert_eq!(&got[..banner.len()], banner);
            assert_eq!(&got[banner.len()..], b"rest");
            assert_eq!(client.get_ref().mode, expected, "{banner:?}");
            client.write_all(b"back").await.unwrap();
            let mut back = [0u8; 4];
            server.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"back");
        }
    }
}
