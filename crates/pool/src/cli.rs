//! Command-line pieces shared by every netkit binary (feature `cli`).
//!
//! - [`parse_duration`]: the one duration syntax of all tools. A bare number
//!   means seconds; `500ms`, `2s`, `1m`, `1h` and fractions such as `1.5s`
//!   are accepted.
//! - [`UiArgs`]: `--color` and `--quiet`, flattened into each tool's flags,
//!   with the rules for colour (`NO_COLOR`, TTY detection) and progress bars
//!   (only when stderr is a TTY).
//! - [`init_tracing`]: logs to stderr, filtered by `RUST_LOG`.

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
    fn colour_rules() {
        assert!(resolve_color(ColorChoice::Always, false));
        assert!(!resolve_color(ColorChoice::Never, true));
        assert!(!resolve_color(ColorChoice::Auto, false));
    }
}
