//! Streaming URL input: files and/or stdin, one URL per line.
//!
//! Lines are read one at a time (never the whole input), blank lines and
//! `#` comments are skipped, a missing scheme gets `--scheme`, invalid lines
//! become jobs that turn into `invalid_url` records (with their source and
//! line number), and dedupe / `--shard` / `--skip-done` filtering happens
//! here, before anything reaches the pool. Dedupe keeps one 64-bit hash per
//! distinct URL, so a million URLs cost about 16 MiB.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::Stream;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use url::Url;

use crate::hash_set::HashSet64;
use crate::shard::{Shard, fnv1a64};

/// Lines longer than this are rejected (and skipped without buffering them).
pub const MAX_LINE: usize = 64 * 1024;

/// Scheme given to lines without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scheme {
    /// `https://` first, `http://` when the connection or the TLS
    /// handshake fails (default), as httpx does.
    #[default]
    Auto,
    /// `https://` only.
    Https,
    /// `http://` only.
    Http,
}

impl Scheme {
    /// The scheme tried first (`auto` tries https first).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https | Self::Auto => "https",
        }
    }
}

/// Where URLs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Self::Stdin => "stdin".to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

/// One unit of work for the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The line as given (trimmed).
    pub given: String,
    /// The URL to fetch, or why the line is not one (with `source:line:`).
    pub target: Result<Url, String>,
    /// `--scheme auto` and a line without a scheme: the `http://` URL to
    /// try when `target`'s connection or TLS handshake fails.
    pub fallback: Option<Url>,
}

impl Job {
    /// The per-host limit key.
    pub fn host_key(&self) -> String {
        match &self.target {
            Ok(u) => format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(0)
            ),
            Err(_) => String::new(),
        }
    }
}

/// True when `line` starts with a scheme (`javascript:alert(1)`,
/// `mailto:x@example.com`, `file:/etc/passwd`, `https://...`) rather than
/// a host with an optional port (`example.com`, `localhost:8080/x`):
/// an RFC 3986 scheme name and a colon, followed by `/`, or by anything
/// that is not a port number. A name with a dot before the colon is a
/// host (`example.com:8080`) unless `/` follows the colon. `tel:`, `sms:`
/// and `fax:` are schemes even when digits follow.
pub fn has_scheme(line: &str) -> bool {
    let Some((name, rest)) = line.split_once(':') else {
        return false;
    };
    let mut chars = name.chars();
    let valid_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_name {
        return false;
    }
    if rest.starts_with('/') {
        return true;
    }
    if ["tel", "sms", "fax"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
    {
        return true;
    }
    let port_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let port_like = port_len > 0
        && matches!(
            rest.as_bytes().get(port_len),
            None | Some(b'/' | b'?' | b'#')
        );
    !port_like && !name.contains('.')
}

/// Turns a line into a URL: adds the scheme when missing, accepts only
/// http(s) URLs with a host.
pub fn normalize(line: &str, scheme: Scheme) -> Result<Url, String> {
    let line = line.trim();
    let parsed = if has_scheme(line) {
        Url::parse(line)
    } else {
        Url::parse(&format!("{}://{line}", scheme.as_str()))
    };
    let url = parsed.map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme {:?} (only http and https)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("invalid URL: no host".to_owned());
    }
    Ok(url)
}

/// The hash used for dedupe and `--skip-done`.
pub fn url_hash(url: &Url) -> u64 {
    fnv1a64(url.as_str().as_bytes())
}

/// Reads an earlier jsonl output and returns the hashes of every URL that
/// already has a record. Half-written lines are ignored.
pub async fn load_done(path: &Path, scheme: Scheme) -> std::io::Result<HashSet64> {
    let file = tokio::fs::File::open(path).await?;
    let mut reader = BufReader::new(file);
    let mut done = HashSet64::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            // A last line without its newline is torn (the run that wrote
            // it was killed mid-write): not done, whatever it holds.
            break;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(given) = value.get("url").and_then(|u| u.as_str())
            && let Ok(url) = normalize(given, scheme)
        {
            done.insert(url_hash(&url));
        }
    }
    Ok(done)
}

/// Filtering applied to the input stream.
#[derive(Debug, Default)]
pub struct InputFilter {
    /// Scheme for lines without one.
    pub scheme: Scheme,
    /// Skip URLs seen before.
    pub dedupe: bool,
    /// Only this shard.
    pub shard: Option<Shard>,
    /// Skip these (from `--skip-done`).
    pub done: HashSet64,
    /// Counts jobs emitted (for the progress bar's total).
    pub emitted: Arc<AtomicU64>,
    /// Counts URLs skipped by dedupe / shard / skip-done.
    pub skipped: Arc<AtomicU64>,
}

type Reader = Pin<Box<dyn AsyncBufRead + Send>>;

/// Opens every source up front so a missing file is a usage error, not a
/// surprise halfway through.
pub async fn open_sources(sources: &[Source]) -> std::io::Result<Vec<(String, Reader)>> {
    let mut out = Vec::with_capacity(sources.len());
    for src in sources {
        let reader: Reader = match src {
            Source::Stdin => Box::pin(BufReader::new(tokio::io::stdin())),
            Source::File(p) => {
                let f = tokio::fs::File::open(p)
                    .await
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                Box::pin(BufReader::new(f))
            }
        };
        out.push((src.name(), reader));
    }
    Ok(out)
}

struct State {
    sources: VecDeque<(String, Reader)>,
    line_no: u64,
    buf: Vec<u8>,
    filter: InputFilter,
    seen: HashSet64,
}

enum Line {
    Text(String),
    TooLong,
    NotUtf8,
    Eof,
    Failed(String),
}

async fn read_line(reader: &mut Reader, buf: &mut Vec<u8>) -> Line {
    buf.clear();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    match (&mut *reader).take(limit).read_until(b'\n', buf).await {
        Ok(0) => return Line::Eof,
        Ok(_) => {}
        Err(e) => return Line::Failed(e.to_string()),
    }
    if buf.len() >= MAX_LINE && buf.last() != Some(&b'\n') {
        // Skip the rest of the line without keeping it.
        loop {
            let chunk = match reader.fill_buf().await {
                Ok([]) => break,
                Ok(c) => c,
                Err(e) => return Line::Failed(e.to_string()),
            };
            if let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
                reader.as_mut().consume(pos + 1);
                break;
            }
            let n = chunk.len();
            reader.as_mut().consume(n);
        }
        return Line::TooLong;
    }
    match std::str::from_utf8(buf) {
        Ok(s) => Line::Text(s.to_owned()),
        Err(_) => Line::NotUtf8,
    }
}

impl State {
    async fn next_job(&mut self) -> Option<Job> {
        loop {
            let (name, reader) = self.sources.front_mut()?;
            let line = read_line(reader, &mut self.buf).await;
            self.line_no += 1;
            let text = match line {
                Line::Eof => {
                    self.sources.pop_front();
                    self.line_no = 0;
                    continue;
                }
                Line::Failed(e) => {
                    tracing::error!("reading {name}: {e}");
                    self.sources.pop_front();
                    self.line_no = 0;
                    continue;
                }
                Line::TooLong => {
                    let at = self.at();
                    return Some(self.invalid(
                        String::new(),
                        format!("{at}: line longer than {MAX_LINE} bytes"),
                    ));
                }
                Line::NotUtf8 => {
                    let given = String::from_utf8_lossy(&self.buf).trim().to_owned();
                    let at = self.at();
                    return Some(self.invalid(given, format!("{at}: line is not valid UTF-8")));
                }
                Line::Text(t) => t,
            };
            let given = text.trim().trim_start_matches('\u{feff}').trim();
            if given.is_empty() || given.starts_with('#') {
                continue;
            }
            match normalize(given, self.filter.scheme) {
                Err(e) => {
                    let at = self.at();
                    return Some(self.invalid(given.to_owned(), format!("{at}: {e}")));
                }
                Ok(url) => {
                    let hash = url_hash(&url);
                    // Shard first, so other shards' URLs never enter the dedupe set.
                    let skip = self.filter.shard.is_some_and(|s| !s.contains(url.as_str()))
                        || self.filter.done.contains(hash)
                        || (self.filter.dedupe && !self.seen.insert(hash));
                    if skip {
                        self.filter.skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    self.filter.emitted.fetch_add(1, Ordering::Relaxed);
                    let fallback = (self.filter.scheme == Scheme::Auto && !has_scheme(given))
                        .then(|| normalize(given, Scheme::Http).ok())
                        .flatten();
                    return Some(Job {
                        given: given.to_owned(),
                        target: Ok(url),
                        fallback,
                    });
                }
            }
        }
    }

    /// `source:line` of the line just read, for error messages.
    fn at(&self) -> String {
        let name = self.sources.front().map_or("", |(name, _)| name.as_str());
        format!("{name}:{}", self.line_no)
    }

    fn invalid(&self, given: String, message: String) -> Job {
        self.filter.emitted.fetch_add(1, Ordering::Relaxed);
        Job {
            given,
            target: Err(message),
            fallback: None,
        }
    }
}

/// The lazy job stream over the opened sources.
pub fn job_stream(
    sources: Vec<(String, Reader)>,
    filter: InputFilter,
) -> Pin<Box<dyn Stream<Item = Job> + Send>> {
    let state = State {
        sources: sources.into(),
        line_no: 0,
        buf: Vec::new(),
        filter,
        seen: HashSet64::new(),
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        let job = st.next_job().await?;
        Some((job, st))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn reader(text: &'static [u8]) -> (String, Reader) {
        ("mem".to_owned(), Box::pin(BufReader::new(text)))
    }

    async fn collect(text: &'static [u8], filter: InputFilter) -> Vec<Job> {
        job_stream(vec![reader(text)], filter).collect().await
    }

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize("example.com", Scheme::Https).unwrap().as_str(),
            "https://example.com/"
        );
        assert_eq!(
            normalize("example.com:8080/x", Scheme::Http)
                .unwrap()
                .as_str(),
            "http://example.com:8080/x"
        );
        assert_eq!(
            normalize("HTTP://Example.COM", Scheme::Https)
                .unwrap()
                .as_str(),
            "http://example.com/"
        );
        assert!(normalize("ftp://example.com", Scheme::Https).is_err());
        assert_eq!(
            normalize("localhost:8080", Scheme::Http).unwrap().as_str(),
            "http://localhost:8080/"
        );
        assert_eq!(
            normalize("127.0.0.1:8080?q", Scheme::Http)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/?q"
        );
        assert_eq!(
            normalize("Http:/example.com/x", Scheme::Https)
                .unwrap()
                .as_str(),
            "http://example.com/x"
        );
        for (line, scheme) in [
            ("javascript:alert(1)", "javascript"),
            ("JavaScript:void(0)", "javascript"),
            ("data:text/html,<title>x</title>", "data"),
            ("mailto:someone@example.com", "mailto"),
            ("tel:5551234", "tel"),
            ("file:///etc/passwd", "file"),
            ("ftp://example.com/", "ftp"),
            ("about:blank", "about"),
        ] {
            let err = normalize(line, Scheme::Https).unwrap_err();
            assert_eq!(
                err,
                format!("unsupported scheme \"{scheme}\" (only http and https)"),
                "{line}"
            );
        }
        // A port that is out of range or not a number stays a port error.
        let err = normalize("example.com:99999", Scheme::Https).unwrap_err();
        assert!(err.contains("invalid port"), "{err}");
        assert!(normalize("http://", Scheme::Https).is_err());
        assert!(normalize("exa mple.com", Scheme::Https).is_err());
    }

    #[tokio::test]
    async fn skips_comments_blank_lines_and_duplicates() {
        let jobs = collect(
            b"# comment\n\n  example.com  \nhttps://example.com/\r\nhttp://[::1\nexample.org#frag\n",
            InputFilter { dedupe: true, ..InputFilter::default() },
        )
        .await;
        assert_eq!(jobs.len(), 3, "{jobs:?}");
        assert_eq!(jobs[0].given, "example.com");
        assert_eq!(jobs[1].given, "http://[::1");
        let err = jobs[1].target.as_ref().unwrap_err();
        assert!(err.starts_with("mem:5: invalid URL"), "{err}");
        assert_eq!(
            jobs[2].target.as_ref().unwrap().as_str(),
            "https://example.org/#frag"
        );
    }

    #[tokio::test]
    async fn no_dedupe_keeps_duplicates() {
        let jobs = collect(b"a.com\na.com\n", InputFilter::default()).await;
        assert_eq!(jobs.len(), 2);
    }

    #[tokio::test]
    async fn invalid_utf8_and_long_lines_become_records() {
        let mut long = vec![b'a'; MAX_LINE + 10];
        long.extend_from_slice(b"\n\xff\xfe\nok.com\n");
        let leaked: &'static [u8] = Box::leak(long.into_boxed_slice());
        let jobs = collect(leaked, InputFilter::default()).await;
        assert_eq!(jobs.len(), 3);
        assert!(
            jobs[0]
                .target
                .as_ref()
                .unwrap_err()
                .contains("mem:1: line longer")
        );
        assert!(
            jobs[1]
                .target
                .as_ref()
                .unwrap_err()
                .contains("mem:2: line is not valid UTF-8")
        );
        assert!(jobs[2].target.is_ok());
    }

    #[tokio::test]
    async fn shards_are_disjoint_and_complete() {
        let text: &'static [u8] = Box::leak(
            (0..200)
                .map(|i| format!("h{i}.test\n"))
                .collect::<String>()
                .into_bytes()
                .into_boxed_slice(),
        );
        let mut total = 0;
        for k in 0..3 {
            let shard = Some(Shard { index: k, count: 3 });
            total += collect(
                text,
                InputFilter {
                    shard,
                    ..InputFilter::default()
                },
            )
            .await
            .len();
        }
        assert_eq!(total, 200);
    }
}
