//! The checked configuration `run` works from (main.rs turns flags into it).

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::input::{Scheme, Source};
use crate::output::Format;
use crate::shard::Shard;

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone)]
pub struct Config {
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
    /// Jobs in flight.
    pub concurrency: usize,
    /// Jobs in flight per host.
    pub per_host: usize,
    /// Requests started per second.
    pub rate: Option<f64>,
    /// Total time per attempt.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Redirects followed.
    pub max_redirects: u32,
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
    /// Body bytes read at most per URL.
    pub max_body: u64,
    /// Title characters kept.
    pub max_title_len: usize,
    /// Output format.
    pub format: Format,
    /// Record order.
    pub order: Order,
    /// Output file (stdout when `None`).
    pub output: Option<PathBuf>,
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
    /// Grace period for in-flight requests after Ctrl-C.
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sources: vec![Source::Stdin],
            scheme: Scheme::Https,
            dedupe: true,
            shard: None,
            skip_done: None,
            concurrency: 50,
            per_host: 4,
            rate: None,
            timeout: Duration::from_secs(10),
            connect_timeout: None,
            retries: 1,
            retry_after_cap: Duration::from_secs(30),
            backoff_base: Duration::from_millis(250),
            max_redirects: 10,
            insecure: false,
            proxy: None,
            ignore_env_proxy: false,
            headers: HeaderMap::new(),
            location_trusted: false,
            user_agent: default_user_agent(),
            max_body: 1024 * 1024,
            max_title_len: 1024,
            format: Format::Text,
            order: Order::Completion,
            output: None,
            append: false,
            progress: false,
            summary: true,
            color: false,
            csv_formula_guard: false,
            grace: Duration::from_secs(2),
        }
    }
}
