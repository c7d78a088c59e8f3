//! The checked configuration `run` works from (`cli.rs` turns flags into
//! it), grouped as `run` uses it: the input filter, the HTTP client, the
//! per-URL limits, the pool, and the output. Every default is defined once,
//! in [`defaults`] or by the enum's `#[default]`, and both the flags and
//! [`Config::default`] take it from there.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;

pub use crate::fetcher::FetchLimits;
use crate::input::{Scheme, Source};
use crate::output::Format;
use crate::shard::Shard;

/// The defaults of the flags and of [`Config::default`]. Durations are
/// written as the flags take them.
pub mod defaults {
    use std::time::Duration;

    /// `-c/--concurrency`.
    pub const CONCURRENCY: u32 = 50;
    /// `--per-host`.
    pub const PER_HOST: u32 = 4;
    /// `--timeout`.
    pub const TIMEOUT: &str = "10s";
    /// `--retries`.
    pub const RETRIES: u32 = 1;
    /// `--retry-after-cap`.
    pub const RETRY_AFTER_CAP: &str = "30s";
    /// The first retry backoff (no flag).
    pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
    /// `--max-redirects`.
    pub const MAX_REDIRECTS: u32 = 10;
    /// `--max-body`.
    pub const MAX_BODY: u64 = 1024 * 1024;
    /// `--max-title-len`.
    pub const MAX_TITLE_LEN: u32 = 1024;
    /// `--grace`.
    pub const GRACE: &str = "2s";

    /// A duration default as a [`Duration`].
    pub fn duration(text: &str) -> Duration {
        netkit_cli::parse_duration(text).unwrap_or_default()
    }
}

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Order {
    /// Records as URLs finish.
    #[default]
    Completion,
    /// Records in input order (bounded reorder buffer).
    Input,
}

/// The default User-Agent: names netkit and the version.
pub fn default_user_agent() -> String {
    format!(
        "netkit-fetch-titles/{} (+netkit)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Everything a run needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// What is read, and which URLs are kept.
    pub input: InputConfig,
    /// How requests are made.
    pub client: ClientConfig,
    /// Per-URL limits.
    pub limits: FetchLimits,
    /// Concurrency, rate, retries and the grace period.
    pub pool: PoolConfig,
    /// Where and how records are written.
    pub output: OutputConfig,
}

/// The input and its filter.
#[derive(Debug, Clone)]
pub struct InputConfig {
    /// Input sources, read in order.
    pub sources: Vec<Source>,
    /// Scheme for lines without one.
    pub scheme: Scheme,
    /// Skip duplicate URLs.
    pub dedupe: bool,
    /// Only this shard of the input.
    pub shard: Option<Shard>,
    /// Earlier jsonl output whose URLs are skipped.
    pub skip_done: Option<PathBuf>,
}

/// The HTTP client's options.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Accept invalid certificates.
    pub insecure: bool,
    /// Explicit proxy.
    pub proxy: Option<String>,
    /// Ignore proxy environment variables.
    pub ignore_env_proxy: bool,
    /// Extra request headers. `Authorization`, `Cookie` and
    /// `Proxy-Authorization` go only to the origin of the URL as given.
    pub headers: HeaderMap,
    /// Send the credential headers to redirect targets on other origins too.
    pub location_trusted: bool,
    /// User-Agent.
    pub user_agent: String,
}

/// The pool that runs the requests.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Jobs in flight.
    pub concurrency: usize,
    /// Jobs in flight per host.
    pub per_host: usize,
    /// Requests started per second.
    pub rate: Option<f64>,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Grace period for in-flight requests after Ctrl-C.
    pub grace: Duration,
    /// Threads fetching, the run's own included (`--threads`).
    pub threads: usize,
}

/// The records' destination and form.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Output format.
    pub format: Format,
    /// Record order.
    pub order: Order,
    /// Output file (stdout when `None`).
    pub path: Option<PathBuf>,
    /// Append to the output file instead of truncating it.
    pub append: bool,
    /// Show the progress bar.
    pub progress: bool,
    /// Print the summary on stderr.
    pub summary: bool,
    /// Colour the text format.
    pub color: bool,
    /// Prefix `'` to CSV fields a spreadsheet would take for a formula.
    pub csv_formula_guard: bool,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            format: Format::default(),
            order: Order::default(),
            path: None,
            append: false,
            progress: false,
            summary: true,
            color: false,
            csv_formula_guard: false,
        }
    }
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            sources: vec![Source::Stdin],
            scheme: Scheme::default(),
            dedupe: true,
            shard: None,
            skip_done: None,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: None,
            insecure: false,
            proxy: None,
            ignore_env_proxy: false,
            headers: HeaderMap::new(),
            location_trusted: false,
            user_agent: default_user_agent(),
        }
    }
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_redirects: defaults::MAX_REDIRECTS,
            max_body: defaults::MAX_BODY,
            max_title_len: defaults::MAX_TITLE_LEN as usize,
            timeout: defaults::duration(defaults::TIMEOUT),
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            concurrency: defaults::CONCURRENCY as usize,
            per_host: defaults::PER_HOST as usize,
            rate: None,
            retries: defaults::RETRIES,
            retry_after_cap: defaults::duration(defaults::RETRY_AFTER_CAP),
            backoff_base: defaults::BACKOFF_BASE,
            grace: defaults::duration(defaults::GRACE),
            threads: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_defaults_parse() {
        for text in [
            defaults::TIMEOUT,
            defaults::RETRY_AFTER_CAP,
            defaults::GRACE,
        ] {
            assert!(netkit_cli::parse_duration(text).is_ok(), "{text}");
        }
        assert_eq!(Config::default().limits.timeout, Duration::from_secs(10));
        assert!(Config::default().output.summary, "summary on by default");
    }
}
