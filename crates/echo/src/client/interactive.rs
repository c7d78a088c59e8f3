//! Interactive mode: each input line is sent and its verified echo printed.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ClientError;

/// Reads `input` line by line; sends each line (with a `\n` added if the last
/// one lacks it), waits up to `timeout` for the same bytes to come back and
/// writes them to `output`. Returns the number of lines echoed.
pub async fn interactive<R, W>(
    addr: SocketAddr,
    mut input: R,
    mut output: W,
    timeout: Duration,
) -> Result<u64, ClientError>
where
    R: AsyncBufRead + Unpin,
    W: Write,
{
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ClientError::Timeout {
            addr,
            timeout,
            got: 0,
            expected: 0,
        })?
        .map_err(|e| ClientError::Connect(addr, e))?;
    stream.set_nodelay(true)?;
    let mut line = Vec::new();
    let mut reply = Vec::new();
    let mut lines = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        stream.write_all(&line).await?;
        reply.clear();
        reply.resize(line.len(), 0);
        let mut got = 0;
        let read = async {
            while got < reply.len() {
                let Some(space) = reply.get_mut(got..) else {
                    break;
                };
                let n = stream.read(space).await?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ClientError::Timeout {
                    addr,
                    timeout,
                    got,
                    expected: line.len(),
                });
            }
        }
        reply.truncate(got);
        if reply != line {
            if line.starts_with(&reply) {
                return Err(ClientError::Closed {
                    addr,
                    got,
                    expected: line.len(),
                });
            }
            return Err(ClientError::mismatch(&line, &reply));
        }
        output
            .write_all(&reply)
            .and_then(|()| output.flush())
            .map_err(ClientError::Output)?;
        lines += 1;
    }
    let _ = stream.shutdown().await;
    Ok(lines)
}
