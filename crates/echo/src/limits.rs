//! The descriptor budget of `echo-server` and `echo-client`.
//!
//! Both binaries raise the soft `RLIMIT_NOFILE` to the hard limit at start
//! ([`netkit_cli::raise_fd_limit`]), then check that the connections
//! asked for fit *before* anything binds or connects, so a run never fails
//! halfway with EMFILE. One TCP connection (or one UDP bench socket) is one
//! descriptor on each side; [`MARGIN`] keeps room for the rest (listeners,
//! the runtime's epoll and eventfd, stdio, the UDP socket, a log file).

use netkit_cli::{FdLimit, raise_fd_limit};

/// Descriptors one connection holds in either process.
pub const PER_CONNECTION: u64 = 1;

/// Descriptors kept spare on top of the connections and of those already
/// open when the limit is read.
pub const MARGIN: u64 = 64;

/// Raises the soft limit to the hard one and logs the change.
pub fn raise() -> FdLimit {
    let limit = raise_fd_limit();
    if limit.raised() {
        tracing::info!(
            "raised the soft open-file limit from {} to {}",
            limit.was,
            limit.soft
        );
    }
    tracing::debug!(
        "open-file limit {} ({} open): room for {} connections",
        limit.soft,
        limit.open,
        limit.room(MARGIN) / PER_CONNECTION
    );
    limit
}

/// Checks that `connections` (asked for with `flag`, e.g. `--connections`)
/// fit in `limit`; the error says how many would.
pub fn check(limit: &FdLimit, flag: &str, connections: usize) -> Result<(), String> {
    let n = connections as u64;
    limit.check(&format!("{flag} {n}"), n, PER_CONNECTION, MARGIN)
}
