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
//! A prescan `<meta>`, detection and the default are *tentative* (the
//! spec's confidence); a BOM and the header are *certain*. While the
//! encoding is tentative, the raw bytes are kept as well as the text, and
//! the first HTML `meta` the tree builder inserts with a usable `charset`
//! or `http-equiv=Content-Type` + `content` runs the parser's "change the
//! encoding" step, as in a browser: UTF-16 is read as UTF-8 and
//! x-user-defined as windows-1252; the same encoding makes the confidence
//! certain; another one has the page decoded again from its first byte
//! (or, when every byte so far was ASCII without ESC, only the decoder
//! changed), certain, with `charset_source` `parser_meta`. That meta may
//! come after the prescan window (a long comment or script first) or after
//! the title. The fast path and the tree report the first such meta with
//! their title; once the title is final, it ends the reading only if the
//! encoding is certain or the title's characters are ASCII without ESC
//! (under any encoding but ISO-2022-JP): those read the same in every
//! encoding a meta can name. Otherwise reading goes on, the text searched
//! for `<meta` and parsed up to the next candidate's `>` (never less than
//! twice the last such prefix), until a meta settles it, the body ends or
//! `--max-body`. A tag cut off by the end of the input is never a
//! declaration (html5ever drops it at end of input; the search needs its
//! `>`). A `<meta>` naming the replacement encoding is ignored.

use encoding_rs::{CoderResult, Decoder, Encoding, ISO_2022_JP, REPLACEMENT, UTF_8};

use super::charset::{CharsetSource, Utf8Validity};
use super::fast::{Head, skip_attributes};
use super::prescan::{PRESCAN_LEN, normalize_meta_encoding, prescan, xml_encoding};
use super::tree::{Parsed, parse};
use super::xml::{XmlTitle, xml_title};

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
    /// The body is XHTML served as `application/xhtml+xml`: read under
    /// XML rules (see [`super::xml`]).
    pub xml: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            max_title_len: 1024,
            header_charset: None,
            xml: false,
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
    /// The encoding is settled (the spec's confidence "certain"): a BOM,
    /// the header, or a `<meta>` the tree builder met.
    certain: bool,
    /// Every byte after the BOM, kept while the encoding is tentative so
    /// that a `<meta>` met later can have the page decoded again.
    raw: Vec<u8>,
    /// `raw` holds nothing but ASCII without ESC: every encoding a
    /// `<meta>` can name decodes it alike.
    raw_plain: bool,
    /// A `<meta>` the tree builder met before the encoding was decided.
    pending_meta: Option<&'static Encoding>,
    /// The first title is final but its text is not plain ASCII and the
    /// encoding is tentative: reading goes on until a `<meta>` settles it.
    awaiting_meta: bool,
    /// Where the search for `<meta` candidates goes on.
    meta_searched: usize,
    /// The longest prefix parsed in that search.
    meta_parsed: usize,
    /// The first `<meta` in the text, as far as [`Self::scan_tags`] has
    /// searched (it looks for one while the encoding is tentative).
    meta_seen_at: Option<usize>,
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

/// Whether `hay` starts with `needle`, ASCII case ignored.
fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.get(..needle.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(needle))
}

/// The first place at or after `from` where `needle` (whose first byte is
/// `<`) starts, ASCII case ignored.
fn find_ci(hay: &str, from: usize, needle: &[u8]) -> Option<usize> {
    let mut at = from;
    while at < hay.len() && !hay.is_char_boundary(at) {
        at += 1;
    }
    loop {
        // `str::find` with a char runs memchr.
        at += hay.get(at..)?.find('<')?;
        if starts_with_ci(hay.as_bytes().get(at..)?, needle) {
            return Some(at);
        }
        at += 1;
    }
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
            certain: false,
            raw: Vec::new(),
            raw_plain: true,
            pending_meta: None,
            awaiting_meta: false,
            meta_searched: 0,
            meta_parsed: 0,
            meta_seen_at: None,
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
            && (h != UTF_8 || self.opts.xml)
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
        if source.is_certain() {
            self.settle();
        }
    }

    /// The encoding can no longer change: the bytes need not be kept.
    fn settle(&mut self) {
        self.certain = true;
        self.raw = Vec::new();
        self.pending_meta = None;
    }

    /// The parser's "change the encoding" step, for a `<meta>` the tree
    /// builder met while the encoding was tentative. Returns true when the
    /// page was decoded again from its first byte (the text changed: the
    /// search starts over).
    fn change_encoding(&mut self, declared: &'static Encoding) -> bool {
        let Some((current, source)) = self.decided else {
            // Undecided: the text is still the ASCII prefix, identical in
            // every encoding; the decision takes the meta once the prescan
            // has had its window.
            self.pending_meta.get_or_insert(declared);
            self.try_decide(false);
            return false;
        };
        if self.certain {
            return false;
        }
        let new = normalize_meta_encoding(declared);
        if new == current {
            if matches!(source, CharsetSource::Detected | CharsetSource::Default) {
                self.decided = Some((current, CharsetSource::ParserMeta));
            }
            self.settle();
            return false;
        }
        self.decided = Some((new, CharsetSource::ParserMeta));
        let raw = std::mem::take(&mut self.raw);
        let plain = self.raw_plain;
        self.settle();
        let mut decoder = new.new_decoder_without_bom_handling();
        if plain {
            // Same characters either way: change the decoder on the fly.
            self.decoder = Some(decoder);
            return false;
        }
        self.text.clear();
        decode_into(&mut decoder, &raw, &mut self.text, false);
        self.decoder = Some(decoder);
        self.searched = 0;
        self.fast_tried = 0;
        self.fast_pending = false;
        self.fast_gave_up = false;
        self.open_seen = false;
        self.close_pending = false;
        self.parsed_len = 0;
        self.last = None;
        self.awaiting_meta = false;
        self.meta_searched = 0;
        self.meta_parsed = 0;
        self.meta_seen_at = None;
        true
    }

    /// Takes a parse's result: a `<meta>` it met may change the encoding
    /// (true: decoded again, parse again); a final title ends the reading
    /// unless a tentative encoding could still change its characters.
    fn take(&mut self, parsed: Parsed) -> bool {
        if let Some(meta) = parsed.meta
            && !self.certain
            && self.change_encoding(meta)
        {
            return true;
        }
        let is_final = parsed.is_final;
        let plain = self.certain || self.plain_title(&parsed);
        self.last = Some(parsed);
        if is_final {
            if plain {
                self.done = true;
            } else {
                self.awaiting_meta = true;
            }
        }
        false
    }

    /// The title's characters are ASCII without ESC, under an encoding
    /// other than ISO-2022-JP: every encoding a later `<meta>` could name
    /// gives the same characters.
    fn plain_title(&self, parsed: &Parsed) -> bool {
        let ascii = parsed
            .title
            .as_ref()
            .is_none_or(|(t, _)| t.bytes().all(|b| b.is_ascii() && b != 0x1B));
        ascii && self.decided.is_none_or(|(e, _)| e != ISO_2022_JP)
    }

    /// Looks for the first `<meta>` the tree builder meets in the text,
    /// parsing the shortest prefix that holds the next `<meta` candidate's
    /// whole tag, and never less than twice the last prefix (so the work
    /// stays within a few full parses). `eof`: the text is complete.
    fn search_meta(&mut self, eof: bool) -> Option<&'static Encoding> {
        if self.searched >= self.text.len() {
            // The tag scan has covered the text: it knows the first `<meta`.
            match self.meta_seen_at {
                None => return None,
                Some(at) => self.meta_searched = self.meta_searched.max(at),
            }
        }
        loop {
            let hay = self.text.as_bytes();
            let from = self.meta_searched.min(hay.len());
            let Some(at) = find_ci(&self.text, from, b"<meta") else {
                self.meta_searched = hay.len().saturating_sub(4).max(from);
                return None;
            };
            // A tag cut off by the end of the input is no declaration.
            let Some(end) = skip_attributes(hay, at + 5) else {
                self.meta_searched = at;
                return None;
            };
            // Only a tag that says `charset` can declare one (a character
            // reference could spell it: those go to the parser too).
            let tag = hay.get(at..end).unwrap_or_default();
            let declares =
                tag.contains(&b'&') || tag.windows(7).any(|w| w.eq_ignore_ascii_case(b"charset"));
            if declares && end > self.meta_parsed {
                let mut cut = end.max(self.meta_parsed.saturating_mul(2)).min(hay.len());
                while !self.text.is_char_boundary(cut) {
                    cut += 1;
                }
                let whole = cut == self.text.len();
                let prefix = self.text.get(..cut).unwrap_or(&self.text);
                let parsed = parse(prefix, eof && whole, self.opts.max_title_len);
                self.meta_parsed = cut;
                if parsed.meta.is_some() {
                    return parsed.meta;
                }
            }
            self.meta_searched = at + 5;
        }
    }

    fn process(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let offset = self.seen;
        self.seen += bytes.len();
        // ASCII without ESC (two word-at-a-time scans), needed only while
        // the encoding is tentative.
        let plain = !self.certain && bytes.is_ascii() && !bytes.contains(&0x1B);
        if !self.certain {
            if self.raw_plain && !plain {
                // Until now every byte was ASCII without ESC, which decodes
                // to itself: the text is the raw bytes.
                self.raw_plain = false;
                self.raw = self.text.as_bytes().to_vec();
            }
            if !self.raw_plain {
                self.raw.extend_from_slice(bytes);
            }
        }
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
            // scans (`is_ascii`, memchr) instead of a byte loop. (Undecided
            // means tentative: `plain` was computed.)
            let pass = if plain {
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
        if self.decided.is_some() || (self.held.is_empty() && !eof && self.pending_meta.is_none()) {
            return;
        }
        let prescan_done = eof || self.head.len() >= PRESCAN_LEN;
        if !prescan_done {
            return;
        }
        let window_done = eof || self.seen >= DETECTION_WINDOW;
        if self.opts.xml {
            // XML: the declaration's encoding, else UTF-8; no `<meta>`, no
            // detection, and nothing later changes it.
            match xml_encoding(&self.head) {
                Some(enc) => self.decide(enc, CharsetSource::Meta),
                None => self.decide(UTF_8, CharsetSource::Default),
            }
            self.settle();
            return;
        }
        let meta = self.meta();
        if let Some(declared) = self.pending_meta
            && self.opts.header_charset != Some(UTF_8)
        {
            // The tree builder met a `<meta>` in the ASCII prefix: whatever
            // the prescan or detection say, the encoding ends up there.
            let declared = normalize_meta_encoding(declared);
            let source = if meta == Some(declared) {
                CharsetSource::Meta
            } else {
                CharsetSource::ParserMeta
            };
            self.decide(declared, source);
            self.settle();
            return;
        }
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
    /// answer may have become final (see the module docs); again from the
    /// start when a `<meta>` had the page decoded again.
    fn maybe_parse(&mut self) {
        while self.parse_step() {}
    }

    /// One round of [`Self::maybe_parse`]; true when the text was decoded
    /// again and the search must start over.
    fn parse_step(&mut self) -> bool {
        if self.opts.xml {
            self.xml_step(false);
            return false;
        }
        if self.awaiting_meta {
            let Some(meta) = self.search_meta(false) else {
                return false;
            };
            if self.change_encoding(meta) {
                return true;
            }
            // Settled with the same characters: the final title stands.
            self.done = true;
            return false;
        }
        // The common head is decided without searching or a tree (see
        // `fast.rs`); while the head is still the common one (a long script
        // or style, say) no tree is built, and the fast path looks again
        // only once the text has doubled, so its cost stays linear. Once it
        // sees anything uncommon, only the tree decides.
        if !self.fast_gave_up && self.text.len() >= self.fast_tried.saturating_mul(2) {
            self.fast_tried = self.text.len().max(1);
            match super::fast::head(&self.text, self.opts.max_title_len) {
                Head::Title(parsed) => return self.take(parsed),
                // Still the common head (a long script or style, say): no
                // tree yet, the next doubling looks again.
                Head::NeedMore => {
                    self.fast_pending = true;
                    return false;
                }
                Head::Tree => {
                    self.fast_pending = false;
                    self.fast_gave_up = true;
                }
            }
        } else if self.fast_pending {
            return false;
        }
        self.scan_tags();
        if !self.open_seen {
            return false;
        }
        let open_title = self.last.as_ref().is_some_and(|p| p.title_open)
            && self.text.len() >= self.parsed_len.saturating_add(OPEN_TITLE_STEP);
        if !(self.close_pending || open_title) {
            return false;
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
            return false;
        }
        self.close_pending = false;
        self.parsed_len = len;
        let prefix = self.text.get(..len).unwrap_or(&self.text);
        let parsed = parse(prefix, false, self.opts.max_title_len);
        self.take(parsed)
    }

    /// Ends the input (EOF or the caller gave up) and returns the result.
    pub fn finish(mut self) -> Extraction {
        if !self.started {
            let start = std::mem::take(&mut self.start);
            self.begin(&start);
        }
        self.try_decide(true);
        if !self.done {
            self.end_of_input();
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

    /// The last parse, with end-of-input semantics; then, while the
    /// encoding is tentative, the first `<meta>` the tree builder meets
    /// (the whole text searched) may still change it, and the page is
    /// decoded and parsed once more.
    fn end_of_input(&mut self) {
        if self.opts.xml {
            if let Some(decoder) = self.decoder.as_mut() {
                decode_into(decoder, &[], &mut self.text, true);
            }
            self.xml_step(true);
            return;
        }
        loop {
            if let Some(decoder) = self.decoder.as_mut() {
                decode_into(decoder, &[], &mut self.text, true);
            }
            self.scan_tags();
            // The meta a parse of the whole text met, when one ran.
            let mut whole_meta = None;
            if self.awaiting_meta {
                // The title is final; only the encoding was open.
            } else if !self.open_seen {
                self.last = None;
            } else if let (true, Head::Title(parsed)) = (
                self.fast_pending,
                super::fast::head(&self.text, self.opts.max_title_len),
            ) {
                // A long common head (a 200 KB script, say) that ended
                // between two looks of the fast path.
                self.last = Some(parsed);
            } else {
                let parsed = parse(&self.text, true, self.opts.max_title_len);
                whole_meta = Some(parsed.meta);
                self.last = Some(parsed);
            }
            // A plain title reads the same in every encoding a later meta
            // could name: as when reading stops early, it is not looked for.
            let plain = self
                .last
                .as_ref()
                .is_some_and(|p| p.title.is_some() && self.plain_title(p));
            if self.certain || plain {
                return;
            }
            let meta = match whole_meta {
                Some(meta) => meta,
                None => self.search_meta(true),
            };
            match meta {
                Some(meta) if self.change_encoding(meta) => {}
                Some(_) | None => return,
            }
        }
    }

    /// XHTML under XML rules: reads the text once it has doubled since the
    /// last read (so at most about twice one full read), and at the end.
    /// A document that is not well-formed gets HTML rules at the end.
    fn xml_step(&mut self, eof: bool) {
        if !eof && self.text.len() < self.parsed_len.saturating_mul(2).max(1) {
            return;
        }
        self.parsed_len = self.text.len();
        let max = self.opts.max_title_len;
        let found = |title| Parsed {
            title,
            is_final: true,
            title_open: false,
            meta: None,
        };
        match xml_title(&self.text, eof, max) {
            XmlTitle::Found(t, cut) => {
                self.last = Some(found(Some((t, cut))));
                self.done = true;
            }
            XmlTitle::None => self.last = None,
            XmlTitle::NeedMore => {}
            XmlTitle::Malformed => self.last = Some(parse(&self.text, true, max)),
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

    /// Searches the text not searched yet, at its `<` bytes only, for
    /// `<title`, `</title` and, while the encoding is tentative, the first
    /// `<meta` (ASCII case ignored).
    fn scan_tags(&mut self) {
        let from = self.searched.saturating_sub(7);
        let want_meta = !self.certain && self.meta_seen_at.is_none();
        let bytes = self.text.as_bytes();
        let (mut open, mut close, mut meta) = (self.open_seen, false, None);
        if let Some(new) = bytes.get(from..) {
            for (i, _) in new.iter().enumerate().filter(|&(_, &b)| b == b'<') {
                let Some(rest) = new.get(i..) else {
                    break;
                };
                // One byte picks the one candidate.
                match rest.get(1) {
                    Some(b't' | b'T') if !open => open = starts_with_ci(rest, b"<title"),
                    // An end tag counts only after a start tag.
                    Some(b'/') if open && !close => close = starts_with_ci(rest, b"</title"),
                    Some(b'm' | b'M')
                        if want_meta && meta.is_none() && starts_with_ci(rest, b"<meta") =>
                    {
                        meta = Some(from + i);
                    }
                    _ => {}
                }
            }
        }
        self.open_seen = open;
        if open && close {
            self.close_pending = true;
        }
        if meta.is_some() {
            self.meta_seen_at = meta;
        }
        self.searched = bytes.len();
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
        WINDOWS_1252,
    };

    fn opts(header: Option<&'static Encoding>) -> ExtractOptions {
        ExtractOptions {
            max_title_len: 1024,
            header_charset: header,
            xml: false,
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

    /// Feeds `body` in chunks of `size` and says how many bytes went in.
    fn fed(body: &[u8], size: usize, o: ExtractOptions) -> (Extraction, usize) {
        let mut ex = TitleExtractor::new(o);
        let mut read = 0;
        for c in body.chunks(size) {
            read += c.len();
            if !ex.feed(c) {
                break;
            }
        }
        (ex.finish(), read)
    }

    #[test]
    fn a_meta_after_the_prescan_window_changes_the_encoding() {
        let title = "Привет, мир";
        let long_comment = format!("<!--{}-->", "x".repeat(2000));
        let long_script = format!("<script>var s = '{}';</script>", "y".repeat(2048));
        for (what, doc) in [
            (
                "after a long comment",
                format!("{long_comment}<meta charset=windows-1251><title>{title}</title>"),
            ),
            (
                "after a 2 KB script",
                format!("<head>{long_script}<meta charset=windows-1251><title>{title}</title>"),
            ),
            (
                "after the title",
                format!(
                    "<head><title>{title}</title>{long_script}\
                     <meta http-equiv=Content-Type content='text/html; charset=windows-1251'>"
                ),
            ),
            (
                "in the body, after the title",
                format!("<title>{title}</title><body>{long_comment}<p><meta charset=cp1251>"),
            ),
        ] {
            let body = encode(WINDOWS_1251, &doc);
            for size in [1, 7, 100, 1 << 20] {
                let got = chunked(&body, size, opts(None));
                assert_eq!(got.title.as_deref(), Some(title), "{what}, chunk {size}");
                assert_eq!(got.encoding, WINDOWS_1251, "{what}, chunk {size}");
                assert_eq!(got.charset_source, CharsetSource::ParserMeta, "{what}");
            }
        }
    }

    #[test]
    fn a_late_meta_is_ignored_once_the_encoding_is_certain() {
        let doc = format!(
            "<!--{}--><meta charset=windows-1251><title>Grüße</title>",
            "x".repeat(2000)
        );
        // The header is certain.
        let got = extract_title(&encode(WINDOWS_1252, &doc), opts(Some(WINDOWS_1252)));
        assert_eq!(got.title.as_deref(), Some("Grüße"));
        assert_eq!(got.charset_source, CharsetSource::Header);
        // So is a BOM.
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(doc.as_bytes());
        let got = extract_title(&body, opts(None));
        assert_eq!(got.title.as_deref(), Some("Grüße"));
        assert_eq!(got.charset_source, CharsetSource::Bom);
        // A prescan meta is tentative; the tree builder meets it first and
        // makes it certain, so a later, different one changes nothing.
        let doc = format!(
            "<meta charset=windows-1252><!--{}--><meta charset=windows-1251><title>Grüße</title>",
            "x".repeat(2000)
        );
        let got = extract_title(&encode(WINDOWS_1252, &doc), opts(None));
        assert_eq!(got.title.as_deref(), Some("Grüße"));
        assert_eq!(got.encoding, WINDOWS_1252);
        assert_eq!(got.charset_source, CharsetSource::Meta);
    }

    #[test]
    fn the_prescan_meta_loses_to_the_first_meta_the_parser_meets() {
        // The prescan sees the meta inside the script; the tokenizer does
        // not, and meets the later one.
        let doc = "<script>'<meta charset=shift_jis>'</script>\
                   <meta charset=windows-1251><title>Привет</title>";
        let got = extract_title(&encode(WINDOWS_1251, doc), opts(None));
        assert_eq!(got.title.as_deref(), Some("Привет"));
        assert_eq!(got.encoding, WINDOWS_1251);
        assert_eq!(got.charset_source, CharsetSource::ParserMeta);
    }

    #[test]
    fn a_meta_cut_off_by_the_end_of_the_body_is_no_declaration() {
        let doc = format!(
            "<title>Grüße</title><!--{}--><meta charset=windows-1251",
            "x".repeat(2000)
        );
        let got = extract_title(&encode(WINDOWS_1252, &doc), opts(None));
        assert_ne!(got.charset_source, CharsetSource::ParserMeta);
        assert_eq!(got.encoding, WINDOWS_1252);
    }

    #[test]
    fn reading_goes_on_only_while_a_tentative_encoding_could_change_the_title() {
        let pad = format!("<p>{}</p>", "z".repeat(100_000));
        // An ASCII title is final whatever a later meta says: stop early.
        let doc = format!("<title>plain</title><body>{pad}<meta charset=windows-1251>");
        let (got, read) = fed(doc.as_bytes(), 4096, opts(None));
        assert_eq!(got.title.as_deref(), Some("plain"));
        assert_eq!(read, 4096);
        // A non-ASCII title under a detected encoding waits for the meta…
        let doc = format!("<title>Привет</title><body>{pad}<meta charset=windows-1251>{pad}");
        let body = encode(WINDOWS_1251, &doc);
        let (got, read) = fed(&body, 4096, opts(None));
        assert_eq!(got.title.as_deref(), Some("Привет"));
        assert_eq!(got.charset_source, CharsetSource::ParserMeta);
        assert!(read > 100_000, "read {read}");
        assert!(read < body.len(), "stops once the meta settles it: {read}");
        // … and stops at once when the encoding is certain.
        let (got, read) = fed(&body, 4096, opts(Some(WINDOWS_1251)));
        assert_eq!(got.title.as_deref(), Some("Привет"));
        assert_eq!(read, 4096);
        // A prescan meta the parser meets in the head settles it too.
        let doc = format!("<meta charset=utf-8><title>Grüße ☃</title>{pad}");
        let (got, read) = fed(doc.as_bytes(), 4096, opts(None));
        assert_eq!(got.title.as_deref(), Some("Grüße ☃"));
        assert_eq!(got.charset_source, CharsetSource::Meta);
        assert_eq!(read, 4096);
    }

    #[test]
    fn xhtml_is_read_under_xml_rules() {
        let xml = ExtractOptions {
            xml: true,
            ..ExtractOptions::default()
        };
        // In XML, markup inside the title is an element (its text is not
        // the title's), and a prefixed XHTML title counts.
        let doc = "<?xml version=\"1.0\" encoding=\"windows-1251\"?>\
                   <html xmlns=\"http://www.w3.org/1999/xhtml\"><head>\
                   <title>Привет <b>мир</b>!</title></head><body/></html>";
        let body = encode(WINDOWS_1251, doc);
        for size in [1, 7, 1 << 20] {
            let got = chunked(&body, size, xml);
            assert_eq!(got.title.as_deref(), Some("Привет !"), "chunk {size}");
            assert_eq!(got.encoding, WINDOWS_1251);
            assert_eq!(got.charset_source, CharsetSource::Meta);
        }
        // The same bytes as HTML: the title is RCDATA.
        let got = extract_title(&body, opts(Some(WINDOWS_1251)));
        assert_eq!(got.title.as_deref(), Some("Привет <b>мир</b>!"));
        let doc = "<root><title>not XHTML</title>\
                   <x:title xmlns:x=\"http://www.w3.org/1999/xhtml\">XHTML</x:title></root>";
        assert_eq!(
            extract_title(doc.as_bytes(), xml).title.as_deref(),
            Some("XHTML")
        );
        // Not well-formed: HTML rules, as a best effort.
        let doc = "<html xmlns=\"http://www.w3.org/1999/xhtml\"><title>A&nbsp;B</title>";
        assert_eq!(
            extract_title(doc.as_bytes(), xml).title.as_deref(),
            Some("A\u{a0}B")
        );
        // An early title stops the reading.
        let mut body =
            b"<html xmlns=\"http://www.w3.org/1999/xhtml\"><title>Early</title>".to_vec();
        body.extend(std::iter::repeat_n(b'x', 200_000));
        let (got, read) = fed(&body, 4096, xml);
        assert_eq!(got.title.as_deref(), Some("Early"));
        assert_eq!(read, 4096);
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
                xml: false,
            },
        );
        assert_eq!(got.title.map(|t| t.chars().count()), Some(100));
        assert!(got.title_truncated);
    }
}
