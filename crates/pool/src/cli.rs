//! Command-line pieces shared by every netkit binary (feature `cli`).
//!
//! - [`parse_duration`]: the one duration syntax of all tools. A bare number
//!   means seconds; `500ms`, `2s`, `1m`, `1h` and fractions such as `1.5s`
//!   are accepted.
//! - [`UiArgs`]: `--color` and `--quiet`, flattened into each tool's flags,
//!   with the rules for colour (`NO_COLOR`, TTY detection) and progress bars
//!   (only when stderr is a TTY).
//! - [`init_tracing`]: logs to stderr, filtered by `RUST_LOG`.
//! - [`raise_fd_limit`]: raises the soft `RLIMIT_NOFILE` to the hard limit
//!   at start, and [`FdLimit::check`] refuses a run that cannot fit in it
//!   (before it opens anything), with a message that says how many fit.

use std::io::IsTerminal;
use std::time::Duration;

/// Parses a duration: a bare number is seconds; `ms`, `s`, `m` and `h`
/// suffixes are accepted, with optional fractions (`1.5s`).
///
/// ```
/// # use std::time::Duration;
/// # use netkit_pool::cli::parse_duration;
/// assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "invalid duration {text:?}: expected a number with an optional unit (500ms, 2s, 1m, 1h)"
        )
    })?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "us" | "µs" => 0.000_001,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use ms, s, m or h)"
            ));
        }
    };
    let seconds = value * scale;
    if !seconds.is_finite() || !(0.0..=1.0e9).contains(&seconds) {
        return Err(format!("invalid duration {text:?}: out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// When to colour output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour, even into pipes and files.
    Always,
    /// Never colour.
    Never,
}

/// User-interface flags shared by every tool. Flatten with
/// `#[command(flatten)] ui: UiArgs`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct UiArgs {
    /// Colour output: auto (terminal and NO_COLOR unset), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No progress bar and no summary chatter on stderr (errors still print).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

impl UiArgs {
    /// Whether to colour what goes to stdout.
    pub fn color_for_stdout(&self) -> bool {
        resolve_color(self.color, std::io::stdout().is_terminal())
    }

    /// Whether to colour what goes to stderr.
    pub fn color_for_stderr(&self) -> bool {
        resolve_color(self.color, std::io::stderr().is_terminal())
    }

    /// Progress bars show only when stderr is a terminal and not `--quiet`.
    pub fn progress_enabled(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// The colour decision: `always` and `never` win; `auto` colours a terminal
/// unless `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn resolve_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        }
    }
}

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` (default `warn`).
/// Safe to call more than once; later calls do nothing.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

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
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 250ms "), Ok(Duration::from_millis(250)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("1e99").is_err());
    }

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

    #[test]
    fn colour_rules() {
        assert!(resolve_color(ColorChoice::Always, false));
        assert!(!resolve_color(ColorChoice::Never, true));
        assert!(!resolve_color(ColorChoice::Auto, false));
    }
}
