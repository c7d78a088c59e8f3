//! Per-host results, typed error kinds and the process exit code.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jobs::copy::CopySummary;

/// Exit code: every host ran every command with exit 0.
pub const EXIT_OK: u8 = 0;
/// Exit code: some remote command exited non-zero or was killed by a signal.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or inventory error (set by the binary, not by results).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: some host has no command verdict: it was unreachable, failed
/// host-key checks or auth, timed out, or this machine ran out of a
/// resource for it (`local_resource`: not 1, which says the command ran and
/// failed). Takes precedence over [`EXIT_FAILED`].
pub const EXIT_UNREACHABLE: u8 = 3;

/// Why a host produced no (complete) command result. Serialised in
/// snake_case: `"connect_refused"`, `"host_key_changed"`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The name did not resolve.
    Dns,
    /// TCP connection refused.
    ConnectRefused,
    /// TCP connect plus SSH handshake exceeded the connect timeout.
    ConnectTimeout,
    /// SSH protocol/handshake failure (bad banner, no common algorithm, ...).
    Handshake,
    /// Host key not in known_hosts under `--host-key-policy strict`.
    HostKeyUnknown,
    /// Host key differs from (or is revoked in) known_hosts: possible MITM.
    HostKeyChanged,
    /// A known_hosts file could not be read (a missing file is empty).
    KnownHosts,
    /// Every authentication method was rejected.
    Auth,
    /// The command did not finish before `--command-timeout`.
    CommandTimeout,
    /// The connection dropped after it was established.
    Disconnected,
    /// Opening or using a channel failed (exec refused, no exit status, ...).
    Channel,
    /// This machine ran out of descriptors, memory or local ports before
    /// anything reached the host (not the host's fault).
    LocalResource,
    /// The `ProxyCommand` could not start or exited before the handshake.
    ProxyCommand,
    /// Copy: a source (or the destination's directory) does not exist.
    NotFound,
    /// Copy: the host (or this machine, on a pull) refused access.
    PermissionDenied,
    /// Copy: the destination file system is full.
    NoSpace,
    /// Copy: the host has no `sftp` subsystem.
    SftpUnavailable,
    /// Copy: the connection or the SFTP session broke mid-transfer (the
    /// old file is kept).
    TransferInterrupted,
    /// Copy: the host sent names, links or file types a pull refuses.
    UnsafePath,
    /// Copy: more than `--max-bytes` (or too many entries).
    TooLarge,
    /// Copy: `--verify` found a different SHA-256.
    VerifyMismatch,
    /// Copy: any other SFTP failure (the message says which).
    Copy,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 22] = [
        ErrorKind::Dns,
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::Handshake,
        ErrorKind::HostKeyUnknown,
        ErrorKind::HostKeyChanged,
        ErrorKind::KnownHosts,
        ErrorKind::Auth,
        ErrorKind::CommandTimeout,
        ErrorKind::Disconnected,
        ErrorKind::Channel,
        ErrorKind::LocalResource,
        ErrorKind::ProxyCommand,
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::NoSpace,
        ErrorKind::SftpUnavailable,
        ErrorKind::TransferInterrupted,
        ErrorKind::UnsafePath,
        ErrorKind::TooLarge,
        ErrorKind::VerifyMismatch,
        ErrorKind::Copy,
    ];

    /// The JSON spelling, e.g. `connect_refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Handshake => "handshake",
            ErrorKind::HostKeyUnknown => "host_key_unknown",
            ErrorKind::HostKeyChanged => "host_key_changed",
            ErrorKind::KnownHosts => "known_hosts",
            ErrorKind::Auth => "auth",
            ErrorKind::CommandTimeout => "command_timeout",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Channel => "channel",
            ErrorKind::LocalResource => "local_resource",
            ErrorKind::ProxyCommand => "proxy_command",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NoSpace => "no_space",
            ErrorKind::SftpUnavailable => "sftp_unavailable",
            ErrorKind::TransferInterrupted => "transfer_interrupted",
            ErrorKind::UnsafePath => "unsafe_path",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::VerifyMismatch => "verify_mismatch",
            ErrorKind::Copy => "copy",
        }
    }

    /// A copy failure on a host that was reached: `failed` (exit 1), not
    /// `error` (exit 3).
    pub fn is_copy(self) -> bool {
        matches!(
            self,
            ErrorKind::NotFound
                | ErrorKind::PermissionDenied
                | ErrorKind::NoSpace
                | ErrorKind::SftpUnavailable
                | ErrorKind::TransferInterrupted
                | ErrorKind::UnsafePath
                | ErrorKind::TooLarge
                | ErrorKind::VerifyMismatch
                | ErrorKind::Copy
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed failure for one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostError {
    /// The category.
    pub kind: ErrorKind,
    /// A human-readable, single-line explanation.
    pub message: String,
}

impl HostError {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HostError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The outcome class of a host, as in the JSON `status` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every command exited 0.
    Ok,
    /// A command exited non-zero or was killed by a signal.
    Failed,
    /// The host has an [`HostError`].
    Error,
}

/// The final result of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostResult {
    /// Host name as shown in output (the same string used in output events).
    pub host: String,
    /// Exit status of the (last failing, else last) command, if one was received.
    pub exit_code: Option<u32>,
    /// Signal name (e.g. `TERM`, `KILL`) if the command was killed.
    pub signal: Option<String>,
    /// Why the host could not complete, if it could not.
    pub error: Option<HostError>,
    /// Wall time spent on this host.
    pub elapsed: Duration,
    /// What `--copy`/`--rcopy` moved, when the run copies.
    pub copy: Option<CopySummary>,
}

impl HostResult {
    /// A host whose command exited with `exit_code`.
    pub fn exited(host: impl Into<String>, exit_code: u32, elapsed: Duration) -> Self {
        HostResult {
            host: host.into(),
            exit_code: Some(exit_code),
            signal: None,
            error: None,
            elapsed,
            copy: None,
        }
    }

    /// A host whose command was killed by `signal`.
    pub fn signalled(
        host: impl Into<String>,
        signal: impl Into<String>,
        elapsed: Duration,
    ) -> Self {
        HostResult {
            host: host.into(),
            exit_code: None,
            signal: Some(signal.into()),
            error: None,
            elapsed,
            copy: None,
        }
    }

    /// A host that failed with a typed error.
    pub fn failed(host: impl Into<String>, error: HostError, elapsed: Duration) -> Self {
        HostResult {
            host: host.into(),
            exit_code: None,
            signal: None,
            error: Some(error),
            elapsed,
            copy: None,
        }
    }

    /// `error` if there is an error (`failed` for a copy error: the host
    /// was reached), `ok` for exit 0 without signal or a finished copy
    /// without commands, else `failed` (non-zero exit, signal, or no exit
    /// status at all).
    pub fn status(&self) -> Status {
        if let Some(e) = &self.error {
            if e.kind.is_copy() {
                Status::Failed
            } else {
                Status::Error
            }
        } else if self.signal.is_none()
            && (self.exit_code == Some(0) || (self.exit_code.is_none() && self.copy.is_some()))
        {
            Status::Ok
        } else {
            Status::Failed
        }
    }

    /// The per-host exit code class (0, 1 or 3).
    pub fn exit_class(&self) -> u8 {
        match self.status() {
            Status::Ok => EXIT_OK,
            Status::Failed => EXIT_FAILED,
            Status::Error => EXIT_UNREACHABLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_millis(5);

    #[test]
    fn status_classes() {
        assert_eq!(HostResult::exited("h", 0, D).status(), Status::Ok);
        assert_eq!(HostResult::exited("h", 2, D).status(), Status::Failed);
        assert_eq!(
            HostResult::signalled("h", "KILL", D).status(),
            Status::Failed
        );
        let mut no_status = HostResult::exited("h", 0, D);
        no_status.exit_code = None;
        assert_eq!(no_status.status(), Status::Failed);
        let e = HostResult::failed("h", HostError::new(ErrorKind::Auth, "denied"), D);
        assert_eq!(e.status(), Status::Error);
        let copy_failed = HostResult::failed("h", HostError::new(ErrorKind::NoSpace, "full"), D);
        assert_eq!(copy_failed.status(), Status::Failed);
        assert_eq!(copy_failed.exit_class(), EXIT_FAILED);
        let mut copied = HostResult::exited("h", 0, D);
        copied.exit_code = None;
        copied.copy = Some(CopySummary::default());
        assert_eq!(copied.status(), Status::Ok);
    }

    #[test]
    fn error_kinds_serialise_snake_case() {
        let names: Vec<String> = ErrorKind::ALL
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "\"dns\"",
                "\"connect_refused\"",
                "\"connect_timeout\"",
                "\"handshake\"",
                "\"host_key_unknown\"",
                "\"host_key_changed\"",
                "\"known_hosts\"",
                "\"auth\"",
                "\"command_timeout\"",
                "\"disconnected\"",
                "\"channel\"",
                "\"local_resource\"",
                "\"proxy_command\"",
                "\"not_found\"",
                "\"permission_denied\"",
                "\"no_space\"",
                "\"sftp_unavailable\"",
                "\"transfer_interrupted\"",
                "\"unsafe_path\"",
                "\"too_large\"",
                "\"verify_mismatch\"",
                "\"copy\""
            ]
        );
        for k in ErrorKind::ALL {
            assert_eq!(
                format!("\"{}\"", k.as_str()),
                serde_json::to_string(&k).unwrap()
            );
        }
    }
}
