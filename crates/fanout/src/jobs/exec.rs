//! Running commands over one authenticated connection.
//!
//! Every command gets its own session channel: optional pty, `env`
//! requests, then `exec` of the command with the same variables also
//! exported in front of it (`export K='v' ...; CMD`). The prefix is what
//! makes `-e` and `NETKIT_*` work against a stock OpenSSH server, which
//! silently drops `env` requests not listed in its `AcceptEnv`. It assumes a
//! POSIX-compatible login shell (sh, bash, dash, zsh, ksh).
//!
//! **Command timeout** (`-u`): when the deadline passes we send the
//! RFC 4254 §6.9 `signal` request with `TERM` (OpenSSH ≥ 7.9 delivers it to
//! the process sshd started, i.e. the login shell running the command, not
//! its children), then `EOF` and `CLOSE` on the channel. sshd then closes
//! the command's pipes, so what is left sees EOF on stdin and `SIGPIPE` on
//! its next write. With `--tty` sshd also hangs up the pty, which sends
//! `SIGHUP` to the whole foreground process group. A child that ignores all
//! of these and writes nothing keeps running; SSH offers no stronger remote
//! kill. The host is reported as `command_timeout`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::ChannelMsg;

use tokio::sync::mpsc::Sender;

use crate::connect::session::Connection;
use crate::error::{SshError, session_error};
use crate::output::{Event, Stream};

/// Where one host's output goes: the run's single output task.
#[derive(Debug, Clone)]
pub struct HostOutput {
    /// The host name, exactly as in its later result.
    pub host: Arc<str>,
    /// The output task's bounded queue (back-pressure: a slow terminal
    /// slows the SSH window, memory stays bounded).
    pub tx: Sender<Event>,
}

impl HostOutput {
    async fn chunk(&self, stream: Stream, data: Bytes) {
        let _ = self
            .tx
            .send(Event::Output {
                host: self.host.clone(),
                stream,
                data,
            })
            .await;
    }
}

/// What to run on every host.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// Commands, run in order over one connection (or concurrently).
    pub commands: Arc<[String]>,
    /// `-e` variables.
    pub env: Arc<[(String, String)]>,
    /// Data forwarded to every command's stdin (read once).
    pub stdin: Option<Bytes>,
    /// Request a pty.
    pub tty: bool,
    /// Per-command deadline.
    pub command_timeout: Option<Duration>,
    /// Run the commands on concurrent channels.
    pub parallel: bool,
}

/// How one command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandStatus {
    /// Exit status, when the command exited.
    pub exit_code: Option<u32>,
    /// Signal name (`TERM`, `KILL`...), when it was killed by one.
    pub signal: Option<String>,
}

impl CommandStatus {
    /// Exit 0 and no signal.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && self.signal.is_none()
    }
}

/// Per-host values exported to the commands.
#[derive(Debug, Clone)]
pub struct HostEnv {
    /// NETKIT_HOST.
    pub host: String,
    /// NETKIT_NODENUM (0-based position in the host list).
    pub nodenum: usize,
    /// NETKIT_NUMNODES.
    pub numnodes: usize,
}

/// Runs every command of `spec`; returns the first failing status (or the
/// last status when all succeed).
pub async fn run_all(
    conn: &Connection,
    spec: &ExecSpec,
    host: &HostEnv,
    out: &HostOutput,
) -> Result<CommandStatus, SshError> {
    let vars = host_vars(spec, host);
    let statuses: Vec<Result<CommandStatus, SshError>> = if spec.parallel && spec.commands.len() > 1
    {
        let runs = spec
            .commands
            .iter()
            .map(|cmd| run_one(conn, spec, &vars, cmd, out));
        futures::future::join_all(runs).await
    } else {
        let mut v = Vec::with_capacity(spec.commands.len());
        for cmd in spec.commands.iter() {
            let r = run_one(conn, spec, &vars, cmd, out).await;
            let stop = r.is_err();
            v.push(r);
            if stop {
                break;
            }
        }
        v
    };
    let mut first_bad: Option<CommandStatus> = None;
    let mut last = CommandStatus::default();
    for r in statuses {
        let status = r?;
        if !status.success() && first_bad.is_none() {
            first_bad = Some(status.clone());
        }
        last = status;
    }
    Ok(first_bad.unwrap_or(last))
}

fn host_vars(spec: &ExecSpec, host: &HostEnv) -> Vec<(String, String)> {
    let mut vars = vec![
        ("NETKIT_HOST".to_owned(), host.host.clone()),
        ("NETKIT_NODENUM".to_owned(), host.nodenum.to_string()),
        ("NETKIT_NUMNODES".to_owned(), host.numnodes.to_string()),
    ];
    vars.extend(spec.env.iter().cloned());
    vars
}

/// `export K='v' K2='v2'; CMD` with POSIX single-quote escaping.
pub fn command_line(vars: &[(String, String)], cmd: &str) -> String {
    if vars.is_empty() {
        return cmd.to_owned();
    }
    let mut line = String::with_capacity(cmd.len() + 64);
    line.push_str("export");
    for (k, v) in vars {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        line.push_str(&shell_quote(v));
    }
    line.push_str("; ");
    line.push_str(cmd);
    line
}

/// Quotes a value for a POSIX shell: `'...'` with `'` written as `'\''`.
pub fn shell_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

fn sig_name(sig: &russh::Sig) -> String {
    match sig {
        russh::Sig::Custom(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

async fn run_one(
    conn: &Connection,
    spec: &ExecSpec,
    vars: &[(String, String)],
    cmd: &str,
    out: &HostOutput,
) -> Result<CommandStatus, SshError> {
    let channel = conn.channel_open_session().await.map_err(session_error)?;
    if spec.tty {
        channel
            .request_pty(false, "xterm", 80, 24, 0, 0, &[])
            .await
            .map_err(session_error)?;
    }
    for (k, v) in vars {
        channel
            .set_env(false, k.as_str(), v.as_str())
            .await
            .map_err(session_error)?;
    }
    channel
        .exec(true, command_line(vars, cmd))
        .await
        .map_err(session_error)?;
    let (mut reader, writer) = channel.split();

    let feed = async {
        if let Some(data) = &spec.stdin {
            let _ = writer.data(&data[..]).await;
        }
        let _ = writer.eof().await;
    };
    let drain = async {
        let mut status = CommandStatus::default();
        let mut closed = false;
        while let Some(msg) = reader.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.chunk(Stream::Stdout, data).await,
                ChannelMsg::ExtendedData { data, ext: 1 } => out.chunk(Stream::Stderr, data).await,
                ChannelMsg::ExitStatus { exit_status } => status.exit_code = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    status.signal = Some(sig_name(&signal_name));
                }
                ChannelMsg::Failure => {
                    return Err(SshError::Channel(
                        "the server refused to execute the command".to_owned(),
                    ));
                }
                ChannelMsg::Close => {
                    closed = true;
                    break;
                }
                _ => {}
            }
        }
        if status.exit_code.is_none() && status.signal.is_none() {
            return Err(SshError::Disconnected(if closed {
                "channel closed without an exit status".to_owned()
            } else {
                "connection lost while the command was running".to_owned()
            }));
        }
        Ok(status)
    };
    // Feed stdin while draining output; once the command has ended, stop
    // feeding (a command that exits without reading its stdin must not
    // leave us waiting for window space that will never come).
    let both = async {
        tokio::pin!(feed);
        tokio::pin!(drain);
        let mut fed = false;
        loop {
            tokio::select! {
                () = &mut feed, if !fed => fed = true,
                r = &mut drain => break r,
            }
        }
    };
    match spec.command_timeout {
        None => both.await,
        Some(limit) => match tokio::time::timeout(limit, both).await {
            Ok(r) => r,
            Err(_) => {
                let _ = writer.signal(russh::Sig::TERM).await;
                let _ = writer.eof().await;
                let _ = writer.close().await;
                Err(SshError::CommandTimeout(limit))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME `x`"), "'$HOME `x`'");
    }

    #[test]
    fn exports_prefix_the_command() {
        let vars = vec![
            ("A".to_owned(), "1 2".to_owned()),
            ("B".to_owned(), "it's".to_owned()),
        ];
        assert_eq!(
            command_line(&vars, "echo $A"),
            r"export A='1 2' B='it'\''s'; echo $A"
        );
        assert_eq!(command_line(&[], "true"), "true");
    }
}
