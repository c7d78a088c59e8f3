//! The streaming title extractor: feed it body chunks as they arrive, stop
//! reading as soon as it says it has enough, then ask for the result.
//!
//! # How the title is found
//!
//! `document.title` is computed from the tree html5ever builds (see
//! [`super::tree`]): the first HTML-namespace `title` element in tree order
//! among the nodes attached to the document (template contents are not),
//! its text with ASCII whitespace stripped and collapsed. There is no
//! heuristic about where the head ends: text before the doctype, titles in
//! the body, after tables, lists, formatting elements or 200 KB of script
//! all count, and foster parenting, `svg`/`math`, raw-text and RCDATA
//! elements, `plaintext`, `noscript` (scripting enabled) and `</html>` are
//! the tree builder's business.
//!
//! # Streaming without a `Send` parser
//!
//! html5ever's parser holds `StrTendril`s, which are not `Send`, and the
//! fetcher keeps the extractor across `.await`s in tasks that must be
//! `Send`. So the extractor keeps the *decoded text* (a `String`) instead of
//! a live parser, and runs the tree builder over the text read so far, from
//! the start, only when the answer may have become final:
//!
//! - a title element can only come from a `<title` start tag, so nothing is
//!   parsed until the decoded text contains `<title` (ASCII case-insensitive);
//!   a page without one costs a substring search, not a parse;
//! - after that, a parse runs when a new `</title` has arrived (or, while
//!   the first title is still open, every time the text doubles), and never
//!   before the text has doubled since the previous parse, so the total work
//!   is at most about twice one full parse and reading overshoots the
//!   earliest possible stop by at most a factor of two.
//!
//! Reading may stop when the first title in tree order is closed (its end
//! tag was seen, or its text already exceeds the cap), it is attached to the
//! document, no ancestor is a `table` (foster parenting could still put a
//! later title in front: `<table><caption><title>A</title></caption><title>B`
//! gives B), and, if it is inside `body`, the tree builder's frameset-ok
//! flag is surely "not ok" (otherwise `<frameset>` could still remove the
//! body). Otherwise the caller reads to the end of the body or `--max-body`.
//! [`TitleExtractor::finish`] parses once more with end-of-input semantics.
//!
//! Memory: the decoded text read so far (bounded by `--max-body` in the
//! fetcher) plus, during a parse, a small arena of element nodes.
//!
//! # Encoding
//!
//! The precedence is BOM > `Content-Type` charset > the WHATWG `<meta>`
//! prescan of the first 1024 bytes > chardetng > UTF-8. The tree builder
//! needs text, so bytes are decoded as soon as the encoding is decided:
//!
//! - a BOM or a non-UTF-8 header charset decides at once;
//! - otherwise the bytes are passed through as long as they are ASCII
//!   without ESC (such bytes decode identically in every encoding the
//!   prescan or chardetng can return), and held from the first byte that
//!   is not, until the decision: the prescan once 1024 bytes (or the whole
//!   body) are in; if it finds nothing, chardetng over the first
//!   [`DETECTION_WINDOW`] bytes (or the whole body), UTF-8 if they were all
//!   ASCII;
//! - a `Content-Type: charset=utf-8` header loses to a different prescan
//!   `<meta>` only if the bytes turn out not to be UTF-8 within the first
//!   [`DETECTION_WINDOW`] bytes.
//!
//! A `<meta charset>` that the tree builder meets after the prescan window
//! does not change the decoding (a browser would restart the parse with the
//! new encoding; this extractor does not), and a prescan `<meta>` naming the
//! replacement encoding is ignored.

use encoding_rs::{CoderResult, Decoder, Encoding, REPLACEMENT, UTF_8};

use super::charset::{CharsetSource, Utf8Validity};
use super::fast::Head;
use super::prescan::{PRESCAN_LEN, prescan};
use super::tree::{Parsed, parse};

/// When nothing declares the charset and non-ASCII bytes appear, at most
/// this many bytes are held back so chardetng has enough text to work with.
pub const DETECTION_WINDOW: usize = 16 * 1024;

/// While the first title is open (no end tag yet), parse again no sooner
/// than this much text later.
const OPEN_TITLE_STEP: usize = 32 * 1024;

/// Knobs for one extraction.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    /// Maximum title length in characters.
    pub max_title_len: usize,
    /// The charset named by the HTTP `Content-Type` header, if any.
    pub header_charset: Option<&'static Encoding>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            max_title_len: 1024,
            header_charset: None,
        }
    }
}

/// Why the scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanEnd {
    /// The first title element was found.
    TitleFound,
    /// Kept for compatibility; no longer produced: body content does not
    /// end the search (issue 15).
    BodyStarted,
    /// No title in what was read (the input ended, or the caller stopped).
    Incomplete,
}

/// The result of an extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// `document.title`, or `None` when the document has no title element.
    pub title: Option<String>,
    /// True when the title was cut at `max_title_len`.
    pub title_truncated: bool,
    /// The encoding the title was decoded with.
    pub encoding: &'static Encoding,
    /// Where that encoding came from.
    pub charset_source: CharsetSource,
    /// Why the scan ended.
    pub end: ScanEnd,
}

/// Streaming extractor; see the module docs.
pub struct TitleExtractor {
    opts: ExtractOptions,
    started: bool,
    start: Vec<u8>,
    decided: Option<(&'static Encoding, CharsetSource)>,
    decoder: Option<Decoder>,
    /// The first [`PRESCAN_LEN`] bytes, while the encoding is undecided.
    head: Vec<u8>,
    /// Bytes not yet decoded (from the first non-ASCII or ESC byte on).
    held: Vec<u8>,
    /// Stream offset of `held[0]`.
    held_start: usize,
    /// Bytes seen (after a BOM).
    seen: usize,
    non_ascii_seen: bool,
    validity: Utf8Validity,
    detector: Option<Box<chardetng::EncodingDetector>>,
    /// Decoded text so far.
    text: String,
    /// How far `text` has been searched for `<title` / `</title`.
    searched: usize,
    /// The text's length at the last try of the head fast path.
    fast_tried: usize,
    /// The fast path saw the common head so far and wants more text: no
    /// tree is built meanwhile.
    fast_pending: bool,
    /// The fast path saw something uncommon: only the tree decides.
    fast_gave_up: bool,
    open_seen: bool,
    close_pending: bool,
    /// `text.len()` at the last parse.
    parsed_len: usize,
    last: Option<Parsed>,
    done: bool,
}

impl std::fmt::Debug for TitleExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TitleExtractor")
            .field("opts", &self.opts)
            .field("decided", &self.decided.map(|(e, s)| (e.name(), s)))
            .field("text_len", &self.text.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

fn decode_into(decoder: &mut Decoder, mut bytes: &[u8], out: &mut String, last: bool) {
    loop {
        let need = decoder
            .max_utf8_buffer_length(bytes.len())
            .unwrap_or(bytes.len().saturating_mul(3).saturating_add(16));
        out.reserve(need.max(4));
        let (res, read, _) = decoder.decode_to_string(bytes, out, last);
        bytes = bytes.get(read..).unwrap_or_default();
        if res == CoderResult::InputEmpty {
            return;
        }
    }
}

/// Whether `hay` contains `needle`, whose first byte is `<` (ASCII case
/// ignored): only the places of a `<` are compared.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'<')
        .any(|(i, _)| {
            hay.get(i..i + needle.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        })
}

impl TitleExtractor {
    /// A fresh extractor.
    pub fn new(opts: ExtractOptions) -> Self {
        Self {
            opts: ExtractOptions {
                max_title_len: opts.max_title_len.max(1),
                ..opts
            },
            started: false,
            start: Vec::new(),
            decided: None,
            decoder: None,
            head: Vec::new(),
            held: Vec::new(),
            held_start: 0,
            seen: 0,
            non_ascii_seen: false,
            validity: Utf8Validity::default(),
            detector: None,
            text: String::new(),
            searched: 0,
            fast_tried: 0,
            fast_pending: false,
            fast_gave_up: false,
            open_seen: false,
            close_pending: false,
            parsed_len: 0,
            last: None,
            done: false,
        }
    }

    /// Feeds the next chunk of the body. Returns `true` while more input
    /// could still change the result; `false` means stop reading.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if self.done {
            return false;
        }
        if !self.started {
            self.start.extend_from_slice(chunk);
            if self.start.len() < 3 {
                return true;
            }
            let start = std::mem::take(&mut self.start);
            self.begin(&start);
        } else {
            self.process(chunk);
        }
        self.maybe_parse();
        !self.done
    }

    fn begin(&mut self, start: &[u8]) {
        self.started = true;
        let mut body = start;
        if let Some((enc, len)) = Encoding::for_bom(start) {
            self.decide(enc, CharsetSource::Bom);
            body = start.get(len..).unwrap_or_default();
        } else if let Some(h) = self.opts.header_charset
            && h != UTF_8
        {
            self.decide(h, CharsetSource::Header);
        }
        self.process(body);
    }

    fn decide(&mut self, enc: &'static Encoding, source: CharsetSource) {
        let mut decoder = enc.new_decoder_without_bom_handling();
        let held = std::mem::take(&mut self.held);
        decode_into(&mut decoder, &held, &mut self.text, false);
        self.decoder = Some(decoder);
        self.decided = Some((enc, source));
        self.head = Vec::new();
        self.detector = None;
    }

    fn process(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let offset = self.seen;
        self.seen += bytes.len();
        if let Some(decoder) = self.decoder.as_mut() {
            decode_into(decoder, bytes, &mut self.text, false);
            return;
        }
        if self.head.len() < PRESCAN_LEN {
            let take = (PRESCAN_LEN - self.head.len()).min(bytes.len());
            self.head
                .extend_from_slice(bytes.get(..take).unwrap_or_default());
        }
        if !self.non_ascii_seen && !bytes.is_ascii() {
            self.non_ascii_seen = true;
        }
        if self.opts.header_charset == Some(UTF_8) {
            self.validity.feed(bytes);
        }
        if self.held.is_empty() {
            // The common chunk is all ASCII without ESC: two word-at-a-time
            // scans (`is_ascii`, memchr) instead of a byte loop.
            let pass = if bytes.is_ascii() && !bytes.contains(&0x1B) {
                bytes.len()
            } else {
                bytes
                    .iter()
                    .position(|&b| b >= 0x80 || b == 0x1B)
                    .unwrap_or(bytes.len())
            };
            let (ascii, rest) = bytes.split_at(pass);
            // ASCII: one byte per char, identical in every candidate encoding.
            match std::str::from_utf8(ascii) {
                Ok(text) => self.text.push_str(text),
                Err(_) => self.text.extend(ascii.iter().map(|&b| char::from(b))),
            }
            self.held_start = offset + pass;
            self.held.extend_from_slice(rest);
            if let Some(d) = self.detector.as_mut() {
                d.feed(ascii, false);
            }
            self.feed_detector_held(0);
        } else {
            let before = self.held.len();
            self.held.extend_from_slice(bytes);
            self.feed_detector_held(before);
        }
        self.try_decide(false);
    }

    /// Feeds chardetng the held bytes from `from` on that lie beyond the
    /// prescan window (the window itself went in when it was created).
    fn feed_detector_held(&mut self, from: usize) {
        if let Some(d) = self.detector.as_mut() {
            let skip = PRESCAN_LEN.saturating_sub(self.held_start).max(from);
            if let Some(rest) = self.held.get(skip..)
                && !rest.is_empty()
            {
                d.feed(rest, false);
            }
        }
    }

    fn meta(&self) -> Option<&'static Encoding> {
        prescan(&self.head).filter(|e| *e != REPLACEMENT)
    }

    /// Decides the encoding once enough is known; at `eof`, always decides.
    fn try_decide(&mut self, eof: bool) {
        if self.decided.is_some() || (self.held.is_empty() && !eof) {
            return;
        }
        let prescan_done = eof || self.head.len() >= PRESCAN_LEN;
        if !prescan_done {
            return;
        }
        let window_done = eof || self.seen >= DETECTION_WINDOW;
        let meta = self.meta();
        if self.opts.header_charset == Some(UTF_8) {
            match meta {
                Some(m) if m != UTF_8 => {
                    if self.validity.is_invalid() {
                        self.decide(m, CharsetSource::Meta);
                    } else if window_done {
                        self.decide(UTF_8, CharsetSource::Header);
                    }
                }
                _ => self.decide(UTF_8, CharsetSource::Header),
            }
            return;
        }
        if let Some(m) = meta {
            self.decide(m, CharsetSource::Meta);
            return;
        }
        if !self.non_ascii_seen {
            if window_done {
                self.decide(UTF_8, CharsetSource::Default);
            }
            return;
        }
        if self.detector.is_none() {
            let mut d = Box::new(chardetng::EncodingDetector::new(
                chardetng::Iso2022JpDetection::Deny,
            ));
            d.feed(&self.head, false);
            self.detector = Some(d);
            self.feed_detector_held(0);
        }
        if window_done && let Some(d) = self.detector.as_ref() {
            let guess = d.guess(None, chardetng::Utf8Detection::Allow);
            self.decide(guess, CharsetSource::Detected);
        }
    }

    /// Searches the new text for `<title` / `</title`, and parses when the
    /// answer may have become final (see the module docs).
    fn maybe_parse(&mut self) {
        // The common head is decided without searching or a tree (see
        // `fast.rs`); while the head is still the common one (a long script
        // or style, say) no tree is built, and the fast path looks again
        // only once the text has doubled, so its cost stays linear. Once it
        // sees anything uncommon, only the tree decides.
        if !self.fast_gave_up && self.text.len() >= self.fast_tried.saturating_mul(2) {
            self.fast_tried = self.text.len().max(1);
            match super::fast::head(&self.text, self.opts.max_title_len) {
                Head::Title(parsed) => {
                    self.done = true;
                    self.last = Some(parsed);
                    return;
                }
                // Still the common head (a long script or style, say): no
                // tree yet, the next doubling looks again.
                Head::NeedMore => {
                    self.fast_pending = true;
                    return;
                }
                Head::Tree => {
                    self.fast_pending = false;
                    self.fast_gave_up = true;
                }
            }
        } else if self.fast_pending {
            return;
        }
        let bytes = self.text.as_bytes();
        let from = self.searched.saturating_sub(7);
        if let Some(new) = bytes.get(from..) {
            if !self.open_seen && contains_ci(new, b"<title") {
                self.open_seen = true;
            }
            if self.open_seen && contains_ci(new, b"</title") {
                self.close_pending = true;
            }
        }
        self.searched = bytes.len();
        if !self.open_seen {
            return;
        }
        let open_title = self.last.as_ref().is_some_and(|p| p.title_open)
            && self.text.len() >= self.parsed_len.saturating_add(OPEN_TITLE_STEP);
        if !(self.close_pending || open_title) {
            return;
        }
        // Parse a prefix that ends just after the last `</title…>`: a prefix
        // of the stream is a valid state of an incremental parse, and the
        // common page is decided after a few hundred bytes.
        let len = if open_title {
            self.text.len()
        } else {
            self.cut_after_last_close()
        };
        let doubled = len >= self.parsed_len.saturating_mul(2);
        if !doubled {
            return;
        }
        self.close_pending = false;
        self.parsed_len = len;
        let prefix = self.text.get(..len).unwrap_or(&self.text);
        let parsed = parse(prefix, false, self.opts.max_title_len);
        if parsed.is_final {
            self.done = true;
        }
        self.last = Some(parsed);
    }

    /// Ends the input (EOF or the caller gave up) and returns the result.
    pub fn finish(mut self) -> Extraction {
        if !self.started {
            let start = std::mem::take(&mut self.start);
            self.begin(&start);
        }
        self.try_decide(true);
        if !self.done {
            if let Some(decoder) = self.decoder.as_mut() {
                decode_into(decoder, &[], &mut self.text, true);
            }
            self.maybe_parse_search_only();
            self.last = if !self.open_seen {
                None
            } else if let (true, Head::Title(parsed)) = (
                self.fast_pending,
                super::fast::head(&self.text, self.opts.max_title_len),
            ) {
                // A long common head (a 200 KB script, say) that ended
                // between two looks of the fast path.
                Some(parsed)
            } else {
                Some(parse(&self.text, true, self.opts.max_title_len))
            };
        }
        let (encoding, charset_source) = self.decided.unwrap_or((UTF_8, CharsetSource::Default));
        let (title, title_truncated) = match self.last.and_then(|p| p.title) {
            Some((t, cut)) => (Some(t), cut),
            None => (None, false),
        };
        Extraction {
            end: if title.is_some() {
                ScanEnd::TitleFound
            } else {
                ScanEnd::Incomplete
            },
            title,
            title_truncated,
            encoding,
            charset_source,
        }
    }

    /// The end of the text just after the `>` that follows the last
    /// `</title` (ASCII case-insensitive), or all of it.
    fn cut_after_last_close(&self) -> usize {
        let bytes = self.text.as_bytes();
        let last = bytes
            .iter()
            .enumerate()
            .rev()
            .filter(|&(_, &b)| b == b'<')
            .find(|&(i, _)| {
                bytes
                    .get(i..i + 7)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"</title"))
            })
            .map(|(i, _)| i);
        match last {
            Some(at) => bytes
                .iter()
                .skip(at)
                .position(|&b| b == b'>')
                .map_or(bytes.len(), |off| at + off + 1),
            None => bytes.len(),
        }
    }

    fn maybe_parse_search_only(&mut self) {
        let from = self.searched.saturating_sub(7);
        if !self.open_seen
            && let Some(new) = self.text.as_bytes().get(from..)
            && contains_ci(new, b"<title")
        {
            self.open_seen = true;
        }
        self.searched = self.text.len();
    }
}

/// Convenience: extracts the title from a complete (or truncated) body.
pub fn extract_title(body: &[u8], opts: ExtractOptions) -> Extraction {
    let mut ex = TitleExtractor::new(opts);
    ex.feed(body);
    ex.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{
        BIG5, EUC_JP, EUC_KR, GBK, ISO_8859_7, SHIFT_JIS, UTF_16BE, UTF_16LE, WINDOWS_1251,
    };

    fn opts(header: Option<&'static Encoding>) -> ExtractOptions {
        ExtractOptions {
            max_title_len: 1024,
            header_charset: header,
        }
    }

    fn encode(enc: &'static Encoding, s: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = enc.encode(s);
        assert!(!unmappable, "{} cannot encode {s}", enc.name());
        bytes.into_owned()
    }

    fn chunked(body: &[u8], size: usize, o: ExtractOptions) -> Extraction {
        let mut ex = TitleExtractor::new(o);
        for c in body.chunks(size) {
            if !ex.feed(c) {
                break;
            }
        }
        ex.finish()
    }

    const CASES: &[(&str, &str)] = &[
        ("windows-1251", "Привет, мир — новости"),
        ("Shift_JIS", "日本語のタイトル"),
        ("EUC-JP", "日本語のページ"),
        ("GBK", "中文网页标题"),
        ("gb18030", "中文网页标题"),
        ("Big5", "繁體中文標題"),
        ("EUC-KR", "한국어 제목"),
        ("ISO-8859-7", "Ελληνικά νέα"),
        ("ISO-8859-2", "Zażółć gęślą jaźń"),
    ];

    #[test]
    fn header_meta_and_detection_for_legacy_charsets() {
        for &(label, text) in CASES {
            let enc = Encoding::for_label(label.as_bytes()).unwrap();
            // Header only.
            let body = encode(enc, &format!("<html><head><title>{text}</title></head>"));
            for size in [1, 7, 4096] {
                let got = chunked(&body, size, opts(Some(enc)));
                assert_eq!(
                    got.title.as_deref(),
                    Some(text),
                    "{label} header, chunk {size}"
                );
                assert_eq!(got.charset_source, CharsetSource::Header);
            }
            // Meta only.
            let body = encode(
                enc,
                &format!("<html><head><meta charset=\"{label}\"><title>{text}</title></head>"),
            );
            let got = chunked(&body, 5, opts(None));
            assert_eq!(got.title.as_deref(), Some(text), "{label} meta");
            assert_eq!(got.encoding, enc);
            assert_eq!(got.charset_source, CharsetSource::Meta);
        }
        let _ = (BIG5, EUC_JP, EUC_KR, GBK, ISO_8859_7, SHIFT_JIS);
    }

    #[test]
    fn meta_after_title_within_1024_bytes_still_counts() {
        let body = encode(
            WINDOWS_1251,
            "<title>Привет</title><meta charset=windows-1251><body>",
        );
        let got = extract_title(&body, opts(None));
        assert_eq!(got.title.as_deref(), Some("Привет"));
    }

    #[test]
    fn utf16_with_bom() {
        for (enc, bom) in [(UTF_16LE, &[0xFF, 0xFE][..]), (UTF_16BE, &[0xFE, 0xFF][..])] {
            let text = "<html><head><meta charset=windows-1251><title>Ünïcødé ☃ 日本</title>";
            let mut body = bom.to_vec();
            for u in text.encode_utf16() {
                let b = if enc == UTF_16LE {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                };
                body.extend_from_slice(&b);
            }
            let got = chunked(&body, 3, opts(Some(WINDOWS_1251)));
            assert_eq!(got.title.as_deref(), Some("Ünïcødé ☃ 日本"));
            assert_eq!(got.encoding, enc);
            assert_eq!(got.charset_source, CharsetSource::Bom);
        }
    }

    #[test]
    fn truncated_utf16_title_ends_with_replacement_character() {
        let mut body = vec![0xFF, 0xFE];
        for u in "<title>ab".encode_utf16() {
            body.extend_from_slice(&u.to_le_bytes());
        }
        body.push(0x63); // half of 'c'
        let got = extract_title(&body, opts(None));
        assert_eq!(got.title.as_deref(), Some("ab\u{FFFD}"));
    }

    #[test]
    fn bom_beats_meta_and_header() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice("<meta charset=shift_jis><title>Grüße</title>".as_bytes());
        let got = extract_title(&body, opts(Some(WINDOWS_1251)));
        assert_eq!(got.title.as_deref(), Some("Grüße"));
        assert_eq!(got.charset_source, CharsetSource::Bom);
    }

    #[test]
    fn header_utf8_but_invalid_defers_to_meta() {
        let body = encode(SHIFT_JIS, "<meta charset=shift_jis><title>日本語</title>");
        let got = extract_title(&body, opts(Some(UTF_8)));
        assert_eq!(got.title.as_deref(), Some("日本語"));
        assert_eq!(got.charset_source, CharsetSource::Meta);
        // Valid UTF-8 with the same header keeps the header.
        let body = "<meta charset=shift_jis><title>日本語</title>".as_bytes();
        let got = extract_title(body, opts(Some(UTF_8)));
        assert_eq!(got.title.as_deref(), Some("日本語"));
        assert_eq!(got.charset_source, CharsetSource::Header);
    }

    #[test]
    fn undeclared_legacy_charset_is_detected() {
        let text = "Новости России и мира сегодня";
        let para = "Последние новости России и мира, главные события дня, аналитика и комментарии экспертов. ";
        let doc = format!(
            "<html><head><title>{text}</title></head><body><p>{}</p>",
            para.repeat(40)
        );
        let body = encode(WINDOWS_1251, &doc);
        let got = chunked(&body, 1000, opts(None));
        assert_eq!(got.title.as_deref(), Some(text));
        assert_eq!(got.encoding, WINDOWS_1251);
        assert_eq!(got.charset_source, CharsetSource::Detected);
    }

    #[test]
    fn ascii_only_defaults_to_utf8() {
        let got = extract_title(b"<title>plain</title>", opts(None));
        assert_eq!(got.title.as_deref(), Some("plain"));
        assert_eq!(got.charset_source, CharsetSource::Default);
    }

    #[test]
    fn stops_reading_early_for_head_titles() {
        let mut body = b"<html><head><title>Early</title></head><body>".to_vec();
        body.extend(std::iter::repeat_n(b'x', 2_000_000));
        let mut ex = TitleExtractor::new(opts(None));
        let mut read = 0;
        for c in body.chunks(8192) {
            read += c.len();
            if !ex.feed(c) {
                break;
            }
        }
        assert_eq!(read, 8192);
        assert_eq!(ex.finish().title.as_deref(), Some("Early"));
    }

    #[test]
    fn no_title_and_empty_input() {
        assert_eq!(extract_title(b"", opts(None)).title, None);
        assert_eq!(extract_title(b"<p>x", opts(None)).end, ScanEnd::Incomplete);
        assert_eq!(
            extract_title(b"<title></title>", opts(None))
                .title
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn keeps_nbsp_and_ideographic_space() {
        let got = extract_title(
            "<title>\u{A0}a  \n b\u{3000}</title>".as_bytes(),
            opts(None),
        );
        assert_eq!(got.title.as_deref(), Some("\u{A0}a b\u{3000}"));
    }

    #[test]
    fn huge_title_is_capped() {
        let mut body = b"<title>".to_vec();
        body.extend(std::iter::repeat_n(b'y', 2 * 1024 * 1024));
        let got = extract_title(
            &body,
            ExtractOptions {
                max_title_len: 100,
                header_charset: None,
            },
        );
        assert_eq!(got.title.map(|t| t.chars().count()), Some(100));
        assert!(got.title_truncated);
    }
}
