//! The common page, decided without building a tree.
//!
//! Most pages open with a doctype, `<html>`, `<head>`, some `<meta>`,
//! `<link>` and `<style>`, and then `<title>`. For exactly that shape the
//! HTML standard's tree construction is fixed: every one of those tokens is
//! handled by the "before html", "before head" and "in head" insertion
//! modes, which put the elements into the `head`, so the title is the
//! first title in tree order, and nothing later can be inserted in front of
//! it (later head elements are appended after it; foster parenting and
//! `<frameset>` only touch the body). [`head`] tokenizes that prefix
//! as the standard's tokenizer does and returns the final answer; on
//! anything else (text, a `<script>` holding `<!--`, `<template>`, an end tag, an unusual
//! comment, a tag it does not list) it returns `Head::Tree` (and `Head::NeedMore` while the common
//! head is unfinished), and html5ever's tree builder decides
//! ([`super::tree::parse`]). The differential tests in `tests/titles.rs`
//! compare both paths with html5ever's full tree.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::{RawKind, State};
use html5ever::tokenizer::{
    BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use super::tree::{Parsed, TitleText};

/// Start tags the fast path understands before the title: the void head
/// elements and the containers of the head.
const HEAD_TAGS: &[&str] = &[
    "html", "head", "meta", "link", "base", "basefont", "bgsound",
];
/// Raw-text head elements (scripting enabled: `noscript` is raw text).
const RAW_TEXT: &[&str] = &["style", "noscript"];

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// What the fast path makes of a prefix of the decoded document.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Head {
    /// Only head content and a complete `<title>…</title>`: the answer.
    Title(Parsed),
    /// The common shape so far, but the prefix ends before the title does:
    /// more text decides (no tree is needed yet).
    NeedMore,
    /// Something else: html5ever's tree builder decides.
    Tree,
}

/// `document.title` when `text` (a prefix of the decoded document) starts
/// with only head content and a complete `<title>…</title>`; else whether
/// more text could still make it so, or the tree builder must decide.
pub(super) fn head(text: &str, max_chars: usize) -> Head {
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        while b.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        match b.get(i) {
            None => return Head::NeedMore,
            Some(b'<') => {}
            Some(_) => return Head::Tree,
        }
        let Some(rest) = b.get(i..) else {
            return Head::NeedMore;
        };
        if rest.starts_with(b"<!--") {
            // `<!-->` and `<!--->` end at once, and `--!>` also ends a
            // comment: leave those to the tree builder.
            let Some(body) = rest.get(4..) else {
                return Head::NeedMore;
            };
            if body.starts_with(b">") || body.starts_with(b"->") {
                return Head::Tree;
            }
            let Some(end) = find(body, b"-->") else {
                return Head::NeedMore;
            };
            if body.get(..end).is_some_and(|c| find(c, b"--!>").is_some()) {
                return Head::Tree;
            }
            i += 4 + end + 3;
            continue;
        }
        if rest.len() < 9 && b"<!doctype".starts_with(&rest.to_ascii_lowercase()) {
            return Head::NeedMore;
        }
        if starts_with_ci(rest, b"<!doctype") {
            // The first `>` ends a doctype, even inside quotes.
            let Some(end) = find(rest, b">") else {
                return Head::NeedMore;
            };
            i += end + 1;
            continue;
        }
        let (name, after) = match rest.get(1) {
            None => return Head::NeedMore,
            Some(c) if !c.is_ascii_alphabetic() => return Head::Tree,
            Some(_) => match tag_name(rest) {
                Some(t) => t,
                // A letter started it: a name that runs out needs more,
                // one with an unusual character goes to the tree.
                None if rest.iter().skip(1).all(u8::is_ascii_alphanumeric) => {
                    return Head::NeedMore;
                }
                None => return Head::Tree,
            },
        };
        let Some(tag_end) = skip_attributes(rest, after).map(|j| i + j) else {
            return Head::NeedMore;
        };
        if name == "title" {
            return match title_text(b, tag_end, max_chars) {
                Some(parsed) => Head::Title(parsed),
                None => Head::NeedMore,
            };
        }
        if RAW_TEXT.contains(&name.as_str()) {
            match end_of_raw_text(b, tag_end, &name) {
                Some(next) => i = next,
                None => return Head::NeedMore,
            }
            continue;
        }
        if name == "script" {
            // Script data ends at the first `</script` + space, `/` or
            // `>`, unless `<!--` opened the escaped states first: those
            // (`<!--<script></script>-->`) are left to the tree builder.
            let Some(at) = end_tag(b, tag_end, "script") else {
                // No end tag yet: `<!--` already seen decides for the tree.
                return if b.get(tag_end..).is_some_and(|c| find(c, b"<!--").is_some()) {
                    Head::Tree
                } else {
                    Head::NeedMore
                };
            };
            if b.get(tag_end..at)
                .is_some_and(|c| find(c, b"<!--").is_some())
            {
                return Head::Tree;
            }
            match skip_attributes(b, at + 2 + "script".len()) {
                Some(next) => i = next,
                None => return Head::NeedMore,
            }
            continue;
        }
        if !HEAD_TAGS.contains(&name.as_str()) {
            return Head::Tree;
        }
        i = tag_end;
    }
}

/// The lowercase name of the start tag at `b[0] == b'<'` and the index
/// after it; `None` for anything but `<` + ASCII letter.
fn tag_name(b: &[u8]) -> Option<(String, usize)> {
    if !b.get(1)?.is_ascii_alphabetic() {
        return None;
    }
    let mut j = 1;
    while let Some(&c) = b.get(j) {
        if is_space(c) || c == b'/' || c == b'>' {
            break;
        }
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        j += 1;
    }
    b.get(j)?;
    let name = std::str::from_utf8(b.get(1..j)?).ok()?.to_ascii_lowercase();
    Some((name, j))
}

/// Skips a tag's attributes from `j` as the tokenizer does (quoted values
/// may hold `>`); returns the index after the closing `>`.
fn skip_attributes(b: &[u8], mut j: usize) -> Option<usize> {
    loop {
        while b.get(j).copied().is_some_and(|c| is_space(c) || c == b'/') {
            j += 1;
        }
        match *b.get(j)? {
            b'>' => return Some(j + 1),
            _ => {
                // The name (a leading `=` belongs to it).
                j += 1;
                while let Some(&c) = b.get(j) {
                    if is_space(c) || matches!(c, b'/' | b'>' | b'=') {
                        break;
                    }
                    j += 1;
                }
                while b.get(j).copied().is_some_and(is_space) {
                    j += 1;
                }
                if b.get(j) != Some(&b'=') {
                    continue;
                }
                j += 1;
                while b.get(j).copied().is_some_and(is_space) {
                    j += 1;
                }
                match *b.get(j)? {
                    q @ (b'"' | b'\'') => j += 1 + find(b.get(j + 1..)?, &[q])? + 1,
                    b'>' => return Some(j + 1),
                    _ => {
                        while let Some(&c) = b.get(j) {
                            if is_space(c) || c == b'>' {
                                break;
                            }
                            j += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Where an appropriate end tag `</name` followed by a space, `/` or `>`
/// starts at or after `from`.
fn end_tag(b: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut k = from;
    loop {
        let at = k + find(b.get(k..)?, b"</")?;
        let after = at + 2 + name.len();
        if b.get(at + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        {
            let next = *b.get(after)?;
            if is_space(next) || next == b'/' || next == b'>' {
                return Some(at);
            }
        }
        k = at + 2;
    }
}

/// The index after a raw-text element's end tag.
fn end_of_raw_text(b: &[u8], from: usize, name: &str) -> Option<usize> {
    let at = end_tag(b, from, name)?;
    skip_attributes(b, at + 2 + name.len())
}

/// The title's text, when its end tag is there.
fn title_text(b: &[u8], from: usize, max_chars: usize) -> Option<Parsed> {
    let at = end_tag(b, from, "title")?;
    // The end tag must be complete too, or the tokenizer is still in it.
    skip_attributes(b, at + 2 + "title".len())?;
    let raw = std::str::from_utf8(b.get(from..at)?).ok()?;
    let mut text = TitleText::default();
    if raw.contains(['&', '\0']) {
        text.push(&rcdata(raw), max_chars);
    } else {
        text.push(raw, max_chars);
    }
    Some(Parsed {
        title: Some(text.finish(max_chars)),
        is_final: true,
        title_open: false,
    })
}

/// Collects the characters html5ever's tokenizer emits.
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

/// A title's raw text as the tokenizer's RCDATA state emits it: character
/// references decoded (legacy semicolon-less ones included), NUL as
/// U+FFFD.
fn rcdata(raw: &str) -> String {
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn starts_with_ci(b: &[u8], prefix: &[u8]) -> bool {
    b.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(text: &str) -> Option<String> {
        match head(text, 1024) {
            Head::Title(p) => p.title.map(|(t, _)| t),
            Head::NeedMore | Head::Tree => None,
        }
    }

    #[test]
    fn the_common_head_is_decided_here() {
        let page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                    <!-- a comment --><link rel=stylesheet href='a>b.css'>\
                    <style>p > a { x: \"</styles>\" }</style><title> Real\n  Title </title>";
        assert_eq!(title(page).as_deref(), Some("Real Title"));
        assert_eq!(title("<TITLE>x</TITLE >").as_deref(), Some("x"));
        assert_eq!(title("<title></title>").as_deref(), Some(""));
        // Script data in the head ends at its end tag; tags inside are text.
        let script = "<head><script>x='<title>no</title>'; y = '</scrip>';</script >\
                      <script src=a.js></script><title>A</title>";
        assert_eq!(title(script).as_deref(), Some("A"));
        assert_eq!(
            title("<title>a &amp; b &eacute &#x263A;\0</title>").as_deref(),
            Some("a & b \u{e9} \u{263a}\u{fffd}")
        );
    }

    #[test]
    fn an_unfinished_common_head_asks_for_more_text() {
        for prefix in [
            "",
            "  <!DOCTY",
            "<!DOCTYPE html><html><he",
            "<head><script>var s = '<title>no</title>';",
            "<head><style>p {",
            "<head><!-- long",
            "<head><title>open",
            "<head><meta charset=\"utf",
        ] {
            assert_eq!(head(prefix, 1024), Head::NeedMore, "{prefix}");
        }
        for prefix in ["<b>bold", "<head><script><!-- x", "text", "</head>"] {
            assert_eq!(head(prefix, 1024), Head::Tree, "{prefix}");
        }
    }

    #[test]
    fn everything_else_goes_to_the_tree_builder() {
        for page in [
            "<b>Warning</b>: notice <!DOCTYPE html><title>A</title>",
            "<script><!--<script></script>--></script><title>A</title>",
            "<script>x = 1;",
            "<template><title>T</title></template><title>A</title>",
            "<!--><title>A</title>",
            "<!-- a --!> b --><title>A</title>",
            "</head><title>A</title>",
            "<svg><title>A</title>",
            "text<title>A</title>",
            "<title>open",
            "<title>A</title",
            "<meta",
        ] {
            assert!(!matches!(head(page, 1024), Head::Title(_)), "{page}");
        }
    }
}
