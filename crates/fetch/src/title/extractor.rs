//! The streaming title extractor: feed it body chunks as they arrive, stop
//! reading as soon as it says it has enough, then ask for the result.
//!
//! It keeps at most the first 1024 bytes (for the `<meta>` prescan) and the
//! raw title bytes (capped); everything else is looked at once and dropped.

use encoding_rs::{Decoder, Encoding, UTF_8, UTF_16BE, UTF_16LE};

use super::charset::{CharsetSource, Evidence, Utf8Validity, resolve};
use super::prescan::{PRESCAN_LEN, prescan};
use super::scanner::{Scanner, Verdict};
use super::text::finish_title;

/// When nothing declares the charset and the title is not pure ASCII, keep
/// reading up to this many bytes so chardetng has enough text to work with.
pub const DETECTION_WINDOW: usize = 16 * 1024;

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
    /// Body content started before any title.
    BodyStarted,
    /// The input ended (or the caller stopped) while still searching.
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
    bom: Option<&'static Encoding>,
    utf16: Option<Decoder>,
    transcoded: String,
    head: Vec<u8>,
    meta: Option<Option<&'static Encoding>>,
    scanner: Scanner,
    validity: Utf8Validity,
    non_ascii_seen: bool,
    /// Created only when nothing declares the charset and non-ASCII bytes
    /// appear: declared pages never pay for detection.
    detector: Option<Box<chardetng::EncodingDetector>>,
    detector_fed: usize,
}

impl std::fmt::Debug for TitleExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TitleExtractor")
            .field("opts", &self.opts)
            .field("verdict", &self.scanner.verdict())
            .finish_non_exhaustive()
    }
}

impl TitleExtractor {
    /// A fresh extractor.
    pub fn new(opts: ExtractOptions) -> Self {
        let max_title_len = opts.max_title_len.max(1);
        // Raw bytes per character: up to 4 in UTF-8, more for entities.
        let title_cap = max_title_len.saturating_mul(8).saturating_add(64);
        Self {
            opts: ExtractOptions {
                max_title_len,
                ..opts
            },
            started: false,
            start: Vec::new(),
            bom: None,
            utf16: None,
            transcoded: String::new(),
            head: Vec::new(),
            meta: None,
            scanner: Scanner::new(title_cap),
            validity: Utf8Validity::default(),
            non_ascii_seen: false,
            detector: None,
            detector_fed: 0,
        }
    }

    /// Feeds the next chunk of the body. Returns `true` while more input
    /// could still change the result; `false` means stop reading.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
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
        self.wants_more()
    }

    fn begin(&mut self, start: &[u8]) {
        self.started = true;
        let mut body = start;
        if let Some((enc, len)) = Encoding::for_bom(start) {
            self.bom = Some(enc);
            body = &start[len..];
        }
        let utf16 = match (self.bom, self.opts.header_charset) {
            (Some(enc), _) | (None, Some(enc)) if enc == UTF_16LE || enc == UTF_16BE => Some(enc),
            _ => None,
        };
        self.utf16 = utf16.map(Encoding::new_decoder_without_bom_handling);
        self.process(body);
    }

    fn process(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let take = self.fill_head(bytes);
        if self.opts.header_charset == Some(UTF_8) {
            self.validity.feed(bytes);
        }
        if !self.non_ascii_seen && !bytes.is_ascii() {
            self.non_ascii_seen = true;
        }
        self.feed_detector(&bytes[take..]);
        if self.scanner.verdict() != Verdict::Searching {
            return;
        }
        if let Some(decoder) = self.utf16.as_mut() {
            self.transcoded.clear();
            let need = decoder
                .max_utf8_buffer_length(bytes.len())
                .unwrap_or(bytes.len().saturating_mul(3).saturating_add(8));
            self.transcoded.reserve(need);
            let _ = decoder.decode_to_string(bytes, &mut self.transcoded, false);
            let text = std::mem::take(&mut self.transcoded);
            self.scanner.feed(text.as_bytes());
            self.transcoded = text;
        } else {
            self.scanner.feed(bytes);
        }
    }

    /// Appends to the 1024-byte prescan window; returns how many bytes of
    /// `bytes` went into it.
    fn fill_head(&mut self, bytes: &[u8]) -> usize {
        if self.head.len() >= PRESCAN_LEN {
            return 0;
        }
        let take = (PRESCAN_LEN - self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        take
    }

    /// True when only detection can name the charset.
    fn undeclared(&mut self) -> bool {
        self.bom.is_none()
            && self.utf16.is_none()
            && self.opts.header_charset.is_none()
            && self.meta().is_none()
    }

    /// Feeds chardetng, creating it (with the prescan window) the first time
    /// it is needed. `rest` is the part of the chunk beyond the window.
    fn feed_detector(&mut self, rest: &[u8]) {
        if self.detector_fed >= DETECTION_WINDOW * 4 {
            return;
        }
        if self.detector.is_none() {
            let head_done = self.head.len() >= PRESCAN_LEN;
            if !(head_done && self.non_ascii_seen && self.undeclared()) {
                return;
            }
            self.start_detector();
        }
        if let Some(d) = self.detector.as_mut()
            && !rest.is_empty()
        {
            d.feed(rest, false);
            self.detector_fed += rest.len();
        }
    }

    fn start_detector(&mut self) {
        let mut d = Box::new(chardetng::EncodingDetector::new(
            chardetng::Iso2022JpDetection::Deny,
        ));
        d.feed(&self.head, false);
        self.detector_fed = self.head.len();
        self.detector = Some(d);
    }

    fn meta(&mut self) -> Option<&'static Encoding> {
        if self.bom.is_some() || self.utf16.is_some() {
            return None;
        }
        match self.meta {
            Some(m) => m,
            None => {
                let m = prescan(&self.head);
                if self.head.len() >= PRESCAN_LEN {
                    self.meta = Some(m);
                }
                m
            }
        }
    }

    fn wants_more(&mut self) -> bool {
        match self.scanner.verdict() {
            Verdict::Searching => true,
            Verdict::BodyStarted => false,
            Verdict::TitleDone => !self.charset_settled(),
        }
    }

    fn charset_settled(&mut self) -> bool {
        if self.utf16.is_some() || self.bom.is_some() || self.scanner.title_bytes().is_ascii() {
            return true;
        }
        let header = self.opts.header_charset;
        if let Some(h) = header
            && !(h == UTF_8 && self.validity.is_invalid())
        {
            return true;
        }
        if self.head.len() < PRESCAN_LEN {
            return false;
        }
        if header.is_some() || self.meta().is_some() {
            return true;
        }
        self.detector_fed >= DETECTION_WINDOW
    }

    /// Ends the input (EOF or the caller gave up) and returns the result.
    pub fn finish(mut self) -> Extraction {
        if !self.started {
            let start = std::mem::take(&mut self.start);
            self.begin(&start);
        }
        if let Some(decoder) = self.utf16.as_mut() {
            // Room for a trailing U+FFFD from an incomplete code unit.
            let mut tail = String::with_capacity(16);
            let _ = decoder.decode_to_string(&[], &mut tail, true);
            if !tail.is_empty() {
                self.scanner.feed(tail.as_bytes());
            }
        }
        self.scanner.finish();
        if self.detector.is_none() && self.non_ascii_seen && self.undeclared() {
            self.start_detector();
        }
        let meta = self.meta();
        let (encoding, charset_source) = if self.utf16.is_some() && self.bom.is_none() {
            (
                self.opts.header_charset.unwrap_or(UTF_16LE),
                CharsetSource::Header,
            )
        } else {
            resolve(&Evidence {
                bom: self.bom,
                header: self.opts.header_charset,
                meta,
                utf8_invalid: self.validity.is_invalid(),
                non_ascii_seen: self.non_ascii_seen,
                detector: self.detector.as_deref(),
            })
        };
        let (end, title, title_truncated) = match self.scanner.verdict() {
            Verdict::TitleDone => {
                let raw = self.scanner.title_bytes();
                let decoded = if self.utf16.is_some() {
                    String::from_utf8_lossy(raw)
                } else {
                    encoding.decode_without_bom_handling(raw).0
                };
                let (title, cut) = finish_title(&decoded, self.opts.max_title_len);
                (
                    ScanEnd::TitleFound,
                    Some(title),
                    cut || self.scanner.title_truncated(),
                )
            }
            Verdict::BodyStarted => (ScanEnd::BodyStarted, None, false),
            Verdict::Searching => (ScanEnd::Incomplete, None, false),
        };
        Extraction {
            title,
            title_truncated,
            encoding,
            charset_source,
            end,
        }
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
    use encoding_rs::{BIG5, EUC_JP, EUC_KR, GBK, ISO_8859_7, SHIFT_JIS, WINDOWS_1251};

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
        assert_eq!(extract_title(b"<p>x", opts(None)).end, ScanEnd::BodyStarted);
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
