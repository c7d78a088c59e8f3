//! One output record per input URL, and the error taxonomy it carries.

use serde::Serialize;

use crate::title::CharsetSource;

/// The stable error kinds of the `error.kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input line is not a usable http(s) URL.
    InvalidUrl,
    /// The host name did not resolve.
    Dns,
    /// TCP connect failed (refused, unreachable, reset during connect).
    Connect,
    /// `--timeout` or `--connect-timeout` expired.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// More than `--max-redirects` redirects.
    TooManyRedirects,
    /// A redirect to something that is not an http(s) URL (`file:`,
    /// `ftp:`, `data:`, `javascript:`, ...) or to a `Location` that does not
    /// parse as a URL.
    UnsupportedRedirect,
    /// The server's reply was not valid HTTP (malformed status line or
    /// headers, or a response head over hyper's limits: about 400 KiB or
    /// 100 header fields).
    HttpStatus,
    /// `--max-body` bytes were read and the title was not yet decided.
    BodyTooLarge,
    /// The connection failed while reading the body, or a local I/O failure.
    Io,
}

impl ErrorKind {
    /// The snake_case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::TooManyRedirects => "too_many_redirects",
            Self::UnsupportedRedirect => "unsupported_redirect",
            Self::HttpStatus => "http_status",
            Self::BodyTooLarge => "body_too_large",
            Self::Io => "io",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` object of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// Stable machine-readable kind.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
}

/// One result line. Field names are the jsonl/csv contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Record {
    /// The URL exactly as given in the input.
    pub url: String,
    /// The URL after following redirects (null when no response arrived).
    pub final_url: Option<String>,
    /// The final HTTP status (null when no HTTP response was received).
    pub status: Option<u16>,
    /// `document.title` (null when the page has none or was not HTML).
    pub title: Option<String>,
    /// The final response's `Content-Type`.
    pub content_type: Option<String>,
    /// The WHATWG name of the encoding the body was decoded with
    /// (`UTF-8`, `windows-1252`, `Shift_JIS`, ...); null when no body was
    /// decoded (not HTML, or an error before or while reading it).
    pub charset: Option<&'static str>,
    /// Where `charset` came from; null exactly when `charset` is.
    pub charset_source: Option<CharsetSource>,
    /// How many redirects were followed.
    pub redirects: u32,
    /// Body bytes read (after content decoding).
    pub bytes_read: u64,
    /// Wall time spent on this URL, all attempts included.
    pub elapsed_ms: u64,
    /// Null, or what went wrong.
    pub error: Option<RecordError>,
}
