//! A byte-level, resumable HTML tokenizer that only cares about one thing:
//! where the first HTML-namespace `<title>` element is, and whether `<body>`
//! content has started without one.
//!
//! It works on raw bytes, before any charset decision, because every byte
//! that matters to HTML structure (`<`, `>`, `/`, `=`, quotes, whitespace,
//! ASCII letters in tag names) is ASCII, and in every ASCII-compatible
//! encoding the WHATWG supports (Shift_JIS, EUC-JP, GBK/GB18030, Big5,
//! EUC-KR, windows-125x, ISO-8859-x, UTF-8) the trail bytes of multi-byte
//! characters never take the values `<`, `>`, `&`, `/`, `=`, quotes or
//! whitespace. UTF-16 input is transcoded to UTF-8 before it gets here.
//!
//! The states follow the WHATWG tokenizer closely enough for titles:
//! comments (including `<!-->`), bogus comments and doctypes, quoted
//! attribute values containing `>`, raw-text elements (`script`, `style`,
//! `noscript`, ...) whose content is not markup, CDATA in foreign content,
//! and `<svg>`/`<math>` subtrees whose `<title>` elements are not the
//! document title.

/// What the scanner concluded after a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still looking.
    Searching,
    /// The first title element is complete (or its capture hit the cap).
    TitleDone,
    /// Body content started before any title: there is no title worth waiting for.
    BodyStarted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    /// `<title>`: the content is captured.
    Title,
    /// Any other raw text / RCDATA / script element: the content is skipped.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    TagOpen,
    EndTagOpen,
    TagName,
    BeforeAttrName,
    AttrName,
    AfterAttrName,
    BeforeAttrValue,
    AttrValueQuoted(u8),
    AttrValueUnquoted,
    SelfClosing,
    /// After `<!`: `matched` bytes of `--` or `[CDATA[` seen so far.
    MarkupDecl {
        matched: u8,
        cdata: bool,
    },
    BogusComment,
    CommentStart,
    CommentStartDash,
    Comment,
    CommentEndDash,
    CommentEnd,
    CommentEndBang,
    /// Inside `<![CDATA[`: count of consecutive `]` seen.
    Cdata(u8),
    RawData(RawKind),
    RawLessThan(RawKind),
    /// `</` plus `matched` bytes of the raw element's name.
    RawEndTag(RawKind, u8),
    Plaintext,
}

const NAME_CAP: usize = 16;
const FOREIGN_STACK_CAP: usize = 256;

/// Small fixed-size tag name buffer (names longer than 16 bytes never match
/// anything interesting).
#[derive(Debug, Clone, Copy)]
struct TagName {
    bytes: [u8; NAME_CAP],
    len: usize,
    overflow: bool,
}

impl TagName {
    const fn empty() -> Self {
        Self {
            bytes: [0; NAME_CAP],
            len: 0,
            overflow: false,
        }
    }

    fn push(&mut self, b: u8) {
        if self.len < NAME_CAP {
            self.bytes[self.len] = b.to_ascii_lowercase();
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        if self.overflow {
            b"\0"
        } else {
            &self.bytes[..self.len]
        }
    }
}

/// Elements that may appear before the title without meaning that body
/// content has started.
const HEADISH: &[&[u8]] = &[
    b"html",
    b"head",
    b"body",
    b"meta",
    b"link",
    b"base",
    b"basefont",
    b"bgsound",
    b"title",
    b"script",
    b"style",
    b"noscript",
    b"noframes",
    b"template",
];

/// Elements whose content is not markup (scripting enabled, like a browser).
const RAW_ELEMENTS: &[&[u8]] = &[
    b"script",
    b"style",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"noscript",
    b"textarea",
];

/// HTML start tags that break out of foreign (svg/math) content.
const BREAKOUT: &[&[u8]] = &[
    b"b",
    b"big",
    b"blockquote",
    b"body",
    b"br",
    b"center",
    b"code",
    b"dd",
    b"div",
    b"dl",
    b"dt",
    b"em",
    b"embed",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"head",
    b"hr",
    b"i",
    b"img",
    b"li",
    b"listing",
    b"menu",
    b"meta",
    b"nobr",
    b"ol",
    b"p",
    b"pre",
    b"ruby",
    b"s",
    b"small",
    b"span",
    b"strong",
    b"strike",
    b"sub",
    b"sup",
    b"table",
    b"tt",
    b"u",
    b"ul",
    b"var",
];

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// The resumable scanner. Feed it bytes; it captures the raw bytes of the
/// first title (ASCII whitespace runs already collapsed) up to a cap.
#[derive(Debug)]
pub(crate) struct Scanner {
    state: State,
    tag: TagName,
    tag_is_end: bool,
    self_closing: bool,
    raw_name: TagName,
    raw_pending: [u8; NAME_CAP + 2],
    foreign: Vec<TagName>,
    title: Vec<u8>,
    title_cap: usize,
    title_truncated: bool,
    title_pending_space: bool,
    verdict: Verdict,
}

impl Scanner {
    /// `title_cap` bounds the captured raw title bytes.
    pub(crate) fn new(title_cap: usize) -> Self {
        Self {
            state: State::Data,
            tag: TagName::empty(),
            tag_is_end: false,
            self_closing: false,
            raw_name: TagName::empty(),
            raw_pending: [0; NAME_CAP + 2],
            foreign: Vec::new(),
            title: Vec::new(),
            title_cap: title_cap.max(1),
            title_truncated: false,
            title_pending_space: false,
            verdict: Verdict::Searching,
        }
    }

    pub(crate) fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// True while a `<title>` start tag has been seen and its end has not.
    pub(crate) fn in_title(&self) -> bool {
        matches!(
            self.state,
            State::RawData(RawKind::Title)
                | State::RawLessThan(RawKind::Title)
                | State::RawEndTag(RawKind::Title, _)
        )
    }

    /// Raw title bytes captured so far.
    pub(crate) fn title_bytes(&self) -> &[u8] {
        &self.title
    }

    pub(crate) fn title_truncated(&self) -> bool {
        self.title_truncated
    }

    /// Feeds bytes; returns how many were consumed (all of them unless a
    /// verdict was reached mid-chunk).
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> usize {
        let mut i = 0;
        while i < chunk.len() {
            if self.verdict != Verdict::Searching {
                return i;
            }
            // Fast paths for the two states where most bytes are spent.
            match self.state {
                State::Data if self.foreign.is_empty() => {
                    if let Some(off) = chunk[i..].iter().position(|&b| b == b'<' || !is_ws(b)) {
                        i += off;
                    } else {
                        return chunk.len();
                    }
                }
                State::Comment | State::BogusComment | State::RawData(RawKind::Other) => {
                    let stop = match self.state {
                        State::Comment => b'-',
                        State::BogusComment => b'>',
                        _ => b'<',
                    };
                    if let Some(off) = chunk[i..].iter().position(|&b| b == stop) {
                        i += off;
                    } else {
                        return chunk.len();
                    }
                }
                _ => {}
            }
            self.step(chunk[i]);
            i += 1;
        }
        chunk.len()
    }

    /// Marks the end of input: an unterminated title still counts.
    pub(crate) fn finish(&mut self) {
        if self.verdict == Verdict::Searching && self.in_title() {
            // Flush a partially matched `</titl` back into the text.
            if let State::RawLessThan(RawKind::Title) = self.state {
                self.capture(b'<');
            } else if let State::RawEndTag(RawKind::Title, n) = self.state {
                self.capture_pending(n);
            }
            self.verdict = Verdict::TitleDone;
        }
    }

    fn capture(&mut self, b: u8) {
        if self.title.len() >= self.title_cap {
            self.title_truncated = true;
            self.verdict = Verdict::TitleDone;
            return;
        }
        if is_ws(b) {
            if !self.title.is_empty() {
                self.title_pending_space = true;
            }
            return;
        }
        if self.title_pending_space {
            self.title.push(b' ');
            self.title_pending_space = false;
        }
        self.title.push(b);
    }

    fn capture_pending(&mut self, matched: u8) {
        let n = usize::from(matched) + 2;
        let pending = self.raw_pending;
        for &b in pending.iter().take(n) {
            self.capture(b);
        }
    }

    fn body_started(&mut self) {
        if self.verdict == Verdict::Searching {
            self.verdict = Verdict::BodyStarted;
        }
    }

    fn step(&mut self, b: u8) {
        match self.state {
            State::Data => {
                if b == b'<' {
                    self.state = State::TagOpen;
                } else if !is_ws(b) && self.foreign.is_empty() {
                    self.body_started();
                }
            }
            State::TagOpen => {
                if b.is_ascii_alphabetic() {
                    self.begin_tag(false, b);
                } else if b == b'!' {
                    self.state = State::MarkupDecl {
                        matched: 0,
                        cdata: false,
                    };
                } else if b == b'/' {
                    self.state = State::EndTagOpen;
                } else if b == b'?' {
                    self.state = State::BogusComment;
                } else {
                    // A lone `<` is text.
                    self.state = State::Data;
                    if self.foreign.is_empty() {
                        self.body_started();
                    }
                }
            }
            State::EndTagOpen => {
                if b.is_ascii_alphabetic() {
                    self.begin_tag(true, b);
                } else if b == b'>' {
                    self.state = State::Data;
                } else {
                    self.state = State::BogusComment;
                }
            }
            State::TagName => {
                if is_ws(b) {
                    self.state = State::BeforeAttrName;
                } else if b == b'/' {
                    self.state = State::SelfClosing;
                } else if b == b'>' {
                    self.emit_tag();
                } else {
                    self.tag.push(b);
                }
            }
            State::BeforeAttrName => {
                if is_ws(b) {
                } else if b == b'/' {
                    self.state = State::SelfClosing;
                } else if b == b'>' {
                    self.emit_tag();
                } else {
                    self.state = State::AttrName;
                }
            }
            State::AttrName => {
                if is_ws(b) {
                    self.state = State::AfterAttrName;
                } else if b == b'/' {
                    self.state = State::SelfClosing;
                } else if b == b'=' {
                    self.state = State::BeforeAttrValue;
                } else if b == b'>' {
                    self.emit_tag();
                }
            }
            State::AfterAttrName => {
                if is_ws(b) {
                } else if b == b'/' {
                    self.state = State::SelfClosing;
                } else if b == b'=' {
                    self.state = State::BeforeAttrValue;
                } else if b == b'>' {
                    self.emit_tag();
                } else {
                    self.state = State::AttrName;
                }
            }
            State::BeforeAttrValue => {
                if is_ws(b) {
                } else if b == b'"' || b == b'\'' {
                    self.state = State::AttrValueQuoted(b);
                } else if b == b'>' {
                    self.emit_tag();
                } else {
                    self.state = State::AttrValueUnquoted;
                }
            }
            State::AttrValueQuoted(q) => {
                if b == q {
                    // After-attribute-value-quoted behaves like before-attr-name
                    // for every byte we care about.
                    self.state = State::BeforeAttrName;
                }
            }
            State::AttrValueUnquoted => {
                if is_ws(b) {
                    self.state = State::BeforeAttrName;
                } else if b == b'>' {
                    self.emit_tag();
                }
            }
            State::SelfClosing => {
                if b == b'>' {
                    self.self_closing = true;
                    self.emit_tag();
                } else {
                    self.state = State::BeforeAttrName;
                    self.step(b);
                }
            }
            State::MarkupDecl { matched, cdata } => self.markup_decl(b, matched, cdata),
            State::BogusComment => {
                if b == b'>' {
                    self.state = State::Data;
                }
            }
            State::CommentStart => match b {
                b'-' => self.state = State::CommentStartDash,
                b'>' => self.state = State::Data,
                _ => self.state = State::Comment,
            },
            State::CommentStartDash => match b {
                b'-' => self.state = State::CommentEnd,
                b'>' => self.state = State::Data,
                _ => self.state = State::Comment,
            },
            State::Comment => {
                if b == b'-' {
                    self.state = State::CommentEndDash;
                }
            }
            State::CommentEndDash => {
                self.state = if b == b'-' {
                    State::CommentEnd
                } else {
                    State::Comment
                };
            }
            State::CommentEnd => match b {
                b'>' => self.state = State::Data,
                b'-' => {}
                b'!' => self.state = State::CommentEndBang,
                _ => self.state = State::Comment,
            },
            State::CommentEndBang => match b {
                b'>' => self.state = State::Data,
                b'-' => self.state = State::CommentEndDash,
                _ => self.state = State::Comment,
            },
            State::Cdata(brackets) => {
                if b == b']' {
                    self.state = State::Cdata(brackets.saturating_add(1));
                } else if b == b'>' && brackets >= 2 {
                    self.state = State::Data;
                } else {
                    self.state = State::Cdata(0);
                }
            }
            State::RawData(kind) => {
                if b == b'<' {
                    self.state = State::RawLessThan(kind);
                } else if kind == RawKind::Title {
                    self.capture(b);
                }
            }
            State::RawLessThan(kind) => {
                if b == b'/' {
                    self.raw_pending[0] = b'<';
                    self.raw_pending[1] = b'/';
                    self.state = State::RawEndTag(kind, 0);
                } else {
                    self.state = State::RawData(kind);
                    if kind == RawKind::Title {
                        self.capture(b'<');
                    }
                    self.step(b);
                }
            }
            State::RawEndTag(kind, matched) => self.raw_end_tag(b, kind, matched),
            State::Plaintext => {}
        }
    }

    fn begin_tag(&mut self, is_end: bool, first: u8) {
        self.tag = TagName::empty();
        self.tag.push(first);
        self.tag_is_end = is_end;
        self.self_closing = false;
        self.state = State::TagName;
    }

    fn markup_decl(&mut self, b: u8, matched: u8, cdata: bool) {
        const CDATA: &[u8] = b"[CDATA[";
        let m = usize::from(matched);
        if !cdata && m == 0 && b == b'-' {
            self.state = State::MarkupDecl {
                matched: 1,
                cdata: false,
            };
        } else if !cdata && m == 1 {
            if b == b'-' {
                self.state = State::CommentStart;
            } else {
                self.state = State::BogusComment;
                self.step(b);
            }
        } else if (cdata || m == 0) && !self.foreign.is_empty() && CDATA.get(m) == Some(&b) {
            if m + 1 == CDATA.len() {
                self.state = State::Cdata(0);
            } else {
                self.state = State::MarkupDecl {
                    matched: matched + 1,
                    cdata: true,
                };
            }
        } else {
            self.state = State::BogusComment;
            self.step(b);
        }
    }

    fn raw_end_tag(&mut self, b: u8, kind: RawKind, matched: u8) {
        let m = usize::from(matched);
        let name_len = self.raw_name.as_bytes().len();
        if m < name_len {
            if b.to_ascii_lowercase() == self.raw_name.as_bytes()[m] {
                self.raw_pending[m + 2] = b;
                self.state = State::RawEndTag(kind, matched + 1);
                return;
            }
        } else if is_ws(b) || b == b'/' || b == b'>' {
            if kind == RawKind::Title {
                self.verdict = Verdict::TitleDone;
                self.state = State::Data;
                return;
            }
            // Consume the rest of the end tag like any other tag.
            self.tag = self.raw_name;
            self.tag_is_end = true;
            self.self_closing = false;
            self.state = State::TagName;
            self.step(b);
            return;
        }
        // Mismatch: the bytes were text after all.
        if kind == RawKind::Title {
            self.capture_pending(matched);
        }
        self.state = State::RawData(kind);
        self.step(b);
    }

    fn emit_tag(&mut self) {
        self.state = State::Data;
        let tag = self.tag;
        let name = tag.as_bytes();
        if self.tag_is_end {
            if !self.foreign.is_empty()
                && let Some(pos) = self.foreign.iter().rposition(|t| t.as_bytes() == name)
            {
                self.foreign.truncate(pos);
            }
            return;
        }
        if !self.foreign.is_empty() {
            if BREAKOUT.contains(&name) {
                self.foreign.clear();
            } else {
                if !self.self_closing && self.foreign.len() < FOREIGN_STACK_CAP {
                    self.foreign.push(tag);
                }
                return;
            }
        }
        if name == b"svg" || name == b"math" {
            if !self.self_closing {
                self.foreign.push(tag);
            }
            return;
        }
        if name == b"title" {
            self.raw_name = tag;
            self.state = State::RawData(RawKind::Title);
            return;
        }
        if name == b"plaintext" {
            self.state = State::Plaintext;
            self.body_started();
            return;
        }
        if RAW_ELEMENTS.contains(&name) {
            self.raw_name = tag;
            self.state = State::RawData(RawKind::Other);
        }
        if !HEADISH.contains(&name) {
            self.body_started();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(input: &[u8]) -> (Verdict, String) {
        let mut s = Scanner::new(4096);
        s.feed(input);
        s.finish();
        (
            s.verdict(),
            String::from_utf8_lossy(s.title_bytes()).into_owned(),
        )
    }

    fn scan_bytewise(input: &[u8]) -> (Verdict, String) {
        let mut s = Scanner::new(4096);
        for b in input {
            s.feed(std::slice::from_ref(b));
        }
        s.finish();
        (
            s.verdict(),
            String::from_utf8_lossy(s.title_bytes()).into_owned(),
        )
    }

    #[test]
    fn finds_simple_title() {
        let doc = b"<!doctype html><html><head><meta charset=utf-8><title>Hello  World</title>";
        assert_eq!(scan(doc), (Verdict::TitleDone, "Hello World".into()));
        assert_eq!(
            scan_bytewise(doc),
            (Verdict::TitleDone, "Hello World".into())
        );
    }

    #[test]
    fn ignores_svg_and_math_titles() {
        let doc = b"<svg><title>icon</title><path d='x'/></svg><math><title>m</title></math><title>Real</title>";
        assert_eq!(scan(doc).1, "Real");
        assert_eq!(scan_bytewise(doc).1, "Real");
    }

    #[test]
    fn title_inside_comment_script_and_attribute_is_not_a_title() {
        let doc = b"<!-- <title>no</title> --><script>var t='<title>no</title>'</script>\
            <meta content='<title>no</title>'><style>/*</style*/</style><title>yes</title>";
        assert_eq!(scan(doc).1, "yes");
        assert_eq!(scan_bytewise(doc).1, "yes");
    }

    #[test]
    fn stops_when_body_content_starts() {
        assert_eq!(
            scan(b"<html><head></head><body><p>hi</p><title>late</title>").0,
            Verdict::BodyStarted
        );
        assert_eq!(scan(b"just text").0, Verdict::BodyStarted);
        assert_eq!(scan(b"<body><title>in body</title>").1, "in body");
    }

    #[test]
    fn malformed_title_tag_is_not_a_title() {
        assert_eq!(scan(b"<title</></title>").0, Verdict::BodyStarted);
    }

    #[test]
    fn unterminated_title_runs_to_end_and_partial_end_tag_is_text() {
        assert_eq!(
            scan(b"<title>abc </tit"),
            (Verdict::TitleDone, "abc </tit".into())
        );
        assert_eq!(
            scan(b"<title>a</b>c</titlex>d</TITLE >"),
            (Verdict::TitleDone, "a</b>c</titlex>d".into())
        );
    }

    #[test]
    fn capture_is_capped() {
        let mut s = Scanner::new(10);
        let mut doc = b"<title>".to_vec();
        doc.extend(std::iter::repeat_n(b'x', 100_000));
        let used = s.feed(&doc);
        assert_eq!(s.verdict(), Verdict::TitleDone);
        assert!(s.title_truncated());
        assert_eq!(s.title_bytes().len(), 10);
        assert!(used < 100);
    }

    #[test]
    fn comment_edge_cases() {
        assert_eq!(scan(b"<!--><title>a</title>").1, "a");
        assert_eq!(scan(b"<!---><title>b</title>").1, "b");
        assert_eq!(scan(b"<!-- x --!><title>c</title>").1, "c");
        assert_eq!(
            scan(b"<!-- <title>x</title> - -- ---><title>d</title>").1,
            "d"
        );
    }
}
