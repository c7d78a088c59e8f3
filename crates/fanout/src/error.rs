//! Typed failures of one host. Every variant maps to exactly one JSON error
//! kind ([`SshError::kind`], an [`ErrorKind`]), so no failure is ever
//! reported as a bare "exit 255".

use std::time::Duration;

use crate::connect::known_hosts::HostKeyChanged;
use crate::output::ErrorKind;

/// Why a host failed (as opposed to a command exiting non-zero, which is a
/// normal result).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SshError {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {message}")]
    Dns {
        /// The name that was looked up.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// TCP connect was refused (or reset) by the peer.
    #[error("connection refused by {addr}")]
    ConnectRefused {
        /// `host:port`.
        addr: String,
    },
    /// TCP connect + SSH handshake + authentication did not finish in time.
    #[error("connect timeout after {0:?} (TCP + SSH handshake + auth)")]
    ConnectTimeout(Duration),
    /// TCP or SSH protocol failure before authentication finished.
    #[error("SSH handshake failed: {0}")]
    Handshake(String),
    /// The server's key is not in known_hosts and the policy is strict (or
    /// the key cannot be recorded).
    #[error("host key for {host} is not known ({fingerprint}) and {reason}")]
    HostKeyUnknown {
        /// `host`, `[host]:port` or the `HostKeyAlias`.
        host: String,
        /// SHA256 fingerprint of the offered key.
        fingerprint: String,
        /// Why it was not accepted, and what to do.
        reason: String,
    },
    /// The server's key differs from the recorded one (or is revoked):
    /// possible man-in-the-middle. Names the file and line.
    #[error("{0}")]
    HostKeyChanged(Box<HostKeyChanged>),
    /// The server's host certificate has a CA signature that does not
    /// verify: possible man-in-the-middle (kind `host_key_changed`).
    #[error(
        "the host certificate of {host} has a CA signature that does not verify: possible \
         man-in-the-middle attack"
    )]
    HostCertificateInvalid {
        /// `host` or `[host]:port`.
        host: String,
    },
    /// A known_hosts file could not be read (a missing file is empty).
    #[error("known_hosts: {0}")]
    KnownHosts(String),
    /// Every authentication method was rejected.
    #[error("authentication failed for {user}: {message}")]
    Auth {
        /// The remote user.
        user: String,
        /// What was tried.
        message: String,
    },
    /// The command did not finish before `--command-timeout`.
    #[error("command timed out after {0:?}; sent TERM and closed the channel")]
    CommandTimeout(Duration),
    /// The connection dropped after authentication.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// The server refused a channel or a request on it.
    #[error("channel error: {0}")]
    Channel(String),
    /// The `ProxyCommand` could not be started, or it exited before the
    /// SSH handshake finished (its status and last stderr lines say why).
    #[error("ProxyCommand `{command}` {message}")]
    ProxyCommand {
        /// The command, tokens expanded (at most 200 characters).
        command: String,
        /// What happened: `exited with status 1: nc: …`.
        message: String,
    },
    /// This machine ran out of something the connection needs: file
    /// descriptors (`EMFILE`, `ENFILE`), memory (`ENOMEM`, `ENOBUFS`) or
    /// local ports (`EADDRNOTAVAIL`). Not the host's fault: nothing was
    /// sent to it.
    #[error("local resource exhausted (not the host's fault): {0}")]
    LocalResource(String),
    /// `--copy`/`--rcopy` failed on a host that was reached (its kind is
    /// the copy's: `not_found`, `no_space`, ...).
    #[error("{0}")]
    Copy(crate::jobs::copy::CopyError),
}

impl SshError {
    /// The error kind of JSON output and the summary (its one spelling is
    /// [`ErrorKind::as_str`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            SshError::Dns { .. } => ErrorKind::Dns,
            SshError::ConnectRefused { .. } => ErrorKind::ConnectRefused,
            SshError::ConnectTimeout(_) => ErrorKind::ConnectTimeout,
            SshError::Handshake(_) => ErrorKind::Handshake,
            SshError::HostKeyUnknown { .. } => ErrorKind::HostKeyUnknown,
            SshError::HostKeyChanged(_) | SshError::HostCertificateInvalid { .. } => {
                ErrorKind::HostKeyChanged
            }
            SshError::KnownHosts(_) => ErrorKind::KnownHosts,
            SshError::Auth { .. } => ErrorKind::Auth,
            SshError::CommandTimeout(_) => ErrorKind::CommandTimeout,
            SshError::Disconnected(_) => ErrorKind::Disconnected,
            SshError::Channel(_) => ErrorKind::Channel,
            SshError::LocalResource(_) => ErrorKind::LocalResource,
            SshError::ProxyCommand { .. } => ErrorKind::ProxyCommand,
            SshError::Copy(e) => e.kind,
        }
    }

    /// Failures that `--retries` may retry: nothing ran on the host yet and
    /// trying again can help (a descriptor freed by a finished host, too).
    /// Host-key and auth failures are final.
    pub fn is_retryable_connect(&self) -> bool {
        matches!(
            self,
            SshError::ConnectRefused { .. }
                | SshError::ConnectTimeout(_)
                | SshError::Handshake(_)
                | SshError::Dns { .. }
                | SshError::ProxyCommand { .. }
                | SshError::LocalResource(_)
        )
    }
}

/// The error type of our russh client handler: either a russh error or a
/// host key verdict raised from `check_server_key`.
#[derive(Debug)]
pub enum HandlerError {
    /// A protocol or I/O error.
    Russh(russh::Error),
    /// The host key was rejected.
    HostKey(SshError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

/// Classifies a russh error raised during connect/handshake.
pub(crate) fn handshake_error(e: HandlerError, addr: &str) -> SshError {
    match e {
        HandlerError::HostKey(e) => e,
        HandlerError::Russh(russh::Error::IO(io)) => io_error(&io, addr),
        HandlerError::Russh(e) => SshError::Handshake(e.to_string()),
    }
}

/// Classifies an I/O error from TCP connect (socket creation included).
pub(crate) fn io_error(io: &std::io::Error, addr: &str) -> SshError {
    use std::io::ErrorKind as K;
    if is_local_resource(io) {
        return SshError::LocalResource(format!("connecting to {addr}: {io}"));
    }
    match io.kind() {
        K::ConnectionRefused => SshError::ConnectRefused {
            addr: addr.to_owned(),
        },
        _ => SshError::Handshake(format!("{addr}: {io}")),
    }
}

/// Whether an I/O error means this machine ran out of descriptors, memory
/// or local ports, rather than anything the peer did.
pub(crate) fn is_local_resource(io: &std::io::Error) -> bool {
    matches!(
        io.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS | libc::EADDRNOTAVAIL)
    )
}

/// Classifies a russh error raised after authentication.
pub(crate) fn session_error(e: russh::Error) -> SshError {
    match e {
        russh::Error::ChannelOpenFailure(reason) => {
            SshError::Channel(format!("channel open refused: {reason:?}"))
        }
        e @ (russh::Error::Disconnect
        | russh::Error::HUP
        | russh::Error::IO(_)
        | russh::Error::SendError
        | russh::Error::ConnectionTimeout
        | russh::Error::KeepaliveTimeout
        | russh::Error::InactivityTimeout) => SshError::Disconnected(e.to_string()),
        e => SshError::Channel(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_resource_errors_are_not_blamed_on_the_host() {
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOMEM,
            libc::ENOBUFS,
            libc::EADDRNOTAVAIL,
        ] {
            let e = io_error(&std::io::Error::from_raw_os_error(errno), "127.0.0.1:22");
            assert_eq!(e.kind(), ErrorKind::LocalResource, "errno {errno}: {e}");
            assert!(e.to_string().contains("127.0.0.1:22"), "{e}");
            assert!(e.is_retryable_connect());
        }
        let emfile = io_error(&std::io::Error::from_raw_os_error(libc::EMFILE), "a:22");
        assert!(
            emfile.to_string().contains("Too many open files"),
            "{emfile}"
        );
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_error(&refused, "a:22").kind(), ErrorKind::ConnectRefused);
        let reset = std::io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(io_error(&reset, "a:22").kind(), ErrorKind::Handshake);
    }
}
