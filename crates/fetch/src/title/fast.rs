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

use encoding_rs::Encoding;

use super::prescan::meta_declaration;
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
    // The first `<meta>` declaration on the way, as the tree builder
    // would meet it.
    let mut meta = None;
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
        // A `meta` start tag's declaration is read in the same walk.
        let mut declared = None;
        let end = if name == "meta" && meta.is_none() {
            meta_tag(rest, after, &mut declared)
        } else {
            skip_attributes(rest, after)
        };
        let Some(tag_end) = end.map(|j| i + j) else {
            return Head::NeedMore;
        };
        if name == "title" {
            return match title_text(b, tag_end, max_chars) {
                Some(parsed) => Head::Title(Parsed { meta, ..parsed }),
                None => Head::NeedMore,
            };
        }
        match declared {
            None => {}
            Some(Ok(enc)) => meta = enc,
            Some(Err(())) => return Head::Tree,
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
pub(super) fn skip_attributes(b: &[u8], j: usize) -> Option<usize> {
    attributes(b, j, |_, _| {})
}

/// [`skip_attributes`], handing each attribute's raw name and value (a
/// value-less attribute has an empty one) to `found`.
fn attributes<'a>(
    b: &'a [u8],
    mut j: usize,
    mut found: impl FnMut(&'a [u8], &'a [u8]),
) -> Option<usize> {
    loop {
        while b.get(j).copied().is_some_and(|c| is_space(c) || c == b'/') {
            j += 1;
        }
        match *b.get(j)? {
            b'>' => return Some(j + 1),
            _ => {
                // The name (a leading `=` belongs to it).
                let name_start = j;
                j += 1;
                while let Some(&c) = b.get(j) {
                    if is_space(c) || matches!(c, b'/' | b'>' | b'=') {
                        break;
                    }
                    j += 1;
                }
                let name = b.get(name_start..j)?;
                while b.get(j).copied().is_some_and(is_space) {
                    j += 1;
                }
                if b.get(j) != Some(&b'=') {
                    found(name, &[]);
                    continue;
                }
                j += 1;
                while b.get(j).copied().is_some_and(is_space) {
                    j += 1;
                }
                match *b.get(j)? {
                    q @ (b'"' | b'\'') => {
                        let len = find(b.get(j + 1..)?, &[q])?;
                        found(name, b.get(j + 1..j + 1 + len)?);
                        j += 1 + len + 1;
                    }
                    b'>' => {
                        found(name, &[]);
                        return Some(j + 1);
                    }
                    _ => {
                        let value_start = j;
                        while let Some(&c) = b.get(j) {
                            if is_space(c) || c == b'>' {
                                break;
                            }
                            j += 1;
                        }
                        found(name, b.get(value_start..j)?);
                    }
                }
            }
        }
    }
}

/// [`skip_attributes`] for a `<meta` start tag, which also reads what it
/// declares as the tree builder would into `declared` (once the tag is
/// complete): `Err` when that needs the tokenizer (a character reference
/// or NUL in a value that matters).
fn meta_tag(
    b: &[u8],
    from: usize,
    declared: &mut Option<Result<Option<&'static Encoding>, ()>>,
) -> Option<usize> {
    let (mut charset, mut http_equiv, mut content) = (None, None, None);
    let end = attributes(b, from, |name, value| {
        // The tokenizer keeps the first of duplicate attributes.
        let slot = if name.eq_ignore_ascii_case(b"charset") {
            &mut charset
        } else if name.eq_ignore_ascii_case(b"http-equiv") {
            &mut http_equiv
        } else if name.eq_ignore_ascii_case(b"content") {
            &mut content
        } else {
            return;
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    })?;
    let opaque = |v: Option<&[u8]>| v.is_some_and(|v| v.contains(&b'&') || v.contains(&0));
    *declared = Some(
        if opaque(charset) || opaque(http_equiv) || opaque(content) {
            Err(())
        } else {
            Ok(meta_declaration(charset, http_equiv, content))
        },
    );
    Some(end)
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
        meta: None,
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
    fn the_first_meta_declaration_is_reported_with_the_title() {
        let meta = |text: &str| match head(text, 1024) {
            Head::Title(p) => p.meta.map(Encoding::name),
            Head::NeedMore | Head::Tree => Some("no title"),
        };
        assert_eq!(
            meta(
                "<meta name=x content=y><META Charset='Shift_JIS' charset=euc-jp><meta charset=gbk><title>t</title>"
            ),
            Some("Shift_JIS")
        );
        assert_eq!(
            meta(
                "<meta http-equiv=Content-Type content=\"text/html; charset=koi8-r\"><title>t</title>"
            ),
            Some("KOI8-R")
        );
        assert_eq!(
            meta("<meta content=\"text/html; charset=koi8-r\"><title>t</title>"),
            None
        );
        assert_eq!(
            meta("<meta charset=utf-16le><title>t</title>"),
            Some("UTF-8")
        );
        assert_eq!(meta("<meta charset=bogus><title>t</title>"), None);
        assert_eq!(meta("<title>t</title><meta charset=gbk>"), None);
        // A character reference needs the tokenizer.
        assert_eq!(
            meta("<meta charset=&#x67;bk><title>t</title>"),
            Some("no title")
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
