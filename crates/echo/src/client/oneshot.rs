//! One message, one verified reply.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::ClientError;

/// Sends `message` over TCP, half-closes, and reads until the same number of
/// bytes came back (or EOF, or `timeout` for the whole exchange). Returns the
/// reply if it is byte-identical.
pub async fn one_shot(
    addr: SocketAddr,
    message: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let mut reply = Vec::with_capacity(message.len());
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Connect(addr, e))?;
        stream.set_nodelay(true)?;
        let (mut rd, mut wr) = stream.split();
        let write = async {
            wr.write_all(message).await?;
            // Half-close: line-mode servers echo an unfinished line at EOF.
            wr.shutdown().await
        };
        let read = async {
            let mut chunk = vec![0u8; 16 * 1024];
            while reply.len() < message.len() {
                let n = rd.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            Ok::<_, std::io::Error>(())
        };
        let (w, r) = tokio::join!(write, read);
        r?;
        // A write error after the full reply (e.g. reset) does not matter.
        if reply.len() < message.len() {
            w?;
        }
        Ok::<_, ClientError>(())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ClientError::Timeout {
                addr,
                timeout,
                got: reply.len(),
                expected: message.len(),
            });
        }
    }
    check(addr, message, reply)
}

/// Sends `message` as one UDP datagram and waits for its echo.
pub async fn one_shot_udp(
    addr: SocketAddr,
    message: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(addr)
        .await
        .map_err(|e| ClientError::Connect(addr, e))?;
    sock.send(message).await?;
    let mut buf = vec![0u8; 65_536];
    let n = match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(ClientError::Timeout {
                addr,
                timeout,
                got: 0,
                expected: message.len(),
            });
        }
    };
    buf.truncate(n);
    if buf == message {
        Ok(buf)
    } else {
        Err(ClientError::mismatch(message, &buf))
    }
}

fn check(addr: SocketAddr, message: &[u8], reply: Vec<u8>) -> Result<Vec<u8>, ClientError> {
    if reply == message {
        Ok(reply)
    } else if message.starts_with(&reply) {
        Err(ClientError::Closed {
            addr,
            got: reply.len(),
            expected: message.len(),
        })
    } else {
        Err(ClientError::mismatch(message, &reply))
    }
}
