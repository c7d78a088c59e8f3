//! `ProxyCommand`: SSH spoken over a local command's stdin and stdout, as
//! OpenSSH's `ssh_proxy_connect` does.
//!
//! - The command runs as `$SHELL -c "exec COMMAND"` (else `/bin/sh`), its
//!   `%` tokens already expanded by ssh_config (`%h %n %p %r %%`).
//! - Its stdout and stdin are the byte stream russh's `connect_stream`
//!   reads and writes; the child lives as long as that stream (it is killed
//!   when the connection is dropped, as ssh kills it at exit).
//! - Its stderr is kept, the last [`STDERR_TAIL`] bytes only, so a command
//!   that fails (`nc: connection refused`, `ssh: Could not resolve …`) is
//!   reported with its own words instead of a bare end of stream, and never
//!   written to our stderr, where concurrent hosts would interleave.

use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Notify;

use crate::error::SshError;
use crate::excerpt::excerpt;

/// The bytes of the command's stderr kept for the error message.
pub const STDERR_TAIL: usize = 2048;

/// How long a failed handshake waits for the command to exit and finish
/// its stderr before the error is reported.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// A running proxy command: the stream for russh, and what is needed to
/// explain a failure.
pub(crate) struct ProxyCommand {
    command: String,
    child: Arc<Mutex<Child>>,
    stderr: Arc<StderrTail>,
}

/// The end of the command's stderr, and whether it has been read to EOF.
#[derive(Default)]
struct StderrTail {
    bytes: Mutex<(Vec<u8>, bool)>,
    done: Notify,
}

/// The command's stdout and stdin as one duplex stream. Dropping it kills
/// the command.
pub(crate) struct ProxyStream {
    stdout: ChildStdout,
    /// `None` once shut down: dropping the pipe is the command's EOF.
    stdin: Option<ChildStdin>,
    child: Arc<Mutex<Child>>,
}

impl ProxyCommand {
    /// Starts `command` through the user's shell.
    pub(crate) fn spawn(command: &str) -> Result<(ProxyCommand, ProxyStream), SshError> {
        let shell = crate::select::local_user::user_shell();
        let mut child = Command::new(&shell)
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| spawn_error(command, &shell, &e))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SshError::ProxyCommand {
                command: excerpt(command).into_owned(),
                message: "its standard streams could not be opened".to_owned(),
            });
        };
        let tail = Arc::new(StderrTail::default());
        let reader = tail.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                match stderr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut kept) = reader.bytes.lock() {
                            kept.0.extend_from_slice(&buf[..n]);
                            let extra = kept.0.len().saturating_sub(STDERR_TAIL);
                            kept.0.drain(..extra);
                        }
                    }
                }
            }
            if let Ok(mut kept) = reader.bytes.lock() {
                kept.1 = true;
            }
            reader.done.notify_waiters();
        });
        let child = Arc::new(Mutex::new(child));
        Ok((
            ProxyCommand {
                command: command.to_owned(),
                child: child.clone(),
                stderr: tail,
            },
            ProxyStream {
                stdout,
                stdin: Some(stdin),
                child,
            },
        ))
    }

    /// The error for a handshake that failed over this command (`cause`:
    /// russh's view of it). Waits a little for the command to exit, so its
    /// status and last words are part of the message.
    pub(crate) async fn failure(&self, cause: SshError) -> SshError {
        let finished = async {
            loop {
                let notified = self.stderr.done.notified();
                if self.stderr.bytes.lock().map(|k| k.1).unwrap_or(true) {
                    return;
                }
                notified.await;
            }
        };
        let deadline = tokio::time::Instant::now() + EXIT_GRACE;
        let _ = tokio::time::timeout_at(deadline, finished).await;
        // stderr reaches EOF just before the process is gone: poll its
        // status for what is left of the grace.
        let mut status = None;
        loop {
            status = self
                .child
                .lock()
                .ok()
                .and_then(|mut c| c.try_wait().ok().flatten())
                .or(status);
            if status.is_some() || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let said = self
            .stderr
            .bytes
            .lock()
            .map(|k| last_words(&k.0))
            .unwrap_or_default();
        let message = match (status, said.is_empty()) {
            (None, true) => return cause,
            (None, false) => format!("closed the connection: {said}"),
            (Some(s), true) => format!("{} before the SSH handshake finished", exited(s)),
            (Some(s), false) => format!("{}: {said}", exited(s)),
        };
        SshError::ProxyCommand {
            command: excerpt(&self.command).into_owned(),
            message,
        }
    }
}

fn exited(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "exited".to_owned(),
    }
}

/// The last non-empty lines of `stderr`, joined with ` / `, control
/// characters replaced, at most 200 characters.
fn last_words(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(3);
    let joined: String = lines[start..]
        .join(" / ")
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    excerpt(&joined).into_owned()
}

fn spawn_error(command: &str, shell: &str, e: &io::Error) -> SshError {
    if crate::error::is_local_resource(e) {
        return SshError::LocalResource(format!("cannot start the ProxyCommand: {e}"));
    }
    SshError::ProxyCommand {
        command: excerpt(command).into_owned(),
        message: format!("cannot run {shell}: {e}"),
    }
}

impl Drop for ProxyStream {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.start_kill();
        }
    }
}

impl AsyncRead for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_write(cx, data),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Closes the command's stdin (tokio's pipe shutdown alone does not).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(stdin) = self.stdin.as_mut() {
            std::task::ready!(Pin::new(stdin).poll_flush(cx))?;
        }
        self.stdin = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn last_words_keeps_the_end_and_hides_control_characters() {
        let s = b"one\n\ntwo\nthree\x1b[31m\nfour\n";
        assert_eq!(last_words(s), "two / three?[31m / four");
        assert_eq!(last_words(b""), "");
    }

    #[tokio::test]
    async fn the_stream_is_the_commands_stdin_and_stdout() {
        let (_cmd, mut stream) = ProxyCommand::spawn("tr a-z A-Z").unwrap();
        stream.write_all(b"hello\n").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "HELLO\n");
    }

    #[tokio::test]
    async fn a_failed_command_is_explained_by_its_status_and_stderr() {
        let (cmd, stream) =
            ProxyCommand::spawn("sh -c 'echo nc: connect to 127.0.0.1 port 9 failed >&2; exit 3'")
                .unwrap();
        let e = cmd
            .failure(SshError::Handshake("unexpected end of stream".into()))
            .await;
        drop(stream);
        assert_eq!(e.kind(), crate::output::ErrorKind::ProxyCommand);
        let text = e.to_string();
        assert!(
            text.contains("exited with status 3: nc: connect to 127.0.0.1 port 9 failed"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_running_command_leaves_the_cause_alone() {
        let (cmd, _stream) = ProxyCommand::spawn("sleep 5").unwrap();
        let cause = SshError::Handshake("no common algorithm".into());
        tokio::time::pause();
        let e = cmd.failure(cause).await;
        assert!(matches!(e, SshError::Handshake(_)), "{e}");
    }
}
