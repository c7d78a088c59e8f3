//! File copy over SFTP, one more job on a host's one connection
//! (`--copy` pushes, `--rcopy` pulls).
//!
//! - The session: an `sftp` subsystem channel on the host's connection
//!   ([`sftp`]), requests pipelined (16 in flight, reads and writes of the
//!   server's `limits@openssh.com` lengths, at most 255 KiB).
//! - Pushing ([`push`]): the local sources are scanned once, before any host
//!   is contacted ([`plan`]); every host reads the same chunks through one
//!   bounded cache ([`chunks`]), so a slow host falls behind and re-reads
//!   from the file instead of holding memory. Each file is written to a
//!   recognisable temporary name in its directory (`.NAME.netkit-XXXXXXXX.tmp`)
//!   and moved over the target with `posix-rename@openssh.com`, so a host
//!   that fails mid-transfer keeps its old file. Stale temporaries of a
//!   target are removed by the next push of it.
//! - Pulling ([`pull`]): names come from the host and are hostile input
//!   ([`local_names`]): `.`/`..`, `/` and NUL in names are never obeyed
//!   (escaped), symlinks are created only when they stay inside the host's
//!   directory, devices, fifos and sockets are refused, nothing is written
//!   through a symlink, and `--max-bytes` bounds what one host may send.
//! - `--verify` ([`verify`]): `sha256sum` on the host over an exec channel,
//!   else the file read back over SFTP.
//!
//! Failures are typed ([`CopyError`]): a host that was reached but whose
//! copy failed is `failed` (exit 1) with one of the copy error kinds.

mod chunks;
mod local_names;
pub(crate) mod plan;
mod pull;
mod push;
mod sftp;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::connect::session::Connection;
use crate::output::ErrorKind;

pub(crate) use chunks::ChunkCache;
pub(crate) use plan::PushPlan;

/// The default of `--max-bytes`: what one host may send (or be sent) in
/// one run.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// File data in flight for all hosts together (requests sent, not yet
/// answered): 16 MiB, so a 64-host push stays within a bounded memory.
const IN_FLIGHT_BUDGET: u64 = 16 << 20;

/// The bytes one host keeps in flight when `hosts` copy at once: the
/// budget shared, at least 256 KiB (4 requests of 64 KiB), at most 1 MiB
/// (16), which already fills a loopback or LAN link.
pub fn window_for(hosts: usize) -> u64 {
    (IN_FLIGHT_BUDGET / hosts.max(1) as u64).clamp(256 << 10, 1 << 20)
}

/// Which way files go.
#[derive(Debug, Clone)]
pub enum Direction {
    /// `--copy`: local sources, scanned once.
    Push(Arc<PushPlan>),
    /// `--rcopy`: remote paths (`~` and globs expanded on the host).
    Pull(Arc<[String]>),
}

/// What to copy on every host.
#[derive(Debug, Clone)]
pub struct CopySpec {
    /// Push or pull, with the sources.
    pub direction: Direction,
    /// `--dest`, `{host}` not yet replaced.
    pub dest: String,
    /// `--recursive`.
    pub recursive: bool,
    /// `--preserve`: modes and modification times.
    pub preserve: bool,
    /// `--copy-exclude` globs (pull; a push plan has them applied).
    pub exclude: Arc<[String]>,
    /// `--verify`.
    pub verify: bool,
    /// `--max-bytes` per host.
    pub max_bytes: u64,
    /// The chunks every host of a push shares.
    pub chunks: Arc<ChunkCache>,
    /// Bytes of one file in flight per host ([`window_for`]).
    pub window: u64,
}

/// What one host's copy moved.
#[derive(Debug, Default)]
pub struct CopyStats {
    /// Bytes of file data written (push) or received (pull).
    pub bytes: AtomicU64,
    /// Files, links and directories created.
    pub files: AtomicU64,
    /// How `--verify` checked: `sha256sum`, `sftp_read_back`, or unset.
    pub verified: std::sync::OnceLock<&'static str>,
}

impl CopyStats {
    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> CopySummary {
        CopySummary {
            bytes: self.bytes.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            verified: self.verified.get().copied(),
        }
    }
}

/// The copy counters of a host's result record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopySummary {
    /// Bytes of file data moved.
    pub bytes: u64,
    /// Entries created (files, links, directories).
    pub files: u64,
    /// How `--verify` checked, when it did.
    pub verified: Option<&'static str>,
}

/// Why a host's copy failed: one of the copy error kinds and a one-line
/// message naming the path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CopyError {
    /// `not_found`, `permission_denied`, `no_space`, `sftp_unavailable`,
    /// `transfer_interrupted`, `unsafe_path`, `too_large`,
    /// `verify_mismatch` or `copy`.
    pub kind: ErrorKind,
    /// What failed, with the path.
    pub message: String,
}

impl CopyError {
    /// A copy error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CopyError {
            kind,
            message: message.into(),
        }
    }
}

/// Runs the copy of `spec` on one host over `conn`.
pub async fn run(
    conn: &Connection,
    spec: &CopySpec,
    host: &str,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let session = sftp::Sftp::start(conn, spec.window).await?;
    let dest = spec
        .dest
        .replace("{host}", &local_names::host_component(host));
    let result = match &spec.direction {
        Direction::Push(plan) => push::push(&session, conn, plan, spec, &dest, stats).await,
        Direction::Pull(sources) => {
            let base = pull::local_base(&spec.dest, host);
            let sources: Vec<String> = sources.iter().map(|s| s.replace("{host}", host)).collect();
            pull::pull(&session, conn, &sources, spec, &base, stats).await
        }
    };
    session.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_flight_budget_is_shared_within_bounds() {
        assert_eq!(window_for(1), 1 << 20);
        assert_eq!(window_for(16), 1 << 20);
        assert_eq!(window_for(64), 256 << 10);
        assert_eq!(window_for(10_000), 256 << 10);
        assert_eq!(window_for(0), 1 << 20);
    }
}
