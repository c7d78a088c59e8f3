//! `--verify`: a SHA-256 of what arrived, compared with the source. On the
//! host it is `sha256sum` over an exec channel of the same connection; a
//! host without it (exit 127, no shell) has the file read back over SFTP
//! and hashed here. The result record says which (`verified`).

use russh::ChannelMsg;
use russh_sftp::protocol::OpenFlags;
use sha2::{Digest, Sha256};

use super::plan::SourceFile;
use super::sftp::Sftp;
use super::{CopyError, CopyStats};
use crate::connect::session::Connection;
use crate::jobs::exec::shell_quote;
use crate::output::ErrorKind;

/// Most bytes of `sha256sum` output read.
const MAX_OUTPUT: usize = 64 * 1024;

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.get(..64)?;
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// SHA-256 of a local file, off the runtime thread.
pub async fn local_sha256(path: std::path::PathBuf) -> Result<[u8; 32], CopyError> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || -> std::io::Result<[u8; 32]> {
        use std::io::Read;
        let mut f = std::fs::File::open(&path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finalize().into())
    })
    .await
    .map_err(|e| CopyError::new(ErrorKind::Copy, format!("hashing `{shown}`: {e}")))?
    .map_err(|e| CopyError::new(ErrorKind::Copy, format!("hashing `{shown}`: {e}")))
}

/// `sha256sum -- PATH` on the host; `None` when it cannot run there.
async fn remote_sha256(conn: &Connection, path: &str) -> Result<Option<[u8; 32]>, CopyError> {
    let Ok(mut channel) = conn.channel_open_session().await else {
        return Ok(None);
    };
    if channel
        .exec(true, format!("sha256sum -- {}", shell_quote(path)))
        .await
        .is_err()
    {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut status = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } if out.len() < MAX_OUTPUT => out.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::Failure => return Ok(None),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    match status {
        Some(0) => Ok(parse_hex(&String::from_utf8_lossy(&out))),
        Some(127) | None => Ok(None),
        Some(code) => Err(CopyError::new(
            ErrorKind::Copy,
            format!("--verify: `sha256sum {path}` on the host exited with {code}"),
        )),
    }
}

/// SHA-256 of a remote file read back over SFTP.
async fn read_back(sftp: &Sftp, path: &str) -> Result<[u8; 32], CopyError> {
    let handle = sftp.open_file(path, OpenFlags::READ, None).await?;
    let mut h = Sha256::new();
    let result = {
        let mut reader = sftp.reader(&handle, path);
        loop {
            match reader.next_chunk().await {
                Ok(Some(chunk)) => h.update(&chunk),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        }
    };
    let _ = sftp.close_handle(handle, path).await;
    result.map(|()| h.finalize().into())
}

/// The host's SHA-256 of `path`, and how it was computed.
async fn remote(
    sftp: &Sftp,
    conn: &Connection,
    path: &str,
) -> Result<([u8; 32], &'static str), CopyError> {
    match remote_sha256(conn, path).await? {
        Some(d) => Ok((d, "sha256sum")),
        None => Ok((read_back(sftp, path).await?, "sftp_read_back")),
    }
}

fn compare(
    want: &[u8; 32],
    got: &[u8; 32],
    how: &'static str,
    path: &str,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    if want != got {
        return Err(CopyError::new(
            ErrorKind::VerifyMismatch,
            format!(
                "--verify: `{path}` differs: source sha256 {}, copy {} ({how})",
                hex(want),
                hex(got)
            ),
        ));
    }
    let _ = stats.verified.set(how);
    Ok(())
}

/// Checks a pushed file against its source.
pub async fn pushed(
    sftp: &Sftp,
    conn: &Connection,
    file: &SourceFile,
    path: &str,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let want = *file
        .sha256
        .get_or_try_init(|| local_sha256(file.path.clone()))
        .await?;
    let (got, how) = remote(sftp, conn, path).await?;
    compare(&want, &got, how, path, stats)
}

/// Checks a pulled file, whose bytes hashed to `received` as they were
/// written, against the host's `remote_path`.
pub async fn pulled(
    sftp: &Sftp,
    conn: &Connection,
    remote_path: &str,
    received: &[u8; 32],
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let (want, how) = remote(sftp, conn, remote_path).await?;
    compare(&want, received, how, remote_path, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_output_parses() {
        let d: [u8; 32] = Sha256::digest(b"abc").into();
        let line = format!("{}  file\n", hex(&d));
        assert_eq!(parse_hex(&line), Some(d));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(
            hex(&d),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
