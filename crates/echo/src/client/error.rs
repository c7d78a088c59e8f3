//! Client errors, each with its stable exit code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::exit;

/// Why a one-shot or interactive exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect failed.
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, #[source] std::io::Error),
    /// The full reply did not arrive in time.
    #[error("no complete reply from {addr} within {timeout:?} (got {got} of {expected} bytes)")]
    Timeout {
        addr: SocketAddr,
        timeout: Duration,
        got: usize,
        expected: usize,
    },
    /// The server closed before echoing everything.
    #[error("{addr} closed the connection after {got} of {expected} bytes")]
    Closed {
        addr: SocketAddr,
        got: usize,
        expected: usize,
    },
    /// The reply differs from what was sent.
    #[error("reply differs from the message at byte {offset}: sent {sent:?}, got {got:?}")]
    Mismatch {
        offset: usize,
        sent: String,
        got: String,
    },
    /// Writing the echo to our stdout failed.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
    /// Any other I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The documented exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Connect(..) => exit::CONNECT,
            Self::Timeout { .. } => exit::TIMEOUT,
            Self::Mismatch { .. } => exit::MISMATCH,
            Self::Output(e) if netkit_cli::exit::is_closed_pipe(e) => exit::OK,
            Self::Closed { .. } | Self::Output(_) | Self::Io(_) => exit::RUNTIME,
        }
    }

    /// True when stdout's reader went away (`echo-client ADDR | head -1`):
    /// the client stops quietly and exits 0, as ripgrep does.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Self::Output(e) if netkit_cli::exit::is_closed_pipe(e))
    }

    /// Builds a mismatch error pointing at the first differing byte.
    pub(crate) fn mismatch(sent: &[u8], got: &[u8]) -> Self {
        let offset = sent
            .iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .unwrap_or(sent.len().min(got.len()));
        Self::Mismatch {
            offset,
            sent: String::from_utf8_lossy(sent).into_owned(),
            got: String::from_utf8_lossy(got).into_owned(),
        }
    }
}
