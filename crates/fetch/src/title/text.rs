//! Turning the decoded raw text of a `<title>` into `document.title`:
//! character references are decoded exactly as the HTML tokenizer does in
//! the RCDATA state (html5ever's tokenizer does the work, legacy
//! semicolon-less entities included), then ASCII whitespace is stripped and
//! collapsed. U+00A0 and U+3000 are not ASCII whitespace and are kept.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::{RawKind, State};
use html5ever::tokenizer::{
    BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

#[derive(Default)]
struct TextSink {
    text: RefCell<String>,
}

impl TokenSink for TextSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            Token::CharacterTokens(t) => self.text.borrow_mut().push_str(&t),
            Token::NullCharacterToken => self.text.borrow_mut().push('\u{FFFD}'),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Decodes character references in RCDATA text (`&amp;`, `&#x263A;`, `&eacute`).
pub(crate) fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') && !raw.contains('\0') {
        return raw.to_owned();
    }
    let opts = TokenizerOpts {
        initial_state: Some(State::RawData(RawKind::Rcdata)),
        last_start_tag_name: Some("title".to_owned()),
        ..TokenizerOpts::default()
    };
    let tokenizer = Tokenizer::new(TextSink::default(), opts);
    let queue = BufferQueue::default();
    queue.push_back(StrTendril::from_slice(raw));
    let _ = tokenizer.feed(&queue);
    tokenizer.end();
    tokenizer.sink.text.take()
}

fn is_ascii_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// WHATWG "strip and collapse ASCII whitespace".
pub(crate) fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if is_ascii_ws(c) {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Keeps at most `max_chars` characters.
pub(crate) fn truncate_chars(s: &mut String, max_chars: usize) -> bool {
    if let Some((idx, _)) = s.char_indices().nth(max_chars) {
        s.truncate(idx);
        true
    } else {
        false
    }
}

/// The full pipeline for already-decoded title text.
pub(crate) fn finish_title(decoded: &str, max_chars: usize) -> (String, bool) {
    let mut title = collapse_whitespace(&decode_entities(decoded));
    let truncated = truncate_chars(&mut title, max_chars);
    if truncated {
        // Do not end on a space produced by the cut.
        let trimmed = title.trim_end_matches(' ').len();
        title.truncate(trimmed);
    }
    (title, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entities() {
        assert_eq!(
            decode_entities("Tom &amp; Jerry &lt;3 &#x263A; &#9731; &eacute &copy;"),
            "Tom & Jerry <3 ☺ ☃ é ©"
        );
        // Legacy entities match without a semicolon, as in browsers.
        assert_eq!(
            decode_entities("a&b &notanentity; &#0; &zzz;"),
            "a&b ¬anentity; \u{FFFD} &zzz;"
        );
    }

    #[test]
    fn collapses_ascii_whitespace_only() {
        assert_eq!(collapse_whitespace("  a \t\n\r\x0c b  "), "a b");
        assert_eq!(
            collapse_whitespace("\u{A0}a\u{3000}b\u{A0}"),
            "\u{A0}a\u{3000}b\u{A0}"
        );
    }

    #[test]
    fn entity_whitespace_collapses_too() {
        assert_eq!(finish_title("&#32; a&#10;&#9;b &#32;", 100).0, "a b");
    }

    #[test]
    fn caps_characters_not_bytes() {
        let (t, cut) = finish_title("ééééé", 3);
        assert_eq!(t, "ééé");
        assert!(cut);
        assert_eq!(finish_title("ab", 3), ("ab".to_owned(), false));
    }
}
