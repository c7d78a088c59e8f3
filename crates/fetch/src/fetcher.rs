//! Fetching one URL: redirects followed by hand (so the count and final URL
//! are exact), non-HTML bodies never downloaded, HTML bodies streamed into
//! the [`TitleExtractor`] and dropped as soon as it has what it needs, never
//! more than `--max-body` bytes.
//!
//! # Credentials and redirects
//!
//! `-H` headers that carry credentials (`Authorization`, `Cookie`,
//! `Proxy-Authorization`, see [`CREDENTIAL_HEADERS`]) are not client-wide
//! default headers: [`Credentials`] holds them and adds them to a request
//! only when its URL has the origin (scheme, host and port) of the URL as
//! given, as curl does since 7.83 (`Curl_auth_allowed_to_host`: a
//! redirect to another host, port or scheme drops them, one back to the
//! first origin sends them again). `--location-trusted` sends them to
//! every hop. Every other `-H` header goes to every hop, as in curl.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, LOCATION, PROXY_AUTHORIZATION,
    RETRY_AFTER,
};
use reqwest::{Client, StatusCode};
use url::Url;

use crate::record::ErrorKind;
use crate::resolve::Resolver;
use crate::title::{
    CharsetSource, ExtractOptions, ScanEnd, TitleExtractor, charset_from_content_type,
};

/// Client-level settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Accept invalid certificates.
    pub insecure: bool,
    /// Explicit proxy for every request.
    pub proxy: Option<String>,
    /// Ignore `HTTP(S)_PROXY` / `NO_PROXY` (tests).
    pub ignore_env_proxy: bool,
    /// Extra headers sent with every request (credentials excluded: see
    /// [`Credentials`]).
    pub headers: HeaderMap,
    /// User-Agent.
    pub user_agent: String,
    /// Idle connections kept per host.
    pub idle_per_host: usize,
}

/// Builds the shared reqwest client (rustls, HTTP/2 via ALPN, gzip, brotli,
/// deflate and zstd, connection reuse, [`Resolver`]).
pub fn build_client(opts: &ClientOptions) -> Result<Client, reqwest::Error> {
    let mut b = Client::builder()
        .dns_resolver(Resolver)
        .user_agent(opts.user_agent.clone())
        .default_headers(opts.headers.clone())
        .redirect(reqwest::redirect::Policy::none())
        .tls_danger_accept_invalid_certs(opts.insecure)
        .pool_max_idle_per_host(opts.idle_per_host)
        .tcp_nodelay(true);
    if let Some(ct) = opts.connect_timeout {
        b = b.connect_timeout(ct);
    }
    if opts.ignore_env_proxy {
        b = b.no_proxy();
    }
    if let Some(p) = &opts.proxy {
        b = b.proxy(reqwest::Proxy::all(p.as_str())?);
    }
    b.build()
}

/// The request headers that carry credentials: sent only to the origin of
/// the URL as given (unless `--location-trusted`).
pub const CREDENTIAL_HEADERS: [HeaderName; 3] = [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION];

/// Credential headers and where they may go.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `-H` headers named in [`CREDENTIAL_HEADERS`].
    pub headers: HeaderMap,
    /// `--location-trusted`: send them to every redirect target too.
    pub trusted: bool,
}

impl Credentials {
    /// Splits `headers` into the credentials (returned) and the rest (left
    /// in `headers`).
    pub fn take_from(headers: &mut HeaderMap, trusted: bool) -> Self {
        let mut taken = HeaderMap::new();
        for name in CREDENTIAL_HEADERS {
            for value in headers.get_all(&name) {
                taken.append(name.clone(), value.clone());
            }
            headers.remove(&name);
        }
        Self {
            headers: taken,
            trusted,
        }
    }

    /// The credentials to send to `target` when the URL given was `first`.
    fn for_target(&self, first: &Url, target: &Url) -> Option<&HeaderMap> {
        if self.headers.is_empty() || !(self.trusted || same_origin(first, target)) {
            return None;
        }
        Some(&self.headers)
    }
}

/// Same scheme, host and port (the default port of the scheme when none
/// is written): the test curl applies before it sends `Authorization` or
/// `Cookie` after a redirect.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Per-request limits.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Redirects to follow.
    pub max_redirects: u32,
    /// Body bytes to read at most.
    pub max_body: u64,
    /// Title characters to keep.
    pub max_title_len: usize,
    /// Total time for one attempt (backstop around the whole exchange).
    pub timeout: Duration,
}

/// What an attempt learned, successful or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// URL of the last response.
    pub final_url: Option<String>,
    /// Status of the last response.
    pub status: Option<u16>,
    /// The title.
    pub title: Option<String>,
    /// The last response's Content-Type.
    pub content_type: Option<String>,
    /// The encoding the body was decoded with (its WHATWG name).
    pub charset: Option<&'static str>,
    /// Where that encoding came from.
    pub charset_source: Option<CharsetSource>,
    /// Redirects followed.
    pub redirects: u32,
    /// Body bytes read.
    pub bytes_read: u64,
}

/// Why an attempt did not produce a record on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// A real error; `partial` holds whatever was learned first.
    Error {
        /// Stable kind.
        kind: ErrorKind,
        /// Detail.
        message: String,
        /// Progress made before the failure.
        partial: Fetched,
        /// The first request failed before any response: the TCP
        /// connection or the TLS handshake (a DNS failure excluded).
        connecting: bool,
    },
    /// 429 or 5xx on a non-final attempt: retry (after `retry_after` if given).
    RetryableStatus {
        /// The status.
        status: u16,
        /// The server's `Retry-After`, in seconds form.
        retry_after: Option<Duration>,
        /// Progress made.
        partial: Fetched,
    },
}

impl FetchFailure {
    /// True when the first request's TCP connection or TLS handshake
    /// failed (refused, reset, unreachable, a certificate or handshake
    /// error, the connect timeout): `--scheme auto` then tries http.
    /// HTTP error statuses, DNS failures and failures after a response
    /// are not.
    pub fn connection_failed(&self) -> bool {
        matches!(
            self,
            Self::Error {
                connecting: true,
                ..
            }
        )
    }

    /// True for the failures worth retrying: connect errors, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Error { kind, .. } => matches!(kind, ErrorKind::Connect | ErrorKind::Dns),
            Self::RetryableStatus { .. } => true,
        }
    }
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error { kind, message, .. } => write!(f, "{kind}: {message}"),
            Self::RetryableStatus { status, .. } => write!(f, "HTTP {status}"),
        }
    }
}

/// Content types whose bodies we read. A missing Content-Type is sniffed.
pub fn is_html(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(essence.as_str(), "text/html" | "application/xhtml+xml" | "")
}

/// Parses `Retry-After` in its delta-seconds form.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

fn chain_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}

/// True when hyper refused the response as HTTP: a malformed status line
/// or header, or a head over its size limits (`is_parse_too_large`).
fn invalid_http(e: &reqwest::Error) -> bool {
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return h.is_parse() || h.is_parse_status() || h.is_parse_too_large();
        }
        src = s.source();
    }
    false
}

/// Maps a reqwest error to the stable error taxonomy.
pub fn classify(e: &reqwest::Error) -> (ErrorKind, String) {
    let text = chain_text(e);
    let lower = text.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_dns() {
        ErrorKind::Dns
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("invalidcontenttype")
    {
        ErrorKind::Tls
    } else if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_redirect() {
        ErrorKind::TooManyRedirects
    } else if invalid_http(e)
        || lower.contains("invalid http")
        || lower.contains("parse")
        || lower.contains("invalid status")
        || lower.contains("invalid header")
    {
        ErrorKind::HttpStatus
    } else {
        ErrorKind::Io
    };
    (kind, text)
}

/// Where a redirect goes: `Location` resolved against the current URL, as
/// a browser does (raw UTF-8 accepted and percent-encoded by the URL
/// parser). Anything but http(s) is refused, with the reason.
pub fn redirect_target(current: &Url, location: &[u8]) -> Result<Url, String> {
    let text = std::str::from_utf8(location)
        .map_err(|_| format!("redirect to a Location that is not UTF-8: {location:?}"))?;
    let next = current
        .join(text.trim())
        .map_err(|e| format!("redirect to a Location that is not a URL ({e}): {text:?}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!(
            "redirect to a {}: URL, not followed (only http and https): {}",
            next.scheme(),
            excerpt(next.as_str())
        ));
    }
    Ok(next)
}

/// At most 200 characters of `s` (a `data:` URL can be megabytes long).
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

fn fail(kind: ErrorKind, message: impl Into<String>, partial: &Fetched) -> FetchFailure {
    FetchFailure::Error {
        kind,
        message: message.into(),
        partial: partial.clone(),
        connecting: false,
    }
}

/// Fetches `url` once (one attempt, redirects included). `final_attempt`
/// turns a 429/5xx into a normal record instead of a retry request.
pub async fn fetch(
    client: &Client,
    credentials: &Credentials,
    url: &Url,
    limits: FetchLimits,
    final_attempt: bool,
) -> Result<Fetched, FetchFailure> {
    let mut progress = Fetched::default();
    let outcome = tokio::time::timeout(
        limits.timeout,
        attempt(
            client,
            credentials,
            url,
            limits,
            final_attempt,
            &mut progress,
        ),
    )
    .await;
    match outcome {
        Ok(r) => r,
        Err(_) => Err(fail(
            ErrorKind::Timeout,
            format!("no complete answer within {:?}", limits.timeout),
            &progress,
        )),
    }
}

async fn attempt(
    client: &Client,
    credentials: &Credentials,
    url: &Url,
    limits: FetchLimits,
    final_attempt: bool,
    progress: &mut Fetched,
) -> Result<Fetched, FetchFailure> {
    let mut current = url.clone();
    let mut response = loop {
        let mut request = client.get(current.clone());
        if let Some(headers) = credentials.for_target(url, &current) {
            request = request.headers(headers.clone());
        }
        let first = progress.redirects == 0;
        let resp = request.send().await.map_err(|e| {
            let (kind, message) = classify(&e);
            let connecting = first && e.is_connect() && kind != ErrorKind::Dns;
            match fail(kind, message, progress) {
                FetchFailure::Error {
                    kind,
                    message,
                    partial,
                    ..
                } => FetchFailure::Error {
                    kind,
                    message,
                    partial,
                    connecting,
                },
                other => other,
            }
        })?;
        progress.final_url = Some(resp.url().to_string());
        progress.status = Some(resp.status().as_u16());
        progress.content_type = content_type(resp.headers());
        if resp.status().is_redirection()
            && let Some(location) = resp.headers().get(LOCATION)
        {
            let next = redirect_target(&current, location.as_bytes())
                .map_err(|message| fail(ErrorKind::UnsupportedRedirect, message, progress))?;
            if progress.redirects >= limits.max_redirects {
                return Err(fail(
                    ErrorKind::TooManyRedirects,
                    format!(
                        "more than {} redirects (last: {current})",
                        limits.max_redirects
                    ),
                    progress,
                ));
            }
            progress.redirects += 1;
            current = next;
            continue;
        }
        break resp;
    };
    let status = response.status();
    if !final_attempt && (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
        return Err(FetchFailure::RetryableStatus {
            status: status.as_u16(),
            retry_after: parse_retry_after(response.headers()),
            partial: progress.clone(),
        });
    }
    if !is_html(progress.content_type.as_deref()) {
        // Dropping the response without reading closes (or drains) it.
        return Ok(std::mem::take(progress));
    }
    let mut extractor = TitleExtractor::new(ExtractOptions {
        max_title_len: limits.max_title_len,
        header_charset: progress
            .content_type
            .as_deref()
            .and_then(charset_from_content_type),
    });
    let declared_len = response.content_length();
    let mut limit_hit = false;
    let mut stopped_early = false;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let (kind, message) = classify(&e);
                let kind = if kind == ErrorKind::Timeout {
                    kind
                } else {
                    ErrorKind::Io
                };
                return Err(fail(kind, message, progress));
            }
        };
        let room = limits.max_body.saturating_sub(progress.bytes_read);
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(chunk.len());
        progress.bytes_read += take as u64;
        let more = extractor.feed(&chunk[..take]);
        if !more {
            stopped_early = true;
            break;
        }
        if progress.bytes_read >= limits.max_body {
            limit_hit = true;
            break;
        }
    }
    if stopped_early {
        drain_small_rest(&mut response, declared_len, limits, progress).await;
    }
    drop(response);
    let extraction = extractor.finish();
    progress.title = extraction.title;
    progress.charset = Some(extraction.encoding.name());
    progress.charset_source = Some(extraction.charset_source);
    if limit_hit && extraction.end == ScanEnd::Incomplete {
        return Err(fail(
            ErrorKind::BodyTooLarge,
            format!(
                "no title in the first {} bytes (--max-body)",
                limits.max_body
            ),
            progress,
        ));
    }
    Ok(std::mem::take(progress))
}

/// A body this close to its end is read to the end so the connection goes
/// back to the pool instead of being closed (on loopback a new connection
/// costs far more than a few KiB).
pub const DRAIN_LIMIT: u64 = 32 * 1024;

async fn drain_small_rest(
    response: &mut reqwest::Response,
    declared_len: Option<u64>,
    limits: FetchLimits,
    progress: &mut Fetched,
) {
    let Some(len) = declared_len else {
        return;
    };
    let budget = DRAIN_LIMIT.min(limits.max_body.saturating_sub(progress.bytes_read));
    if len.saturating_sub(progress.bytes_read) > budget {
        return;
    }
    let mut drained = 0u64;
    while let Ok(Some(chunk)) = response.chunk().await {
        drained += chunk.len() as u64;
        progress.bytes_read += chunk.len() as u64;
        if drained > budget {
            return;
        }
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_content_types() {
        assert!(is_html(None));
        assert!(is_html(Some("text/html; charset=utf-8")));
        assert!(is_html(Some("TEXT/HTML")));
        assert!(is_html(Some("application/xhtml+xml")));
        assert!(!is_html(Some("image/png")));
        assert!(!is_html(Some("application/json")));
        assert!(!is_html(Some("application/pdf")));
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        let first = u("http://example.com/a");
        assert!(same_origin(&first, &u("http://EXAMPLE.com:80/b?c")));
        assert!(!same_origin(&first, &u("https://example.com/a")), "scheme");
        assert!(
            !same_origin(&first, &u("http://example.com:8080/a")),
            "port"
        );
        assert!(!same_origin(&first, &u("http://www.example.com/a")), "host");
        assert!(!same_origin(
            &u("http://127.0.0.1/"),
            &u("http://127.0.0.2/")
        ));
    }

    #[test]
    fn credentials_are_split_from_the_other_headers() {
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, "Bearer x".parse().unwrap());
        h.append(COOKIE, "a=1".parse().unwrap());
        h.append(COOKIE, "b=2".parse().unwrap());
        h.append(PROXY_AUTHORIZATION, "Basic eA==".parse().unwrap());
        h.append("x-other", "y".parse().unwrap());
        let creds = Credentials::take_from(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-other"));
        assert_eq!(creds.headers.len(), 4);
        assert_eq!(creds.headers.get_all(COOKIE).iter().count(), 2);
        let first = Url::parse("https://a.example/").unwrap();
        let elsewhere = Url::parse("https://b.example/").unwrap();
        assert!(creds.for_target(&first, &first).is_some());
        assert!(creds.for_target(&first, &elsewhere).is_none());
        let trusted = Credentials {
            trusted: true,
            ..creds
        };
        assert!(trusted.for_target(&first, &elsewhere).is_some());
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&h), None);
    }
}
