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
    /// Certificate authorities trusted besides the system's (no flag yet:
    /// the tests use it for a private CA).
    pub extra_roots: Vec<reqwest::Certificate>,
}

/// Builds the shared reqwest client (rustls, HTTP/2 via ALPN, gzip, brotli,
/// deflate and zstd, connection reuse, [`Resolver`]).
pub fn build_client(opts: &ClientOptions) -> Result<Client, reqwest::Error> {
    let mut b = Client::builder()
        .dns_resolver(Resolver)
        .user_agent(opts.user_agent.clone())
        .default_headers(opts.headers.clone())
        .redirect(reqwest::redirect::Policy::none())
        // No replays inside reqwest (they clone every request's headers
        // first, in case): the pool retries, `--retries` times.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .tls_danger_accept_invalid_certs(opts.insecure)
        .pool_max_idle_per_host(opts.idle_per_host)
        .tcp_nodelay(true);
    if let Some(ct) = opts.connect_timeout {
        b = b.connect_timeout(ct);
    }
    for root in &opts.extra_roots {
        b = b.add_root_certificate(root.clone());
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

/// `application/xhtml+xml`: a browser reads the body as XML.
pub fn is_xhtml(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/xhtml+xml")
    })
}

/// Parses `Retry-After` in its delta-seconds form.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// What a request was doing when it failed, for the message.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// The host asked for (a certificate is "not valid for" it).
    pub host: &'a str,
    /// The connect timeout in force (TCP and TLS).
    pub connect_timeout: Duration,
    /// The whole attempt's timeout.
    pub timeout: Duration,
    /// The response head had arrived: the body was being read.
    pub reading_body: bool,
}

/// `10s`, `500ms`, `1.5s`: a duration as the flags take it.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// The message of the `--timeout` backstop, by what was going on.
pub fn timeout_message(ctx: &ErrorContext<'_>) -> String {
    let what = if ctx.reading_body {
        "reading the body"
    } else {
        "waiting for the response"
    };
    format!("timed out after {} {what}", human_duration(ctx.timeout))
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

/// Every error in `e`'s chain, outermost first, the errors an
/// `io::Error` wraps included (its `source()` skips them).
fn chain(e: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut out: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut src = e.source();
    while let Some(s) = src {
        out.push(s);
        // An `io::Error` may wrap another one (hyper-rustls: `Other` around
        // tokio-rustls' `InvalidData` around the rustls error).
        src = match s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        };
    }
    out
}

/// One phrase for a TLS failure.
fn tls_message(e: &rustls::Error, host: &str) -> String {
    use rustls::{CertificateError, Error};
    match e {
        Error::InvalidCertificate(cert) => match cert {
            CertificateError::NotValidForName => format!("certificate not valid for {host}"),
            CertificateError::NotValidForNameContext { presented, .. } => {
                if presented.is_empty() {
                    format!("certificate not valid for {host}")
                } else {
                    // rustls names them `DnsName("example.com")`.
                    let names: Vec<&str> = presented
                        .iter()
                        .map(|p| match (p.find('"'), p.rfind('"')) {
                            (Some(a), Some(b)) if a < b => p.get(a + 1..b).unwrap_or(p),
                            _ => p.as_str(),
                        })
                        .collect();
                    format!(
                        "certificate not valid for {host} (it is for {})",
                        names.join(", ")
                    )
                }
            }
            CertificateError::UnknownIssuer => {
                "certificate not trusted (unknown issuer, or self-signed)".to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".to_owned()
            }
            CertificateError::Revoked => "certificate revoked".to_owned(),
            CertificateError::BadSignature => "certificate has a bad signature".to_owned(),
            other => format!("certificate invalid: {other:?}"),
        },
        Error::InvalidMessage(_) => {
            "TLS handshake failed: the server did not answer TLS".to_owned()
        }
        Error::AlertReceived(alert) => format!("TLS handshake failed: the server sent {alert:?}"),
        Error::PeerIncompatible(_) => {
            "TLS handshake failed: no TLS version or cipher in common".to_owned()
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// One phrase for a failed name lookup.
fn dns_message(inner: &str) -> String {
    let lower = inner.to_ascii_lowercase();
    if lower.contains("never resolve") {
        "no such host (names under .invalid never resolve, RFC 6761)".to_owned()
    } else if lower.contains("name or service not known")
        || lower.contains("no address associated")
        || lower.contains("nodename nor servname")
        || lower.contains("no such host")
    {
        "no such host".to_owned()
    } else if lower.contains("temporary failure") {
        "no answer from the DNS server (temporary failure in name resolution)".to_owned()
    } else {
        inner.to_owned()
    }
}

/// One phrase for an I/O failure, if its kind says it all.
fn io_message(e: &std::io::Error) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by the server",
        K::ConnectionAborted => "connection aborted",
        K::NetworkUnreachable => "network unreachable",
        K::HostUnreachable => "host unreachable",
        K::AddrNotAvailable => "address not available",
        K::BrokenPipe => "connection closed by the server (broken pipe)",
        K::UnexpectedEof => "connection closed by the server",
        _ => return None,
    })
}

/// Maps a reqwest error to the stable error taxonomy and a message that
/// names the root cause in one short phrase (`connection refused`,
/// `certificate not valid for example.com`, `timed out after 5s
/// connecting`, `no such host`), found by walking the error's `source()`
/// chain: rustls errors, `io::ErrorKind`s, hyper's, reqwest's timeout and
/// connect flags.
pub fn classify(e: &reqwest::Error, ctx: &ErrorContext<'_>) -> (ErrorKind, String) {
    let chain = chain(e);
    if e.is_timeout()
        || chain.iter().any(|s| {
            s.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        })
    {
        let message = if e.is_connect() {
            format!(
                "timed out after {} connecting",
                human_duration(ctx.connect_timeout)
            )
        } else if ctx.reading_body {
            format!(
                "timed out after {} reading the body",
                human_duration(ctx.timeout)
            )
        } else {
            format!(
                "timed out after {} waiting for the response",
                human_duration(ctx.timeout)
            )
        };
        return (ErrorKind::Timeout, message);
    }
    if let Some(tls) = chain.iter().find_map(|s| s.downcast_ref::<rustls::Error>()) {
        return (ErrorKind::Tls, tls_message(tls, ctx.host));
    }
    let innermost = chain
        .last()
        .map_or_else(|| e.to_string(), |s| s.to_string());
    if e.is_dns() {
        return (ErrorKind::Dns, dns_message(&innermost));
    }
    let io = chain
        .iter()
        .rev()
        .find_map(|s| s.downcast_ref::<std::io::Error>());
    if let Some(phrase) = io.and_then(io_message) {
        let kind = if e.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Io
        };
        return (kind, phrase.to_owned());
    }
    let lower = innermost.to_ascii_lowercase();
    if e.is_connect() {
        if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            return (ErrorKind::Tls, format!("TLS handshake failed: {innermost}"));
        }
        return (ErrorKind::Connect, innermost);
    }
    if e.is_redirect() {
        return (ErrorKind::TooManyRedirects, innermost);
    }
    if let Some(h) = chain.iter().find_map(|s| s.downcast_ref::<hyper::Error>()) {
        if h.is_incomplete_message() {
            return (
                ErrorKind::Io,
                "connection closed before the response was complete".to_owned(),
            );
        }
        if h.is_parse_too_large() {
            return (
                ErrorKind::HttpStatus,
                "invalid HTTP response: the head is too large (over about 400 KiB or 100 header fields)"
                    .to_owned(),
            );
        }
    }
    if invalid_http(e)
        || lower.contains("invalid http")
        || lower.contains("parse")
        || lower.contains("invalid status")
        || lower.contains("invalid header")
    {
        return (
            ErrorKind::HttpStatus,
            format!("invalid HTTP response: {innermost}"),
        );
    }
    (ErrorKind::Io, innermost)
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

/// How much later than `--timeout` the backstop around an attempt fires.
/// `--connect-timeout` defaults to `--timeout`, and both timers would then
/// fall due in the same millisecond; the slack lets the connect timeout
/// win, so that running out of time while connecting (a TLS handshake that
/// never answers) is a connection failure, which `--scheme auto` answers by
/// trying http, and not a timeout of the whole request.
const BACKSTOP_SLACK: Duration = Duration::from_millis(5);

/// Fetches `url` once (one attempt, redirects included). `final_attempt`
/// turns a 429/5xx into a normal record instead of a retry request.
/// `connect_timeout` is the client's (for messages).
pub async fn fetch(
    client: &Client,
    credentials: &Credentials,
    url: &Url,
    limits: FetchLimits,
    connect_timeout: Duration,
    final_attempt: bool,
) -> Result<Fetched, FetchFailure> {
    let mut progress = Fetched::default();
    let mut reading_body = false;
    let outcome = tokio::time::timeout(
        limits.timeout + BACKSTOP_SLACK,
        attempt(
            client,
            credentials,
            url,
            (limits, connect_timeout),
            final_attempt,
            &mut progress,
            &mut reading_body,
        ),
    )
    .await;
    match outcome {
        Ok(r) => r,
        Err(_) => {
            let ctx = ErrorContext {
                host: url.host_str().unwrap_or_default(),
                connect_timeout,
                timeout: limits.timeout,
                reading_body,
            };
            Err(fail(ErrorKind::Timeout, timeout_message(&ctx), &progress))
        }
    }
}

async fn attempt(
    client: &Client,
    credentials: &Credentials,
    url: &Url,
    (limits, connect_timeout): (FetchLimits, Duration),
    final_attempt: bool,
    progress: &mut Fetched,
    reading_body: &mut bool,
) -> Result<Fetched, FetchFailure> {
    let mut current = url.clone();
    let mut response = loop {
        let mut request = client.get(current.clone());
        if let Some(headers) = credentials.for_target(url, &current) {
            request = request.headers(headers.clone());
        }
        let first = progress.redirects == 0;
        let ctx = ErrorContext {
            host: current.host_str().unwrap_or_default(),
            connect_timeout,
            timeout: limits.timeout,
            reading_body: false,
        };
        let resp = request.send().await.map_err(|e| {
            let (kind, message) = classify(&e, &ctx);
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
        xml: is_xhtml(progress.content_type.as_deref()),
    });
    let declared_len = response.content_length();
    *reading_body = true;
    let ctx = ErrorContext {
        host: current.host_str().unwrap_or_default(),
        connect_timeout,
        timeout: limits.timeout,
        reading_body: true,
    };
    let mut limit_hit = false;
    let mut stopped_early = false;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let (kind, message) = classify(&e, &ctx);
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
        assert!(is_xhtml(Some("Application/XHTML+XML; charset=utf-8")));
        assert!(!is_xhtml(Some("text/html")) && !is_xhtml(None));
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
    fn durations_and_timeout_messages_read_as_the_flags() {
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        let mut ctx = ErrorContext {
            host: "example.com",
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            reading_body: true,
        };
        assert_eq!(
            timeout_message(&ctx),
            "timed out after 10s reading the body"
        );
        ctx.reading_body = false;
        assert_eq!(
            timeout_message(&ctx),
            "timed out after 10s waiting for the response"
        );
    }

    #[test]
    fn tls_and_dns_failures_in_one_phrase() {
        use rustls::{CertificateError, Error};
        let name = Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(
            tls_message(&name, "example.com"),
            "certificate not valid for example.com"
        );
        let expired = Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(tls_message(&expired, "example.com"), "certificate expired");
        assert_eq!(
            dns_message("failed to lookup address information: Name or service not known"),
            "no such host"
        );
        assert_eq!(
            dns_message(
                "failed to lookup address information: Temporary failure in name resolution"
            ),
            "no answer from the DNS server (temporary failure in name resolution)"
        );
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
