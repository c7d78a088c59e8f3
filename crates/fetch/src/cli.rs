//! fetch-titles' flags (clap derive) and their translation into the
//! checked [`Config`]. `main.rs` only parses, picks the runtime and maps the
//! result to an exit code.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use netkit_cli::{UiArgs, parse_duration};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{ClientConfig, InputConfig, OutputConfig, PoolConfig, defaults};
use crate::{Config, FetchLimits, Format, Order, Scheme, Shard, Source, default_user_agent};

/// Fetch the HTML <title> of every URL in a list, fast and correctly.
///
/// URLs come from FILE arguments or stdin, one per line. Exit codes: 0 every
/// URL was fetched (any HTTP status), 1 some URL has an error record,
/// 2 usage error or the output could not be written, 130/143 cut short by
/// SIGINT/SIGTERM (after every finished record is written).
#[derive(Debug, Parser)]
#[command(name = "fetch-titles", version, about)]
pub struct Args {
    /// Input files with one URL per line; `-` or no file reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Scheme for lines that have none: `auto` tries https, then http when
    /// the connection or the TLS handshake fails.
    #[arg(long, value_enum, default_value_t = Scheme::default())]
    pub scheme: Scheme,
    /// Keep duplicate URLs (they are skipped by default).
    #[arg(long)]
    pub no_dedupe: bool,
    /// Only process shard K of N (K from 0): URLs whose FNV-1a hash mod N is K.
    /// `index/N` takes K from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Skip URLs that already have a record in this earlier jsonl output.
    #[arg(long, value_name = "FILE")]
    pub skip_done: Option<PathBuf>,
    /// Maximum requests in flight.
    #[arg(short = 'c', long, default_value_t = defaults::CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Maximum requests in flight per host:port.
    #[arg(long, default_value_t = defaults::PER_HOST, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_host: u32,
    /// Global limit on requests started per second.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Total time per attempt: connect, headers and body (e.g. 10s, 500ms).
    #[arg(long, default_value = defaults::TIMEOUT, value_parser = parse_duration)]
    pub timeout: Duration,
    /// Connect timeout (defaults to the total timeout).
    #[arg(long, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Retries for connect errors, 429 and 5xx (exponential backoff with jitter).
    #[arg(long, default_value_t = defaults::RETRIES)]
    pub retries: u32,
    /// Longest Retry-After honoured.
    #[arg(long, default_value = defaults::RETRY_AFTER_CAP, value_parser = parse_duration)]
    pub retry_after_cap: Duration,
    /// Redirects to follow.
    #[arg(long, default_value_t = defaults::MAX_REDIRECTS)]
    pub max_redirects: u32,
    /// Accept invalid TLS certificates.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Proxy for all requests (http://, https:// or socks5:// URL); HTTP(S)_PROXY and NO_PROXY are honoured otherwise.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Extra request header, `Name: value` (repeatable). Every redirect
    /// hop gets it, except Authorization, Cookie and Proxy-Authorization,
    /// which go only to the scheme, host and port of the URL as given.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Send Authorization, Cookie and Proxy-Authorization headers to
    /// redirect targets on other hosts too (as curl's --location-trusted).
    #[arg(long)]
    pub location_trusted: bool,
    /// User-Agent header.
    #[arg(short = 'A', long, default_value_t = default_user_agent())]
    pub user_agent: String,
    /// Read at most this many body bytes per URL in search of a title.
    #[arg(long, default_value_t = defaults::MAX_BODY, value_name = "BYTES")]
    pub max_body: u64,
    /// Keep at most this many characters of a title.
    #[arg(long, default_value_t = defaults::MAX_TITLE_LEN, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_title_len: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::default())]
    pub format: Format,
    /// In CSV, prefix ' to every field that starts with = + - or @, so a
    /// spreadsheet shows it as text instead of running it as a formula
    /// (OWASP's advice against CSV injection).
    #[arg(long)]
    pub csv_formula_guard: bool,
    /// Record order: as URLs complete, or in input order (bounded reorder buffer).
    #[arg(long, value_enum, default_value_t = Order::default())]
    pub order: Order,
    /// Write records to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Append to the -o file instead of truncating it (automatic when it is the --skip-done file).
    #[arg(long)]
    pub append: bool,
    /// Threads making requests, each with its own event loop and connections
    /// (default: one per CPU). The input, the limits and the output stay on
    /// one of them; 1 starts no other thread.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Grace period for in-flight requests after Ctrl-C.
    #[arg(long, default_value = defaults::GRACE, value_parser = parse_duration)]
    pub grace: Duration,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// `--threads` when not given: one per CPU the process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn parse_header(h: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = h
        .split_once(':')
        .with_context(|| format!("header {h:?} must look like `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .with_context(|| format!("bad header name in {h:?}"))?;
    let value = HeaderValue::from_str(value.trim())
        .with_context(|| format!("bad header value in {h:?}"))?;
    Ok((name, value))
}

/// The checked run configuration for `args`; the error is a usage error.
pub fn config_from(args: Args) -> anyhow::Result<Config> {
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = parse_header(h)?;
        headers.append(name, value);
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number, got {rate}");
    }
    let stdin_is_tty = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let sources: Vec<Source> = if args.files.is_empty() {
        if stdin_is_tty {
            bail!("no input: give URL files as arguments or pipe URLs on stdin (see --help)");
        }
        vec![Source::Stdin]
    } else {
        args.files
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    Source::Stdin
                } else {
                    Source::File(p.clone())
                }
            })
            .collect()
    };
    Ok(Config {
        input: InputConfig {
            sources,
            scheme: args.scheme,
            dedupe: !args.no_dedupe,
            shard: args.shard,
            skip_done: args.skip_done,
        },
        client: ClientConfig {
            connect_timeout: args.connect_timeout,
            insecure: args.insecure,
            proxy: args.proxy,
            ignore_env_proxy: false,
            headers,
            location_trusted: args.location_trusted,
            user_agent: args.user_agent,
        },
        limits: FetchLimits {
            max_redirects: args.max_redirects,
            max_body: args.max_body,
            max_title_len: args.max_title_len as usize,
            timeout: args.timeout,
        },
        pool: PoolConfig {
            concurrency: args.concurrency as usize,
            per_host: args.per_host as usize,
            rate: args.rate,
            retries: args.retries,
            retry_after_cap: args.retry_after_cap,
            backoff_base: defaults::BACKOFF_BASE,
            grace: args.grace,
            threads: args.threads.map_or_else(default_threads, usize::from),
        },
        output: OutputConfig {
            format: args.format,
            order: args.order,
            color: args.output.is_none() && args.ui.color_for_stdout(),
            csv_formula_guard: args.csv_formula_guard,
            path: args.output,
            append: args.append,
            progress: args.ui.progress_enabled(),
            summary: !args.ui.quiet,
        },
    })
}
