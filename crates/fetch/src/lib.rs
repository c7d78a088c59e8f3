//! `fetch-titles`: a bounded-parallel HTML title fetcher for URL lists.
//!
//! # Design
//!
//! - **Input** ([`input`]) is a lazy stream of lines from files and/or stdin;
//!   blank lines and `#` comments are skipped, a missing scheme gets
//!   `--scheme` (`auto`: `https://`, and `http://` when https cannot
//!   connect or fails its TLS handshake), invalid lines become `invalid_url` records with their line
//!   number, duplicates and other shards are filtered out by a 64-bit hash
//!   ([`shard`] uses FNV-1a, stable across machines and versions), kept in
//!   a compact set of 64-bit hashes ([`hash_set`]: 30 million URLs in
//!   under 300 MB).
//! - **Scheduling** goes through `netkit-pool`: global concurrency, a
//!   per-host limit (the pool's `per_key`), a global start rate, per-attempt
//!   timeouts, retries with exponential backoff and jitter for connect
//!   errors, 429 and 5xx (honouring `Retry-After` up to a cap), ordered or
//!   completion-order results, and cancellation.
//! - **Fetching** ([`fetcher`]) uses one shared reqwest client (rustls,
//!   HTTP/2 via ALPN, gzip/brotli/deflate/zstd, connection reuse, the
//!   system resolver but RFC 6761 `.invalid` names failed locally by
//!   [`resolve`]). Redirects
//!   are followed by hand so the count and final URL are exact, to http(s)
//!   only (anything else is `unsupported_redirect`), and the credential
//!   headers (`Authorization`, `Cookie`, `Proxy-Authorization`) go only to
//!   the origin of the URL as given unless `--location-trusted`
//!   ([`fetcher::Credentials`]). Non-HTML responses are recorded without
//!   reading their body.
//! - **Titles** ([`title`]) are `document.title`: the first HTML-namespace
//!   `title` in tree order of the tree html5ever's tree builder makes, fed
//!   chunk by chunk; reading stops once no later input can change it (or
//!   at `--max-body`), and the common head is decided by the standard's
//!   tokenizer rules without a tree. The charset is resolved BOM > HTTP
//!   header > `<meta>` prescan > chardetng > UTF-8 before the text reaches
//!   the parser; while it is only tentative, a `<meta>` the parser meets
//!   later changes it as in a browser (the page is decoded again), and
//!   every record says which encoding was used and where it came from.
//!   ASCII whitespace is collapsed as `document.title` does; XHTML served
//!   as `application/xhtml+xml` is read under XML rules.
//! - **Output** ([`output`]) writes text, jsonl or csv, whole records in
//!   batches flushed whenever the run is about to wait. Text and CSV
//!   neutralise C0/C1 controls and bidi overrides, jsonl escapes them; a
//!   failed write cuts a regular file back to its last whole record and
//!   ends the run with exit 2. [`summary`] prints counts on stderr.
//!
//! [`run()`] ties it together; [`cli`] holds the flags, [`exit`] the one map
//! from a run's result to the exit code; `main.rs` parses flags and runs
//! [`run()`] on a single-threaded runtime. [`threads`] spreads the attempts
//! over `--threads N` threads (default: one per CPU), each with its own
//! single-threaded runtime and HTTP client, while the input, the pool's
//! limits and the output stay on the run's thread.

pub mod cli;
pub mod config;
pub mod exit;
pub mod fetcher;
pub mod hash_set;
pub mod input;
pub mod output;
pub mod record;
pub mod resolve;
pub mod run;
pub mod shard;
pub mod summary;
pub mod threads;
pub mod title;

pub use config::{
    ClientConfig, Config, FetchLimits, InputConfig, Order, OutputConfig, PoolConfig,
    default_user_agent,
};
pub use exit::Exit;
pub use input::{Scheme, Source};
pub use output::Format;
pub use record::{ErrorKind, Record, RecordError};
pub use run::{RunError, RunOutcome, run};
pub use shard::Shard;
