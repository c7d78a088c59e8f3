//! Charset vocabulary. The extractor applies the order the issue (and,
//! mostly, the WHATWG encoding sniffing algorithm) prescribes:
//!
//! 1. a byte-order mark;
//! 2. the `charset` parameter of the HTTP `Content-Type` header — except
//!    that when the header says UTF-8, the bytes are not valid UTF-8 and a
//!    `<meta>` names another charset, the `<meta>` wins;
//! 3. the `<meta>` prescan of the first 1024 bytes;
//! 4. detection with chardetng (Firefox's detector) when anything beyond
//!    ASCII was seen, otherwise UTF-8.

use encoding_rs::{Encoding, REPLACEMENT};

/// Where the chosen encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CharsetSource {
    /// A byte-order mark.
    Bom,
    /// The HTTP `Content-Type` header.
    Header,
    /// A `<meta>` in the first 1024 bytes (the prescan).
    Meta,
    /// A `<meta>` the tree builder met later, while the encoding was still
    /// tentative (the parser's "change the encoding" step).
    ParserMeta,
    /// chardetng's guess.
    Detected,
    /// Nothing declared, nothing but ASCII seen: UTF-8.
    Default,
}

impl CharsetSource {
    /// The snake_case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bom => "bom",
            Self::Header => "header",
            Self::Meta => "meta",
            Self::ParserMeta => "parser_meta",
            Self::Detected => "detected",
            Self::Default => "default",
        }
    }

    /// Whether the encoding is settled (the spec's confidence "certain"):
    /// a BOM, the header, or a `<meta>` the parser met. A prescan `<meta>`,
    /// detection and the default are tentative.
    pub fn is_certain(self) -> bool {
        matches!(self, Self::Bom | Self::Header | Self::ParserMeta)
    }
}

/// Extracts and resolves the `charset` parameter of a Content-Type value.
pub fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        Encoding::for_label(value.as_bytes()).filter(|e| *e != REPLACEMENT)
    })
}

/// Incremental UTF-8 validity check over a byte stream.
#[derive(Debug, Default)]
pub(crate) struct Utf8Validity {
    carry: Vec<u8>,
    invalid: bool,
}

impl Utf8Validity {
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) {
        if self.invalid || chunk.is_empty() {
            return;
        }
        if let Some(&lead) = self.carry.first() {
            // Complete the character that straddled the previous chunk.
            let need = utf8_width(lead).saturating_sub(self.carry.len());
            let take = need.min(chunk.len());
            self.carry.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            match std::str::from_utf8(&self.carry) {
                Ok(_) => self.carry.clear(),
                Err(e) if e.error_len().is_some() => {
                    self.invalid = true;
                    return;
                }
                Err(_) => {
                    if take == need {
                        self.invalid = true;
                    }
                    return;
                }
            }
        }
        match std::str::from_utf8(chunk) {
            Ok(_) => {}
            Err(e) if e.error_len().is_some() => self.invalid = true,
            Err(e) => self.carry = chunk[e.valid_up_to()..].to_vec(),
        }
    }

    pub(crate) fn is_invalid(&self) -> bool {
        self.invalid
    }
}

fn utf8_width(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{SHIFT_JIS, WINDOWS_1251};

    #[test]
    fn parses_content_type_charset() {
        assert_eq!(
            charset_from_content_type("text/html; charset=Shift_JIS"),
            Some(SHIFT_JIS)
        );
        assert_eq!(
            charset_from_content_type("text/html;CHARSET=\"cp1251\""),
            Some(WINDOWS_1251)
        );
        assert_eq!(charset_from_content_type("text/html"), None);
        assert_eq!(charset_from_content_type("text/html; charset=bogus"), None);
    }

    #[test]
    fn utf8_validity_across_chunks() {
        let text = "héllo wörld ☃ 😀".as_bytes();
        for split in 0..text.len() {
            let mut v = Utf8Validity::default();
            v.feed(&text[..split]);
            v.feed(&text[split..]);
            assert!(!v.is_invalid(), "split at {split}");
        }
        for split in 0..text.len() {
            let mut v = Utf8Validity::default();
            for b in &text[..split] {
                v.feed(std::slice::from_ref(b));
            }
            v.feed(&text[split..]);
            assert!(!v.is_invalid(), "bytewise to {split}");
        }
        let mut v = Utf8Validity::default();
        v.feed(b"abc\xe9def");
        assert!(v.is_invalid());
        let mut v = Utf8Validity::default();
        v.feed(b"abc\xe2\x98");
        v.feed(b"x");
        assert!(v.is_invalid());
    }
}
