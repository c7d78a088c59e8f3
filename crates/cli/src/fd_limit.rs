//! The open-file limit: [`raise_fd_limit`] raises the soft `RLIMIT_NOFILE`
//! to the hard limit at start, and [`FdLimit::check`] refuses a run that
//! cannot fit in it (before it opens anything), with a message that says
//! how many fit.

/// The open-file limit (`RLIMIT_NOFILE`) of this process, after
/// [`raise_fd_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found at start.
    pub was: u64,
    /// The soft limit now: how many descriptors the process may hold.
    pub soft: u64,
    /// The hard limit, the most the soft limit may be raised to (`None`:
    /// unlimited).
    pub hard: Option<u64>,
    /// Descriptors open when the limit was read (stdio, the runtime's
    /// epoll and eventfd, ...).
    pub open: u64,
}

/// A soft limit reported as unlimited is treated as this many descriptors.
const UNLIMITED: u64 = u64::MAX / 2;

impl FdLimit {
    /// Whether the soft limit was raised.
    pub fn raised(&self) -> bool {
        self.soft > self.was
    }

    /// How many more descriptors fit, keeping `margin` spare.
    pub fn room(&self, margin: u64) -> u64 {
        self.soft.saturating_sub(self.open).saturating_sub(margin)
    }

    /// Checks that `count` items of `per_item` descriptors each fit, with
    /// `margin` descriptors to spare. The error names the flag (`what`, e.g.
    /// `--connections 25000`), the limits, and the largest count that fits.
    pub fn check(&self, what: &str, count: u64, per_item: u64, margin: u64) -> Result<(), String> {
        let per_item = per_item.max(1);
        let need = count.saturating_mul(per_item);
        let room = self.room(margin);
        if need <= room {
            return Ok(());
        }
        let hard = self
            .hard
            .map_or_else(|| "unlimited".to_string(), |h| h.to_string());
        Err(format!(
            "{what} needs {need} file descriptors ({per_item} each) plus {margin} spare, \
             but this process may open only {} (RLIMIT_NOFILE soft {} / hard {hard}, {} already open); \
             use at most {} or raise the hard limit (ulimit -Hn, limits.conf, systemd LimitNOFILE)",
            self.soft.saturating_sub(self.open),
            self.soft,
            self.open,
            room / per_item,
        ))
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as servers and load
/// generators must: the default soft limit (often 1024) is far below what
/// one process may hold. When the hard limit is unlimited, the soft limit
/// goes to the kernel's ceiling (`fs.nr_open` on Linux). If raising fails,
/// the limit stays as it was; the returned [`FdLimit`] always tells what
/// holds now.
#[cfg(unix)]
pub fn raise_fd_limit() -> FdLimit {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let was = limit.current.unwrap_or(UNLIMITED);
    let target = limit.maximum.or_else(nr_open);
    let mut soft = was;
    if let Some(target) = target
        && target > was
    {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = target,
            Err(e) => tracing::warn!("cannot raise the soft open-file limit to {target}: {e}"),
        }
    }
    FdLimit {
        was,
        soft,
        hard: limit.maximum,
        open: open_fds(),
    }
}

/// Not unix: nothing to raise; the limit is reported as unlimited.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> FdLimit {
    FdLimit {
        was: UNLIMITED,
        soft: UNLIMITED,
        hard: None,
        open: 0,
    }
}

/// Linux's ceiling for an unlimited hard limit.
#[cfg(unix)]
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Descriptors open now (`/proc/self/fd`; elsewhere, the three stdio ones).
pub fn open_fds() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of the entries.
        Ok(dir) => (dir.count() as u64).saturating_sub(1),
        Err(_) => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_limit_check_says_what_fits() {
        let limit = FdLimit {
            was: 1024,
            soft: 20_000,
            hard: Some(20_000),
            open: 10,
        };
        assert!(limit.raised());
        assert_eq!(limit.room(64), 19_926);
        assert!(limit.check("--connections 19926", 19_926, 1, 64).is_ok());
        let err = limit
            .check("--connections 19927", 19_927, 1, 64)
            .unwrap_err();
        assert!(
            err.contains("--connections 19927 needs 19927 file descriptors"),
            "{err}"
        );
        assert!(err.contains("soft 20000 / hard 20000"), "{err}");
        assert!(err.contains("use at most 19926"), "{err}");
        // Two descriptors per item halve what fits.
        let err = limit.check("--hosts 10000", 10_000, 2, 64).unwrap_err();
        assert!(err.contains("use at most 9963"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn raise_fd_limit_reaches_the_hard_limit() {
        let limit = raise_fd_limit();
        if let Some(hard) = limit.hard {
            assert_eq!(limit.soft, hard);
        }
        assert!(limit.open >= 3 && limit.open < limit.soft, "{limit:?}");
        let again = raise_fd_limit();
        assert!(!again.raised());
        assert_eq!(again.soft, limit.soft);
    }
}
